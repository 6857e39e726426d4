"""Sweeps are Hydra multiruns: `refusal-lab -m KEY=a,b ...` with any Hydra sweeper and launcher.

This module owns what the project adds to Hydra's multirun:

* `SweepCallback` (conf/config.yaml `hydra.callbacks.sweep`), in the submitting process, before
  anything is launched and whatever the launcher: every job of a basic-sweeper grid (choice,
  range, glob, `hydra.sweeper.params`) is composed and validated, all problems of all jobs in one
  message (exit 2, nothing written or submitted); `--dry-run` prints the jobs and the GPU-hours;
  `-m ... --cfg job` prints every job's config; the manifest is written; the sweep id (the sweep
  dir's name) becomes every job's W&B group.
* `launch`, the body of this project's launcher (`hydra/launcher=refusal_lab`, profiles in
  conf/launcher/): validates each batch (so Optuna trials too), submits `jobs.SweepJob` (bounded
  requeues, exact resume) in this process, as submitit local processes or as one Slurm array,
  optionally chains an evaluation job per training job (afterok) and an analysis job (afterany),
  waits, and prints the counts and the table of what finished.
* `resubmit_argv` and the status helpers behind `refusal-lab sweep status|resubmit DIR` (commands/sweep.py).

Manifest: `<sweep dir>/sweep_manifest.json` = {sweep_id, created, jobs: [{index, overrides,
run_dir, slurm_job_id, status, log}], followups: [{kind, slurm_job_id, after, log}]}.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hydra.experimental.callback import Callback

from refusal_lab import preflight
from refusal_lab.config import ConfigError, build_section, to_dict, validate
from refusal_lab.experiments.launcher_config import LauncherConfig
from refusal_lab.io import write_json

MANIFEST = "sweep_manifest.json"
STATUSES = ("planned", "pending", "running", "completed", "failed", "preempted", "timeout", "cancelled")
FINAL = {"completed", "failed", "timeout", "cancelled"}
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
OUR_LAUNCHER = "hydra_plugins.refusal_lab_launcher.RefusalLabLauncher"
SWEEP_ID_ENV = "REFUSAL_LAB_SWEEP_ID"  # overrides the sweep id (default: the sweep dir's name)
SWEEP_KEYS_ENV = "REFUSAL_LAB_SWEEP_KEYS"  # keys that vary in this sweep (W&B run names of stock launchers)
DRY_RUN_ENV = "REFUSAL_LAB_DRY_RUN"
SHOW_CFG_ENV = "REFUSAL_LAB_SHOW_CFG"
log = logging.getLogger("refusal_lab")
_PREFLIGHT: dict[
    tuple, list
] = {}  # jobs the callback composed, reused by launch() for the same batch (no second composition)


@dataclass
class Job:
    index: int
    overrides: list[str]
    run_dir: str
    config: dict  # the composed, validated run config (plain dict)


# ---------------------------------------------------------------- the command line


def hydra_argv(args: list[str]) -> list[str]:
    """`refusal-lab -m ...` arguments for Hydra: `--dry-run` and `--cfg X` (which Hydra refuses
    together with -m) become flags that SweepCallback acts on; everything else is Hydra's."""
    out, it = [], iter(args)
    for a in it:
        if a == "--dry-run":
            os.environ[DRY_RUN_ENV] = "1"
        elif a in ("--cfg", "-c"):
            os.environ[SHOW_CFG_ENV] = next(it, "job")
        elif a.startswith("--cfg="):
            os.environ[SHOW_CFG_ENV] = a.split("=", 1)[1]
        else:
            out.append(a)
    return out if ("-m" in out or "--multirun" in out) else ["-m", *out]


# ---------------------------------------------------------------- planning (pure apart from composing)


def sweep_id_of(master) -> str:
    return os.environ.get(SWEEP_ID_ENV) or Path(str(master.hydra.sweep.dir)).name


def sweep_arguments(master) -> list[str]:
    """The sweeper's own arguments: `hydra.sweeper.params` of the config files, then the command line."""
    from omegaconf import OmegaConf

    params = master.hydra.sweeper.get("params")
    params = OmegaConf.to_container(params, resolve=False) if params else {}
    return [f"{k}={v}" for k, v in params.items()] + list(master.hydra.overrides.task)


def parse_overrides(master, config_loader) -> list:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create(config_loader=config_loader).parse_overrides(sweep_arguments(master))


def varying_keys(master, config_loader) -> list[str]:
    """Keys swept by this multirun (choice, range, glob, interval, ...): what makes a job's W&B name."""
    return [o.get_key_element() for o in parse_overrides(master, config_loader) if o.is_sweep_override()]


def expand_grid(master, config_loader) -> list[list[str]]:
    """Every job of a basic-sweeper multirun, exactly as Hydra's BasicSweeper expands it."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    return BasicSweeper.split_arguments(parse_overrides(master, config_loader), None)[0]


def differing_keys(batch: list[list[str]]) -> list[str]:
    """Keys whose value is not the same in every job."""
    values: dict[str, set] = {}
    for overrides in batch:
        for o in overrides:
            key, _, value = o.partition("=")
            values.setdefault(key.lstrip("+~"), set()).add(value)
    return [
        k
        for k, v in values.items()
        if len(v) > 1 or any(k not in {o.partition("=")[0].lstrip("+~") for o in b} for b in batch)
    ]


def job_name(overrides: list[str], keys: list[str]) -> str | None:
    """`k=v,k=v` of the overrides that vary across the sweep: unique within it, readable in W&B."""
    picked = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in keys]
    return ",".join(picked) or None


def compose_jobs(
    config_loader,
    master,
    batch: list[list[str]],
    first_index: int = 0,
    launcher: LauncherConfig | None = None,
    problems: list[str] | None = None,
) -> list[Job]:
    """Composes and validates every job of the batch; raises one ConfigError with every problem."""
    from hydra.core.hydra_config import HydraConfig

    problems = list(problems or [])
    keys = varying_keys(master, config_loader)
    saved, jobs = HydraConfig.instance().cfg, []
    try:
        for index, overrides in enumerate(batch, first_index):
            where = f"job {index} ({' '.join(overrides) or 'no overrides'})"
            try:
                jobs.append(_compose_one(config_loader, master, overrides, index, keys, launcher))
            except ConfigError as exc:
                problems += [f"{where}: {p}" for p in exc.problems]
    finally:
        HydraConfig.instance().cfg = saved
    if problems:
        raise ConfigError(problems)
    return jobs


def _compose_one(
    config_loader, master, overrides: list[str], index: int, keys: list[str], launcher: LauncherConfig | None
) -> Job:
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import HydraException
    from omegaconf import OmegaConf, open_dict
    from omegaconf.errors import OmegaConfBaseException

    try:
        sweep_config = config_loader.load_sweep_config(master, list(overrides))
        with open_dict(sweep_config.hydra.job):
            sweep_config.hydra.job.num, sweep_config.hydra.job.id = index, str(index)
        HydraConfig.instance().set_config(sweep_config)
        run_dir = Path(str(sweep_config.hydra.sweep.dir)).resolve() / str(sweep_config.hydra.sweep.subdir)
        raw = {
            k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
            for k, v in ((k, sweep_config[k]) for k in sweep_config if k != "hydra")
        }
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError([" ".join(str(exc).split())]) from None
    raw["run_dir"] = str(run_dir)
    logger = raw.setdefault("logger", {})
    logger["group"] = logger.get("group") or sweep_id_of(master)
    logger["name"] = logger.get("name") or job_name(overrides, keys)
    train = raw.setdefault("train", {})
    if launcher and launcher.checkpoint_every and train.get("checkpoint_every") is None:
        train["checkpoint_every"] = launcher.checkpoint_every
    cfg = validate(raw)
    preflight.check(
        cfg, runs_here=runs_here(master, launcher)
    )  # files, device, W&B key, model, mix: before any job starts
    problems = []
    if not str(cfg.optimize_metric).startswith(("eval/", "train/")):
        problems.append(
            f"optimize_metric={cfg.optimize_metric!r}: expected a summary key such as eval/f1, eval/best_f1, eval/auroc"
        )
    if launcher and launcher.eval_after and not cfg.train.save_checkpoint:
        problems.append(
            "train.save_checkpoint=False: hydra.launcher.eval_after=true evaluates the saved checkpoint; set train.save_checkpoint=true"
        )
    if problems:
        raise ConfigError(problems)
    return Job(index, list(overrides), str(run_dir), to_dict(cfg))


def runs_here(master, launcher: LauncherConfig | None) -> bool:
    """Whether the jobs run on this machine (device and task checks apply) or on cluster nodes."""
    target = str(master.hydra.launcher.get("_target_", ""))
    if target == OUR_LAUNCHER:
        return launcher is None or launcher.kind != "slurm"
    return "slurm" not in target.lower()


def launcher_resources(launcher_cfg) -> dict:
    """nodes, GPUs per node and minutes of any launcher config (ours, submitit's, basic: 0 GPUs)."""
    get = lambda k, d: launcher_cfg.get(k, d) if launcher_cfg is not None else d  # noqa: E731
    return {
        "nodes": get("nodes", 1) or 1,
        "gpus_per_node": get("gpus_per_node", 0) or 0,
        "timeout_min": get("timeout_min", 0) or 0,
        "partition": get("partition", None),
        "account": get("account", None),
    }


def describe(jobs: list[Job], launcher_cfg, sweep_id: str, sweep_dir: str) -> str:
    res = launcher_resources(launcher_cfg)
    gpus = res["nodes"] * res["gpus_per_node"]
    target = str(launcher_cfg.get("_target_", "?")).rsplit(".", 1)[-1] if launcher_cfg is not None else "?"
    kind = f" ({launcher_cfg.get('kind')})" if launcher_cfg is not None and "kind" in launcher_cfg else ""
    lines = [f"sweep {sweep_id}: {len(jobs)} job(s), launcher {target}{kind}, into {sweep_dir}"]
    lines += [f"  [{j.index}] {' '.join(j.overrides) or '(no overrides)'}" for j in jobs]
    lines.append(
        f"each job asks for {res['nodes']} node(s) x {res['gpus_per_node']} GPU(s), {res['timeout_min']} min; "
        f"partition={res['partition']} account={res['account']}"
    )
    hours = len(jobs) * gpus * res["timeout_min"] / 60
    lines.append(f"GPU-hours requested: {hours:.1f} ({len(jobs)} x {gpus} GPU(s) x {res['timeout_min'] / 60:.2f} h)")
    return "\n".join(lines)


def exit_with(exc: ConfigError) -> None:
    print(f"refusal-lab: {exc}\nnothing submitted", file=sys.stderr)
    raise SystemExit(2)


# ---------------------------------------------------------------- the Hydra callback


class SweepCallback(Callback):
    """Pre-flight of every multirun, whatever the launcher (see the module docstring)."""

    def __init__(self) -> None:
        from hydra_plugins.refusal_lab_launcher import register

        register()  # before Hydra makes the launcher: an editable install hides it from Hydra's plugin scan

    def on_multirun_start(self, config, **kwargs) -> None:
        from hydra.core.global_hydra import GlobalHydra

        loader = GlobalHydra.instance().config_loader()
        sweep_id = sweep_id_of(config)
        os.environ.setdefault("WANDB_RUN_GROUP", sweep_id)  # stock launchers: jobs inherit it (sbatch exports the env)
        try:
            os.environ[SWEEP_KEYS_ENV] = ",".join(varying_keys(config, loader))
        except Exception as exc:  # a malformed override: Hydra reports it with its own message next
            log.debug("could not parse the sweep overrides: %s", exc)
            return
        basic = config.hydra.sweeper.get("_target_") == BASIC_SWEEPER
        if not basic:  # Optuna & co.: trials are chosen as the sweep goes; our launcher validates each batch
            return self._not_a_grid(config)
        problems: list[str] = []
        launcher = None
        if config.hydra.launcher.get("_target_") == OUR_LAUNCHER:
            launcher = launcher_config(config.hydra.launcher, problems)
        try:
            jobs = compose_jobs(loader, config, expand_grid(config, loader), 0, launcher, problems)
        except ConfigError as exc:
            exit_with(exc)
        if os.environ.get(DRY_RUN_ENV) == "1":
            print(describe(jobs, config.hydra.get("launcher"), sweep_id, str(config.hydra.sweep.dir)))
            print("dry run: nothing submitted")
            raise SystemExit(0)
        if os.environ.get(SHOW_CFG_ENV):
            raise SystemExit(self._show(jobs, config, loader))
        upsert_manifest(Path(str(config.hydra.sweep.dir)).resolve(), sweep_id, jobs)
        _PREFLIGHT[_batch_key(config, [j.overrides for j in jobs])] = jobs

    def on_job_start(self, config, **kwargs) -> None:
        """In a job of a stock Slurm launcher: note the Slurm job id in the run dir's events, where
        the manifest picks it up (this project's launcher knows it at submission)."""
        if not os.environ.get("SLURM_JOB_ID"):
            return
        from hydra.core.hydra_config import HydraConfig

        from refusal_lab.experiments.jobs import record_event

        record_event(Path(str(config.get("run_dir") or HydraConfig.get().runtime.output_dir)), "job_start")

    def on_multirun_end(self, config, **kwargs) -> None:
        """Stock launchers wait for their jobs: record each job's outcome and Slurm id (ours keeps its manifest itself)."""
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        if config.hydra.launcher.get("_target_") == OUR_LAUNCHER or not (sweep_dir / MANIFEST).exists():
            return
        manifest = with_scheduler_ids(read_manifest(sweep_dir), sweep_dir)
        for j in manifest["jobs"]:
            if j["status"] not in FINAL:
                j["status"] = "completed" if (Path(j["run_dir"]) / "summary.json").exists() else "failed"
        write_json(sweep_dir / MANIFEST, manifest)

    def _not_a_grid(self, config) -> None:
        if os.environ.get(DRY_RUN_ENV) == "1" or os.environ.get(SHOW_CFG_ENV):
            target = config.hydra.sweeper.get("_target_")
            print(
                f"sweeper {target}: trials are chosen while the sweep runs; parameters: "
                f"{' '.join(sweep_arguments(config))}\ndry run: nothing submitted"
            )
            raise SystemExit(0)

    @staticmethod
    def _show(jobs: list[Job], config, loader) -> int:
        from omegaconf import OmegaConf

        what = os.environ[SHOW_CFG_ENV]
        for j in jobs:
            print(f"# job {j.index}: {' '.join(j.overrides)}")
            if what in ("hydra", "all"):
                print(OmegaConf.to_yaml({"hydra": loader.load_sweep_config(config, j.overrides).hydra}, resolve=False))
            if what in ("job", "all"):
                print(OmegaConf.to_yaml({k: v for k, v in j.config.items()}))
        return 0


# ---------------------------------------------------------------- manifest


def new_manifest(sweep_id: str) -> dict:
    return {
        "sweep_id": sweep_id,
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "jobs": [],
        "followups": [],
    }


def read_manifest(sweep_dir: Path) -> dict:
    path = Path(sweep_dir) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path}: no sweep manifest; is {sweep_dir} a sweep dir made by `refusal-lab -m ...`?")
    return json.loads(path.read_text())


def upsert_manifest(sweep_dir: Path, sweep_id: str, jobs: list[Job]) -> dict:
    """Adds the jobs to the manifest (a rerun into the same dir keeps ids and statuses)."""
    path = Path(sweep_dir) / MANIFEST
    manifest = read_manifest(sweep_dir) if path.exists() else new_manifest(sweep_id)
    entries = {j["index"]: j for j in manifest["jobs"]}
    clash = [j for j in jobs if j.index in entries and entries[j.index]["overrides"] != j.overrides]
    if clash:
        exit_with(
            ConfigError(
                [
                    f"hydra.sweep.dir={sweep_dir}: its manifest has other jobs than these overrides (job {clash[0].index}: "
                    f"{' '.join(entries[clash[0].index]['overrides'])}); use a new sweep dir or `refusal-lab sweep resubmit DIR`"
                ]
            )
        )
    for j in jobs:
        entries.setdefault(
            j.index,
            {
                "index": j.index,
                "overrides": j.overrides,
                "run_dir": j.run_dir,
                "slurm_job_id": None,
                "status": "planned",
                "log": None,
            },
        )
    manifest["jobs"] = [entries[i] for i in sorted(entries)]
    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    write_json(path, manifest)
    return manifest


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
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(job_ids)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode != 0:
        raise RuntimeError(f"sacct failed ({out.returncode}): {out.stderr.strip()}")
    return {jid: state for jid, _, state in (line.partition("|") for line in out.stdout.splitlines())}


def with_scheduler_ids(manifest: dict, sweep_dir: Path) -> dict:
    """Jobs of a stock Slurm launcher get the id their run recorded, and submitit's log file."""
    from refusal_lab.experiments.jobs import scheduler_job_id

    for j in manifest["jobs"]:
        if not j.get("slurm_job_id") and (job_id := scheduler_job_id(Path(j["run_dir"]))):
            j["slurm_job_id"] = job_id
            logs = sorted(Path(sweep_dir).glob(f".submitit/{job_id}/*_log.out"))
            j["log"] = j.get("log") or (str(logs[0]) if logs else None)
            manifest.setdefault("launcher_kind", "slurm")
    return manifest


def refresh(sweep_dir: Path) -> dict:
    """Updates every job's status from sacct and the run dirs; writes and returns the manifest."""
    manifest = with_scheduler_ids(read_manifest(sweep_dir), sweep_dir)
    slurm = manifest.get("launcher_kind") == "slurm"
    ids = [j["slurm_job_id"] for j in manifest["jobs"] if j["slurm_job_id"] and j["status"] not in FINAL]
    states = sacct_states(ids) if ids and slurm else {}
    for j in manifest["jobs"]:
        finished = (Path(j["run_dir"]) / "summary.json").exists()
        if j["slurm_job_id"] in states:
            j["status"] = status_from_slurm(states[j["slurm_job_id"]], finished)
        elif finished:
            j["status"] = "completed"
    if slurm and manifest.get("followups"):
        follow = sacct_states([f["slurm_job_id"] for f in manifest["followups"]])
        for f in manifest["followups"]:
            f["state"] = follow.get(f["slurm_job_id"], "")
    write_json(Path(sweep_dir) / MANIFEST, manifest)
    return manifest


def format_status(manifest: dict) -> str:
    counts = {s: sum(j["status"] == s for j in manifest["jobs"]) for s in STATUSES}
    lines = [f"sweep {manifest['sweep_id']}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)]
    for j in manifest["jobs"]:
        lines.append(f"  [{j['index']}] {j['status']:<9} {j['slurm_job_id'] or '-':<10} {' '.join(j['overrides'])}")
        if j["status"] in ("failed", "timeout", "cancelled", "preempted"):
            lines.append(f"      log: {j['log']}\n      run: {j['run_dir']}")
    for f in manifest.get("followups", []):
        lines.append(
            f"  {f['kind']:<8} {f.get('state') or '-':<9} {f['slurm_job_id']:<10} after {f['after']}  log: {f['log']}"
        )
    return "\n".join(lines)


def results_table(manifest: dict, sweep_dir: Path) -> str:
    """Counts and the headline metrics of every finished job (what a sweep prints at the end)."""
    counts = {s: sum(j["status"] == s for j in manifest["jobs"]) for s in STATUSES}
    lines = [
        f"sweep {manifest['sweep_id']}: {len(manifest['jobs'])} job(s): "
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    ]
    head = f"  {'job':<4} {'F1':>6} {'bestF1':>7} {'AUROC':>6} {'FRR':>6} {'MRR':>6}  overrides that vary"
    varying = differing_keys([j["overrides"] for j in manifest["jobs"]])
    rows = []
    for j in manifest["jobs"]:
        path = Path(j["run_dir"]) / "summary.json"
        if not path.exists():
            continue
        s = json.loads(path.read_text())
        cell = lambda k: f"{s[k]:.3f}" if isinstance(s.get(k), (int, float)) else "-"  # noqa: E731
        rows.append(
            f"  {j['index']:<4} {cell('eval/f1'):>6} {cell('eval/best_f1'):>7} {cell('eval/auroc'):>6} "
            f"{cell('eval/false_refusal_rate'):>6} {cell('eval/missed_refusal_rate'):>6}  {job_name(j['overrides'], varying) or '-'}"
        )
    if rows:
        lines += [head, *rows]
    for j in manifest["jobs"]:
        if j["status"] in ("failed", "timeout", "cancelled"):
            lines.append(f"  job {j['index']} {j['status']}: log {j['log']}")
    lines.append(f"full analysis: refusal-lab analyze {sweep_dir}")
    return "\n".join(lines)


# ---------------------------------------------------------------- the launcher


def launch(params: dict, config_loader, master, batch: list[list[str]], first_index: int) -> list:
    """Body of RefusalLabLauncher.launch: validate the batch, submit, wait, report; JobReturns."""
    problems: list[str] = []
    launcher = launcher_config(params, problems)
    jobs = _PREFLIGHT.pop(_batch_key(master, batch), None) if first_index == 0 and not problems else None
    try:
        jobs = jobs or compose_jobs(config_loader, master, batch, first_index, launcher, problems)
    except ConfigError as exc:
        exit_with(exc)
    sweep_dir = Path(str(master.hydra.sweep.dir)).resolve()
    upsert_manifest(sweep_dir, sweep_id_of(master), jobs)
    manifest = dispatch(sweep_dir, jobs, launcher)
    print(results_table(manifest, sweep_dir), flush=True)
    entries = {e["index"]: e for e in manifest["jobs"]}
    return [job_return(j, entries[j.index], launcher, master) for j in jobs]


def _batch_key(master, batch: list[list[str]]) -> tuple:
    return (str(master.hydra.sweep.dir), tuple(tuple(o) for o in batch))


def launcher_config(params, problems: list[str]) -> LauncherConfig:
    """hydra.launcher of this project's launcher, checked against LauncherConfig (problems appended)."""
    return build_section(
        LauncherConfig, {k: v for k, v in _plain(params).items() if k != "_target_"}, "hydra.launcher.", problems
    )


def _plain(params) -> dict:
    from omegaconf import OmegaConf

    return {
        k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v for k, v in dict(params).items()
    }


def job_return(job: Job, entry: dict, launcher: LauncherConfig, master):
    from hydra.core.utils import JobReturn, JobStatus

    ret = JobReturn(overrides=job.overrides, working_dir=job.run_dir, task_name=str(master.hydra.job.name))
    summary = Path(job.run_dir) / "summary.json"
    if summary.exists():
        ret.status, ret.return_value = (
            JobStatus.COMPLETED,
            json.loads(summary.read_text()).get(job.config["optimize_metric"]),
        )
    elif not launcher.wait and entry["status"] not in FINAL:
        ret.status, ret.return_value = JobStatus.COMPLETED, None  # submitted; `refusal-lab sweep status` follows it
    else:
        ret.status = JobStatus.FAILED
        ret.return_value = RuntimeError(f"job {job.index} {entry['status']}; log {entry['log']}")
    return ret


def dispatch(sweep_dir: Path, jobs: list[Job], launcher: LauncherConfig) -> dict:
    """Runs or submits the jobs without summary.json (a rerun skips finished ones); returns the manifest."""
    manifest = read_manifest(sweep_dir)
    entries = {e["index"]: e for e in manifest["jobs"]}
    todo = [j for j in jobs if not (Path(j.run_dir) / "summary.json").exists()]
    for j in jobs:
        if j not in todo:
            entries[j.index]["status"] = "completed"
    manifest["launcher_kind"] = launcher.kind
    write_json(sweep_dir / MANIFEST, manifest)
    if launcher.kind == "local":
        return run_here(sweep_dir, manifest, todo, launcher)
    return submit(sweep_dir, manifest, todo, launcher)


def run_here(sweep_dir: Path, manifest: dict, todo: list[Job], launcher: LauncherConfig) -> dict:
    """kind=local: one job after another in this process; a failure does not stop the others."""
    from refusal_lab.experiments import jobs as jobs_mod

    entries = {e["index"]: e for e in manifest["jobs"]}
    for j in todo:
        entry = entries[j.index]
        entry["status"], entry["log"] = "running", str(Path(j.run_dir) / "job.log")
        write_json(sweep_dir / MANIFEST, manifest)
        entry["status"] = jobs_mod.run_logged(
            jobs_mod.SweepJob(launcher.max_requeues, launcher.stop_wait_s), (j.config, j.run_dir), Path(entry["log"])
        )
        if launcher.eval_after and entry["status"] == "completed":
            jobs_mod.run_logged(jobs_mod.EvalJob(), eval_args(j, launcher), Path(j.run_dir) / "eval.log")
        write_json(sweep_dir / MANIFEST, manifest)
    if launcher.analyze_after:
        jobs_mod.run_logged(jobs_mod.AnalyzeJob(), (str(sweep_dir),), sweep_dir / "analysis.log")
    return manifest


def eval_args(job: Job, launcher: LauncherConfig) -> tuple:
    return (job.run_dir, list(launcher.eval_args), job.config["logger"])


def executor(launcher: LauncherConfig, sweep_dir: Path, name: str, timeout_min: int | None = None, **extra):
    import submitit

    folder = sweep_dir / "logs" / "%j"
    common = dict(
        timeout_min=timeout_min or launcher.timeout_min,
        tasks_per_node=launcher.tasks_per_node,
        cpus_per_task=launcher.cpus_per_task,
    )
    if launcher.kind == "submitit_local":
        ex = submitit.AutoExecutor(folder=folder, cluster="local")
        ex.update_parameters(gpus_per_node=launcher.gpus_per_node, **common)
        return ex
    ex = submitit.AutoExecutor(folder=folder, cluster="slurm", slurm_max_num_timeout=launcher.max_requeues)
    params = dict(
        name=name,
        nodes=launcher.nodes,
        slurm_signal_delay_s=launcher.signal_delay_s,
        slurm_array_parallelism=launcher.array_parallelism,
        slurm_stderr_to_stdout=True,
        slurm_setup=list(launcher.setup),
        slurm_additional_parameters=dict(launcher.additional_parameters) | extra,
        **common,
    )
    if launcher.gpus_per_node:
        params["gpus_per_node"] = launcher.gpus_per_node
    if launcher.mem_gb is not None:
        params["mem_gb"] = launcher.mem_gb
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(launcher, key) is not None:
            params[f"slurm_{key}"] = getattr(launcher, key)
    ex.update_parameters(**params)
    return ex


def submit(sweep_dir: Path, manifest: dict, todo: list[Job], launcher: LauncherConfig) -> dict:
    """kind=submitit_local|slurm: one array of SweepJobs, then the chained jobs; waits if launcher.wait."""
    from refusal_lab.experiments.jobs import PackedSweepJob, SweepJob

    entries = {e["index"]: e for e in manifest["jobs"]}
    pairs = []  # (job, the submitit job it runs in)
    if todo:
        per_task = launcher.jobs_per_task
        ex = executor(launcher, sweep_dir, f"refusal-lab-{manifest['sweep_id']}", launcher.timeout_min * per_task)
        groups = [todo[i : i + per_task] for i in range(0, len(todo), per_task)]
        with ex.batch():
            submitted = [
                ex.submit(
                    PackedSweepJob(launcher.max_requeues, launcher.stop_wait_s), [(j.config, j.run_dir) for j in g]
                )
                if per_task > 1
                else ex.submit(SweepJob(launcher.max_requeues, launcher.stop_wait_s), g[0].config, g[0].run_dir)
                for g in groups
            ]
        pairs = [(j, sj) for g, sj in zip(groups, submitted) for j in g]
        for j, sj in pairs:
            entries[j.index].update(slurm_job_id=str(sj.job_id), status="pending", log=str(sj.paths.stdout))
        write_json(sweep_dir / MANIFEST, manifest)
        log.info(
            "submitted %d job(s) in %d task(s) (%s); manifest %s",
            len(todo),
            len(submitted),
            ", ".join(str(s.job_id) for s in submitted),
            sweep_dir / MANIFEST,
        )
        if launcher.kind == "slurm":
            submit_followups(sweep_dir, manifest, pairs, launcher)
    if not launcher.wait:
        return manifest
    if launcher.kind == "slurm":
        return wait(sweep_dir, echo=lambda s: log.info("%s", s))
    return wait_local(sweep_dir, manifest, pairs, launcher)


def logs_to_wandb(jobs: list) -> bool:
    """Whether the sweep's runs go to W&B (then its analysis job pushes its report there too)."""
    return any((j.config.get("logger") or {}).get("mode", "disabled") != "disabled" for j in jobs)


def submit_followups(sweep_dir: Path, manifest: dict, pairs: list, launcher: LauncherConfig) -> None:
    """Slurm chains: an eval job per training job (afterok, never requeued), one analysis job (afterany)."""
    from refusal_lab.experiments.jobs import AnalyzeJob, EvalJob

    follow = manifest.setdefault("followups", [])
    after_all = list(dict.fromkeys(str(sj.job_id) for _, sj in pairs))  # a task may hold several jobs
    if launcher.eval_after:
        for j, sj in pairs:
            ex = executor(
                launcher,
                sweep_dir,
                f"refusal-lab-eval-{manifest['sweep_id']}",
                launcher.eval_timeout_min,
                dependency=f"afterok:{sj.job_id}",
                no_requeue=True,
            )
            ev = ex.submit(EvalJob(), *eval_args(j, launcher))
            follow.append(
                {
                    "kind": "eval",
                    "job": j.index,
                    "slurm_job_id": str(ev.job_id),
                    "after": f"afterok:{sj.job_id}",
                    "log": str(ev.paths.stdout),
                }
            )
            after_all.append(str(ev.job_id))
    if launcher.analyze_after:
        dep = "afterany:" + ":".join(after_all)
        ex = executor(
            launcher,
            sweep_dir,
            f"refusal-lab-analysis-{manifest['sweep_id']}",
            launcher.eval_timeout_min,
            dependency=dep,
            no_requeue=True,
        )
        an = ex.submit(AnalyzeJob(), str(sweep_dir), logs_to_wandb([j for j, _ in pairs]))
        follow.append({"kind": "analysis", "slurm_job_id": str(an.job_id), "after": dep, "log": str(an.paths.stdout)})
    write_json(sweep_dir / MANIFEST, manifest)


def wait_local(sweep_dir: Path, manifest: dict, pairs: list, launcher: LauncherConfig) -> dict:
    """submitit_local has no sacct: wait here, read each job's own outcome, then run the chained jobs."""
    from refusal_lab.experiments.jobs import AnalyzeJob, EvalJob

    entries = {e["index"]: e for e in manifest["jobs"]}
    for j, sj in pairs:
        try:
            sj.result()
        except Exception:
            pass  # the job's own summary.json says whether it finished (a task may hold several jobs)
        entries[j.index]["status"] = "completed" if (Path(j.run_dir) / "summary.json").exists() else "failed"
        write_json(sweep_dir / MANIFEST, manifest)
    chained = []
    if launcher.eval_after:
        chained += [
            executor(launcher, sweep_dir, "eval").submit(EvalJob(), *eval_args(j, launcher))
            for j, _ in pairs
            if entries[j.index]["status"] == "completed"
        ]
    for c in chained:
        c.exception()
    if launcher.analyze_after:
        push = logs_to_wandb([j for j, _ in pairs])
        executor(launcher, sweep_dir, "analysis").submit(AnalyzeJob(), str(sweep_dir), push).exception()
    return manifest


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


# ---------------------------------------------------------------- `refusal-lab sweep ...`


def resubmit_argv(sweep_dir: Path, extra: list[str]) -> list[str]:
    """The multirun that made DIR (its multirun.yaml), into DIR again, with extra overrides last."""
    import yaml

    path = Path(sweep_dir) / "multirun.yaml"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; `sweep resubmit` needs a sweep dir made by `refusal-lab -m ...`")
    hydra = yaml.safe_load(path.read_text())["hydra"]
    keep = [o for o in hydra["overrides"]["hydra"] if not o.startswith(("hydra.sweep.dir=", "hydra.mode="))]
    return ["-m", *keep, *hydra["overrides"]["task"], f"hydra.sweep.dir={Path(sweep_dir).resolve()}", *extra]
