"""One figure per question, from the tables of tables.py (matplotlib, Agg backend).

Sizes are for a paper: 6.5 in wide (a full text width), 150 dpi, legends outside
the axes (below the panels) so they never cover a curve. Threshold axes follow
the scores (`scale="log"` when p(refuse) lives near 0, see tables.threshold_axis).

Each `*_figure` function builds and returns a matplotlib Figure (or None when its
table is empty, e.g. no category-scheme runs for the control matrix); the
plain-named wrappers save it as a PNG and return the path. Figures with one panel
per config show at most MAX_PANELS configs; the CSV tables have all of them.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from refusal_lab.analysis.tables import format_threshold  # noqa: E402

MAX_PANELS = 8
MAX_LINES = 10  # lines per axes before the legend stops being readable
DPI = 150
WIDTH = 6.5  # inches: one text width
HEIGHT = 4.0
CATEGORY_KINDS = ("incomplete", "unsupported", "indeterminate", "humanizing", "safety")
KIND_ORDER = CATEGORY_KINDS + ("contrast", "general")


def save(fig, path: Path) -> Path | None:
    if fig is None:
        return None
    from refusal_lab.io import atomic_open

    path = Path(path)
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def legend_below(fig, axes, title: str | None = None, max_cols: int = 4) -> None:
    """One legend for the figure, under the panels (never over a curve)."""
    handles, labels = [], []
    for ax in np.ravel(axes):
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(
            handles,
            labels,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncols=min(max_cols, len(labels)),
            title=title,
            fontsize=8,
            title_fontsize=8,
            frameon=False,
        )


def set_threshold_axis(ax, scale: str, thresholds) -> None:
    if scale == "log":
        t = np.asarray(thresholds, dtype=float)
        ax.set_xscale("log")
        ax.set_xlim(max(float(t[t > 0].min()), 1e-8) if (t > 0).any() else 1e-4, 1.0)
    else:
        ax.set_xlim(0, 1)
    ax.set_xlabel("threshold t (refuse iff p(refuse) ≥ t)" + (", log scale" if scale == "log" else ""), fontsize=8)


def contrast_series(errors: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The lines of the headline figure: one per token scheme (and per other varied input,
    if any), each over the contrast ratio."""
    extra = [
        c
        for c in errors.columns
        if c not in ("scheme", "contrast_ratio", "config_id", "n_seeds") and not c.startswith("eval/")
    ]
    out = []
    for key, g in errors.groupby(["scheme", *extra], dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        label = " ".join([str(key[0])] + [f"{k}={v}" for k, v in zip(extra, key[1:])])
        out.append((label, g.sort_values("contrast_ratio")))
    return out[:MAX_LINES]


def error_rates_figure(errors: pd.DataFrame):
    """Type II (false refusals) and Type I (missed refusals) vs contrast ratio, one line
    per token scheme, mean over seeds with min-max band and std error bars."""
    if errors.empty:
        return None
    panels = [
        ("eval/false_refusal_rate", "false refusals (Type II)\nshould-answer prompts refused"),
        ("eval/missed_refusal_rate", "missed refusals (Type I)\nshould-refuse prompts answered"),
    ]
    panels = [p for p in panels if f"{p[0]}_mean" in errors.columns]
    fig, axes = plt.subplots(1, len(panels), figsize=(WIDTH, 3.2), squeeze=False, sharey=True)
    for ax, (metric, title) in zip(axes[0], panels):
        for label, g in contrast_series(errors):
            x, m = g["contrast_ratio"].to_numpy(float), 100 * g[f"{metric}_mean"].to_numpy(float)
            (line,) = ax.plot(x, m, marker="o", ms=4, label=label)
            ax.errorbar(
                x,
                m,
                yerr=100 * g[f"{metric}_std"].fillna(0).to_numpy(float),
                fmt="none",
                ecolor=line.get_color(),
                capsize=3,
                lw=1,
            )
            if f"{metric}_min" in g:
                ax.fill_between(
                    x,
                    100 * g[f"{metric}_min"].to_numpy(float),
                    100 * g[f"{metric}_max"].to_numpy(float),
                    color=line.get_color(),
                    alpha=0.12,
                    lw=0,
                )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("contrast-to-refusal ratio in the mix", fontsize=8)
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0][0].set_ylabel("rate (%)", fontsize=8)
    n = int(errors["n_seeds"].max())
    legend_below(fig, axes, title=f"token scheme (mean over ≤{n} seeds; bars = std, band = min–max)")
    fig.tight_layout()
    return fig


def error_rates_vs_contrast(errors: pd.DataFrame, path: Path) -> Path | None:
    return save(error_rates_figure(errors), path)


def threshold_curves_figure(mean_curves: pd.DataFrame, scale: str = "linear"):
    """F1, precision and recall vs threshold, one line per config (mean over seeds, band = std)."""
    if mean_curves.empty:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 2.8), squeeze=False, sharey=True)
    configs = list(dict.fromkeys(mean_curves["config_id"]))[:MAX_LINES]
    for ax, metric in zip(axes[0], ("f1", "precision", "recall")):
        for cid in configs:
            g = mean_curves[mean_curves["config_id"] == cid].sort_values("threshold")
            if scale == "log":
                g = g[g["threshold"] > 0]
            m, s = g[f"{metric}_mean"].to_numpy(), g[f"{metric}_std"].fillna(0).to_numpy()
            (line,) = ax.plot(g["threshold"], m, label=cid, lw=1.2)
            ax.fill_between(
                g["threshold"], np.clip(m - s, 0, 1), np.clip(m + s, 0, 1), color=line.get_color(), alpha=0.15
            )
        ax.set_title(f"refusal {metric.upper() if metric == 'f1' else metric}", fontsize=9)
        set_threshold_axis(ax, scale, mean_curves["threshold"])
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    more = mean_curves["config_id"].nunique() - len(configs)
    legend_below(
        fig,
        axes,
        title="config (mean over seeds, band = std)" + (f"; {more} more in the CSV" if more > 0 else ""),
        max_cols=3,
    )
    fig.tight_layout()
    return fig


def threshold_curves(mean_curves: pd.DataFrame, path: Path, scale: str = "linear") -> Path | None:
    return save(threshold_curves_figure(mean_curves, scale), path)


def headline_metrics_figure(paper: pd.DataFrame):
    """F1 at the default rule, best F1 over thresholds and AUROC per config (bars = std),
    with the best threshold (3 significant digits) above each best-F1 bar."""
    if paper.empty:
        return None
    p = paper.head(MAX_PANELS * 2)
    metrics = [("eval/f1", "F1 (default rule)"), ("eval/best_f1", "best F1 over thresholds"), ("eval/auroc", "AUROC")]
    x = np.arange(len(p))
    width = 0.27
    fig, ax = plt.subplots(figsize=(WIDTH, HEIGHT))
    for i, (m, label) in enumerate(metrics):
        bars = ax.bar(x + (i - 1) * width, p[f"{m}_mean"], width, yerr=p[f"{m}_std"].fillna(0), capsize=3, label=label)
        if m == "eval/best_f1":
            for b, t, sd in zip(bars, p["eval/best_threshold_mean"], p[f"{m}_std"].fillna(0)):
                if t == t:  # above the error bar
                    ax.annotate(
                        f"t={format_threshold(t, 2)}",
                        (b.get_x() + b.get_width() / 2, b.get_height() + sd),
                        ha="center",
                        va="bottom",
                        fontsize=6,
                        xytext=(0, 2),
                        textcoords="offset points",
                        rotation=90,
                    )
    ax.set_xticks(x, p["config_id"], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("score", fontsize=8)
    ax.set_ylim(0, 1.25)
    ax.grid(axis="y", alpha=0.3)
    more = len(paper) - len(p)
    ax.legend(
        loc="upper left",
        ncols=3,
        fontsize=7,
        frameon=False,
        title="bars = std over seeds; t = best threshold" + (f"; {more} more configs in the CSV" if more > 0 else ""),
        title_fontsize=7,
    )  # in the headroom above 1.0, never over a bar
    fig.tight_layout()
    return fig


def headline_metrics(paper: pd.DataFrame, path: Path) -> Path | None:
    return save(headline_metrics_figure(paper), path)


def _grid(n: int, max_cols: int = 2) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def kind_rates_figure(kind_means: pd.DataFrame, scale: str = "linear"):
    """Refusal rate of each kind (category, contrast, general) vs threshold, one panel per
    config, mean over seeds; dashed = should answer."""
    if kind_means.empty:
        return None
    configs = list(dict.fromkeys(kind_means["config_id"]))[:MAX_PANELS]
    rows, cols = _grid(len(configs))
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, 2.4 * rows + 0.4), squeeze=False, sharex=True, sharey=True)
    for ax, cid in zip(axes.flat, configs):
        g = kind_means[kind_means["config_id"] == cid]
        if scale == "log":
            g = g[g["threshold"] > 0]
        for kind, k in sorted(g.groupby("kind", sort=True), key=lambda kv: _kind_rank(kv[0])):
            k = k.sort_values("threshold")
            style = "--" if kind in ("contrast", "general", "all should-answer") else "-"
            ax.plot(k["threshold"], 100 * k["refusal_rate_mean"], style, label=kind, lw=1.2)
        ax.set_title(cid, fontsize=8)
        set_threshold_axis(ax, scale, kind_means["threshold"])
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("refused (%)", fontsize=8)
    for ax in list(axes.flat)[len(configs) :]:
        ax.axis("off")
    more = kind_means["config_id"].nunique() - len(configs)
    legend_below(
        fig, axes, title="kind (dashed: should answer)" + (f"; {more} more configs in the CSV" if more > 0 else "")
    )
    fig.tight_layout()
    return fig


def _kind_rank(kind: str) -> int:
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def kind_rates_vs_threshold(kind_means: pd.DataFrame, path: Path, scale: str = "linear") -> Path | None:
    return save(kind_rates_figure(kind_means, scale), path)


def control_matrix_figure(matrix_means: pd.DataFrame):
    """Heatmap per category-scheme config: suppressing token c (rows) changes each kind's
    refusal rate (columns) by this many points."""
    if matrix_means.empty:
        return None
    configs = list(dict.fromkeys(matrix_means["config_id"]))[:MAX_PANELS]
    rows, cols = _grid(len(configs))
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, 3.0 * rows + 0.6), squeeze=False)
    image = None
    for ax, cid in zip(axes.flat, configs):
        g = matrix_means[matrix_means["config_id"] == cid]
        m = g.pivot(index="suppressed", columns="kind", values="change_mean") * 100
        kinds = sorted(m.columns, key=_kind_rank)
        order = [k for k in CATEGORY_KINDS if k in m.index]
        m = m.loc[order, kinds]
        image = ax.imshow(m.to_numpy(), cmap="RdBu_r", vmin=-100, vmax=100, aspect="auto")
        ax.set_xticks(range(len(kinds)), kinds, rotation=35, ha="right", fontsize=7)
        ax.set_yticks(range(len(order)), [f"[{o}] off" for o in order], fontsize=7)
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                v = m.iat[i, j]
                ax.text(
                    j, i, f"{v:+.0f}", ha="center", va="center", fontsize=6, color="black" if abs(v) < 60 else "white"
                )
        ax.set_title(cid, fontsize=8)
    for ax in list(axes.flat)[len(configs) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.colorbar(image, ax=axes, shrink=0.8, label="change of refusal rate (points)")
    return fig


def control_matrix(matrix_means: pd.DataFrame, path: Path) -> Path | None:
    return save(control_matrix_figure(matrix_means), path)


def category_independence_figure(independence: pd.DataFrame):
    """Category independence (first category config): every kind's refusal rate (groups on x)
    with nothing suppressed and with each category token suppressed (controlled set of one),
    95% Wilson intervals. Independent categories: only the suppressed category's bar drops."""
    if independence.empty:
        return None
    cid = independence["config_id"].iloc[0]
    g = independence[independence["config_id"] == cid]
    kinds = sorted(g["kind"].unique(), key=_kind_rank)
    settings = ["none"] + [k for k in CATEGORY_KINDS if k in set(g["suppressed"])]
    width = 0.8 / len(settings)
    fig, ax = plt.subplots(figsize=(WIDTH, HEIGHT))
    x = np.arange(len(kinds))
    for i, s in enumerate(settings):
        rows = g[g["suppressed"] == s].set_index("kind").reindex(kinds)
        rate = 100 * rows["rate"].to_numpy(float)
        err = np.clip(
            np.vstack([rate - 100 * rows["low"].to_numpy(float), 100 * rows["high"].to_numpy(float) - rate]), 0, None
        )
        ax.bar(
            x + (i - (len(settings) - 1) / 2) * width,
            rate,
            width,
            yerr=err,
            capsize=1.5,
            error_kw={"lw": 0.7},
            label="nothing suppressed" if s == "none" else f"[{s}] suppressed",
            color="0.55" if s == "none" else None,
        )
    ax.set_xticks(x, kinds, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("refused (%)", fontsize=8)
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"Category independence ({cid}): refusal rate per kind, 95% Wilson intervals", fontsize=9)
    legend_below(fig, [ax], max_cols=3)
    fig.tight_layout()
    return fig


def category_independence(independence: pd.DataFrame, path: Path) -> Path | None:
    return save(category_independence_figure(independence), path)
