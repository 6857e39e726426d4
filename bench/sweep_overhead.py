"""What a Slurm sweep costs on top of its jobs: wall time of a `refusal-lab -m` sweep on the local
cluster (launchers/local_slurm.sh, launcher=slurm_dev) against the sum of its jobs' own run times.

    eval "$(bash launchers/local_slurm.sh env)"; python bench/sweep_overhead.py [--jobs 8] [--steps 40]

Runs the same sweep twice: one Slurm task per job (hydra.launcher.jobs_per_task=1, the default),
then packed (jobs_per_task = jobs / slots, so each slot's process starts once).

A job's own run time is SweepJob's start -> finish (run_dir/job_events.jsonl): config, data,
training, eval and W&B. Everything else is overhead: Slurm scheduling, process start, imports
before the job's first line, teardown. Baseline, measured in the same run: the ideal wall time
if the one-task-per-job sweep's jobs packed the node's slots perfectly (sum of their own times /
slots). Prints, for each variant, wall / that baseline (1.0 = no overhead), wall / its own
ideal, the per-process start-up and the slot gaps it is made of.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from refusal_lab.experiments import sweeps
from refusal_lab.experiments.jobs import read_events


def run_sweep(args, jobs_per_task: int, slots: int) -> dict:
    """One sweep on the cluster; its wall time and every job's (process start, start, finish)."""
    ratios = ",".join(f"{i / max(1, args.jobs - 1):.3g}" for i in range(args.jobs))
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
            f"hydra.launcher.jobs_per_task={jobs_per_task}",
        ]
        t0 = time.time()
        cmd = [sys.executable, "-c", "from refusal_lab.cli import main; main()", "-m", *overrides]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        submitted = time.time() - t0
        manifest = sweeps.wait(sweep_dir, poll_s=0.5, timeout_s=1800, echo=lambda s: None)
        wall = time.time() - t0
        bad = [j for j in manifest["jobs"] if j["status"] != "completed"]
        if bad:
            raise SystemExit(f"{len(bad)} job(s) did not complete:\n{sweeps.format_status(manifest)}")
        spans = []
        for j in manifest["jobs"]:
            events = {e["event"]: e for e in read_events(Path(j["run_dir"]))}
            start, finish = events["start"]["time"], events["finish"]["time"]
            process = (events["start"].get("job_id"), start - events["start"].get("startup_s", math.nan))
            spans.append((process, start, finish))
    return {"wall": wall, "submitted": submitted, "spans": spans}


def describe(name: str, run: dict, baseline_ideal: float, slots: int) -> None:
    spans = run["spans"]
    own = [finish - start for _, start, finish in spans]
    first_job = {}  # Slurm task -> (its process start, its first job's start)
    for (task, proc), start, _ in sorted(spans, key=lambda s: s[1]):
        first_job.setdefault(task, (proc, start))
    processes = sorted(first_job.values())
    startup = [start - proc for proc, start in processes]
    gaps = []  # a slot's gap: from a job's last line to the next process start (Slurm + teardown)
    for proc, _ in processes[slots:]:
        before = [finish for _, _, finish in spans if finish <= proc]
        if before:
            gaps.append(proc - max(before))
    ideal = sum(own) / slots
    print(f"\n{name}: planning+submit {run['submitted']:.2f} s, {len(processes)} process(es)")
    print(f"  job own run times (s): {', '.join(f'{x:.1f}' for x in own)}; sum {sum(own):.1f}")
    print(f"  process start-up before its first job's first line (s): median {statistics.median(startup):.2f}")
    if gaps:
        print(
            f"  gap between a job's last line and the next process start on a slot (s): median {statistics.median(gaps):.2f}"
        )
    print(f"  sweep wall time {run['wall']:.1f} s; its own ideal {ideal:.1f} s (sum / {slots} slots)")
    print(f"  wall / own ideal                      = {run['wall'] / ideal:.2f}")
    print(f"  wall / baseline ideal (one task per job) = {run['wall'] / baseline_ideal:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=8, help="jobs in the sweep (a contrast_ratio axis)")
    ap.add_argument("--steps", type=int, default=40, help="train.max_steps per job")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cpus = int(
        subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, check=True).stdout.split()[0]
    )
    slots = min(args.jobs, cpus)  # slurm_dev asks for 1 CPU per job
    per_task = math.ceil(args.jobs / slots)
    single = run_sweep(args, 1, slots)
    packed = run_sweep(args, per_task, slots)
    baseline = sum(finish - start for _, start, finish in single["spans"]) / slots
    print(f"sweep of {args.jobs} jobs x {args.steps} steps on {cpus} CPU slot(s); load {os.getloadavg()[0]:.1f}")
    describe("one task per job (jobs_per_task=1)", single, baseline, slots)
    describe(f"packed (jobs_per_task={per_task})", packed, baseline, slots)
    print(f"\npacked sweep is {single['wall'] / packed['wall']:.2f}x faster than one task per job")


if __name__ == "__main__":
    main()
