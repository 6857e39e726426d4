"""What a Slurm sweep costs on top of its jobs: wall time of a `refusal-lab -m` sweep on the local
cluster (launchers/local_slurm.sh, launcher=slurm_dev) against the sum of its jobs' own run times.

    eval "$(bash launchers/local_slurm.sh env)"; python bench/sweep_overhead.py [--jobs 8] [--steps 40]

A job's own run time is SweepJob's start -> finish (run_dir/job_events.jsonl): config, data,
training, eval and W&B. Everything else is overhead: Slurm scheduling, process start, imports
before the job's first line, teardown. Baseline in the same run: the ideal wall time if the jobs
packed the node's slots perfectly (sum / slots). Prints wall / ideal (the overhead ratio: 1.0 = no
overhead) and the per-job start-up (process start -> SweepJob start) it is made of.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from refusal_lab.experiments import sweeps
from refusal_lab.experiments.jobs import read_events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=8, help="jobs in the sweep (a contrast_ratio axis)")
    ap.add_argument("--steps", type=int, default=40, help="train.max_steps per job")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ratios = ",".join(f"{i / max(1, args.jobs - 1):.3g}" for i in range(args.jobs))
    cpus = int(
        subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, check=True).stdout.split()[0]
    )
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        sweep_dir = Path(tmp) / "sweep"
        overrides = [
            "launcher=slurm_dev",
            "hydra.launcher.wait=false",
            f"hydra.sweep.dir={sweep_dir}",
            f"train.max_steps={args.steps}",
            "mix.total=120",
            "eval.max_prompts=60",
            "eval.samples_per_kind=0",
            "train.threads=1",
            f"mix.contrast_ratio={ratios}",
        ]
        t0 = time.time()
        subprocess.run(
            [sys.executable, "-c", "from refusal_lab.cli import main; main()", "-m", *overrides],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        t_submitted = time.time()
        manifest = sweeps.wait(sweep_dir, poll_s=0.5, timeout_s=1800, echo=lambda s: None)
        wall = time.time() - t0
        bad = [j for j in manifest["jobs"] if j["status"] != "completed"]
        if bad:
            raise SystemExit(f"{len(bad)} job(s) did not complete:\n{sweeps.format_status(manifest)}")
        own, startup = [], []
        for j in manifest["jobs"]:
            events = {e["event"]: e for e in read_events(Path(j["run_dir"]))}
            own.append(events["finish"]["time"] - events["start"]["time"])
            startup.append(events["start"].get("startup_s", float("nan")))
    slots = min(args.jobs, cpus)  # slurm_dev asks for 1 CPU per job
    ideal = sum(own) / slots
    print(
        f"sweep of {args.jobs} jobs x {args.steps} steps on {cpus} CPU slot(s); planning+submit {t_submitted - t0:.2f} s"
    )
    print(f"job own run times (s): {', '.join(f'{x:.1f}' for x in own)}; sum {sum(own):.1f}")
    print(
        f"job start-up before its first line (process start -> SweepJob start, s): median {statistics.median(startup):.2f}, "
        f"max {max(startup):.2f}"
    )
    print(f"sweep wall time {wall:.1f} s; ideal packed wall time {ideal:.1f} s (sum / {slots} slots)")
    print(f"wall / sum of job times   = {wall / sum(own):.2f}")
    print(f"overhead ratio wall/ideal = {wall / ideal:.2f}")


if __name__ == "__main__":
    main()
