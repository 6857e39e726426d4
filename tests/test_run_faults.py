"""Issue 13 in one run's area: nothing hangs, run directories are unique and belong to one
config, outputs are atomic, Ctrl-C keeps the training state."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from refusal_lab.config import TrainConfig, validate

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "refusal_lab.cli"]
QUICK = [
    "logger=disabled",
    "mix.total=60",
    "train.max_steps=4",
    "train.batch_size=4",
    "train.threads=1",
    "eval.samples_per_kind=0",
    "eval.max_prompts=20",
]


def cli(*args, timeout=240):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    return subprocess.run(CLI + list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- (1) nothing hangs


@pytest.mark.unit
def test_planning_steps_over_no_examples_is_an_error_not_a_loop():
    from refusal_lab.training.steps import EmptyTrainingSet, plan_steps

    with pytest.raises(EmptyTrainingSet, match="no training examples"):
        plan_steps(0, TrainConfig(max_steps=5))
    assert len(plan_steps(3, TrainConfig(max_steps=5, batch_size=4))) == 5  # fewer examples than a batch still plans


def test_max_length_below_every_prompt_is_one_clear_error_before_training(tmp_path):
    proc = cli(*QUICK, "train.max_length=8", f"run_dir={tmp_path}", f"hydra.run.dir={tmp_path}", timeout=180)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "train.max_length=8" in proc.stderr and "Raise train.max_length" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "train_state").exists() and not (tmp_path / "summary.json").exists()
    assert not (tmp_path / "config.json").exists()  # nothing of the run written
    assert not (tmp_path / ".hydra").exists()  # and Hydra's output folder is gone too


# ---------------------------------------------------------------- (2) a run directory belongs to one config


def _run(compose, run_dir, *extra, should_stop=lambda: False):
    from refusal_lab.experiments.run import run

    return run(validate(compose(QUICK + list(extra))), run_dir, should_stop=should_stop)


def test_rerun_with_another_config_is_refused_and_a_finished_run_is_not_rerun(compose, tmp_path):
    from refusal_lab.experiments.run_dirs import RunDirConflict

    first = _run(compose, tmp_path)
    assert json.loads((tmp_path / "run_identity.json").read_text())["config_hash"]
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(RunDirConflict) as err:
        _run(compose, tmp_path, "mix.contrast_ratio=0", "train.lr=0.01")
    msg = str(err.value)
    assert "train.lr:" in msg and "-> 0.01" in msg
    assert "mix.contrast_ratio:" in msg and "run_dir_policy=restart" in msg and "train.seed" not in msg
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before  # nothing overwritten
    again = _run(compose, tmp_path)  # same config, finished: handed back, not rerun
    assert again == first and (tmp_path / "summary.json").read_bytes() == before["summary.json"]
    restarted = _run(compose, tmp_path, "train.lr=0.01", "run_dir_policy=restart")
    assert restarted["timing/total_seconds"] != first["timing/total_seconds"]
    assert json.loads((tmp_path / "config.json").read_text())["train"]["lr"] == 0.01


def test_a_stopped_run_is_not_resumed_with_another_config(compose, tmp_path):
    from refusal_lab.experiments.run_dirs import RunDirConflict
    from refusal_lab.training.steps import StopRequested

    calls = iter(range(100))
    with pytest.raises(StopRequested):
        _run(compose, tmp_path, "train.checkpoint_every=2", should_stop=lambda: next(calls) >= 1)
    assert (tmp_path / "train_state" / "train_state.pt").exists()
    with pytest.raises(RunDirConflict, match=r"train\.lr"):
        _run(compose, tmp_path, "train.checkpoint_every=2", "train.lr=0.01")
    assert (tmp_path / "train_state" / "train_state.pt").exists()  # the old run's state is kept
    assert json.loads((tmp_path / "config.json").read_text())["train"]["lr"] != 0.01


def test_the_cli_refuses_another_config_with_exit_2(compose, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(compose(QUICK + ["train.lr=0.5"])))
    (tmp_path / "run_identity.json").write_text(json.dumps({"config_hash": "0" * 64}))
    proc = cli(*QUICK, f"run_dir={tmp_path}", f"hydra.run.dir={tmp_path}", timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "holds a run of another config (train.lr: 0.5 -> " in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "mix.jsonl").exists()


# ---------------------------------------------------------------- (3) unique run directories


RESOLVE_RUN_DIR = """
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from refusal_lab.paths import CONF_DIR, register_resolvers
register_resolvers()
with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
    cfg = compose(config_name="config", return_hydra_config=True)
print(OmegaConf.select(cfg, "hydra.run.dir"))
"""


def test_runs_started_in_the_same_second_get_different_run_directories():
    """Two processes resolve Hydra's run directory the way `refusal-lab train` does, at once."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RESOLVE_RUN_DIR],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        for _ in range(2)
    ]
    dirs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        dirs.append(out.strip().splitlines()[-1])
    assert all(d.startswith("outputs/runs/") for d in dirs)
    assert dirs[0] != dirs[1]
    assert [d.rsplit("-", 1)[-1] for d in dirs] == [
        str(p.pid) for p in procs
    ]  # unique by process id, whatever the clock


# ---------------------------------------------------------------- (4) atomic outputs


@pytest.mark.unit
def test_a_failed_write_keeps_the_previous_file_and_leaves_no_empty_one(tmp_path):
    from refusal_lab.io import write_json

    path = tmp_path / "summary.json"
    write_json(path, {"eval/f1": 0.5})
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(ValueError):
        write_json(path, loop)  # fails mid-serialisation, as a full disk fails mid-write
    assert json.loads(path.read_text()) == {"eval/f1": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary file left behind


RUN_MODULES = [
    "experiments/run.py",
    "experiments/run_dirs.py",
    "evaluation/report.py",
    "training/steps.py",
    "training/loop.py",
    "training/deepspeed_engine.py",
    "training/distributed.py",
    "training/backends.py",
]


@pytest.mark.unit
@pytest.mark.parametrize("module", RUN_MODULES)
def test_a_run_writes_every_file_through_io(module):
    """No direct writes: open(..., "w"), Path.write_text/bytes, DataFrame.to_csv/to_json to a path."""
    tree = ast.parse((ROOT / "refusal_lab" / module).read_text())
    direct = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("write_text", "write_bytes", "to_csv", "to_json", "to_parquet"):
                direct.append(f"line {node.lineno}: .{node.func.attr}(")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
            modes = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
            if any(set(m) & set("wax") for m in modes):
                direct.append(f"line {node.lineno}: open(..., {modes[0]!r})")
    assert not direct, f"{module} writes around io.py: {direct}"


# ---------------------------------------------------------------- (10) Ctrl-C keeps the training state


def test_ctrl_c_during_training_saves_the_state_and_a_rerun_resumes(tmp_path):
    from refusal_lab.training.loop import train
    from refusal_lab.training.steps import StopRequested
    from tests.test_training_and_scoring import setup

    model, tok, ids, cfg, enc = setup(max_steps=10, log_every=1)
    full = train(model, enc, tok.pad_token_id, cfg, list(ids.values()), progress=False)

    def press_ctrl_c(metrics, step):
        if step == 4:
            signal.raise_signal(signal.SIGINT)  # a real SIGINT, delivered to this (main) thread

    model, tok, ids, cfg, enc = setup(max_steps=10, log_every=1)
    with pytest.raises(StopRequested, match="stopped after step 4 of 10"):
        train(
            model, enc, tok.pad_token_id, cfg, list(ids.values()), log=press_ctrl_c, progress=False, state_dir=tmp_path
        )
    assert (tmp_path / "train_state.pt").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back
    model, tok, ids, cfg, enc = setup(max_steps=10, log_every=1)
    resumed = train(model, enc, tok.pad_token_id, cfg, list(ids.values()), progress=False, state_dir=tmp_path)
    np.testing.assert_allclose(resumed.losses, full.losses, rtol=1e-5)


def test_the_train_command_reports_a_stop_with_how_to_resume(tmp_path):
    """Ctrl-C on the real command: exit 130, the state kept, the message says how to resume."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    proc = subprocess.Popen(
        CLI + [*QUICK, "train.max_steps=400", "train.log_every=1", f"run_dir={tmp_path}", f"hydra.run.dir={tmp_path}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    import time

    deadline = time.time() + 180
    while not (tmp_path / "config.json").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(2.0)  # inside the step loop
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert f"rerun with run_dir={tmp_path} to resume" in err
    assert (tmp_path / "train_state" / "train_state.pt").exists()


@pytest.mark.unit
def test_atomic_files_get_the_usual_mode_not_mkstemps_0600(tmp_path):
    from refusal_lab.io import write_text

    write_text(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask
