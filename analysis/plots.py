"""One figure per question, from the tables of tables.py (matplotlib, Agg backend).

Each function takes tables and a path, writes one PNG and returns the path (or
None when the table is empty, e.g. no category-scheme runs for the control
matrix). Figures with one panel per config show at most MAX_PANELS configs;
the CSV tables have all of them.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

MAX_PANELS = 8
MAX_LINES = 10          # lines per axes before the legend stops being readable
DPI = 110


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _series_label(row: dict, keys: list[str]) -> str:
    return " ".join(f"{k}={row[k]}" for k in keys) if keys else ""


def error_rates_vs_contrast(errors: pd.DataFrame, path: Path) -> Path | None:
    """Type II (false refusals) and Type I (missed refusals) vs contrast ratio, one line
    per token scheme (and per other varied config), error bars = std over seeds."""
    if errors.empty:
        return None
    extra = [c for c in errors.columns if c not in ("scheme", "contrast_ratio", "config_id", "n_seeds")
             and not c.startswith("eval/")]
    panels = [("eval/false_refusal_rate", "False-refusal rate (Type II)\nshould-answer prompts refused"),
              ("eval/missed_refusal_rate", "Missed-refusal rate (Type I)\nshould-refuse prompts answered"),
              ("eval/refusal_rate/contrast", "Contrast prompts refused\n(risky-looking, should answer)")]
    panels = [p for p in panels if f"{p[0]}_mean" in errors.columns]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    series = errors.groupby(["scheme", *extra], dropna=False, sort=True)
    for ax, (metric, title) in zip(axes[0], panels):
        for i, (key, g) in enumerate(series):
            if i >= MAX_LINES:
                break
            key = key if isinstance(key, tuple) else (key,)
            g = g.sort_values("contrast_ratio")
            label = f"{key[0]}" + (" " + _series_label(dict(zip(extra, key[1:])), extra) if extra else "")
            yerr = 100 * g[f"{metric}_std"].fillna(0).to_numpy()
            ax.errorbar(g["contrast_ratio"], 100 * g[f"{metric}_mean"], yerr=yerr, marker="o", capsize=4, label=label)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("contrast-to-refusal ratio in the training mix")
        ax.set_ylabel("rate (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    axes[0][0].legend(title="token scheme", fontsize=9)
    n = int(errors["n_seeds"].max())
    fig.suptitle(f"Error rates vs contrast ratio (mean over seeds, bars = std; up to {n} seeds)", fontsize=12, y=1.06)
    return _save(fig, path)


def threshold_curves(mean_curves: pd.DataFrame, path: Path) -> Path | None:
    """F1, precision and recall vs threshold, one line per config (mean over seeds,
    band = std)."""
    if mean_curves.empty:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), squeeze=False)
    configs = list(dict.fromkeys(mean_curves["config_id"]))[:MAX_LINES]
    for ax, metric in zip(axes[0], ("f1", "precision", "recall")):
        for cid in configs:
            g = mean_curves[mean_curves["config_id"] == cid].sort_values("threshold")
            m = g[f"{metric}_mean"].to_numpy()
            s = g[f"{metric}_std"].fillna(0).to_numpy()
            (line,) = ax.plot(g["threshold"], m, label=cid)
            ax.fill_between(g["threshold"], np.clip(m - s, 0, 1), np.clip(m + s, 0, 1), color=line.get_color(), alpha=0.15)
        ax.set_title(f"refusal {metric.upper() if metric == 'f1' else metric} vs threshold", fontsize=11)
        ax.set_xlabel("threshold t (refuse iff p(refuse) >= t)")
        ax.set_ylabel(metric)
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, title="config")
    more = mean_curves["config_id"].nunique() - len(configs)
    fig.suptitle("Threshold steering: mean over seeds, band = std" + (f" ({more} more configs in the CSV)" if more > 0 else ""),
                 fontsize=12)
    return _save(fig, path)


def headline_metrics(paper: pd.DataFrame, path: Path) -> Path | None:
    """F1 at the default rule, best F1 over thresholds and AUROC per config (bars = std),
    with the best threshold written above each best-F1 bar."""
    if paper.empty:
        return None
    p = paper.head(MAX_PANELS * 2)
    metrics = [("eval/f1", "F1 (default rule)"), ("eval/best_f1", "best F1 over thresholds"), ("eval/auroc", "AUROC")]
    x = np.arange(len(p))
    width = 0.27
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(p) + 3), 4.8))
    for i, (m, label) in enumerate(metrics):
        bars = ax.bar(x + (i - 1) * width, p[f"{m}_mean"], width, yerr=p[f"{m}_std"].fillna(0), capsize=3, label=label)
        if m == "eval/best_f1":
            for b, t, sd in zip(bars, p["eval/best_threshold_mean"], p[f"{m}_std"].fillna(0)):
                if t == t:   # above the error bar
                    ax.annotate(f"t={t:.2f}", (b.get_x() + b.get_width() / 2, b.get_height() + sd), ha="center",
                                va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(x, p["config_id"], rotation=30, ha="right")
    ax.set_ylabel("score")
    ax.set_ylim(0, 1.18)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=9, loc="upper left", ncols=3)
    more = len(paper) - len(p)
    ax.set_title("Refusal F1 at the default rule, best F1 (its threshold above), AUROC; bars = std over seeds"
                 + (f"\n(first {len(p)} configs; {more} more in paper_table.csv)" if more > 0 else ""), fontsize=11)
    return _save(fig, path)


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 4)
    return math.ceil(n / cols), cols


def kind_rates_vs_threshold(kind_means: pd.DataFrame, path: Path) -> Path | None:
    """Refusal rate of each kind (category, contrast, general) vs threshold, one panel
    per config, mean over seeds."""
    if kind_means.empty:
        return None
    configs = list(dict.fromkeys(kind_means["config_id"]))[:MAX_PANELS]
    rows, cols = _grid(len(configs))
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.8 * rows), squeeze=False)
    for ax, cid in zip(axes.flat, configs):
        g = kind_means[kind_means["config_id"] == cid]
        for kind, k in g.groupby("kind", sort=True):
            k = k.sort_values("threshold")
            style = "--" if kind in ("contrast", "general", "all should-answer") else "-"
            ax.plot(k["threshold"], 100 * k["refusal_rate_mean"], style, label=kind)
        ax.set_title(cid, fontsize=10)
        ax.set_xlabel("threshold t")
        ax.set_ylabel("refused (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(configs):]:
        ax.axis("off")
    axes[0][0].legend(fontsize=8, title="kind (dashed: should answer)")
    more = kind_means["config_id"].nunique() - len(configs)
    fig.suptitle("Refusal rate per kind vs threshold (mean over seeds)"
                 + (f"; first {len(configs)} configs, {more} more in kind_rates_by_config.csv" if more > 0 else ""), fontsize=12)
    fig.tight_layout()
    return _save(fig, path)


def control_matrix(matrix_means: pd.DataFrame, path: Path) -> Path | None:
    """Heatmap per category-scheme config: suppressing token c (rows) changes each kind's
    refusal rate (columns) by this many points."""
    if matrix_means.empty:
        return None
    configs = list(dict.fromkeys(matrix_means["config_id"]))[:MAX_PANELS]
    rows, cols = _grid(len(configs))
    fig, axes = plt.subplots(rows, cols, figsize=(6.6 * cols, 4.6 * rows), squeeze=False)
    fig.subplots_adjust(wspace=0.55, hspace=0.6)
    image = None
    for ax, cid in zip(axes.flat, configs):
        g = matrix_means[matrix_means["config_id"] == cid]
        m = g.pivot(index="suppressed", columns="kind", values="change_mean") * 100
        kinds = [k for k in ("incomplete", "unsupported", "indeterminate", "humanizing", "safety", "contrast", "general")
                 if k in m.columns] + [k for k in m.columns if k not in ("incomplete", "unsupported", "indeterminate",
                                                                            "humanizing", "safety", "contrast", "general")]
        order = [k for k in ("incomplete", "unsupported", "indeterminate", "humanizing", "safety") if k in m.index]
        m = m.loc[order, kinds]
        image = ax.imshow(m.to_numpy(), cmap="RdBu_r", vmin=-100, vmax=100, aspect="auto")
        ax.set_xticks(range(len(kinds)), kinds, rotation=35, ha="right", fontsize=9)
        ax.set_yticks(range(len(order)), [f"[{o}] off" for o in order], fontsize=9)
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                v = m.iat[i, j]
                ax.text(j, i, f"{v:+.0f}", ha="center", va="center", fontsize=8, color="black" if abs(v) < 60 else "white")
        ax.set_title(cid, fontsize=10)
        ax.set_xlabel("refusal rate of kind")
    for ax in list(axes.flat)[len(configs):]:
        ax.axis("off")
    fig.colorbar(image, ax=axes, shrink=0.8, label="change of refusal rate (points)")
    more = matrix_means["config_id"].nunique() - len(configs)
    fig.suptitle("Category control: suppressing one category token (rows) -> change of each kind's refusal rate"
                 + (f"\n(first {len(configs)} configs, {more} more in control_matrix_by_config.csv)" if more > 0 else ""),
                 fontsize=12)
    return _save(fig, path)
