"""Replay bad configs through the real CLI and count how each one ends.

Every case runs `python -m refusal_lab.cli ...` as a subprocess in a fresh empty working
directory (HOME and the W&B folders inside it, no W&B key). A case is "clear" when it
exits with status 2, prints no traceback and leaves that directory empty (no Hydra
output folder, no run directory, no W&B run). Prints: N tried, N clear before any work,
N tracebacks, N hangs (timeout), and the cases that were not clear.

    .venv/bin/python bench/audit_configs.py                 # all cases, 2 at a time
    .venv/bin/python bench/audit_configs.py --timeout 90 --jobs 1 --only device
"""

from __future__ import annotations

import argparse
import json
import os
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


def run_case(name: str, args: list[str], env_extra: dict, python: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"audit_{name}_") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("WANDB", "SLURM", "RANK", "WORLD_SIZE", "LOCAL_RANK"))
        }
        home = Path(tmp) / "home"  # W&B's own cache and settings live here, outside the checked folder
        env.update(
            {
                "HOME": str(home),
                "WANDB_DIR": str(work),
                "WANDB_CACHE_DIR": str(home / ".wandb_cache"),
                "WANDB_CONFIG_DIR": str(home / ".wandb_config"),
                "WANDB_DATA_DIR": str(home / ".wandb_data"),
                "WANDB_SILENT": "true",
                "OMP_NUM_THREADS": "1",
                "TOKENIZERS_PARALLELISM": "false",
                **env_extra,
            }
        )
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
        clear = rc == 2 and not traceback and not written
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=sys.executable, help="interpreter with refusal_lab installed")
    ap.add_argument("--timeout", type=float, default=90.0, help="seconds before a case counts as a hang")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default="", help="run cases whose name contains this")
    ap.add_argument("--json", help="write every case's result here")
    a = ap.parse_args()
    cases = [c for c in CASES if a.only in c[0]]
    with ThreadPoolExecutor(a.jobs) as pool:
        results = list(pool.map(lambda c: run_case(*c, a.python, a.timeout), cases))
    for r in results:
        if not r["clear"]:
            status = "HANG" if r["rc"] is None else ("TRACEBACK" if r["traceback"] else f"exit {r['rc']}")
            print(
                f"  not clear: {r['name']:<40} {status:<10} wrote {r['written'] or '-'} | {' / '.join(r['last_lines'])[:220]}"
            )
    n = len(results)
    print(
        f"\n{n} tried, {sum(r['clear'] for r in results)} clear before any work (exit 2, no traceback, nothing written), "
        f"{sum(r['traceback'] for r in results)} tracebacks, {sum(r['rc'] is None for r in results)} hangs (timeout {a.timeout:.0f} s), "
        f"{sum(r['rc'] is not None and not r['traceback'] and not r['clear'] for r in results)} other (accepted, wrong status or files written)"
    )
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
