"""Source 2: runs that reached a W&B server, through the public API (`wandb.Api()`).

Runs are listed page by page (`api.runs(path, filters, per_page=...)`, lazy) and
filtered on the server by group (= sweep id), tags and config values. The
heavy part of a run (config, summary, the threshold-curve table file) is kept
in an on-disk cache keyed by run id; an entry is reused when the run has ended
(finished, failed, crashed, killed, preempted) and its heartbeat has not moved,
so a second analysis of the same sweep downloads nothing but the run list.

The client is injectable (`api=`): anything with `runs(path, filters=, order=,
per_page=)` yielding objects with the attributes of `wandb.apis.public.Run`
that are used here (id, name, group, tags, state, job_type, heartbeat_at,
config, summary_metrics, file(name).download(root=, replace=)).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pandas as pd

from refusal_lab.io import write_text
from refusal_lab.analysis.sweep_data import ANALYSIS_JOB_TYPE, CURVE_TABLE_KEY, RunRecord, SweepData, build

ENDED_STATES = ("finished", "failed", "crashed", "killed", "preempted")
PROJECT_PATH_RE = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")
CACHE_VERSION = 1


def default_cache_dir() -> Path:
    import os

    base = os.environ.get("REFUSAL_LAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "refusal-lab"
    )
    return Path(base) / "wandb-api"


def build_filters(group: str | None = None, tags: list[str] | None = None, config: dict | None = None) -> dict:
    """A W&B (MongoDB-style) filter: group equal, any of the tags, config keys equal."""
    clauses: list[dict] = []
    if group:
        clauses.append({"group": group})
    if tags:
        clauses.append({"tags": {"$in": list(tags)}})
    for key, value in (config or {}).items():
        clauses.append({f"config.{key}": value})
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def load_wandb_project(
    project_path: str,
    group: str | None = None,
    tags: list[str] | None = None,
    config: dict | None = None,
    api=None,
    cache_dir: Path | str | None = None,
    per_page: int = 100,
    stats: dict | None = None,
) -> SweepData:
    """Every run of entity/project matching the filters, as SweepData.

    `stats` (optional dict) receives counters: listed, cache_hits, downloads."""
    if not PROJECT_PATH_RE.match(project_path or ""):
        raise ValueError(f"W&B project path {project_path!r}: expected 'entity/project' (e.g. my-team/refusal-lab)")
    if api is None:
        import wandb

        api = wandb.Api()
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    run_cache = cache / project_path.replace("/", "__")
    run_cache.mkdir(parents=True, exist_ok=True)
    stats = stats if stats is not None else {}
    stats.update(listed=0, cache_hits=0, downloads=0)

    warnings: list[str] = []
    records: list[RunRecord] = []
    for run in api.runs(
        project_path, filters=build_filters(group, tags, config), order="+created_at", per_page=per_page
    ):
        stats["listed"] += 1
        if (_attr(run, "job_type") or None) == ANALYSIS_JOB_TYPE:
            continue
        records.append(_record(run, project_path, run_cache, stats, warnings))
    sweep_id = group or (records[0].group if records and len({r.group for r in records}) == 1 else None)
    return build(records, [], sweep_id, f"wandb {project_path}" + (f" group {group}" if group else ""), warnings)


def _attr(run, name: str):
    try:
        return getattr(run, name)
    except AttributeError:
        return None


def _record(run, project_path: str, run_cache: Path, stats: dict, warnings: list[str]) -> RunRecord:
    state = str(_attr(run, "state") or "unknown")
    heartbeat = str(_attr(run, "heartbeat_at") or "")
    entry_path = run_cache / f"{run.id}.json"
    entry = _read_entry(entry_path)
    if entry and entry.get("state") == state and entry.get("heartbeat_at") == heartbeat and state in ENDED_STATES:
        stats["cache_hits"] += 1
        config, summary, curve = entry["config"], entry["summary"], entry["curve"]
    else:
        config = _unwrap(dict(run.config or {}))
        summary = dict(_attr(run, "summary_metrics") or {})
        curve = _download_curve(run, summary, stats, warnings)
        if state in ENDED_STATES:
            _write_entry(
                entry_path,
                {
                    "version": CACHE_VERSION,
                    "state": state,
                    "heartbeat_at": heartbeat,
                    "config": config,
                    "summary": summary,
                    "curve": curve,
                },
            )
    return RunRecord(
        run_id=run.id,
        name=_attr(run, "name") or run.id,
        group=_attr(run, "group") or None,
        tags=list(_attr(run, "tags") or []),
        state=state,
        job_type=_attr(run, "job_type") or None,
        location=f"{project_path}/{run.id}",
        config=config,
        summary=summary,
        curve=pd.DataFrame(curve["data"], columns=curve["columns"]) if curve else None,
    )


def _unwrap(config: dict) -> dict:
    """Config as logged: drop wandb's own keys and any {"value": v} wrappers."""
    out = {}
    for k, v in config.items():
        if k.startswith("_"):
            continue
        out[k] = v["value"] if isinstance(v, dict) and set(v) <= {"value", "desc"} and "value" in v else v
    return out


def _download_curve(run, summary: dict, stats: dict, warnings: list[str]) -> dict | None:
    """The threshold-curve table file the summary points at, as {"columns", "data"}."""
    ref = summary.get(CURVE_TABLE_KEY)
    if not (isinstance(ref, dict) and isinstance(ref.get("path"), str)):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            run.file(ref["path"]).download(root=tmp, replace=True)
            stats["downloads"] += 1
            obj = json.loads((Path(tmp) / ref["path"]).read_text())
        except Exception as e:  # a missing or unreadable file must not lose the run's summary
            warnings.append(f"run {run.id}: threshold-curve table {ref['path']} not downloaded ({e})")
            return None
    return {"columns": obj.get("columns") or [], "data": obj.get("data") or []}


def _read_entry(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        entry = json.loads(path.read_text())
    except ValueError:
        return None  # a torn cache file is just a miss
    return entry if entry.get("version") == CACHE_VERSION else None


def _write_entry(path: Path, entry: dict) -> None:
    write_text(path, json.dumps(entry, default=str))  # atomic: a crash never leaves half an entry
