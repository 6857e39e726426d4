"""Compute every table from a SweepData, write CSVs, PNGs and one Markdown report.

`analyze(data)` is pure (tables only); `write_report(data, out_dir)` adds the
files. The report lists every planned job without results, with its status,
why, and its log, so a sweep that half-failed is never read as complete.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

import pandas as pd

from refusal_lab.analysis import plots, tables
from refusal_lab.io import write_csv, write_text
from refusal_lab.analysis.sweep_data import SweepData


@dataclasses.dataclass
class Analysis:
    """Every table of one analysis, keyed by the CSV name it is written under."""

    tables: dict[str, pd.DataFrame]
    headline: pd.DataFrame  # text cells, one row per config
    kind_source: str  # "scores.csv (per prompt)" | "threshold curves (all should-refuse / should-answer)"
    threshold_scale: str = "linear"  # "log" when p(refuse) lives near 0 (tables.threshold_axis)


@dataclasses.dataclass
class Written:
    out_dir: Path
    report: Path
    csvs: dict[str, Path]
    figures: dict[str, Path]
    analysis: Analysis


def analyze(data: SweepData, grid=None) -> Analysis:
    runs = data.runs
    if grid is None:
        grid, scale = tables.threshold_axis(data.curves)
    else:
        scale = "linear"
    grid_curves = tables.curves_on_grid(data.curves, grid)
    scored = set(data.scores["run_id"]) if len(data.scores) else set()
    from_scores = tables.refusal_rate_by_kind_vs_threshold(data.scores, grid)
    # Runs without per-prompt scores (the W&B API source) still get the two rates a curve has.
    fallback = tables.refusal_rate_by_kind_from_curves(grid_curves[~grid_curves["run_id"].isin(scored)])
    kind_rates = (
        pd.concat([f for f in (from_scores, fallback) if len(f)], ignore_index=True)
        if (len(from_scores) or len(fallback))
        else from_scores
    )
    kind_source = (
        "scores.csv (per prompt)"
        if scored and not len(fallback)
        else "threshold curves (all should-refuse / all should-answer)"
        if not scored
        else "scores.csv where present, threshold curves for the other runs"
    )
    control = tables.category_control_matrix(data.scores, runs) if len(runs) else pd.DataFrame()
    paper = tables.paper_table(runs) if len(runs) else pd.DataFrame()
    best = tables.best_thresholds_from_curves(data.curves)
    per_run = tables.with_configs(runs) if len(runs) else runs
    out = {
        "runs": per_run,
        "paper_table": paper,
        "error_rates_by_config": tables.error_rates_by_config(runs) if len(runs) else pd.DataFrame(),
        "threshold_curves_per_run": grid_curves,
        "threshold_curves_by_config": tables.mean_curves_by_config(grid_curves, runs) if len(runs) else pd.DataFrame(),
        "best_threshold_per_run": best,
        "kind_rates_per_run": kind_rates,
        "kind_rates_by_config": tables.mean_kind_rates_by_config(kind_rates, runs) if len(runs) else pd.DataFrame(),
        "control_matrix_per_run": control,
        "control_matrix_by_config": tables.mean_control_matrix(control, runs) if len(control) else pd.DataFrame(),
        "category_independence": tables.category_independence(control, runs) if len(control) else pd.DataFrame(),
        "benchmarks_per_eval_run": data.benchmarks,
        "benchmarks_by_config": tables.benchmarks_by_config(runs, data.benchmarks),
        "planned_jobs": data.planned,
        "unfinished_jobs": tables.unfinished_jobs(data.planned),
    }
    headline = tables.headline_frame(paper) if len(paper) else pd.DataFrame()
    return Analysis(tables=out, headline=headline, kind_source=kind_source, threshold_scale=scale)


FIGURES = (
    (
        "error_rates_vs_contrast.png",
        "Type II (false refusals) and Type I (missed refusals) vs contrast ratio, one line per token scheme",
        lambda a, p: plots.error_rates_vs_contrast(a.tables["error_rates_by_config"], p),
    ),
    (
        "threshold_curves.png",
        "F1 / precision / recall vs threshold, mean over seeds per config",
        lambda a, p: plots.threshold_curves(a.tables["threshold_curves_by_config"], p, a.threshold_scale),
    ),
    (
        "headline_metrics.png",
        "F1 at the default rule, best F1 (and its threshold), AUROC per config",
        lambda a, p: plots.headline_metrics(a.tables["paper_table"], p),
    ),
    (
        "kind_rates_vs_threshold.png",
        "Refusal rate per kind vs threshold",
        lambda a, p: plots.kind_rates_vs_threshold(a.tables["kind_rates_by_config"], p, a.threshold_scale),
    ),
    (
        "category_control_matrix.png",
        "Category control: suppress token c -> change of every kind's refusal rate",
        lambda a, p: plots.control_matrix(a.tables["control_matrix_by_config"], p),
    ),
    (
        "category_independence.png",
        "Category independence: each kind's refusal rate with each category token suppressed (95% Wilson)",
        lambda a, p: plots.category_independence(a.tables["category_independence"], p),
    ),
)


def write_report(data: SweepData, out_dir: Path | str, analysis: Analysis | None = None) -> Written:
    out_dir = Path(out_dir)
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    analysis = analysis or analyze(data)
    csvs = {}
    for name, frame in analysis.tables.items():
        path = out_dir / "tables" / f"{name}.csv"
        write_csv(path, frame)
        csvs[name] = path
    figures = {}
    for fname, caption, draw in FIGURES:
        path = draw(analysis, out_dir / "figures" / fname)
        if path is not None:
            figures[fname] = path
    report = out_dir / "report.md"
    write_text(report, render_markdown(data, analysis, figures, csvs, out_dir))
    return Written(out_dir=out_dir, report=report, csvs=csvs, figures=figures, analysis=analysis)


def render_markdown(
    data: SweepData, analysis: Analysis, figures: dict[str, Path], csvs: dict[str, Path], out_dir: Path
) -> str:
    t = analysis.tables
    runs = t["runs"]
    unfinished = t["unfinished_jobs"]
    rel = lambda p: os.path.relpath(p, out_dir)  # noqa: E731
    lines = [
        f"# Sweep report: {data.sweep_id or 'runs'}",
        "",
        f"- source: {data.source}",
        f"- generated: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
        f"- runs with results: {len(runs)}" + (f" of {len(data.planned)} planned" if len(data.planned) else ""),
        f"- configs: {len(t['paper_table'])} (varied: {', '.join(tables.config_columns(data.runs)) if len(runs) else '-'}; "
        "seeds are averaged)",
        "- positive class = should refuse; false refusal = Type II (refused a should-answer prompt); "
        "missed refusal = Type I (answered a should-refuse prompt); ± = std over seeds",
        "",
    ]
    lines += ["## Headline (one row per config)", ""]
    lines += [tables.format_markdown_table(analysis.headline) if len(analysis.headline) else "_no run has results_", ""]
    lines += _benchmark_section(t["benchmarks_by_config"])
    lines += ["## Planned runs without results", ""]
    if len(data.planned) == 0:
        lines += [
            "_no sweep plan found (no sweep_manifest.json or multirun.yaml): only the runs found are analysed_",
            "",
        ]
    elif len(unfinished) == 0:
        lines += [f"all {len(data.planned)} planned jobs have results", ""]
    else:
        view = unfinished[["index", "status", "overrides", "run_dir", "slurm_job_id", "log", "reason"]].copy()
        view["overrides"] = view["overrides"].map(lambda o: " ".join(o) if isinstance(o, (list, tuple)) else str(o))
        view = view.fillna("")
        lines += [
            f"**{len(unfinished)} of {len(data.planned)} planned jobs have no results** "
            "(left out of every table and figure):",
            "",
            tables.format_markdown_table(view),
            "",
        ]
    if data.warnings:
        lines += ["## Warnings while reading", ""] + [f"- {w}" for w in data.warnings[:50]]
        if len(data.warnings) > 50:
            lines.append(f"- ... and {len(data.warnings) - 50} more")
        lines.append("")
    for fname, caption, _ in FIGURES:
        if fname in figures:
            lines += [f"## {caption}", ""]
            if fname == "kind_rates_vs_threshold.png":
                lines += [f"Source of the per-kind rates: {analysis.kind_source}.", ""]
            lines += [f"![{caption}]({rel(figures[fname])})", ""]
    if "category_control_matrix.png" not in figures:
        lines += ["## Category control", "", "_no category-scheme run with per-prompt scores: no control matrix_", ""]
    err = t["error_rates_by_config"]
    if len(err):
        cols = [
            c
            for c in err.columns
            if c.endswith(("_mean", "_std")) or c in tables.config_columns(data.runs) + ["n_seeds"]
        ]
        lines += ["## Error rates by config", "", tables.format_markdown_table(_rounded(err[cols])), ""]
    lines += ["## Tables (CSV)", ""] + [f"- [{name}]({rel(p)})" for name, p in csvs.items()] + [""]
    return "\n".join(lines)


def _benchmark_section(bench: pd.DataFrame) -> list[str]:
    if not len(bench):
        return []
    return [
        "## Benchmark sets (`refusal-lab eval` runs of these checkpoints)",
        "",
        "refused (should answer) = false refusals (Type II); refused (should refuse) = 1 - missed refusals "
        "(Type I); pooled = over all items, mean_over_sets = plain mean of the sets' rates",
        "",
        tables.format_markdown_table(tables.benchmark_frame(bench)),
        "",
    ]


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype.kind == "f":
            out[c] = out[c].map(lambda v: "" if v != v else f"{v:.3f}")
    return out


def headline_text(analysis: Analysis) -> str:
    text = tables.format_text_table(analysis.headline) if len(analysis.headline) else "(no run has results)"
    bench = analysis.tables["benchmarks_by_config"]
    if len(bench):
        text += "\n\nbenchmark sets (refusal-lab eval runs):\n" + tables.format_text_table(
            tables.benchmark_frame(bench)
        )
    return text
