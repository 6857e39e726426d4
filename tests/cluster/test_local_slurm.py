"""End-to-end tests of the local Slurm cluster (launchers/local_slurm.sh) through submitit.

Real cluster, no mocks: jobs go through sbatch, run under slurmd, are tracked with sacct.
Needs `launchers/local_slurm.sh start` first (see conftest.py). Each test is bounded in time.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import pytest
import submitit
from submitit.core.utils import FailedJobError

# Jobs unpickle the functions below; send them by value so that the job side need not import
# this test module (its import path depends on how pytest was started).
cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.cluster

JOB_TIMEOUT_S = 60
PREEMPT_TIMEOUT_S = 120


# ---------------------------------------------------------------- job functions


def add(a, b):
    return a + b


def square_with_host(x):
    return x * x, os.environ.get("SLURM_ARRAY_TASK_ID")


def explode(marker):
    raise ValueError(f"deliberate failure {marker}")


def sleep_then(seconds, value):
    time.sleep(seconds)
    return value


class StepCounter(submitit.helpers.Checkpointable):
    """Counts steps 0..n-1, appending each finished step to `steps.txt` (one atomic O_APPEND
    write per step), so that a resumed run starts after the last recorded step. Job-side events
    (start, checkpoint, finish) with wall-clock times go to `events.txt`."""

    def __call__(self, workdir, n_steps, step_s):
        workdir = Path(workdir)
        self._event(workdir, "start", f"restart_count={os.environ.get('SLURM_RESTART_COUNT', '0')}")
        for step in range(self._done(workdir), n_steps):
            time.sleep(step_s)
            self._append(workdir / "steps.txt", f"{step}\n")
        self._event(workdir, "finish")
        return [int(s) for s in (workdir / "steps.txt").read_text().split()]

    def checkpoint(self, workdir, n_steps, step_s):
        workdir = Path(workdir)
        self._event(workdir, "checkpoint", f"done={self._done(workdir)}")
        return super().checkpoint(workdir, n_steps, step_s)

    @staticmethod
    def _done(workdir):
        path = workdir / "steps.txt"
        return len(path.read_text().split()) if path.exists() else 0

    @staticmethod
    def _append(path, text):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _event(self, workdir, name, detail=""):
        self._append(workdir / "events.txt", f"{time.time():.3f} {name} {detail}\n")


# ---------------------------------------------------------------- helpers


def _executor(folder, partition="debug", **params):
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    executor.update_parameters(
        slurm_partition=partition, timeout_min=params.pop("timeout_min", 5), cpus_per_task=1, **params
    )
    return executor


def _sacct_state(job_id):
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-j", str(job_id), "-o", "State"], capture_output=True, text=True, timeout=30
    ).stdout.split()
    return out[-1] if out else ""


def _squeue_state(job_id):
    return subprocess.run(
        ["squeue", "-h", "-j", str(job_id), "-o", "%T"], capture_output=True, text=True, timeout=30
    ).stdout.strip()


def _wait_done(job, timeout_s):
    """Waits for a submitit job (or array sub-job) to finish; on timeout cancels it and fails."""
    deadline = time.time() + timeout_s
    while not job.done():
        if time.time() > deadline:
            job.cancel(check=False)
            log = job.paths.stderr.read_text()[-2000:] if job.paths.stderr.exists() else "(no stderr yet)"
            pytest.fail(f"job {job.job_id} not done after {timeout_s}s (state {job.state}); stderr tail:\n{log}")
        time.sleep(0.5)


def _submitit_state(job, wanted, timeout_s):
    """job.state as submitit sees it (through sacct), after forcing its cached watcher to refresh
    until the state is in `wanted` (sacct can lag the result file by a moment)."""
    deadline = time.time() + timeout_s
    while job.get_info(mode="force").get("State") not in wanted and time.time() < deadline:
        time.sleep(0.5)
    return job.state


def _wait_state(job_id, wanted, timeout_s, source=_sacct_state):
    deadline = time.time() + timeout_s
    state = ""
    while time.time() < deadline:
        state = source(job_id)
        if state in wanted:
            return state
        time.sleep(0.5)
    return state


# ---------------------------------------------------------------- tests


def test_submit_returns_value(tmp_path):
    job = _executor(tmp_path).submit(add, 2, 40)
    _wait_done(job, JOB_TIMEOUT_S)
    assert job.result() == 42
    assert _submitit_state(job, {"COMPLETED"}, 20) == "COMPLETED"


def test_job_array(tmp_path):
    executor = _executor(tmp_path, slurm_array_parallelism=4)
    jobs = executor.map_array(square_with_host, [0, 1, 2, 3])
    assert len(jobs) == 4 and len({job.job_id.split("_")[0] for job in jobs}) == 1  # one array
    for job in jobs:
        _wait_done(job, JOB_TIMEOUT_S)
    results = [job.result() for job in jobs]
    assert [value for value, _ in results] == [0, 1, 4, 9]
    assert sorted(task for _, task in results) == ["0", "1", "2", "3"]


def test_failing_job_reports_exception(tmp_path):
    marker = f"marker-{os.getpid()}-{time.time_ns()}"
    job = _executor(tmp_path).submit(explode, marker)
    _wait_done(job, JOB_TIMEOUT_S)
    with pytest.raises(FailedJobError) as err:
        job.result()
    assert marker in str(err.value)
    assert _submitit_state(job, {"FAILED"}, 20) == "FAILED"
    stderr = Path(job.paths.stderr)
    assert stderr.exists(), stderr
    text = stderr.read_text()
    assert "ValueError" in text and marker in text


def test_preemption_requeues_from_checkpoint(tmp_path):
    """A Checkpointable job on `debug` is preempted by a whole-node job on `high`: Slurm sends it
    submitit's signal (USR2, preempt_send_user_signal), submitit calls checkpoint() and requeues
    it, and the requeued job resumes after the last finished step."""
    n_steps, step_s = 16, 0.5
    workdir = tmp_path / "work"
    workdir.mkdir()
    t = {}
    # timeout_min > 10: submitit's handler treats a signal within 80% (or timeout-10 min) of the
    # walltime as a timeout; with 20 min the USR2 is classified as a preemption.
    low = _executor(tmp_path / "low", timeout_min=20)
    t["submit"] = time.time()
    job = low.submit(StepCounter(), str(workdir), n_steps, step_s)

    # preempt once the job is running and has done a few steps
    deadline = time.time() + JOB_TIMEOUT_S
    while StepCounter._done(workdir) < 3:
        if time.time() > deadline:
            job.cancel(check=False)
            pytest.fail(f"low-priority job {job.job_id} did not get going (state {_squeue_state(job.job_id)})")
        time.sleep(0.1)
    steps_before = StepCounter._done(workdir)

    high = _executor(tmp_path / "high", partition="high", timeout_min=5, slurm_exclusive=True)
    high.update_parameters(cpus_per_task=os.cpu_count())
    t["preempt (high job submitted)"] = time.time()
    high_job = high.submit(sleep_then, 3, "high-done")

    state = _wait_state(job.job_id, {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"}, 60, _squeue_state)
    t[f"requeued (squeue {state})"] = time.time()
    _wait_done(high_job, JOB_TIMEOUT_S)
    assert high_job.result() == "high-done"
    t["high job done"] = time.time()

    _wait_done(job, PREEMPT_TIMEOUT_S)
    t["finish seen by client"] = time.time()
    steps = job.result()
    assert _submitit_state(job, {"COMPLETED"}, 20) == "COMPLETED"

    events = [line.split(" ", 2) for line in (workdir / "events.txt").read_text().splitlines()]
    names = [e[1] for e in events]
    for stamp, name, detail in events:
        t[f"job: {name} {detail}".strip()] = float(stamp)
    history = subprocess.run(
        ["sacct", "-n", "-X", "-P", "--duplicates", "-j", str(job.job_id), "-o", "JobID,State,Start,End"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()

    t0 = t["submit"]
    lines = [f"  {stamp - t0:7.2f}s  {name}" for name, stamp in sorted(t.items(), key=lambda kv: kv[1])]
    report = (
        f"\npreemption timeline (job {job.job_id}, {n_steps} steps x {step_s}s, "
        f"{steps_before} steps done when the high job was submitted):\n"
        + "\n".join(lines)
        + "\n  sacct --duplicates:\n    "
        + history.replace("\n", "\n    ")
        + "\n"
    )
    print(report)
    (tmp_path / "timeline.txt").write_text(report)

    assert names.count("start") == 2, report
    assert names.count("checkpoint") == 1, report
    assert names[-1] == "finish", report
    assert steps == list(range(n_steps)), f"steps not done exactly once: {steps}\n{report}"
