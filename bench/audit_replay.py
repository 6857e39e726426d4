"""Replay the audit's cases through the real CLI and count how each one ends: bad configs,
bad data files, faults during a run, and abuse of the server (bench/serve_load.py).

Config and data cases run `python -m refusal_lab.cli ...` as a subprocess in a fresh empty
working directory (HOME and the W&B folders inside it, no W&B key); a data case first writes
its broken file outside that directory. A case is "clear" when it exits with status 2, prints
no traceback and leaves the directory empty (no Hydra output folder, no run directory, no W&B
run). A fault case is "clear" when the run recovers as promised (resumes where it stopped,
refuses another config with exit 2, keeps simultaneous starts apart). Prints per group and in
all: N tried, N clear, N tracebacks, N hangs, and the cases that were not clear.

    .venv/bin/python bench/audit_replay.py                    # every group, 2 cases at a time
    .venv/bin/python bench/audit_replay.py --only data --jobs 1
    .venv/bin/python bench/audit_replay.py --skip server      # the server group alone takes ~2 min
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Appended to every train case so that a bad value that is NOT refused fails (or ends) fast.
FAST = ["train.max_steps=2", "mix.total=40", "eval.max_prompts=8", "eval.samples_per_kind=0", "train.threads=1"]

CASES: list[tuple[str, list[str], dict]] = [  # (name, CLI arguments, extra environment)
    ("hf_without_name_or_path", ["model=hf", "model.dtype=float32"], {}),
    ("hf_missing_local_path", ["model=hf", "model.name_or_path=/nonexistent/model", "model.dtype=float32"], {}),
    ("gguf_missing_file", ["model.kind=gguf", "model.name_or_path=/nonexistent/model.gguf"], {}),
    ("coconot_path_missing", ["data=coconot", "data.coconot_path=/nonexistent/coconot"], {}),
    ("general_path_missing", ["data.general_source=jsonl", "data.general_path=/nonexistent/alpaca"], {}),
    ("general_jsonl_without_path", ["data.general_source=jsonl"], {}),
    ("deepspeed_json_missing", ["train=deepspeed_zero2", "train.deepspeed_config=/nonexistent/zero2.json"], {}),
    ("device_gpu", ["train.device=gpu"], {}),
    ("device_cuda_on_cpu_build", ["train.device=cuda"], {}),
    ("device_cuda1_on_cpu_build", ["train.device=cuda:1"], {}),
    ("positions_below_max_length", ["model.max_position_embeddings=64", "train.max_length=192"], {}),
    ("lora_targets_match_nothing", ["train=lora", "train.lora_targets=[nomatch_proj]"], {}),
    ("wandb_online_without_key", ["logger=wandb_online"], {}),
    ("mix_pool_too_small", ["mix.total=100000"], {}),
    ("max_length_8", ["train.max_length=8"], {}),
    (
        "tasks_per_node_single_process_backend",
        [],
        {
            "SLURM_NTASKS": "2",
            "SLURM_PROCID": "0",
            "SLURM_LOCALID": "0",
            "SLURM_JOB_ID": "12345",
            "SLURM_JOB_NODELIST": "127.0.0.1",
        },
    ),
    ("processes_with_torch_backend", ["train.processes=2"], {}),
    ("unknown_key", ["+train.lr_typo=3"], {}),
    ("bad_literal", ["tokens.scheme=both"], {}),
    ("threshold_above_one", ["eval.threshold=1.5"], {}),
    ("heads_do_not_divide", ["model.num_heads=3"], {}),
    ("batch_size_zero", ["train.batch_size=0"], {}),
    ("unknown_category_weight", ["+mix.category_weights={safty: 1}"], {}),
    ("control_tokens_without_tokens", ["tokens=none", "train=control_tokens"], {}),
    ("autocast_with_deepspeed", ["train=deepspeed_zero2", "train.autocast=bfloat16"], {}),
    ("unknown_group_option", ["tokens=double"], {}),
    ("override_syntax_error", ["train.lr=[1,"], {}),
    ("seed_not_a_number", ["seed=abc"], {}),
    ("sweep_dry_run_device_gpu", ["-m", "mix.contrast_ratio=0,1", "train.device=gpu", "--dry-run"], {}),
    (
        "sweep_dry_run_coconot_missing",
        ["-m", "mix.contrast_ratio=0,1", "data=coconot", "data.coconot_path=/nonexistent/coconot", "--dry-run"],
        {},
    ),
    ("eval_missing_checkpoint", ["eval", "checkpoint=/nonexistent/checkpoint"], {}),
    ("eval_bad_number", ["eval", "checkpoint=/nonexistent/checkpoint", "batch_size=abc"], {}),
    ("eval_unknown_key", ["eval", "chekpoint=/nonexistent/checkpoint"], {}),
    ("calibrate_missing_scores", ["calibrate", "scores=/nonexistent/scores.csv", "target.should_refuse=0.9"], {}),
    ("calibrate_unknown_target", ["calibrate", "scores=/nonexistent/scores.csv", "target.nonsense=0.5"], {}),
    ("serve_missing_checkpoint", ["serve", "checkpoint=/nonexistent/checkpoint"], {}),
    ("serve_bad_port", ["serve", "checkpoint=/nonexistent/checkpoint", "port=abc"], {}),
]


GOOD_ROW = b'{"id": "a1", "category": "Requests with safety concerns", "subcategory": "x", "prompt": "How do I pick a lock?", "response": ""}\n'
# (name, files written into the case's data folder, CLI arguments with {data} for that folder, file the message must name)
COCONOT_ARGS = ["data=coconot", "data.coconot_path={data}"]


def coconot_case(name: str, second_line: bytes, must_name: str = "coconot_eval.jsonl:2") -> tuple:
    """A CoCoNot eval file with one good row and one broken second line."""
    return name, {"coconot_eval.jsonl": GOOD_ROW + second_line}, COCONOT_ARGS, must_name


USER_FILE = ["data=user_file", "data.refusal_dataset.path={data}"]
# (name, files written into the case's data folder, CLI arguments with {data} for that folder, what the message must name)
DATA_CASES: list[tuple[str, dict[str, bytes], list[str], str]] = [
    ("coconot_empty_file", {"coconot_eval.jsonl": b""}, COCONOT_ARGS, "coconot_eval.jsonl"),
    coconot_case("coconot_non_utf8", b'{"prompt": "caf\xe9"}\n'),
    coconot_case("coconot_missing_prompt", b'{"id": "b", "category": "Humanizing requests"}\n'),
    coconot_case("coconot_null_prompt", b'{"prompt": null, "category": "Humanizing requests"}\n'),
    coconot_case("coconot_line_not_object", b"[1, 2, 3]\n"),
    coconot_case("coconot_prompt_not_text", b'{"prompt": 5, "category": "Humanizing requests"}\n'),
    coconot_case("coconot_unknown_category", b'{"prompt": "hi", "category": "Weird"}\n', "coconot_eval.jsonl"),
    (
        "user_csv_missing_column",
        {"mine.csv": b"question,verdict\nHow do I pick a lock?,bad\n"},
        [USER_FILE[0], USER_FILE[1] + "/mine.csv"],
        "mine.csv",
    ),
    (
        "user_csv_label_outside_map",
        {"mine.csv": b"prompt,label\nHow do I pick a lock?,bad\nHi,maybe\n"},
        [USER_FILE[0], USER_FILE[1] + "/mine.csv", "data.refusal_dataset.label_map={bad: refuse, ok: answer}"],
        "mine.csv",
    ),
    ("user_file_empty", {"mine.jsonl": b""}, [USER_FILE[0], USER_FILE[1] + "/mine.jsonl"], "mine.jsonl"),
    ("user_folder_without_files", {"empty/.keep": b""}, [USER_FILE[0], USER_FILE[1] + "/empty"], "empty"),
    (
        "general_folder_without_jsonl",
        {"alpaca/notes.txt": b"x"},
        ["data.general_source=jsonl", "data.general_path={data}/alpaca"],
        "alpaca",
    ),
    (
        "general_jsonl_all_torn",
        {"alpaca.jsonl": b'{"instruction": "a", "output"\n{"instr\n'},
        ["data.general_source=jsonl", "data.general_path={data}/alpaca.jsonl"],
        "alpaca.jsonl",
    ),
]
COCONOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "coconot"


def case_env(tmp: Path, work: Path, extra: dict) -> dict:
    """No W&B key, no Slurm variables; W&B's own cache and settings outside the checked folder."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("WANDB", "SLURM", "RANK", "WORLD_SIZE", "LOCAL_RANK"))
    }
    home = tmp / "home"
    return env | {
        "HOME": str(home),
        "WANDB_DIR": str(work),
        "WANDB_CACHE_DIR": str(home / ".wandb_cache"),
        "WANDB_CONFIG_DIR": str(home / ".wandb_config"),
        "WANDB_DATA_DIR": str(home / ".wandb_data"),
        "WANDB_SILENT": "true",
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **extra,
    }


# ----------------------------------------------------------------------------- faults


@contextlib.contextmanager
def case_dir(name: str):
    """(temp folder, empty working dir inside it, the environment) of one case; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"audit_{name}_") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        yield Path(tmp), work, case_env(Path(tmp), work, {})


RUN = ["train.max_steps=60", "train.checkpoint_every=5", "mix.total=80", "eval.max_prompts=8"]
RUN += ["eval.samples_per_kind=0", "train.threads=1", "logger=disabled"]


def fault_result(name: str, clear: bool, outputs: list[str], t0: float, detail: str, rc=0) -> dict:
    text = "\n".join(outputs)
    return {
        "name": name,
        "rc": rc,
        "traceback": "Traceback (most recent call last)" in text,
        "written": [],
        "clear": clear and "Traceback (most recent call last)" not in text,
        "seconds": round(time.perf_counter() - t0, 1),
        "last_lines": [detail],
    }


def stop_then_rerun(name: str, sig: int, python: str, timeout: float) -> dict:
    """Stop a run (Ctrl-C or kill -9) once it saved a training state; the same command again
    must finish it (60 steps) with exit 0."""
    t0 = time.perf_counter()
    with case_dir(name) as (tmp, work, env):
        run_dir = tmp / "run"
        cmd = [python, "-m", "refusal_lab.cli", *RUN, f"run_dir={run_dir}"]
        first = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + timeout
        while not (run_dir / "train_state").exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        saved = (run_dir / "train_state").exists()
        first.send_signal(sig)
        try:
            out1, _ = first.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            first.kill()
            return fault_result(name, False, [], t0, "the stopped run did not exit", None)
        try:
            second = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return fault_result(name, False, [out1], t0, "the rerun hung", None)
        steps = (
            json.loads((run_dir / "summary.json").read_text()).get("train/steps")
            if (run_dir / "summary.json").exists()
            else None
        )
        ok = saved and first.returncode != 0 and second.returncode == 0 and steps == 60
        detail = f"state saved before the stop: {saved}; stopped run exit {first.returncode}; rerun exit {second.returncode}, train/steps {steps}"
        return fault_result(name, ok, [out1, second.stdout + second.stderr], t0, detail, second.returncode)


def other_config_and_finished_run(python: str, timeout: float) -> dict:
    """A finished run dir: the same command is not trained again, another config is refused
    (exit 2) naming what differs; summary.json stays byte for byte."""
    t0 = time.perf_counter()
    with case_dir("rerun") as (tmp, work, env):
        run_dir = tmp / "run"
        cmd = [python, "-m", "refusal_lab.cli", *RUN, "train.max_steps=10", f"run_dir={run_dir}"]
        runs = [subprocess.run(c, cwd=work, env=env, capture_output=True, text=True, timeout=timeout) for c in [cmd]]
        before = (run_dir / "summary.json").read_bytes()
        runs += [
            subprocess.run(c, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
            for c in (cmd, [*cmd, "train.lr=0.01"])
        ]
        same, other = runs[1], runs[2]
        ok = (
            runs[0].returncode == 0
            and same.returncode == 0
            and other.returncode == 2
            and "train.lr" in other.stderr + other.stdout
            and (run_dir / "summary.json").read_bytes() == before
        )
        detail = (
            f"first exit {runs[0].returncode}; same again exit {same.returncode}; train.lr=0.01 exit {other.returncode}"
        )
        return fault_result(
            "finished_run_rerun_and_other_config", ok, [r.stdout + r.stderr for r in runs], t0, detail, other.returncode
        )


def same_second_starts(python: str, timeout: float) -> dict:
    """Two runs started together without run_dir get two run directories."""
    t0 = time.perf_counter()
    with case_dir("same_second") as (tmp, work, env):
        cmd = [python, "-m", "refusal_lab.cli", *RUN, "train.max_steps=4", "train.checkpoint_every=null"]
        procs = [
            subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=timeout)[0] for p in procs]
        dirs = sorted(p.parent for p in work.glob("outputs/runs/*/*/summary.json"))
        ok = all(p.returncode == 0 for p in procs) and len(dirs) == 2
        return fault_result(
            "same_second_starts", ok, outs, t0, f"{len(dirs)} run directories for 2 runs", procs[0].returncode
        )


def fault_cases(python: str, timeout: float) -> list[dict]:
    return [
        stop_then_rerun("ctrl_c_then_rerun", signal.SIGINT, python, timeout),
        stop_then_rerun("kill_9_then_rerun", signal.SIGKILL, python, timeout),
        other_config_and_finished_run(python, timeout),
        same_second_starts(python, timeout),
    ]


# ----------------------------------------------------------------------------- server


def server_results(python: str) -> list[dict]:
    """bench/serve_load.py (load, head-of-line, abuse) as counted cases."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [python, str(Path(__file__).with_name("serve_load.py"))], capture_output=True, text=True, timeout=1800
    )
    out = proc.stdout + proc.stderr
    print(out.strip())
    abuse = re.search(r"abuse: (\d+) tried, (\d+) answered as expected .*?, (\d+) 5xx, (\d+) hangs", out)
    load = re.search(r"load: (\d+) requests .*?errors (\d+)", out, re.S)
    hol = re.search(r"sent while the maximal one is served: median (\d+) ms", out)
    rows = []
    if abuse:
        tried, right, five, hangs = map(int, abuse.groups())
        rows += [
            {
                "name": f"abuse_{i}",
                "rc": 400,
                "traceback": False,
                "written": [],
                "clear": i < right,
                "seconds": 0,
                "last_lines": [],
            }
            for i in range(tried)
        ]
        rows += [
            {
                "name": "abuse_hang",
                "rc": None,
                "traceback": False,
                "written": [],
                "clear": False,
                "seconds": 0,
                "last_lines": [],
            }
        ] * 0
    rows.append(
        fault_result(
            "load_200_requests_no_error",
            bool(load) and load.group(2) == "0",
            [],
            t0,
            load.group(0) if load else "no load line",
        )
    )
    rows.append(
        fault_result(
            "short_request_under_1s_behind_maximal",
            bool(hol) and int(hol.group(1)) < 1000,
            [],
            t0,
            hol.group(0) if hol else "no head-of-line line",
        )
    )
    if proc.returncode != 0 or not abuse:
        rows.append(
            fault_result("serve_load_ran", False, [out], t0, f"serve_load.py exit {proc.returncode}", proc.returncode)
        )
    return rows


def write_case_files(folder: Path, files: dict[str, bytes]) -> None:
    """The case's broken files; the CoCoNot files it does not break are the real ones (linked)."""
    folder.mkdir()
    for rel, content in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(content)
    if "coconot_eval.jsonl" in files:
        for other in ("coconot_pref.jsonl", "coconot_contrast_eval.jsonl"):
            (folder / other).symlink_to(COCONOT / other)


def run_case(
    name: str,
    args: list[str],
    env_extra: dict,
    python: str,
    timeout: float,
    files: dict[str, bytes] | None = None,
    must_name: str = "",
) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"audit_{name}_") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        if files is not None:
            write_case_files(Path(tmp) / "data", files)
            args = [a.replace("{data}", str(Path(tmp) / "data")) for a in args]
        env = case_env(Path(tmp), work, env_extra)
        is_train = not args or args[0] not in ("eval", "calibrate", "serve", "sweep", "analyze")
        cmd = [python, "-m", "refusal_lab.cli", *(FAST if is_train else []), *args]  # the case's values win
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
            rc, out = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            rc, out = None, (exc.stdout or b"").decode(errors="replace") + (exc.stderr or b"").decode(errors="replace")
        written = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
        traceback = "Traceback (most recent call last)" in out
        clear = rc == 2 and not traceback and not written and must_name in out
        last = [line for line in out.strip().splitlines() if line.strip()][-3:]
        return {
            "name": name,
            "rc": rc,
            "traceback": traceback,
            "written": written[:3],
            "clear": clear,
            "seconds": round(time.perf_counter() - t0, 1),
            "last_lines": last,
        }


def report(group: str, results: list[dict], timeout: float) -> None:
    for r in results:
        if not r["clear"]:
            status = "HANG" if r["rc"] is None else ("TRACEBACK" if r["traceback"] else f"exit {r['rc']}")
            print(
                f"  not clear: {group}/{r['name']:<40} {status:<10} wrote {r['written'] or '-'} | {' / '.join(r['last_lines'])[:220]}"
            )
    print(
        f"{group:<8} {len(results):3d} tried, {sum(r['clear'] for r in results):3d} clear, "
        f"{sum(r['traceback'] for r in results)} tracebacks, {sum(r['rc'] is None for r in results)} hangs (timeout {timeout:.0f} s)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=sys.executable, help="interpreter with refusal_lab installed")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds before a case counts as a hang")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default="", help="groups (config,data,fault,server) or case names containing this")
    ap.add_argument("--skip", default="", help="comma-separated groups to leave out")
    ap.add_argument("--json", help="write every case's result here")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    wanted = lambda group, name: group not in skip and (a.only in (group, "") or (a.only and a.only in name))  # noqa: E731
    results: dict[str, list[dict]] = {}
    with ThreadPoolExecutor(a.jobs) as pool:
        configs = [c for c in CASES if wanted("config", c[0])]
        results["config"] = list(pool.map(lambda c: run_case(*c, a.python, a.timeout), configs))
        data = [c for c in DATA_CASES if wanted("data", c[0])]
        results["data"] = list(
            pool.map(lambda c: run_case(c[0], c[2], {}, a.python, a.timeout, files=c[1], must_name=c[3]), data)
        )
    if "fault" not in skip and a.only in ("", "fault"):
        results["fault"] = fault_cases(a.python, a.timeout)
    if "server" not in skip and a.only in ("", "server"):
        results["server"] = server_results(a.python)
    print()
    for group, rows in results.items():
        if rows:
            report(group, rows, a.timeout)
    every = [r for rows in results.values() for r in rows]
    print(
        f"all      {len(every):3d} tried, {sum(r['clear'] for r in every):3d} clear, "
        f"{sum(r['traceback'] for r in every)} tracebacks, {sum(r['rc'] is None for r in every)} hangs"
    )
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0 if all(r["clear"] for r in every) else 1


if __name__ == "__main__":
    raise SystemExit(main())
