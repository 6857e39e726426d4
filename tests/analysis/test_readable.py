"""Analysis that reads well on the paper's sweep: labels from inputs only, one line per scheme,
threshold axes that follow the scores, thresholds with significant digits, W&B charts."""

import numpy as np
import pandas as pd
import pytest

from refusal_lab.analysis import plots, tables
from refusal_lab.analysis.push import chart_frames
from refusal_lab.evaluation import metrics

pytestmark = pytest.mark.unit


def paper_sweep_runs():
    """`-m mix.contrast_ratio=0,0.5 tokens=single,category seed=0,1` as a source flattens it: the W&B
    config also carries derived values (mix_manifest.*, data_report.*) that differ per run."""
    rows = []
    for i, (scheme, cr, seed) in enumerate(
        [(s, c, d) for s in ("single", "category") for c in (0.0, 0.5) for d in (0, 1)]
    ):
        rows.append(
            {
                "run_id": f"r{i}",
                "scheme": scheme,
                "contrast_ratio": cr,
                "seed": seed,
                "config.tokens.scheme": scheme,
                "config.mix.contrast_ratio": cr,
                "config.seed": seed,
                "config.mix.total": 450,
                "config.logger.name": f"n{i}",
                "config.mix_manifest.content_hash": f"{i:064x}",
                "config.mix_manifest.realised.contrast": int(60 * cr) + seed,
                "config.mix_manifest.realised_contrast_ratio": cr + 0.01 * seed,
                "config.data_report.duplicates": i,
                "eval/false_refusal_rate": 0.3 - 0.2 * cr + 0.01 * seed,
                "eval/missed_refusal_rate": 0.1 + 0.2 * cr,
                "eval/refusal_rate/contrast": 0.5 - 0.3 * cr,
            }
        )
    return pd.DataFrame(rows)


def test_labels_come_from_varied_inputs_and_ignore_derived_config():
    runs = paper_sweep_runs()
    assert tables.is_input_key("config.mix.contrast_ratio") and tables.is_input_key("config.seed")
    assert not tables.is_input_key("config.mix_manifest.content_hash")
    assert not tables.is_input_key("config.data_report.duplicates") and not tables.is_input_key("eval/f1")
    assert tables.varied_config_keys(runs) == ["config.tokens.scheme", "config.mix.contrast_ratio"]
    labels = sorted(set(tables.with_configs(runs)["config_id"]))
    assert labels == ["category cr=0", "category cr=0.5", "single cr=0", "single cr=0.5"]
    assert all("mix_manifest" not in label and len(label) < 20 for label in labels)


def test_headline_contrast_figure_has_one_line_per_scheme_over_the_contrast_ratio():
    errors = tables.error_rates_by_config(paper_sweep_runs())
    fig = plots.error_rates_figure(errors)
    for ax in fig.axes:
        lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
        assert sorted(line.get_label() for line in lines) == ["category", "single"]
        assert all(len(line.get_xdata()) == 2 for line in lines)  # cr = 0 and 0.5 on one line
    assert [round(w, 2) for w in fig.get_size_inches()][0] == plots.WIDTH
    assert len(fig.legends) == 1 and not any(ax.get_legend() for ax in fig.axes)  # legend outside the panels


def test_threshold_axis_is_log_when_scores_live_near_zero_and_linear_otherwise():
    y = np.r_[np.ones(50, bool), np.zeros(50, bool)]
    small = np.r_[np.geomspace(1e-4, 0.02, 50), np.geomspace(1e-5, 0.004, 50)]
    curve = metrics.threshold_curve(small, y).assign(run_id="a")
    grid, scale = tables.threshold_axis(curve)
    assert scale == "log" and grid[0] == 0.0 and grid[1] == pytest.approx(1e-5) and grid[-1] == 1.0
    on_grid = tables.curves_on_grid(curve, grid)
    assert on_grid["recall"].nunique() > 20  # the curve is resolved, not one cell
    spread = metrics.threshold_curve(np.linspace(0, 1, 100), y).assign(run_id="a")
    assert tables.threshold_axis(spread)[1] == "linear"
    fig = plots.threshold_curves_figure(
        tables.mean_curves_by_config(on_grid, paper_sweep_runs().head(1).assign(run_id="a")), scale
    )
    assert fig.axes[0].get_xscale() == "log"


def test_best_thresholds_print_with_significant_digits():
    assert tables.format_threshold(0.00213) == "0.00213"
    assert tables.format_threshold(0.5) == "0.5"
    row = {"eval/best_threshold_mean": 0.0021, "eval/best_threshold_std": 0.00043}
    assert tables._pm(row, "eval/best_threshold", "sig") == "0.0021 ± 0.00043"


def test_wandb_charts_have_one_series_per_scheme():
    errors = tables.error_rates_by_config(paper_sweep_runs())
    charts = chart_frames({"error_rates_by_config": errors})
    frame, x, y, _ = charts["charts/false_refusal_vs_contrast"]
    assert (x, y) == ("contrast_ratio", "false_refusal_rate")
    assert sorted(frame["series"].unique()) == ["category", "single"] and len(frame) == 4


def test_category_independence_has_every_suppression_with_wilson_intervals():
    from refusal_lab.definitions import CATEGORIES, control_tokens

    tokens = control_tokens("category")
    rng = np.random.default_rng(0)
    n = 60
    probs = rng.dirichlet(np.ones(len(tokens)) * 0.5, n)
    cats = [CATEGORIES[i % len(CATEGORIES)] for i in range(n)]
    scores = pd.DataFrame(
        {
            "run_id": "c",
            "source": ["refusal"] * 50 + ["contrast"] * 10,
            "category": cats[:50] + [CATEGORIES[4]] * 10,
            **{f"p{t}": probs[:, j] for j, t in enumerate(tokens)},
        }
    )
    runs = pd.DataFrame(
        {
            "run_id": ["c"],
            "scheme": ["category"],
            "contrast_ratio": [0.5],
            "config.tokens.scheme": ["category"],
            "config.mix.contrast_ratio": [0.5],
        }
    )
    control = tables.category_control_matrix(scores, runs)
    ind = tables.category_independence(control, runs)
    assert set(ind["suppressed"]) == {"none", *plots.CATEGORY_KINDS}
    assert ind.groupby("suppressed").size().nunique() == 1  # every kind under every setting
    base = control.drop_duplicates("kind").set_index("kind")["base_rate"]
    none = ind[ind["suppressed"] == "none"].set_index("kind")
    assert (none["rate"] - base.reindex(none.index)).abs().max() < 1e-12
    assert ((ind["low"] <= ind["rate"] + 1e-12) & (ind["rate"] <= ind["high"] + 1e-12)).all()
    # suppressing a category never raises any kind's refusal rate
    merged = ind.merge(none[["rate"]].rename(columns={"rate": "base"}), left_on="kind", right_index=True)
    assert (merged["rate"] <= merged["base"] + 1e-12).all()
    fig = plots.category_independence_figure(ind)
    assert len(fig.axes[0].containers) >= 1 + len(plots.CATEGORY_KINDS)  # one bar group per setting
