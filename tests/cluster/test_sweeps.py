"""Sweeps through the real local Slurm cluster (launchers/local_slurm.sh): arrays, failures,
preemption with resume, dry run. No mocks: sbatch, slurmd, sacct, W&B offline files.

The two sweeps (a 2x2 that succeeds, and a 2-job one where one job raises) are submitted
together by one module fixture so that they share the 2-core node instead of queueing.
"""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from refusal_lab.commands import sweep as sweep_command
from refusal_lab.experiments import sweeps
from refusal_lab.experiments.jobs import read_events
from refusal_lab.analysis.wandb_offline import find_offline_runs, read_offline_run

pytestmark = pytest.mark.cluster

TINY = ["launcher=slurm_dev", "train.max_steps=40", "mix.total=120", "eval.max_prompts=60",
        "eval.samples_per_kind=0", "train.threads=1"]
SWEEP_TIMEOUT_S = 150
PREEMPT_STEPS = 40


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # exported to the jobs by sbatch


def _squeue_ids():
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=30, check=True)
    return sorted(out.stdout.split())


@pytest.fixture(scope="module")
def submitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweeps")
    os.environ["OMP_NUM_THREADS"] = "1"
    submitted_at = time.time()
    # first, so that it starts at once; checkpoint_every=5 marks "mid-training" on disk
    preempt_dir, _ = sweeps.run_sweep(TINY + [f"train.max_steps={PREEMPT_STEPS}", "train.log_every=1", "train.checkpoint_every=5"],
                                      root / "preempt", echo=lambda s: None)
    good_dir, _ = sweeps.run_sweep(TINY + ["tokens=single,category", "mix.contrast_ratio=0,0.5"], root / "grid")
    # job 1 passes every check before the start (the folder exists) but raises when the loader opens its one file
    (root / "missing.jsonl").mkdir()
    (root / "missing.jsonl" / "rows.jsonl").symlink_to(root / "nowhere.jsonl")
    bad_dir, _ = sweeps.run_sweep(TINY + ["data.general_source=builtin,jsonl", f"+data.general_path={root}/missing.jsonl"],
                                  root / "with_failure")
    return {"grid": good_dir, "failure": bad_dir, "preempt": preempt_dir, "submitted_at": submitted_at}


def test_signalled_job_resumes_its_wandb_run_without_gaps_or_repeats(submitted):
    """`scancel --signal=USR2` (what Slurm sends at preemption or before the time limit):
    submitit calls SweepJob.checkpoint, training stops at a step boundary with its state saved,
    the job is requeued and resumes at the next step in the same W&B run."""
    n_steps = PREEMPT_STEPS
    t = {"submit": submitted["submitted_at"]}
    sweep_dir = submitted["preempt"]
    (job,) = sweeps.read_manifest(sweep_dir)["jobs"]
    run_dir = Path(job["run_dir"])
    deadline = time.time() + 90
    while not (run_dir / "train_state").exists():  # step 5 saved: mid-training
        assert time.time() < deadline, f"job {job['slurm_job_id']} did not reach step 5; log {job['log']}"
        time.sleep(0.1)
    t["signal USR2"] = time.time()
    subprocess.run(["scancel", "--signal=USR2", job["slurm_job_id"]], check=True, timeout=30)
    final = sweeps.wait(sweep_dir, poll_s=1, timeout_s=SWEEP_TIMEOUT_S, echo=lambda s: None)
    t["sweep seen done"] = time.time()

    events = read_events(run_dir)
    for e in events:
        t[f"job: {e['event']}" + (" (resumed)" if e.get("resumed") else "")] = e["time"]
    timeline = "\n".join(f"  {stamp - t['submit']:6.2f}s  {name}" for name, stamp in sorted(t.items(), key=lambda kv: kv[1]))
    print(f"\nsignal/requeue timeline (job {job['slurm_job_id']}, {n_steps} steps):\n{timeline}")
    assert final["jobs"][0]["status"] == "completed", sweeps.format_status(final)
    assert [e["event"] for e in events] == ["start", "requeue", "start", "finish"], timeline
    assert events[1]["saved_at_boundary"] and events[2]["resumed"]

    runs = [read_offline_run(d) for d in find_offline_runs(run_dir / "wandb")]
    assert len(runs) == 2 and len({r.id for r in runs}) == 1  # one W&B run, continued
    runs.sort(key=lambda r: min(h["_step"] for h in r.history if "train/loss" in h))
    per_part = [[h["_step"] for h in r.history if "train/loss" in h] for r in runs]
    assert per_part[0] and per_part[1], per_part
    assert per_part[0] + per_part[1] == list(range(1, n_steps + 1)), per_part  # no gap, no repeat
    assert runs[0].state == "failed" and runs[1].state == "finished"
    assert json.loads((run_dir / "summary.json").read_text())["train/steps"] == n_steps


def test_grid_runs_as_one_array_and_every_summary_is_found(submitted):
    good_dir = submitted["grid"]
    manifest = sweeps.wait(good_dir, timeout_s=SWEEP_TIMEOUT_S, echo=lambda s: None)
    jobs = manifest["jobs"]
    assert len(jobs) == 4
    assert len({j["slurm_job_id"].split("_")[0] for j in jobs}) == 1  # one Slurm array
    assert sorted(j["slurm_job_id"].split("_")[1] for j in jobs) == ["0", "1", "2", "3"]
    assert [j["status"] for j in jobs] == ["completed"] * 4, sweeps.format_status(manifest)
    groups = set()
    for j in jobs:
        run_dir = Path(j["run_dir"])
        assert (run_dir / "summary.json").exists()
        (offline,) = find_offline_runs(run_dir / "wandb")
        groups.add(read_offline_run(offline).group)
    assert groups == {manifest["sweep_id"]}  # the sweep id is every run's W&B group
    # manifest schema, exactly
    assert set(manifest) == {"sweep_id", "created", "jobs"}
    assert all(set(j) == {"index", "overrides", "run_dir", "slurm_job_id", "status", "log"} for j in jobs)


def test_failing_job_is_reported_with_state_and_log_while_the_other_finishes(submitted):
    bad_dir = submitted["failure"]
    manifest = sweeps.wait(bad_dir, timeout_s=SWEEP_TIMEOUT_S, echo=lambda s: None)
    ok, failed = manifest["jobs"]
    assert ok["status"] == "completed" and (Path(ok["run_dir"]) / "summary.json").exists()
    assert failed["status"] == "failed"
    state = sweeps.sacct_states([failed["slurm_job_id"]])[failed["slurm_job_id"]]
    assert state == "FAILED"
    log = Path(failed["log"])
    assert log.exists() and "missing.jsonl" in log.read_text()
    text = sweeps.format_status(manifest)
    assert str(log) in text and "failed" in text

    # rerun: the finished job is skipped, the failed one is submitted again (and fails again)
    before = len(read_events(Path(ok["run_dir"])))
    _, again = sweeps.run_sweep(TINY + ["data.general_source=builtin,jsonl", f"+data.general_path={bad_dir.parent}/missing.jsonl"],
                                bad_dir)
    assert again["sweep_id"] == manifest["sweep_id"]
    assert again["jobs"][0]["status"] == "completed" and again["jobs"][0]["slurm_job_id"] == ok["slurm_job_id"]
    assert again["jobs"][1]["slurm_job_id"] != failed["slurm_job_id"]
    final = sweeps.wait(bad_dir, timeout_s=SWEEP_TIMEOUT_S, echo=lambda s: None)
    assert final["jobs"][1]["status"] == "failed"
    assert len(read_events(Path(ok["run_dir"]))) == before  # never started again


def test_dry_run_submits_nothing(tmp_path, capsys):
    before = _squeue_ids()
    rc = sweep_command.main(["dry-run", "--sweep-dir", str(tmp_path / "dry"), *TINY, "tokens=single,category", "mix.contrast_ratio=0,0.1,0.3,1"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "8 job(s)" in out and "GPU-hours requested: 0.0" in out and "nothing submitted" in out
    assert "mix.contrast_ratio=0.3" in out
    assert not (tmp_path / "dry").exists()
    assert _squeue_ids() == before
