"""Validated sweeps (the library behind `refusal-lab sweep`, commands/sweep.py) dispatched locally or to Slurm (submitit), with a manifest.

    refusal-lab sweep dry-run [launcher=NAME] [launcher.KEY=VALUE ...] OVERRIDES...
    refusal-lab sweep run     [--wait] [--sweep-dir DIR] [launcher=NAME] [launcher.KEY=VALUE ...] OVERRIDES...
    refusal-lab sweep status  SWEEP_DIR [--watch]
    refusal-lab sweep resubmit SWEEP_DIR [--wait] [launcher.KEY=VALUE ...]

OVERRIDES are Hydra overrides; `key=a,b,c` sweeps (cartesian product, as `-m` does). Every job's
config is composed and validated, and the launcher profile too, before anything is submitted;
all problems come back as one ConfigError. Every job of a sweep gets `logger.group=<sweep id>`.
`<sweep_dir>/sweep_manifest.json` records job -> overrides -> run_dir -> Slurm id -> status -> log.
Running a sweep again into the same dir (or `resubmit`) skips jobs whose run_dir has
summary.json and submits the others again; they resume from their training state.

Launcher profiles: launchers/profiles/<name>.yaml, then the git-ignored launchers/local.yaml
(your cluster's account, partition, ...; also `profile:` = the default profile), then
`launcher.KEY=VALUE` on the command line. Fields: LauncherConfig below.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from refusal_lab import preflight
from refusal_lab.config import ConfigError, build_section as _build, documented_field as _f, to_dict, validate
from refusal_lab.paths import CONF_DIR, PROJECT_ROOT, launchers_dir, register_resolvers

PROFILES_DIR = launchers_dir() / "profiles"
MANIFEST = "sweep_manifest.json"
PLAN = "sweep_plan.json"
STATUSES = ("planned", "pending", "running", "completed", "failed", "preempted", "timeout", "cancelled")
FINAL = {"completed", "failed", "timeout", "cancelled"}


@dataclass
class LauncherConfig:
    kind: Literal["local", "submitit_local", "slurm"] = _f("local", "local: one job after another in this process; submitit_local: parallel local processes (submitit); slurm: sbatch job array")
    partition: str | None = _f(None, "slurm: partition (null = the cluster's default)")
    account: str | None = _f(None, "slurm: account to charge")
    qos: str | None = _f(None, "slurm: quality of service")
    nodes: int = _f(1, "slurm: nodes per job", min=1)
    tasks_per_node: int = _f(1, "tasks per node (one per GPU for DeepSpeed); each task reads its rank from the Slurm env", min=1)
    gpus_per_node: int = _f(0, "GPUs per node (0 = CPU job)", min=0)
    cpus_per_task: int = _f(1, "CPU cores per task", min=1)
    mem_gb: float | None = _f(None, "memory per node in GB (null = the cluster's default)", min=0.1)
    timeout_min: int = _f(60, "time limit per job in minutes; the job checkpoints signal_delay_s before it and is requeued", min=1)
    signal_delay_s: int = _f(90, "seconds before the time limit at which Slurm sends the checkpoint signal (USR2)", min=1)
    constraint: str | None = _f(None, "slurm: node features, e.g. a100|h100")
    extra_sbatch: dict[str, str] = _f({}, "extra `#SBATCH --KEY=VALUE` lines, e.g. {reservation: x, exclude: node3}")
    setup: list[str] = _f([], "shell lines run before the job starts (module load ..., source venv)")
    max_requeues: int = _f(3, "a job preempted or timed out more often than this ends as failed (state kept)", min=0)
    stop_wait_s: float = _f(120.0, "seconds the checkpoint signal waits for the current optimizer step to end and the state to be saved", min=0.0)
    checkpoint_every: int | None = _f(50, "train.checkpoint_every for jobs that leave it null (fallback state if a step outlasts stop_wait_s)", min=1)
    array_parallelism: int = _f(64, "at most this many jobs of the array run at once", min=1)
    sweep_root: str = _f("outputs/sweeps", "sweep dirs go below this (relative to the current directory)")


@dataclass
class Job:
    index: int
    overrides: list[str]
    run_dir: str
    config: dict  # the composed, validated run config (plain dict)


# ---------------------------------------------------------------- planning (pure apart from reading conf/)


def split_args(args: list[str]) -> tuple[str | None, list[str], list[str]]:
    """(profile name, launcher.KEY=VALUE overrides, run-config overrides)."""
    profile, launcher, run = None, [], []
    for a in args:
        if a.startswith("launcher="):
            profile = a.split("=", 1)[1]
        elif a.startswith("launcher."):
            launcher.append(a[len("launcher."):])
        else:
            run.append(a)
    return profile, launcher, run


def local_profile_path() -> Path:
    return Path(os.environ.get("REFUSAL_LAB_LAUNCHER_LOCAL", PROJECT_ROOT / "launchers" / "local.yaml"))


def load_launcher(profile: str | None, overrides: list[str], problems: list[str]) -> LauncherConfig:
    """Profile YAML <- launchers/local.yaml <- KEY=VALUE overrides; problems are appended, not raised."""
    local = {}
    if local_profile_path().exists():
        local = yaml.safe_load(local_profile_path().read_text()) or {}
    profile = profile or local.pop("profile", None) or "local"
    local.pop("profile", None)
    path = PROFILES_DIR / f"{profile}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml")))
        problems.append(f"launcher={profile!r}: no such profile; available: {known} (files in {PROFILES_DIR})")
        return LauncherConfig()
    raw = (yaml.safe_load(path.read_text()) or {}) | local
    for ov in overrides:
        key, sep, value = ov.partition("=")
        if not sep:
            problems.append(f"launcher.{ov}: expected launcher.KEY=VALUE")
            continue
        raw[key] = yaml.safe_load(value) if value else None
    return _build(LauncherConfig, raw, "launcher.", problems)


def expand(overrides: list[str]) -> list[list[str]]:
    """The jobs of a sweep: the cartesian product of every `key=a,b` (Hydra's basic sweeper)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return BasicSweeper.split_arguments(parsed, None)[0]


def sweep_id_for(overrides: list[str], now: dt.datetime) -> str:
    digest = hashlib.sha1("\0".join(overrides).encode()).hexdigest()[:6]
    return f"{now:%Y%m%d-%H%M%S}-{digest}"


def plan(overrides: list[str], launcher: LauncherConfig, sweep_id: str, sweep_dir: Path,
         launcher_problems: list[str] = ()) -> list[Job]:
    """Composes and validates every job; raises one ConfigError listing every problem of every job."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    problems = list(launcher_problems)
    try:
        job_overrides = expand(overrides)
    except HydraException as exc:
        raise ConfigError(problems + [f"overrides {' '.join(overrides)}: {exc}"]) from None
    register_resolvers()
    jobs = []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for index, ovs in enumerate(job_overrides):
            run_dir = sweep_dir / "runs" / str(index)
            where = f"job {index} ({' '.join(ovs) or 'no overrides'})"
            try:
                raw = OmegaConf.to_container(compose("config", overrides=list(ovs)), resolve=True)
            except (HydraException, OmegaConfBaseException) as exc:
                problems.append(f"{where}: {' '.join(str(exc).split())}")
                continue
            raw["run_dir"] = str(run_dir)
            raw.setdefault("logger", {})["group"] = sweep_id
            if raw.get("train", {}).get("checkpoint_every") is None:
                raw.setdefault("train", {})["checkpoint_every"] = launcher.checkpoint_every
            try:
                cfg = validate(raw)
                preflight.check(cfg, runs_here=launcher.kind != "slurm")  # files, device, W&B key, model: before any job starts
            except ConfigError as exc:
                problems += [f"{where}: {p}" for p in exc.problems]
                continue
            jobs.append(Job(index, list(ovs), str(run_dir), to_dict(cfg)))
    if problems:
        raise ConfigError(problems)
    return jobs


def gpu_hours(n_jobs: int, launcher: LauncherConfig) -> float:
    """GPU-hours requested (the upper bound Slurm reserves: every job for its whole time limit)."""
    return n_jobs * launcher.nodes * launcher.gpus_per_node * launcher.timeout_min / 60


def describe(jobs: list[Job], launcher: LauncherConfig, sweep_id: str, sweep_dir: Path) -> str:
    lines = [f"sweep {sweep_id}: {len(jobs)} job(s), launcher {launcher.kind}, into {sweep_dir}"]
    lines += [f"  [{j.index}] {' '.join(j.overrides) or '(no overrides)'}" for j in jobs]
    res = (f"{launcher.nodes} node(s) x {launcher.tasks_per_node} task(s) x {launcher.cpus_per_task} CPU(s), "
           f"{launcher.gpus_per_node} GPU(s)/node, {launcher.timeout_min} min")
    lines.append(f"each job asks for {res}; partition={launcher.partition} account={launcher.account} qos={launcher.qos}")
    lines.append(f"GPU-hours requested: {gpu_hours(len(jobs), launcher):.1f} "
                 f"({len(jobs)} x {launcher.nodes * launcher.gpus_per_node} GPU(s) x {launcher.timeout_min / 60:.2f} h)")
    return "\n".join(lines)


# ---------------------------------------------------------------- manifest


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    tmp.replace(path)


def new_manifest(sweep_id: str, jobs: list[Job], now: dt.datetime) -> dict:
    return {"sweep_id": sweep_id, "created": now.isoformat(timespec="seconds"),
            "jobs": [{"index": j.index, "overrides": j.overrides, "run_dir": j.run_dir, "slurm_job_id": None,
                      "status": "planned", "log": None} for j in jobs]}


def read_manifest(sweep_dir: Path) -> dict:
    path = Path(sweep_dir) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path}: no sweep manifest; is {sweep_dir} a sweep dir made by `refusal-lab sweep run`?")
    return json.loads(path.read_text())


def status_from_slurm(state: str, finished: bool) -> str:
    """Manifest status of a job from its sacct State and whether its summary.json exists."""
    if finished:
        return "completed"
    state = state.split()[0] if state else ""
    if state in ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED", ""):
        return "pending"
    if state in ("RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING", "RESIZING"):
        return "running"
    if state == "PREEMPTED":
        return "preempted"
    if state == "TIMEOUT":
        return "timeout"
    if state.startswith("CANCELLED"):
        return "cancelled"
    return "failed"  # FAILED, OUT_OF_MEMORY, NODE_FAIL, BOOT_FAIL, DEADLINE, COMPLETED without a summary


def sacct_states(job_ids: list[str]) -> dict[str, str]:
    """Latest State per job id (array tasks as 123_4) from sacct; {} when there is nothing to ask."""
    if not job_ids:
        return {}
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(job_ids)],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"sacct failed ({out.returncode}): {out.stderr.strip()}")
    states = {}
    for line in out.stdout.splitlines():
        jid, _, state = line.partition("|")
        states[jid] = state
    return states


def refresh(sweep_dir: Path) -> dict:
    """Updates every Slurm job's status from sacct and the run dirs; writes and returns the manifest."""
    manifest = read_manifest(sweep_dir)
    slurm_ids = [j["slurm_job_id"] for j in manifest["jobs"] if j["slurm_job_id"] and j["status"] not in FINAL]
    states = sacct_states(slurm_ids) if slurm_ids and is_slurm(sweep_dir) else {}
    for j in manifest["jobs"]:
        finished = (Path(j["run_dir"]) / "summary.json").exists()
        if j["slurm_job_id"] in states:
            j["status"] = status_from_slurm(states[j["slurm_job_id"]], finished)
        elif finished:
            j["status"] = "completed"
    write_json_atomic(Path(sweep_dir) / MANIFEST, manifest)
    return manifest


def is_slurm(sweep_dir: Path) -> bool:
    path = Path(sweep_dir) / PLAN
    return path.exists() and json.loads(path.read_text())["launcher"]["kind"] == "slurm"


def format_status(manifest: dict) -> str:
    counts = {s: sum(j["status"] == s for j in manifest["jobs"]) for s in STATUSES}
    lines = [f"sweep {manifest['sweep_id']}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)]
    for j in manifest["jobs"]:
        lines.append(f"  [{j['index']}] {j['status']:<9} {j['slurm_job_id'] or '-':<10} {' '.join(j['overrides'])}")
        if j["status"] in ("failed", "timeout", "cancelled", "preempted"):
            lines.append(f"      log: {j['log']}\n      run: {j['run_dir']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- dispatch (side effects)


def _executor(launcher: LauncherConfig, sweep_dir: Path, sweep_id: str):
    import submitit

    folder = sweep_dir / "logs" / "%j"
    if launcher.kind == "submitit_local":
        ex = submitit.AutoExecutor(folder=folder, cluster="local")
        ex.update_parameters(timeout_min=launcher.timeout_min, tasks_per_node=launcher.tasks_per_node,
                             cpus_per_task=launcher.cpus_per_task, gpus_per_node=launcher.gpus_per_node)
        return ex
    ex = submitit.AutoExecutor(folder=folder, cluster="slurm", slurm_max_num_timeout=launcher.max_requeues)
    params = dict(name=f"refusal-lab-{sweep_id}", timeout_min=launcher.timeout_min, nodes=launcher.nodes,
                  tasks_per_node=launcher.tasks_per_node, cpus_per_task=launcher.cpus_per_task,
                  slurm_signal_delay_s=launcher.signal_delay_s, slurm_array_parallelism=launcher.array_parallelism,
                  slurm_stderr_to_stdout=True, slurm_setup=list(launcher.setup),
                  slurm_additional_parameters=dict(launcher.extra_sbatch))
    if launcher.gpus_per_node:
        params["gpus_per_node"] = launcher.gpus_per_node
    if launcher.mem_gb is not None:
        params["mem_gb"] = launcher.mem_gb
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(launcher, key) is not None:
            params[f"slurm_{key}"] = getattr(launcher, key)
    ex.update_parameters(**params)
    return ex


def submit(sweep_dir: Path, jobs: list[Job], launcher: LauncherConfig) -> dict:
    """Submits the jobs not finished yet (one array); records ids, statuses and logs in the manifest."""
    from refusal_lab.experiments.jobs import SweepJob

    manifest = read_manifest(sweep_dir)
    entries = {j["index"]: j for j in manifest["jobs"]}
    todo = [j for j in jobs if not (Path(j.run_dir) / "summary.json").exists()]
    for j in jobs:
        if j not in todo:
            entries[j.index]["status"] = "completed"
    if not todo:
        write_json_atomic(sweep_dir / MANIFEST, manifest)
        return manifest
    if launcher.kind == "local":
        write_json_atomic(sweep_dir / MANIFEST, manifest)
        for j in todo:  # one after another in this process; a failure does not stop the others
            entry = entries[j.index]
            entry["status"], entry["log"] = "running", str(Path(j.run_dir) / "job.log")
            write_json_atomic(sweep_dir / MANIFEST, manifest)
            entry["status"] = _run_here(j, launcher, Path(entry["log"]))
            write_json_atomic(sweep_dir / MANIFEST, manifest)
        return manifest
    executor = _executor(launcher, sweep_dir, manifest["sweep_id"])
    callable_ = SweepJob(launcher.max_requeues, launcher.stop_wait_s)
    with executor.batch():
        submitted = [executor.submit(callable_, j.config, j.run_dir) for j in todo]
    for j, sj in zip(todo, submitted):
        entries[j.index].update(slurm_job_id=str(sj.job_id), status="pending", log=str(sj.paths.stdout))
    write_json_atomic(sweep_dir / MANIFEST, manifest)
    if launcher.kind == "submitit_local":  # no sacct: wait here, reading each job's own outcome
        for j, sj in zip(todo, submitted):
            try:
                sj.result()
                entries[j.index]["status"] = "completed"
            except Exception:
                entries[j.index]["status"] = "failed"
            write_json_atomic(sweep_dir / MANIFEST, manifest)
    return manifest


def _run_here(job: Job, launcher: LauncherConfig, log_path: Path) -> str:
    import logging
    import traceback

    from refusal_lab.experiments.jobs import SweepJob

    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path)
    logging.getLogger().addHandler(handler)
    try:
        SweepJob(launcher.max_requeues, launcher.stop_wait_s)(job.config, job.run_dir)
        return "completed"
    except Exception:
        with open(log_path, "a") as fh:
            fh.write(traceback.format_exc())
        print(f"job {job.index} failed; log {log_path}", file=sys.stderr)
        return "failed"
    finally:
        logging.getLogger().removeHandler(handler)


def wait(sweep_dir: Path, poll_s: float = 2.0, timeout_s: float | None = None, echo=print) -> dict:
    """Polls until every job is completed, failed, timed out or cancelled; returns the manifest."""
    deadline = None if timeout_s is None else time.time() + timeout_s
    last = None
    while True:
        manifest = refresh(sweep_dir)
        text = format_status(manifest)
        if text != last:
            echo(text)
            last = text
        if all(j["status"] in FINAL for j in manifest["jobs"]):
            return manifest
        if deadline is not None and time.time() > deadline:
            raise TimeoutError(f"sweep {sweep_dir} not finished after {timeout_s}s:\n{text}")
        time.sleep(poll_s)


def prepare(args: list[str], sweep_dir: Path | None = None, now: dt.datetime | None = None):
    """Everything before submission: launcher, jobs, sweep id and dir. Raises ConfigError with every problem."""
    now = now or dt.datetime.now()
    profile, launcher_ovs, overrides = split_args(args)
    problems: list[str] = []
    launcher = load_launcher(profile, launcher_ovs, problems)
    if sweep_dir is not None and (Path(sweep_dir) / MANIFEST).exists():
        sweep_id = read_manifest(sweep_dir)["sweep_id"]  # a rerun keeps its id (= W&B group)
    else:
        sweep_id = sweep_id_for(overrides, now)
    sweep_dir = Path(sweep_dir or Path(launcher.sweep_root) / sweep_id).resolve()
    jobs = plan(overrides, launcher, sweep_id, sweep_dir, problems)
    return launcher, jobs, sweep_id, sweep_dir, overrides


def run_sweep(args: list[str], sweep_dir: Path | None = None, dry_run: bool = False, echo=print):
    """Plan, validate, write the manifest, submit. Returns (sweep_dir, manifest)."""
    launcher, jobs, sweep_id, sweep_dir, overrides = prepare(args, sweep_dir)
    echo(describe(jobs, launcher, sweep_id, sweep_dir))
    if dry_run:
        echo("dry run: nothing submitted")
        return sweep_dir, new_manifest(sweep_id, jobs, dt.datetime.now())
    sweep_dir.mkdir(parents=True, exist_ok=True)
    if (sweep_dir / MANIFEST).exists():
        old = read_manifest(sweep_dir)
        if [j["overrides"] for j in old["jobs"]] != [j.overrides for j in jobs]:
            raise ConfigError([f"--sweep-dir {sweep_dir}: its manifest has other jobs than these overrides; "
                               "use a new sweep dir or `refusal-lab sweep resubmit` with no run overrides"])
        manifest = old
    else:
        manifest = new_manifest(sweep_id, jobs, dt.datetime.now())
    write_json_atomic(sweep_dir / PLAN, {"overrides": overrides, "launcher": dataclasses.asdict(launcher)})
    write_json_atomic(sweep_dir / MANIFEST, manifest)
    manifest = submit(sweep_dir, jobs, launcher)
    skipped = sum((Path(j.run_dir) / "summary.json").exists() for j in jobs)
    echo(f"submitted {len(jobs) - skipped} job(s), skipped {skipped} finished; manifest {sweep_dir / MANIFEST}")
    return sweep_dir, manifest


# ---------------------------------------------------------------- CLI
