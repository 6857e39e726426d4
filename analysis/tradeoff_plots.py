"""The trade-off figure: refusal rate on should-refuse prompts (y) against the false-refusal
rate on should-answer prompts (x), one curve or point set per method (points.csv of
`refusal-lab tradeoff`). Threshold sweeps are lines; retrained models, steering strengths
and system prompts are markers labelled with their setting."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from refusal_lab.analysis.plots import HEIGHT, WIDTH, legend_below, plt, save

MARKERS = {"retrained": "s", "steering": "D", "system_prompt": "^"}
CURVES = ("threshold", "controlled_set", "first_position")


def _label(family: str, param) -> str:
    if family == "retrained":
        return f"{float(param):g}"
    if family == "steering":
        return str(param) if isinstance(param, str) and not _is_number(param) else f"α={float(param):g}"
    return str(param)


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def tradeoff_figure(pts: pd.DataFrame):
    if pts.empty:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH, HEIGHT))
    ax.plot([0, 100], [0, 100], color="0.8", lw=0.8, ls=":", label="chance")
    for method, g in pts.groupby("method", sort=False):
        family = g["family"].iloc[0]
        x, y = 100 * g["false_refusal_rate"].to_numpy(float), 100 * g["refusal_rate"].to_numpy(float)
        if family in CURVES:
            order = x.argsort(kind="stable")
            ax.plot(
                x[order],
                y[order],
                lw=1.6 if family == "threshold" else 1.0,
                ls="-" if family == "threshold" else "--",
                drawstyle="default",
                label=method,
            )
            continue
        (line,) = ax.plot(
            x, y, marker=MARKERS.get(family, "o"), ms=5, lw=0.8, ls=":" if len(g) > 1 else "none", label=method
        )
        for xi, yi, p in zip(x, y, g["param"]):
            ax.annotate(
                _label(family, p),
                (xi, yi),
                fontsize=6,
                xytext=(3, -8),
                textcoords="offset points",
                color=line.get_color(),
            )
    ax.set_xlabel("false-refusal rate: should-answer prompts refused (%)", fontsize=8)
    ax.set_ylabel("refusal rate: should-refuse prompts refused (%)", fontsize=8)
    ax.set_xlim(-2, 102)
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    legend_below(fig, [ax], max_cols=2)
    fig.tight_layout()
    return fig


def tradeoff(pts: pd.DataFrame, path: Path) -> Path | None:
    return save(tradeoff_figure(pts), path)
