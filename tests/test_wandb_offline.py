"""refusal_lab.analysis.wandb_offline against real offline runs written by the installed wandb.

The runs are written by subprocesses (one per scenario, run in parallel) with
every WANDB_* directory and TMPDIR under pytest's tmp dir, so nothing is written
outside it. Scenarios: a finished run (nested config, a >64 KiB config value so
that records span several 32 KiB blocks, 150 logged steps, a wandb.Table,
explicit summary values), a failed run (exit code 1, typed history encoding
where the installed wandb has it), a run SIGKILLed (with its wandb-core) after a
flush with a 0.1 s flush interval, and one SIGKILLed before the first flush at
the default 15 s interval.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from refusal_lab.analysis.wandb_offline import (
    STATE_FAILED,
    STATE_FINISHED,
    STATE_INCOMPLETE,
    WANDB_SUPPORTED,
    OfflineRun,
    find_offline_runs,
    read_offline_run,
    read_offline_runs,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL and /proc")

N_STEPS = 150
N_KILLED_STEPS = 5
BLOB = "x" * 70_000  # a config value larger than two 32 KiB blocks
CONFIG = {
    "lr": 0.001,
    "seed": 3,
    "model": {"name": "smollm2-135m", "lora": {"r": 8, "alpha": 16.0, "targets": ["q", "v"]}},
    "mix": {"refusal_frac": 0.25, "sources": ["coconot", "general"]},
    "blob": BLOB,
}
CONFIG_UPDATE = {"eval": {"threshold": 0.5}, "seed": 4}
TABLE = {
    "thr": [0.1, 0.25, 0.5],
    "f1": [0.5, 0.625, 0.75],
    "n": [1, 2, 3],
    "name": ["a", "b", "c"],
    "ok": [True, False, True],
}


def _loss(i: int) -> float:
    return 1.0 / (i + 1) + 0.001


def _f1(i: int) -> float:
    return 0.5 + i / 1000


WRITER = textwrap.dedent(
    r"""
    import json, os, signal, sys, time
    import pandas as pd
    import wandb

    mode, base = sys.argv[1], sys.argv[2]
    spec = json.loads(sys.argv[3])

    def kill_job():
        # What a scheduler's kill does: SIGKILL every process of the job, wandb-core included.
        me = os.getpid()
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                stat = open(f"/proc/{pid}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        os.kill(me, signal.SIGKILL)

    if mode == "finished":
        run = wandb.init(project="refusal-lab-test", id="fin00001", name="finished-run",
                         group="sweep-a", job_type="train", tags=["t1", "t2"],
                         config=spec["config"], dir=os.path.join(base, "finished"), mode="offline")
        run.config.update(spec["config_update"], allow_val_change=True)
        for i in range(spec["n_steps"]):
            run.log({"train/loss": 1.0 / (i + 1) + 0.001, "eval/f1": 0.5 + i / 1000,
                     "eval/detail": {"tp": i, "fp": 2 * i}})
        run.log({"eval/curve": wandb.Table(dataframe=pd.DataFrame(spec["table"]))})
        run.summary["best/f1"] = 0.875
        run.summary["best/info"] = {"step": 7, "ckpt": "step-7"}
        run.finish()

        settings = {}
        if "x_history_value_encoding" in wandb.Settings.model_fields:
            settings["x_history_value_encoding"] = "json,typed"
        run = wandb.init(project="refusal-lab-test", id="fail0001", group="sweep-a",
                         config={"lr": 0.1}, dir=os.path.join(base, "failed"), mode="offline",
                         settings=wandb.Settings(**settings))
        run.log({"x": 1.0, "k": 2, "s": "text", "flag": True})
        run.finish(exit_code=1)
        wandb.teardown()

    elif mode in ("killed", "killed_early"):
        settings = {}
        flush_setting = "x_transaction_log_flush_interval" in wandb.Settings.model_fields
        if mode == "killed" and flush_setting:
            settings["x_transaction_log_flush_interval"] = 0.1
        with open(os.path.join(base, mode + ".json"), "w") as fh:
            json.dump({"flush_setting": flush_setting, "wandb": wandb.__version__}, fh)
        run = wandb.init(project="refusal-lab-test", id=spec["id"], group="sweep-b",
                         config={"lr": 0.01, "model": {"name": "m"}},
                         dir=os.path.join(base, mode), mode="offline",
                         settings=wandb.Settings(**settings))
        for i in range(spec["n_steps"]):
            run.log({"train/loss": 1.0 / (i + 1) + 0.001, "step_i": i})
        time.sleep(1.0 if mode == "killed" else 0.3)   # past several 0.1 s flushes / before the first 15 s one
        kill_job()
    """
)


def _env(base: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    for k in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR"):
        d = base / "env" / k.lower()
        d.mkdir(parents=True, exist_ok=True)
        env[k] = str(d)
    tmp = base / "tmp"
    tmp.mkdir(exist_ok=True)
    env.update(TMPDIR=str(tmp), WANDB_MODE="offline", WANDB_SILENT="true", PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("wandb_offline")
    root = base / "runs"
    root.mkdir()
    script = base / "writer.py"
    script.write_text(WRITER)
    jobs = {
        "finished": {"config": CONFIG, "config_update": CONFIG_UPDATE, "n_steps": N_STEPS, "table": TABLE},
        "killed": {"id": "kill0001", "n_steps": N_KILLED_STEPS},
        "killed_early": {"id": "kill0002", "n_steps": N_KILLED_STEPS},
    }
    procs = {}
    for mode, spec in jobs.items():
        env = _env(base / mode)
        procs[mode] = subprocess.Popen(
            [sys.executable, str(script), mode, str(root), json.dumps(spec)],
            cwd=base,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    for mode, p in procs.items():
        out, _ = p.communicate(timeout=120)
        want = 0 if mode == "finished" else -9
        assert p.returncode == want, f"{mode} writer exited {p.returncode}:\n{out}"
    # a decoy: named like a run but without a .wandb file
    (root / "decoy" / "wandb" / "offline-run-20990101_000000-nothing").mkdir(parents=True)
    return root


def _run(root: Path, run_id: str) -> OfflineRun:
    (d,) = [d for d in find_offline_runs(root) if d.name.endswith("-" + run_id)]
    return read_offline_run(d)


def test_supported_range_names_installed_wandb():
    import wandb

    major_minor = tuple(int(x) for x in wandb.__version__.split(".")[:2])
    lo, hi = [tuple(int(x) for x in s.strip("<>=").split(".")) for s in WANDB_SUPPORTED.split(",")]
    assert lo <= major_minor < hi


def test_find_offline_runs_finds_exactly_the_written_runs(runs_root):
    found = find_offline_runs(runs_root)
    assert sorted(d.name.rsplit("-", 1)[1] for d in found) == ["fail0001", "fin00001", "kill0001", "kill0002"]
    assert found == sorted(found)
    assert all(d.is_dir() and not d.is_symlink() and d.name.startswith("offline-run-") for d in found)
    assert find_offline_runs(runs_root / "does-not-exist") == []
    assert find_offline_runs(found[0]) == [found[0]]  # a run dir itself
    assert len(read_offline_runs(runs_root)) == 4


def test_finished_run_metadata_and_config(runs_root):
    r = _run(runs_root, "fin00001")
    assert (r.id, r.name, r.project, r.group, r.job_type) == (
        "fin00001",
        "finished-run",
        "refusal-lab-test",
        "sweep-a",
        "train",
    )
    assert r.tags == ["t1", "t2"]
    assert r.state == STATE_FINISHED and r.exit_code == 0
    assert r.warnings == []
    expected = json.loads(json.dumps(CONFIG))
    expected["eval"] = CONFIG_UPDATE["eval"]
    expected["seed"] = CONFIG_UPDATE["seed"]
    assert r.config == expected  # nested, update merged, blob spans 3 blocks
    assert "_wandb" not in r.config
    import wandb

    assert r.wandb_version == wandb.__version__
    assert (r.run_dir / f"run-{r.id}.wandb").stat().st_size > 2 * 32 * 1024


def test_finished_run_history_in_order(runs_root):
    r = _run(runs_root, "fin00001")
    assert [row["_step"] for row in r.history] == list(range(N_STEPS + 1))
    for i, row in enumerate(r.history[:N_STEPS]):
        assert row["train/loss"] == _loss(i)
        assert row["eval/f1"] == _f1(i)
        assert row["eval/detail"] == {"tp": i, "fp": 2 * i}
    assert r.history[-1]["eval/curve"]["_type"] == "table-file"


def test_finished_run_summary(runs_root):
    r = _run(runs_root, "fin00001")
    s = r.summary
    assert s["best/f1"] == 0.875
    assert s["best/info"] == {"step": 7, "ckpt": "step-7"}
    assert s["train/loss"] == _loss(N_STEPS - 1)
    assert s["eval/f1"] == _f1(N_STEPS - 1)
    assert s["eval/detail"] == {"tp": N_STEPS - 1, "fp": 2 * (N_STEPS - 1)}
    assert s["_step"] == N_STEPS
    assert "_wandb" not in s


def test_finished_run_table_round_trips(runs_root):
    r = _run(runs_root, "fin00001")
    assert list(r.tables) == ["eval/curve"]
    pd.testing.assert_frame_equal(r.tables["eval/curve"], pd.DataFrame(TABLE))


def test_failed_run(runs_root):
    r = _run(runs_root, "fail0001")
    assert r.state == STATE_FAILED and r.exit_code == 1
    assert r.name == "fail0001"  # no display name offline: falls back to the id
    assert r.config == {"lr": 0.1}
    (row,) = r.history
    assert row["x"] == 1.0 and row["k"] == 2 and row["s"] == "text" and row["flag"] is True
    assert row["_step"] == 0
    assert r.summary["k"] == 2


def test_killed_after_flush_is_incomplete_with_flushed_history(runs_root):
    r = _run(runs_root, "kill0001")
    assert r.id == "kill0001"
    assert r.state == STATE_INCOMPLETE and r.exit_code is None
    info = json.loads((runs_root / "killed.json").read_text())
    if not info["flush_setting"]:
        pytest.skip(
            f"wandb {info['wandb']} has no x_transaction_log_flush_interval: nothing is flushed before a block fills"
        )
    assert (r.project, r.group) == ("refusal-lab-test", "sweep-b")
    assert r.config == {"lr": 0.01, "model": {"name": "m"}}
    assert [row["_step"] for row in r.history] == list(range(N_KILLED_STEPS))
    assert [row["train/loss"] for row in r.history] == [_loss(i) for i in range(N_KILLED_STEPS)]
    assert r.summary["train/loss"] == _loss(N_KILLED_STEPS - 1)
    assert r.summary["step_i"] == N_KILLED_STEPS - 1
    assert r.summary["_step"] == N_KILLED_STEPS - 1


def test_killed_before_first_flush_reads_what_is_there(runs_root):
    # Default flush interval (15 s): little or nothing reached the file.
    r = _run(runs_root, "kill0002")
    assert r.id == "kill0002"  # from the file name when no run record made it
    assert r.state == STATE_INCOMPLETE and r.exit_code is None
    assert len(r.history) <= N_KILLED_STEPS
    assert [row["_step"] for row in r.history] == list(range(len(r.history)))


def _copy_run(r: OfflineRun, dest: Path) -> tuple[Path, Path]:
    d = dest / r.run_dir.name
    shutil.copytree(r.run_dir, d)
    return d, d / f"run-{r.id}.wandb"


def test_truncated_file_reads_up_to_last_complete_record(runs_root, tmp_path):
    full = _run(runs_root, "fin00001")
    size = (full.run_dir / f"run-{full.id}.wandb").stat().st_size
    late = size - 20_000  # past the run and config records (each holds the blob)
    cuts = [3, 7, 10, 200, 32 * 1024 + 5, 70_000, size // 2, late, size - 3]
    for k, cut in enumerate(cuts):
        d, f = _copy_run(full, tmp_path / str(k))
        with open(f, "r+b") as fh:
            fh.truncate(cut)
        r = read_offline_run(d)
        assert r.state == STATE_INCOMPLETE, cut
        assert r.history == full.history[: len(r.history)], cut
        if cut > 7:
            assert any("ends inside a record" in w for w in r.warnings), (cut, r.warnings)
        if r.history:
            assert r.summary["_step"] == r.history[-1]["_step"]
        if cut == late:
            assert r.config["blob"] == BLOB and r.config["model"] == CONFIG["model"] and len(r.history) > 10


def test_corrupt_chunk_is_skipped(runs_root, tmp_path):
    full = _run(runs_root, "fin00001")
    d, f = _copy_run(full, tmp_path)
    data = bytearray(f.read_bytes())
    i = data.index(b"eval/f1", 100_000)  # inside a history or summary record, past the config
    data[i] ^= 0xFF
    f.write_bytes(bytes(data))
    r = read_offline_run(d)
    assert any("corrupt" in w for w in r.warnings)
    assert r.state == STATE_FINISHED  # records after the bad chunk are still read
    steps = [row["_step"] for row in r.history]
    assert steps == sorted(steps) and len(steps) >= N_STEPS - 1


def test_rejects_non_wandb_files(tmp_path):
    d = tmp_path / "offline-run-20990101_000000-abc"
    d.mkdir()
    with pytest.raises(FileNotFoundError):
        read_offline_run(d)
    (d / "run-abc.wandb").write_bytes(b"not a wandb file at all")
    with pytest.raises(ValueError):
        read_offline_run(d)


def test_matches_wandb_leet_inspect(runs_root, tmp_path):
    """Cross-check against wandb's own reader, where the installed wandb has `wandb leet`."""
    r = _run(runs_root, "fin00001")
    wandb_bin = Path(sys.executable).with_name("wandb")
    if not wandb_bin.exists():
        pytest.skip("no wandb CLI next to the interpreter")
    env = _env(tmp_path)
    (Path(env["WANDB_DIR"]) / "wandb").mkdir(exist_ok=True)
    p = subprocess.run(
        [str(wandb_bin), "leet", "inspect", "--summary", "--json", str(r.run_dir / f"run-{r.id}.wandb")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if p.returncode != 0 or not p.stdout.strip().startswith("{"):
        pytest.skip(f"`wandb leet inspect` unavailable: {p.stderr[-300:]}")
    leet = json.loads(p.stdout)
    assert leet["run_id"] == r.id and leet["project"] == r.project and leet["name"] == r.name
    assert leet["state"] == r.state and leet["exit_code"] == r.exit_code
    assert leet["tags"] == r.tags
    assert leet["config"] == r.config
    assert leet["summary"] == r.summary


def _frame(payloads: list[bytes]) -> bytes:
    """Frame payloads the way wandb-core's leveldb writer does (core/pkg/leveldb)."""
    import struct
    import zlib

    block = 32 * 1024
    out = bytearray(b":W&B\xe1\xbe\x00")
    for p in payloads:
        first = True
        while True:
            left = block - len(out) % block
            if left < 7:  # no room for a chunk header: zero trailer
                out += bytes(left)
                left = block
            n = min(len(p), left - 7)  # exactly 7 left: an empty FIRST chunk
            chunk, p = p[:n], p[n:]
            last = not p
            t = (1 if first else 4) if last else (2 if first else 3)
            out += struct.pack("<IHB", zlib.crc32(bytes([t]) + chunk), len(chunk), t) + chunk
            first = False
            if last:
                break
    return bytes(out)


def test_framing_edge_cases():
    import random

    from refusal_lab.analysis.wandb_offline import _split_records

    rng = random.Random(0)
    block = 32 * 1024
    payloads = [
        b"a" * (block - 7 - 7 - 7),  # leaves exactly 7 bytes in block 0
        b"b" * 100,  # -> empty FIRST chunk, then LAST in block 1
        b"c" * (block - 100 - 7 - 7 - 3),  # leaves 3 bytes: zero trailer
        b"",  # an empty record
        b"d" * (3 * block),  # FIRST, MIDDLE, MIDDLE, LAST
    ] + [rng.randbytes(rng.choice([1, 50, 700, 5000, 40_000])) for _ in range(60)]
    data = _frame(payloads)
    warnings: list[str] = []
    got, truncated = _split_records(data, warnings, Path("x.wandb"))
    assert got == payloads and not truncated and warnings == []
    for cut in [8, block - 1, block + 3, len(data) // 3, len(data) - 1]:
        got, truncated = _split_records(data[:cut], [], Path("x.wandb"))
        assert got == payloads[: len(got)]
        assert truncated
