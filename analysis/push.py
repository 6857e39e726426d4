"""Push an analysis back to W&B as one report run in the sweep's group.

The run has job_type "analysis" (both sources skip such runs when reading a
sweep), the sweep id as its group, every table as a wandb.Table under
"analysis/<name>" and every figure as a wandb.Image under "figures/<name>".
Offline (the project's default) it lands in <out_dir>/wandb and `wandb sync`
uploads it with the sweep's runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from refusal_lab.analysis.report import Written
from refusal_lab.analysis.sweep_data import ANALYSIS_JOB_TYPE

# Per-run tables grow with the sweep (500 runs x 101 thresholds); W&B tables are for browsing.
MAX_TABLE_ROWS = 20_000


def push_report(
    written: Written,
    sweep_id: str | None,
    project: str = "refusal-lab",
    entity: str | None = None,
    mode: str = "offline",
) -> str:
    """Log the tables and figures of `written` as a W&B run; returns its id."""
    for var in ("WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
        if mode == "offline":
            os.environ.setdefault(var, str(Path(written.out_dir) / "wandb_files" / var.lower().removeprefix("wandb_")))
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    run = wandb.init(
        project=project,
        entity=entity,
        group=sweep_id,
        job_type=ANALYSIS_JOB_TYPE,
        name=f"analysis-{sweep_id or 'runs'}",
        mode=mode,
        dir=str(written.out_dir),
        config={"analysis": {"sweep_id": sweep_id, "report": str(written.report)}},
    )
    try:
        payload = {}
        for name, frame in written.analysis.tables.items():
            if len(frame) and len(frame) <= MAX_TABLE_ROWS:
                payload[f"analysis/{name}"] = wandb.Table(dataframe=_loggable(frame))
        payload.update(line_charts(written.analysis.tables, wandb))
        for name, path in written.figures.items():
            payload[f"figures/{Path(name).stem}"] = wandb.Image(str(path))
        run.log(payload)
        run.summary["analysis/n_runs"] = len(written.analysis.tables["runs"])
        run.summary["analysis/n_unfinished"] = len(written.analysis.tables["unfinished_jobs"])
        run_id = run.id
        run.finish(exit_code=0)
    except BaseException:
        run.finish(exit_code=1)
        raise
    return run_id


def _loggable(frame):
    """Cells wandb.Table accepts: lists as text, NaN as None."""
    out = frame.astype(object).where(frame.notna(), None)
    for c in out.columns:
        out[c] = out[c].map(lambda v: " ".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
    return out


def chart_frames(tables: dict) -> dict[str, tuple[pd.DataFrame, str, str, str]]:
    """The main curves as long tables for W&B line charts: name -> (frame, x, y, title).
    Each frame has a `series` column (one line per token scheme / config)."""
    from refusal_lab.analysis.plots import contrast_series

    out = {}
    errors = tables.get("error_rates_by_config", pd.DataFrame())
    if len(errors):
        rows = [
            {
                "series": label,
                "contrast_ratio": float(r["contrast_ratio"]),
                "false_refusal_rate": r["eval/false_refusal_rate_mean"],
                "missed_refusal_rate": r["eval/missed_refusal_rate_mean"],
            }
            for label, g in contrast_series(errors)
            for r in g.to_dict("records")
        ]
        frame = pd.DataFrame(rows)
        out["charts/false_refusal_vs_contrast"] = (
            frame,
            "contrast_ratio",
            "false_refusal_rate",
            "False refusals (Type II) vs contrast ratio, per token scheme",
        )
        out["charts/missed_refusal_vs_contrast"] = (
            frame,
            "contrast_ratio",
            "missed_refusal_rate",
            "Missed refusals (Type I) vs contrast ratio, per token scheme",
        )
    curves = tables.get("threshold_curves_by_config", pd.DataFrame())
    if len(curves):
        frame = curves[["config_id", "threshold", "f1_mean", "recall_mean", "false_refusal_rate_mean"]].rename(
            columns={
                "config_id": "series",
                "f1_mean": "f1",
                "recall_mean": "recall",
                "false_refusal_rate_mean": "false_refusal_rate",
            }
        )
        out["charts/f1_vs_threshold"] = (frame, "threshold", "f1", "Refusal F1 vs threshold, per config")
        out["charts/tradeoff_from_thresholds"] = (
            frame.sort_values(["series", "false_refusal_rate"]),
            "false_refusal_rate",
            "recall",
            "Refusal of should-refuse vs false refusals, threshold sweep",
        )
    return out


def line_charts(tables: dict, wandb) -> dict:
    """wandb.plot.line charts (a dashboard shows them as they are, no report needed)."""
    return {
        name: wandb.plot.line(wandb.Table(dataframe=_loggable(frame)), x, y, stroke="series", title=title)
        for name, (frame, x, y, title) in chart_frames(tables).items()
    }
