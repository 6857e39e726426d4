"""The callable a sweep submits: one training run that survives preemption and time limits.

Signal flow (submitit 1.5.4): Slurm sends USR2 (at preemption with preempt_send_user_signal,
or `signal_delay_s` before the time limit). submitit's handler runs in the job's main thread,
calls `checkpoint()` below, dumps what it returns as the job's next pickle, runs
`scontrol requeue` and `sys.exit`s. A signal handler interrupts the main thread at an arbitrary
bytecode, so training must not run there: it runs in a worker thread, and `checkpoint()` sets
the stop flag that pipeline.run polls at every optimizer-step boundary, then waits (at most
`stop_wait_s`) for the worker to save the training state at that boundary and return. The
requeued job calls pipeline.run with the same run_dir: it resumes at the next step (none lost,
none repeated) and continues the same W&B run (id kept in run_dir/wandb_run_id). If a step
outlasts `stop_wait_s`, the state of the last `train.checkpoint_every` boundary is what resumes.

Requeues are bounded by `max_requeues`: the starts of this job id are counted in
run_dir/job_events.jsonl (Slurm may also requeue on its own, with PreemptMode=REQUEUE); past the
bound the job ends as failed with its training state kept, and `refusal-lab sweep resubmit`
(a new job id, a fresh count) continues it.

Multi-task jobs (DeepSpeed): each task learns RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR /
MASTER_PORT from submitit.JobEnvironment before training starts (see `distributed_env`).
submitit calls checkpoint() on global rank 0 only; a multi-rank training loop must agree on
stopping (e.g. all-reduce the flag at each boundary).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import submitit

from refusal_lab.experiments.tracking import process_age_s

EVENTS_FILE = "job_events.jsonl"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
log = logging.getLogger("refusal_lab")


def setup_job_logging() -> None:
    """INFO lines of refusal_lab on stdout (the Slurm / submitit log) unless logging is set up already."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stdout)
    log.setLevel(logging.INFO)
    if not sys.stdout.isatty():  # a log file: plain INFO lines, no progress bars (tqdm, Hugging Face)
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def run_logged(callable_, args: tuple, log_path: Path) -> str:
    """Runs a job callable in this process with its INFO lines also in log_path; 'completed' or 'failed'."""
    import traceback

    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        callable_(*args)
        return "completed"
    except Exception:
        log.error("job failed:\n%s", traceback.format_exc())
        print(f"job failed; log {log_path}", file=sys.stderr)
        return "failed"
    finally:
        root.removeHandler(handler)
        handler.close()


def distributed_env() -> dict[str, str]:
    """torch.distributed-style variables for this task, from the Slurm (or submitit local) env
    (training.distributed owns them; the port differs per array task); a MASTER_PORT already
    set wins."""
    from refusal_lab.training import distributed

    env = distributed.submitit_env().as_env()
    return env | ({"MASTER_PORT": os.environ["MASTER_PORT"]} if os.environ.get("MASTER_PORT") else {})


def record_event(run_dir: Path, event: str, **detail) -> None:
    """Appends one JSON line to run_dir/job_events.jsonl (a single O_APPEND write)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    line = (
        json.dumps(
            {
                "time": round(time.time(), 3),
                "event": event,
                "job_id": current_job_id(),
                "restart_count": int(os.environ.get("SLURM_RESTART_COUNT", "0")),
            }
            | detail
        )
        + "\n"
    )
    fd = os.open(run_dir / EVENTS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def exit_without_teardown() -> None:
    """Registered after every import of a finished job, so it runs first at interpreter exit (after
    submitit has written the result): skips the seconds of interpreter teardown (torch, wandb's service
    shutdown) that nothing needs once the run is finished and its W&B run flushed. Success path only:
    a failed job keeps Python's own exit status."""

    def _exit() -> None:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    atexit.register(_exit)


def current_job_id() -> str | None:
    """The scheduler's id of this job (per array task), or None outside a job."""
    if os.environ.get("SLURM_ARRAY_JOB_ID") and os.environ.get("SLURM_ARRAY_TASK_ID"):
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"  # as sacct and the manifest name it
    return os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_LOCAL_JOB_ID")


def requeues_so_far(run_dir: Path) -> int:
    """How many times this job id started again after its first start."""
    starts = [e for e in read_events(run_dir) if e["event"] == "start" and e.get("job_id") == current_job_id()]
    return max(0, len(starts) - 1)


def scheduler_job_id(run_dir: Path) -> str | None:
    """The Slurm job id the run's first event was written under (stock launchers learn it only there)."""
    return next((e["job_id"] for e in read_events(run_dir) if e.get("job_id")), None)


def read_events(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / EVENTS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class SweepJob(submitit.helpers.Checkpointable):
    """`SweepJob(max_requeues, stop_wait_s)(job_cfg, run_dir) -> summary`; job_cfg is the
    composed config as a plain dict (validated again on the job side: cheap, and catches a
    schema that changed between submit and start)."""

    def __init__(self, max_requeues: int = 3, stop_wait_s: float = 120.0):
        self.max_requeues = max_requeues
        self.stop_wait_s = stop_wait_s
        self.fast_exit = True  # skip interpreter teardown after success (PackedSweepJob: after its last job)
        self._stop: threading.Event | None = None
        self._worker: threading.Thread | None = None

    def __getstate__(self):  # the runtime fields do not pickle and must not travel
        return {"max_requeues": self.max_requeues, "stop_wait_s": self.stop_wait_s}

    def __setstate__(self, state):
        self.__init__(**state)

    def __call__(self, job_cfg: dict, run_dir: str) -> dict:
        t0 = time.perf_counter()
        setup_job_logging()
        run_dir = Path(run_dir)
        summary_path = run_dir / "summary.json"
        if summary_path.exists():  # finished before (a rerun, or a requeue after the end)
            return json.loads(summary_path.read_text())
        log.info("job %s start: run dir %s", current_job_id() or "(this process)", run_dir)
        from refusal_lab.config import validate
        from refusal_lab.evaluation.report import format_table
        from refusal_lab.experiments.run import run

        log.info("stage imports: %.2f s", time.perf_counter() - t0)
        if current_job_id():
            os.environ.update(distributed_env())
        cfg = validate(job_cfg)
        resumed = (run_dir / "train_state").exists()
        record_event(
            run_dir,
            "start",
            resumed=resumed,
            rank=int(os.environ.get("RANK", "0")),
            startup_s=round(process_age_s(), 3),
        )
        if requeues_so_far(run_dir) > self.max_requeues:
            raise RuntimeError(
                f"job {current_job_id()} was requeued {requeues_so_far(run_dir)} times, more than "
                f"launcher.max_requeues={self.max_requeues}; its training state is kept in {run_dir}/train_state: "
                f"`refusal-lab sweep resubmit SWEEP_DIR` continues it (or raise launcher.max_requeues)"
            )
        self._stop = threading.Event()
        outcome: dict = {}

        def train():
            try:
                outcome["summary"] = run(cfg, run_dir, should_stop=self._stop.is_set)
            except BaseException as exc:  # handed to the main thread, which re-raises it
                outcome["error"] = exc

        self._worker = threading.Thread(target=train, name="refusal-lab-train", daemon=True)
        self._worker.start()
        while self._worker.is_alive():
            self._worker.join(0.5)  # short joins: the main thread stays free to run signal handlers
        if "error" in outcome:
            record_event(run_dir, "error", error=repr(outcome["error"])[:500])
            raise outcome["error"]
        record_event(run_dir, "finish")
        if "eval/f1" in outcome["summary"]:
            log.info("job finished in %.1f s\n%s", time.perf_counter() - t0, format_table(outcome["summary"]))
        if current_job_id() and self.fast_exit:  # a submitit / Slurm job process, never the CLI's own process
            exit_without_teardown()
        return outcome["summary"]

    def checkpoint(self, job_cfg: dict, run_dir: str):
        """Called by submitit's signal handler (main thread): stop at the next step boundary,
        wait for the state to be saved, then requeue unless the bound is reached."""
        run_dir = Path(run_dir)
        saved = False
        if self._stop is not None and self._worker is not None:
            self._stop.set()
            self._worker.join(self.stop_wait_s)
            saved = not self._worker.is_alive()
        requeues = requeues_so_far(run_dir)
        if requeues >= self.max_requeues:
            record_event(run_dir, "requeue_refused", saved_at_boundary=saved, requeues=requeues)
            return None  # submitit then ends the job as failed ("checkpoint function returned None")
        record_event(run_dir, "requeue", saved_at_boundary=saved, requeues=requeues + 1)
        return submitit.helpers.DelayedSubmission(SweepJob(self.max_requeues, self.stop_wait_s), job_cfg, str(run_dir))


class PackedSweepJob(submitit.helpers.Checkpointable):
    """`PackedSweepJob(max_requeues, stop_wait_s)([(job_cfg, run_dir), ...])`: several sweep jobs one
    after another in one Slurm task (hydra.launcher.jobs_per_task), so process start and imports
    are paid once per task, not per job. Each job is a SweepJob: a finished one returns its
    summary at once, a stopped one resumes, so a requeued task simply runs its list again."""

    def __init__(self, max_requeues: int = 3, stop_wait_s: float = 120.0):
        self.job = SweepJob(max_requeues, stop_wait_s)
        self.job.fast_exit = False
        self._current: tuple[dict, str] | None = None

    def __getstate__(self):
        return {"max_requeues": self.job.max_requeues, "stop_wait_s": self.job.stop_wait_s}

    def __setstate__(self, state):
        self.__init__(**state)

    def __call__(self, items: list) -> list[dict]:
        summaries = []
        for job_cfg, run_dir in items:
            self._current = (job_cfg, run_dir)
            summaries.append(self.job(job_cfg, run_dir))
        if current_job_id():
            exit_without_teardown()
        return summaries

    def checkpoint(self, items: list):
        """The running job saves its state and decides (its requeue bound); the task requeues with the whole list."""
        if self._current is None or self.job.checkpoint(*self._current) is None:
            return None
        return submitit.helpers.DelayedSubmission(PackedSweepJob(self.job.max_requeues, self.job.stop_wait_s), items)


def _cli(args: list[str]) -> None:
    """`refusal-lab ARGS` in a child process whose output goes to this job's log; raises on failure."""
    cmd = [sys.executable, "-c", "from refusal_lab.cli import main; main()", *args]
    log.info("running: refusal-lab %s", " ".join(args))
    sys.stdout.flush()
    subprocess.run(cmd, check=True)


class EvalJob(submitit.helpers.Checkpointable):
    """`EvalJob()(run_dir, eval_args, logger_cfg)`: `refusal-lab eval` on a training job's checkpoint
    (into run_dir/eval), its metrics logged as a W&B run with job_type=eval in the sweep's group.
    Never requeued: checkpoint() returns None, and the chain submits it with --no-requeue."""

    def __call__(self, run_dir: str, eval_args: list[str], logger_cfg: dict) -> dict:
        from refusal_lab.config import LoggerConfig
        from refusal_lab.experiments.tracking import make_logger

        setup_job_logging()
        run_dir = Path(run_dir)
        out = run_dir / "eval"
        record_event(run_dir, "eval_start")
        keys = {a.partition("=")[0] for a in eval_args}
        suite = bool(keys & {"suite", "sets"})  # benchmark sets: the suite logs its own W&B eval run in the run's group
        mode = {"offline": "wandb_offline", "online": "wandb_online"}.get(logger_cfg.get("mode"), "disabled")
        extra = [f"logger={mode}"] if suite and "logger" not in keys else []
        _cli(["eval", f"checkpoint={run_dir / 'checkpoint'}", f"out={out}", *eval_args, *extra])
        if suite:
            record_event(run_dir, "eval_finish")
            return json.loads((out / "summary.json").read_text())
        metrics = json.loads((out / "metrics.json").read_text())
        cfg = LoggerConfig(**logger_cfg)
        cfg.name = f"{cfg.name or run_dir.name}-eval"  # next to its training run's name in the sweep's group
        logger = make_logger(
            cfg,
            out,
            {"checkpoint": str(run_dir / "checkpoint"), "eval_args": list(eval_args)},
            cfg.name,
            job_type="eval",
        )
        logger.set_summary({k: v for k, v in metrics.items() if isinstance(v, (int, float, str))})
        logger.finish()
        record_event(run_dir, "eval_finish")
        return metrics

    def checkpoint(self, *args, **kwargs):
        record_event(Path(args[0]), "eval_preempted")
        log.warning("evaluation job preempted: not requeued (submit it again with `refusal-lab eval`)")
        return None


class AnalyzeJob(submitit.helpers.Checkpointable):
    """`AnalyzeJob()(sweep_dir, push)`: `refusal-lab analyze SWEEP_DIR` once every job of the sweep
    ended; with push (the sweep logs to W&B), the report also becomes a W&B run (job_type analysis)
    in the sweep's group, offline under SWEEP_DIR/analysis/wandb for `wandb sync`."""

    def __call__(self, sweep_dir: str, push: bool = False) -> None:
        setup_job_logging()
        _cli(["analyze", sweep_dir, *(["--push"] if push else [])])

    def checkpoint(self, *args, **kwargs):
        return None
