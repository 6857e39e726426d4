"""The one entry point for getting runs: a sweep directory or a W&B project.

`load_runs(target, ...)` returns a SweepData whichever source the target names:
an existing directory is read from disk (sweep_dir_source), anything shaped
`entity/project` goes through the W&B public API (wandb_api_source).
"""

from __future__ import annotations

from pathlib import Path

from refusal_lab.analysis.sweep_data import SweepData
from refusal_lab.analysis.sweep_dir_source import load_sweep_dir
from refusal_lab.analysis.wandb_api_source import PROJECT_PATH_RE, load_wandb_project


def is_sweep_dir(target: str) -> bool:
    return Path(target).is_dir()


def load_runs(
    target: str,
    group: str | None = None,
    tags: list[str] | None = None,
    config: dict | None = None,
    api=None,
    cache_dir: Path | str | None = None,
    per_page: int = 100,
    stats: dict | None = None,
) -> SweepData:
    """Runs of a sweep dir (group/tags/config filter what was found) or of a W&B project."""
    if is_sweep_dir(target):
        data = load_sweep_dir(target, group=group)
        return _filter_local(data, tags, config)
    if PROJECT_PATH_RE.match(target):
        return load_wandb_project(
            target, group=group, tags=tags, config=config, api=api, cache_dir=cache_dir, per_page=per_page, stats=stats
        )
    raise ValueError(
        f"analyze target {target!r}: not an existing directory and not a W&B 'entity/project'; "
        "pass a sweep directory (e.g. outputs/multirun/2026-01-01_10-00-00) or entity/project"
    )


def _filter_local(data: SweepData, tags: list[str] | None, config: dict | None) -> SweepData:
    """The same tag/config filter the W&B source applies on the server."""
    runs = data.runs
    if tags:
        runs = runs[runs["tags"].map(lambda t: bool(set(str(t).split(",")) & set(tags)))]
    for key, value in (config or {}).items():
        col = "config." + key
        if col not in runs.columns:
            raise ValueError(
                f"--config {key}={value!r}: no run has config key {key!r}; "
                "use dotted keys as in the Hydra config, e.g. mix.contrast_ratio=0.5"
            )
        runs = runs[runs[col].map(lambda v: _same(v, value))]
    keep = set(runs["run_id"])
    data.runs = runs.reset_index(drop=True)
    data.curves = data.curves[data.curves["run_id"].isin(keep)].reset_index(drop=True)
    data.scores = (
        data.scores[data.scores["run_id"].isin(keep)].reset_index(drop=True) if len(data.scores) else data.scores
    )
    return data


def _same(a, b) -> bool:
    """Config equality as a filter means it: 0 == 0.0, otherwise compare as text."""
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)
    return str(a) == str(b)
