"""Source 1: runs on disk (offline W&B runs and the files pipeline.run writes).

What is planned comes, in this order of preference, from
* `<sweep_dir>/sweep_manifest.json` (written by Slurm dispatch):
  {"sweep_id", "created", "jobs": [{"index", "overrides", "run_dir", "slurm_job_id", "status", "log"}]};
* Hydra's `<sweep_dir>/multirun.yaml`: the task overrides are expanded the way
  Hydra's basic sweeper expands them, job i living in `<sweep_dir>/<i>`;
* nothing (a folder of runs): every run found below it is analysed, nothing is
  known to be missing.
Runs found below the sweep dir that no planned job names are analysed too.

A run's values come from its offline W&B run (config, summary, the logged
threshold-curve table), read with refusal_lab.analysis.wandb_offline; files the
pipeline wrote next to it fill what W&B lacks (summary.json, config.json,
threshold_curve.csv when logging was off) and add scores.csv, which W&B never
had.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from refusal_lab.analysis.sweep_data import ANALYSIS_JOB_TYPE, CURVE_TABLE_KEY, RunRecord, SweepData, build
from refusal_lab.analysis.wandb_offline import STATE_FINISHED, find_offline_runs, read_offline_run

MANIFEST_NAME = "sweep_manifest.json"
MULTIRUN_NAME = "multirun.yaml"
STATUSES = ("planned", "pending", "running", "completed", "failed", "preempted", "timeout", "cancelled")


def load_sweep_dir(sweep_dir: Path | str, group: str | None = None, workers: int = 4) -> SweepData:
    """Every run of a sweep directory (or any folder of runs), and every planned job."""
    sweep_dir = Path(sweep_dir).resolve()
    if not sweep_dir.is_dir():
        raise FileNotFoundError(
            f"sweep dir {sweep_dir} does not exist; pass a folder holding "
            f"{MANIFEST_NAME}, Hydra's {MULTIRUN_NAME}, or run directories"
        )
    warnings: list[str] = []
    sweep_id, jobs = _planned_jobs(sweep_dir, warnings)

    # Run directories: the planned ones, then whatever else lies below the sweep dir.
    run_dirs: list[Path] = [Path(j["run_dir"]) for j in jobs]
    known = {p.resolve() for p in run_dirs}
    for found in _discover_run_dirs(sweep_dir):
        if found.resolve() not in known:
            known.add(found.resolve())
            run_dirs.append(found)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        read = list(pool.map(lambda d: read_run_dir(d, warnings), run_dirs))
    by_dir = dict(zip(run_dirs, read))

    records: list[RunRecord] = []
    for d in run_dirs:
        rec = by_dir[d]
        if rec is not None and (group is None or rec.group == group):
            records.append(rec)
    planned = [_job_row(j, by_dir.get(Path(j["run_dir"])), group) for j in jobs]
    if sweep_id is None:
        groups = sorted({r.group for r in records if r.group})
        sweep_id = group or (groups[0] if len(groups) == 1 else sweep_dir.name)
    return build(records, planned, sweep_id, f"sweep dir {sweep_dir}", warnings)


# ----------------------------------------------------------------------------- planned jobs


def _planned_jobs(sweep_dir: Path, warnings: list[str]) -> tuple[str | None, list[dict]]:
    manifest = sweep_dir / MANIFEST_NAME
    if manifest.exists():
        return read_manifest(manifest)
    if (sweep_dir / MULTIRUN_NAME).exists():
        try:
            return None, hydra_planned_jobs(sweep_dir)
        except Exception as e:  # an unreadable multirun.yaml must not hide the runs themselves
            warnings.append(
                f"{sweep_dir / MULTIRUN_NAME}: could not expand the planned jobs ({e}); "
                "analysing the runs found, missing ones cannot be listed"
            )
    return None, []


def read_manifest(path: Path) -> tuple[str, list[dict]]:
    """(sweep_id, jobs) of a sweep_manifest.json; run_dir made absolute."""
    try:
        obj = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(
            f'{path}: not valid JSON ({e}); expected the sweep manifest {{"sweep_id", "created", "jobs": [...]}}'
        ) from None
    problems = []
    if not isinstance(obj, dict) or not isinstance(obj.get("sweep_id"), str) or not isinstance(obj.get("jobs"), list):
        raise ValueError(
            f"{path}: expected an object with a string 'sweep_id' and a list 'jobs', got keys "
            f"{sorted(obj) if isinstance(obj, dict) else type(obj).__name__}"
        )
    jobs = []
    for i, j in enumerate(obj["jobs"]):
        if not isinstance(j, dict) or not isinstance(j.get("run_dir"), str):
            problems.append(
                f"jobs[{i}].run_dir={j.get('run_dir') if isinstance(j, dict) else j!r}: expected a path string"
            )
            continue
        status = j.get("status", "planned")
        if status not in STATUSES:
            problems.append(f"jobs[{i}].status={status!r}: expected one of {', '.join(STATUSES)}")
        run_dir = _rerooted(Path(j["run_dir"]), path.parent)
        jobs.append(
            {
                "index": j.get("index", i),
                "overrides": list(j.get("overrides") or []),
                "run_dir": str(run_dir),
                "slurm_job_id": j.get("slurm_job_id"),
                "status": status,
                "log": j.get("log"),
            }
        )
    if problems:
        raise ValueError(
            f"{path}: {len(problems)} problem(s) in the sweep manifest:\n" + "\n".join(f"  - {p}" for p in problems)
        )
    return obj["sweep_id"], jobs


def hydra_planned_jobs(sweep_dir: Path) -> list[dict]:
    """The jobs of a Hydra multirun, expanded from multirun.yaml as Hydra's basic sweeper
    does (cartesian product, last override varying fastest), job i in <sweep_dir>/<i>."""
    import yaml
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    cfg = yaml.safe_load((sweep_dir / MULTIRUN_NAME).read_text())
    task = cfg["hydra"]["overrides"]["task"] or []
    batches = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(list(task)), None)
    combos = [c for batch in batches for c in batch]
    return [
        {
            "index": i,
            "overrides": list(c),
            "run_dir": str(sweep_dir / str(i)),
            "slurm_job_id": None,
            "status": None,
            "log": str(sweep_dir / str(i) / "cli.log"),
        }
        for i, c in enumerate(combos)
    ]


def _job_row(job: dict, rec: RunRecord | None, group: str | None) -> dict:
    """A planned job's row: completed when it has results, else why not."""
    run_dir = Path(job["run_dir"])
    declared = job.get("status")
    if rec is not None and rec.has_results:
        status, reason = "completed", ""
        if group is not None and rec.group != group:
            reason = f"W&B group {rec.group!r} is not {group!r}"
    elif rec is not None:
        status = {"failed": "failed"}.get(rec.state) or (declared if declared not in (None, "completed") else rec.state)
        reason = f"W&B run {rec.run_id} is {rec.state} and has no eval results"
    elif run_dir.exists():
        status = declared if declared not in (None, "completed") else "no results"
        reason = "run directory exists but holds no W&B run and no summary.json"
    else:
        status = declared if declared not in (None, "completed") else "missing"
        reason = "run directory does not exist"
    if declared == "completed" and status != "completed":
        reason += " (the manifest says completed)"
    return {
        **job,
        "status": status,
        "run_id": rec.run_id if rec else None,
        "has_results": bool(rec is not None and rec.has_results),
        "reason": reason,
    }


# ----------------------------------------------------------------------------- runs


def _discover_run_dirs(root: Path) -> list[Path]:
    """Pipeline run directories (config.json) and W&B runs outside any of them."""
    dirs = {
        p.parent
        for p in root.rglob("config.json")
        if (p.parent / "mix_manifest.json").exists()
        or (p.parent / "summary.json").exists()
        or (p.parent / "wandb").is_dir()
    }
    for off in find_offline_runs(root):
        owner = _owning_run_dir(off)
        if owner is None:
            dirs.add(off)
    return sorted(dirs)


def _owning_run_dir(offline_dir: Path) -> Path | None:
    """The pipeline run dir that holds <run_dir>/wandb/offline-run-*, if any."""
    parent = offline_dir.parent
    if parent.name == "wandb" and (parent.parent / "config.json").exists():
        return parent.parent
    return None


def read_run_dir(run_dir: Path, warnings: list[str] | None = None) -> RunRecord | None:
    """One run from its directory (a pipeline run dir or an offline-run-* dir); None if neither."""
    warnings = warnings if warnings is not None else []
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return None
    offline = _final_offline_run(run_dir, warnings)
    if offline is not None and offline.job_type == ANALYSIS_JOB_TYPE:
        return None
    files_dir = run_dir if (run_dir / "config.json").exists() else None
    if offline is None and files_dir is None:
        return None

    summary = dict(offline.summary) if offline else {}
    config = dict(offline.config) if offline else {}
    curve = offline.tables.get(CURVE_TABLE_KEY) if offline else None
    scores = None
    if files_dir is not None:
        summary_json = _read_json(files_dir / "summary.json", warnings)
        for k, v in (summary_json or {}).items():
            summary.setdefault(k, v)
        if not config:
            config = _read_json(files_dir / "config.json", warnings) or {}
        if curve is None:
            curve = _read_csv(files_dir / "threshold_curve.csv", CURVE_COLUMNS, warnings)
        scores = _read_csv(
            files_dir / "scores.csv",
            SCORES_COLUMNS,
            warnings,
            keep_default_na=False,
            dtype={"id": str, "source": str, "category": str},
        )
    if offline is not None:
        state = offline.state
        warnings.extend(f"{offline.run_dir.name}: {w}" for w in offline.warnings)
    else:
        state = STATE_FINISHED if (files_dir / "summary.json").exists() else "no results"
    run_id = offline.id if offline else (_read_text(files_dir / "wandb_run_id") or run_dir.name)
    return RunRecord(
        run_id=run_id,
        name=offline.name if offline else run_dir.name,
        group=offline.group if offline else (config.get("logger") or {}).get("group"),
        tags=list(offline.tags) if offline else list((config.get("logger") or {}).get("tags") or []),
        state=state,
        job_type=offline.job_type if offline else None,
        location=str(run_dir),
        config=config,
        summary=summary,
        curve=curve,
        scores=scores,
    )


def _final_offline_run(run_dir: Path, warnings: list[str]):
    """The offline W&B run of a run dir; after a requeue there are several directories of
    the same run: the finished one wins, then the latest."""
    if run_dir.name.startswith("offline-run-"):
        candidates = [run_dir]
    else:
        candidates = find_offline_runs(run_dir / "wandb") if (run_dir / "wandb").is_dir() else []
    runs = []
    for c in candidates:
        try:
            runs.append(read_offline_run(c))
        except (OSError, ValueError) as e:
            warnings.append(f"{c}: unreadable offline W&B run ({e})")
    if not runs:
        return None
    runs.sort(key=lambda r: (r.state == STATE_FINISHED, r.run_dir.name))
    return runs[-1]


def _read_json(path: Path, warnings: list[str]) -> dict | None:
    """A JSON object, or None with a warning naming the file: one bad run never stops the analysis."""
    if not path.exists():
        return None
    try:
        obj = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        warnings.append(f"{path}: not valid JSON ({e}); ignored")
        return None
    if not isinstance(obj, dict):
        warnings.append(f"{path}: expected a JSON object, got {type(obj).__name__}; ignored")
        return None
    return obj


CURVE_COLUMNS = ("threshold", "precision", "recall", "f1")  # what the tables read from threshold_curve.csv
SCORES_COLUMNS = ("id", "source", "should_refuse")  # and from scores.csv


def _read_csv(path: Path, columns: tuple[str, ...], warnings: list[str], **read_kw) -> pd.DataFrame | None:
    """A run's CSV, or None with a warning naming the file when it is empty, unparsable or lacks columns."""
    if not path.exists():
        return None
    try:
        frame = pd.read_csv(path, **read_kw)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:  # EmptyDataError is a ValueError
        warnings.append(f"{path}: unreadable CSV ({' '.join(str(e).split())}); ignored")
        return None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        warnings.append(f"{path}: missing column(s) {', '.join(missing)}; ignored")
        return None
    return frame


def _rerooted(run_dir: Path, sweep_dir: Path) -> Path:
    """A manifest's run dir inside this sweep dir. Relative paths are relative to it; an absolute
    path that lies elsewhere (the sweep was copied or moved) is matched by its longest tail that
    exists here, so a copy neither counts its runs twice nor lists them as missing."""
    if not run_dir.is_absolute():
        return (sweep_dir / run_dir).resolve()
    if run_dir.is_relative_to(sweep_dir) or not run_dir.parts:
        return run_dir
    parts = run_dir.parts[1:]
    for i in range(len(parts)):
        candidate = sweep_dir.joinpath(*parts[i:])
        if candidate.exists():
            return candidate.resolve()
    return run_dir


def _read_text(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None
