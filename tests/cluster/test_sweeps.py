"""`refusal-lab -m` on the real local Slurm cluster (launchers/local_slurm.sh): the stock
hydra/launcher=submitit_slurm and this project's launcher, Optuna, an experiment file's grid,
train -> eval -> analyze chains, a preempted evaluation job, a preempted training job that
resumes. No mocks: sbatch, slurmd, sacct, W&B offline files.

Every sweep is started by one module fixture, at once, so that they share the 2-core node instead
of queueing one after another (CI has 2 cores).
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from refusal_lab.analysis.wandb_offline import find_offline_runs, read_offline_run
from refusal_lab.experiments import sweeps
from refusal_lab.experiments.jobs import read_events

pytestmark = pytest.mark.cluster

TINY = [
    "train.max_steps=12",
    "mix.total=80",
    "eval.max_prompts=40",
    "eval.samples_per_kind=0",
    "train.threads=1",
    "train.log_every=4",
]
OURS = ["launcher=slurm_dev"]
TIMEOUT_S = 420


def cli(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REFUSAL_LAB_", "WANDB_"))} | {
        "OMP_NUM_THREADS": "1"
    }
    return subprocess.Popen(
        [sys.executable, "-c", "from refusal_lab.cli import main; main()", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def sacct(job_ids: list[str], fields: str = "JobID,State,Submit,Eligible,Start,End") -> dict[str, dict]:
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", fields, "-j", ",".join(job_ids)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    names = fields.split(",")
    return {row[0]: dict(zip(names, row)) for row in (line.split("|") for line in out.splitlines())}


def settled(job_ids: list[str], fields: str = "JobID,State,Submit,Eligible,Start,End") -> dict[str, dict]:
    """sacct once every job has left the live states: a job's results can be on disk (submitit's
    result pickle, our events file) while slurmd still finishes the process, so sacct says RUNNING
    or COMPLETING for a moment after the launcher returns."""
    deadline = time.time() + TIMEOUT_S
    live = ("PENDING", "RUNNING", "REQUEUED", "COMPLETING")
    acct = sacct(job_ids, fields)
    while any(s["State"] in live for s in acct.values()):
        assert time.time() < deadline, acct
        time.sleep(1)
        acct = sacct(job_ids, fields)
    return acct


def finished(proc: subprocess.Popen, timeout: float = TIMEOUT_S) -> str:
    out, _ = proc.communicate(timeout=timeout)
    return out


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweeps")
    os.environ["OMP_NUM_THREADS"] = "1"
    procs = {
        # first, so that it starts at once; checkpoint_every=5 marks "mid-training" on disk
        "preempt": cli(
            [
                "-m",
                *OURS,
                *TINY,
                "train.max_steps=40",
                "train.log_every=1",
                "train.checkpoint_every=5",
                "hydra.launcher.wait=false",
                "seed=0",
                f"hydra.sweep.dir={root}/preempt",
            ],
            root,
        ),
        "ours": cli(  # both jobs in one Slurm task (jobs_per_task=2): process start and imports paid once
            [
                "-m",
                *OURS,
                *TINY,
                "logger=disabled",
                "tokens=single,category",
                "hydra.launcher.jobs_per_task=2",
                f"hydra.sweep.dir={root}/ours",
            ],
            root,
        ),
        "stock": cli(
            [
                "-m",
                "hydra/launcher=submitit_slurm",
                "hydra.launcher.partition=debug",
                "hydra.launcher.timeout_min=20",
                "hydra.launcher.cpus_per_task=1",
                *TINY,
                "logger=disabled",
                "mix.contrast_ratio=0,0.5",
                f"hydra.sweep.dir={root}/stock",
            ],
            root,
        ),
        "chain": cli(
            [
                "-m",
                *OURS,
                *TINY,
                "train.max_steps=8",
                "hydra.launcher.wait=false",
                "hydra.launcher.eval_after=true",
                "hydra.launcher.analyze_after=true",
                "hydra.launcher.eval_args=['max_prompts=20']",
                "seed=0,1",
                f"hydra.sweep.dir={root}/chain",
            ],
            root,
        ),
        "optuna": cli(
            [
                "-m",
                "hparams_search=optuna_mix",
                *OURS,
                *TINY,
                "logger=disabled",
                "train.max_steps=6",
                "hydra.sweeper.n_trials=3",
                "hydra.sweeper.n_jobs=3",
                f"hydra.sweep.dir={root}/optuna",
            ],
            root,
        ),
    }
    watchers = [
        threading.Thread(target=signal_when, daemon=True, args=(root / "preempt", train_mid_way)),
        threading.Thread(target=signal_when, daemon=True, args=(root / "chain", second_eval_started)),
    ]
    for w in watchers:
        w.start()
    return {"root": root, "procs": procs, "watchers": watchers}


def train_mid_way(manifest: dict) -> str | None:
    """The training job once its step-5 state is on disk (train.checkpoint_every=5)."""
    job = manifest["jobs"][0]
    return job["slurm_job_id"] if (Path(job["run_dir"]) / "train_state").exists() else None


def second_eval_started(manifest: dict) -> str | None:
    """The second evaluation job once it runs its callable (submitit's signal handler is in place)."""
    follow = [f for f in manifest.get("followups", []) if f["kind"] == "eval"]
    if len(follow) < 2:
        return None
    events = [e["event"] for e in read_events(Path(manifest["jobs"][1]["run_dir"]))]
    return follow[1]["slurm_job_id"] if "eval_start" in events else None


def signal_when(sweep_dir: Path, ready) -> None:
    """`scancel --signal=USR2` (what Slurm sends at preemption or before the time limit) once ready(manifest) names a job."""
    deadline = time.time() + TIMEOUT_S
    while time.time() < deadline:
        manifest = (
            json.loads((sweep_dir / "sweep_manifest.json").read_text())
            if (sweep_dir / "sweep_manifest.json").exists()
            else None
        )
        job_id = manifest and ready(manifest)
        if job_id:
            subprocess.run(["scancel", "--signal=USR2", job_id], check=True, timeout=30)
            return
        time.sleep(0.2)


def test_signalled_training_job_resumes_its_wandb_run_without_gaps_or_repeats(started):
    """Signalled mid-training (USR2, by the fixture's watcher): the job stops at a step boundary with its state saved, is requeued and resumes at the next step, same W&B run."""
    finished(started["procs"]["preempt"])
    sweep_dir = started["root"] / "preempt"
    (job,) = sweeps.read_manifest(sweep_dir)["jobs"]
    run_dir = Path(job["run_dir"])
    started["watchers"][0].join(TIMEOUT_S)
    final = sweeps.wait(sweep_dir, poll_s=1, timeout_s=TIMEOUT_S, echo=lambda s: None)
    assert final["jobs"][0]["status"] == "completed", sweeps.format_status(final)
    # summary.json (what makes the job completed) is written just before the job records "finish"
    deadline = time.time() + 60
    while (events := read_events(run_dir))[-1]["event"] != "finish" and time.time() < deadline:
        time.sleep(0.5)
    assert [e["event"] for e in events] == ["start", "requeue", "start", "finish"], events
    assert events[1]["saved_at_boundary"] and events[2]["resumed"]
    runs = sorted(
        (read_offline_run(d) for d in find_offline_runs(run_dir / "wandb")),
        key=lambda r: min(h["_step"] for h in r.history if "train/loss" in h),
    )
    assert len(runs) == 2 and len({r.id for r in runs}) == 1  # one W&B run, continued
    steps = [h["_step"] for r in runs for h in r.history if "train/loss" in h]
    assert steps == list(range(1, 41)), steps  # no gap, no repeat
    assert json.loads((run_dir / "summary.json").read_text())["train/steps"] == 40


def test_project_launcher_packs_two_jobs_in_one_cluster_task_with_followable_logs(started):
    out = finished(started["procs"]["ours"])
    manifest = sweeps.read_manifest(started["root"] / "ours")
    jobs = manifest["jobs"]
    assert [j["status"] for j in jobs] == ["completed", "completed"], out[-3000:]
    assert len({j["slurm_job_id"] for j in jobs}) == 1  # one Slurm task ran both
    states = settled([jobs[0]["slurm_job_id"]])
    assert {s["State"] for s in states.values()} == {"COMPLETED"}  # ran on the cluster, not in the test process
    starts = [e for j in jobs for e in read_events(Path(j["run_dir"])) if e["event"] == "start"]
    assert [e["job_id"] for e in starts] == [jobs[0]["slurm_job_id"]] * 2 and starts[1]["startup_s"] > starts[0][
        "startup_s"
    ]
    log = Path(jobs[0]["log"]).read_text()
    assert "step 4 loss" in log and "tokens/s" in log and "stage imports" in log
    assert log.count("job finished in") == 2  # both jobs' lines in the task's one log
    assert "refusal F1 (default rule)" in log and "refusal rate per kind" in log
    assert "2 job(s): 2 completed" in out and "tokens=category" in out and "refusal-lab analyze" in out
    print("\n--- Slurm log excerpt of", jobs[0]["slurm_job_id"], "---\n" + "\n".join(log.splitlines()[:40]))


def test_stock_submitit_launcher_runs_on_the_cluster_after_the_same_preflight(started):
    out = finished(started["procs"]["stock"])
    sweep_dir = started["root"] / "stock"
    manifest = sweeps.read_manifest(sweep_dir)  # written by SweepCallback before submission
    assert [j["overrides"][-1] for j in manifest["jobs"]] == ["mix.contrast_ratio=0", "mix.contrast_ratio=0.5"]
    logs = sorted((sweep_dir / ".submitit").glob("*/*_log.out"))
    assert len(logs) == 2, out[-3000:]
    ids = [p.parent.name for p in logs]
    assert {s["State"] for s in settled(ids).values()} == {"COMPLETED"}
    manifest = sweeps.read_manifest(sweep_dir)  # the jobs told it their Slurm ids (SweepCallback.on_job_start)
    assert sorted(j["slurm_job_id"] for j in manifest["jobs"]) == sorted(ids)
    assert all(j["log"] and Path(j["log"]).exists() for j in manifest["jobs"])
    assert [j["status"] for j in manifest["jobs"]] == ["completed", "completed"]
    assert all((Path(j["run_dir"]) / "summary.json").exists() for j in manifest["jobs"])
    assert "step 4 loss" in logs[0].read_text()


def test_optuna_sweep_of_three_trials_returns_the_configured_metric(started):
    out = finished(started["procs"]["optuna"])
    sweep_dir = started["root"] / "optuna"
    manifest = sweeps.read_manifest(sweep_dir)
    assert [j["status"] for j in manifest["jobs"]] == ["completed"] * 3, out[-3000:]
    import yaml

    result = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    best = max(json.loads((Path(j["run_dir"]) / "summary.json").read_text())["eval/best_f1"] for j in manifest["jobs"])
    assert result["best_value"] == pytest.approx(best)  # optimize_metric: eval/best_f1 was returned


def test_experiment_sweeper_params_submit_the_full_grid(tmp_path):
    """experiment=contrast_ratio's hydra.sweeper.params (5 x 2 x 3) submitted as one held array, then cancelled."""
    proc = cli(
        [
            "-m",
            "experiment=contrast_ratio",
            "model=tiny",
            "train=tiny",
            "data=builtin",
            "launcher=slurm_dev",
            "mix.total=60",
            "mix.general_count=null",
            "train.max_length=192",
            "hydra.launcher.tasks_per_node=1",
            "hydra.launcher.gpus_per_node=0",
            "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.mem_gb=null",
            "hydra.launcher.wait=false",
            "+hydra.launcher.additional_parameters.hold=true",
            f"hydra.sweep.dir={tmp_path}/grid",
        ],
        tmp_path,
    )
    out = finished(proc, TIMEOUT_S)  # 30 jobs composed and pre-flighted (data, model config) before submission
    manifest = sweeps.read_manifest(tmp_path / "grid")
    ids = [j["slurm_job_id"] for j in manifest["jobs"]]
    try:
        assert len(ids) == 30 and len({i.split("_")[0] for i in ids}) == 1, out[-2000:]
        queued = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i %r", "-j", ids[0].split("_")[0]],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split("\n")
        assert sorted(line.split()[0] for line in queued if line) == sorted(ids)  # 30 array tasks on the cluster, held
        assert {
            tuple(sorted(o for o in j["overrides"] if o.split("=")[0] in ("tokens", "seed"))) for j in manifest["jobs"]
        } == {(f"seed={s}", f"tokens={t}") for s in (0, 1, 2) for t in ("single", "category")}
    finally:
        subprocess.run(["scancel", ids[0].split("_")[0]], timeout=30)


def test_chain_train_eval_analyze_with_dependencies_and_a_preempted_eval_not_requeued(started):
    out = finished(started["procs"]["chain"])
    sweep_dir = started["root"] / "chain"
    manifest = sweeps.read_manifest(sweep_dir)
    follow = manifest["followups"]
    assert [f["kind"] for f in follow] == ["eval", "eval", "analysis"], out[-3000:]
    started["watchers"][1].join(TIMEOUT_S)  # it signalled the second eval job while it ran
    ids = [j["slurm_job_id"] for j in manifest["jobs"]] + [f["slurm_job_id"] for f in follow]
    acct = settled(ids)
    train0, train1 = (acct[j["slurm_job_id"]] for j in manifest["jobs"])
    eval0, eval1, analysis = (acct[f["slurm_job_id"]] for f in follow)
    assert (train0["State"], train1["State"], eval0["State"], analysis["State"]) == ("COMPLETED",) * 4, acct
    assert eval0["Eligible"] >= train0["End"] and eval1["Eligible"] >= train1["End"]  # afterok
    assert analysis["Eligible"] >= max(train0["End"], train1["End"], eval0["End"], eval1["End"])  # afterany
    assert eval1["State"] != "COMPLETED"
    run1 = Path(manifest["jobs"][1]["run_dir"])
    events = [e["event"] for e in read_events(run1)]
    assert events.count("eval_start") == 1 and "eval_preempted" in events  # stopped, never started again
    run0 = Path(manifest["jobs"][0]["run_dir"])
    (eval_run,) = [read_offline_run(d) for d in find_offline_runs(run0 / "eval" / "wandb")]
    assert eval_run.job_type == "eval" and eval_run.group == manifest["sweep_id"] and eval_run.name == "seed=0-eval"
    assert (sweep_dir / "analysis" / "report.md").exists()
    (report_run,) = [read_offline_run(d) for d in find_offline_runs(sweep_dir / "analysis" / "wandb")]
    assert report_run.job_type == "analysis" and report_run.group == manifest["sweep_id"]  # pushed, like the runs
