"""Pure table functions on hand-made DataFrames."""

import math

import numpy as np
import pandas as pd
import pytest

from refusal_lab.evaluation import metrics
from refusal_lab.analysis import tables
from refusal_lab.definitions import control_tokens

pytestmark = pytest.mark.unit  # pure modules and config: `pytest -m unit`


def make_runs(rows):
    """runs table as a source builds it: plain columns + flattened config."""
    out = []
    for i, r in enumerate(rows):
        out.append(
            {
                "run_id": f"r{i}",
                "scheme": r["scheme"],
                "contrast_ratio": r["cr"],
                "seed": r["seed"],
                "config.tokens.scheme": r["scheme"],
                "config.mix.contrast_ratio": r["cr"],
                "config.seed": r["seed"],
                "config.mix.seed": r["seed"],
                "config.logger.group": "g",
                "config.logger.name": f"n{i}",
                "config.train.threads": 1 + i % 2,
                "config.mix.total": r.get("total", 500),
                **{k: v for k, v in r.items() if k.startswith("eval/")},
            }
        )
    return pd.DataFrame(out)


def test_configs_ignore_seeds_and_bookkeeping_but_keep_other_varied_keys():
    runs = make_runs(
        [
            {"scheme": "single", "cr": 0.0, "seed": 0, "total": 100},
            {"scheme": "single", "cr": 0.0, "seed": 1, "total": 200},
            {"scheme": "category", "cr": 0.5, "seed": 0, "total": 100},
        ]
    )
    assert tables.varied_config_keys(runs) == ["config.tokens.scheme", "config.mix.contrast_ratio", "config.mix.total"]
    assert tables.config_columns(runs) == ["scheme", "contrast_ratio", "mix.total"]
    assert list(tables.with_configs(runs)["config_id"]) == [
        "single cr=0 mix.total=100",
        "single cr=0 mix.total=200",
        "category cr=0.5 mix.total=100",
    ]


def test_error_rates_by_config_mean_and_spread_over_seeds():
    runs = make_runs(
        [
            {"scheme": "single", "cr": 0.0, "seed": 0, "eval/false_refusal_rate": 0.2, "eval/missed_refusal_rate": 0.1},
            {"scheme": "single", "cr": 0.0, "seed": 1, "eval/false_refusal_rate": 0.4, "eval/missed_refusal_rate": 0.3},
            {
                "scheme": "single",
                "cr": 1.0,
                "seed": 0,
                "eval/false_refusal_rate": 0.05,
                "eval/missed_refusal_rate": 0.2,
            },
            {
                "scheme": "category",
                "cr": 0.0,
                "seed": 0,
                "eval/false_refusal_rate": 0.3,
                "eval/missed_refusal_rate": 0.0,
            },
        ]
    )
    err = tables.error_rates_by_config(runs)
    assert list(zip(err["scheme"], err["contrast_ratio"])) == [("category", 0.0), ("single", 0.0), ("single", 1.0)]
    row = err[(err["scheme"] == "single") & (err["contrast_ratio"] == 0.0)].iloc[0]
    assert row["n_seeds"] == 2
    assert row["eval/false_refusal_rate_mean"] == pytest.approx(0.3)
    assert row["eval/false_refusal_rate_std"] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert (row["eval/missed_refusal_rate_min"], row["eval/missed_refusal_rate_max"]) == (0.1, 0.3)
    single_seed = err[err["contrast_ratio"] == 1.0].iloc[0]
    assert math.isnan(single_seed["eval/false_refusal_rate_std"])


def test_curves_on_grid_are_exact_step_evaluations_of_the_rule():
    scores = np.array([0.9, 0.6, 0.6, 0.2, 0.05, 0.6])
    y = np.array([1, 0, 1, 0, 1, 1], bool)
    curve = metrics.threshold_curve(scores, y).assign(run_id="a")
    grid = np.array([0.0, 0.05, 0.1, 0.6, 0.61, 0.9, 0.95, 1.0])
    got = tables.curves_on_grid(curve, grid)
    for g, row in zip(grid, got.itertuples()):
        want = metrics.binary_metrics(scores >= g, y)
        for k in ("tp", "fp", "fn", "tn", "precision", "recall", "f1", "false_refusal_rate", "missed_refusal_rate"):
            assert getattr(row, k) == pytest.approx(want[k]), (g, k)


def test_mean_curves_average_seeds_per_config_on_the_common_grid():
    y = np.array([1, 1, 0, 0], bool)
    c1 = metrics.threshold_curve([0.9, 0.8, 0.3, 0.1], y).assign(run_id="r0")
    c2 = metrics.threshold_curve([0.9, 0.2, 0.7, 0.1], y).assign(run_id="r1")
    runs = make_runs([{"scheme": "single", "cr": 0.5, "seed": 0}, {"scheme": "single", "cr": 0.5, "seed": 1}])
    grid = [0.5]
    mean = tables.mean_curves_by_config(tables.curves_on_grid(pd.concat([c1, c2]), grid), runs)
    assert len(mean) == 1 and mean["n_seeds"].iloc[0] == 2
    # at t=0.5: run 0 perfect (recall 1, precision 1); run 1 refuses {0.9 pos, 0.7 neg}: recall 0.5, precision 0.5
    assert mean["recall_mean"].iloc[0] == pytest.approx(0.75)
    assert mean["precision_mean"].iloc[0] == pytest.approx(0.75)
    assert mean["f1_std"].iloc[0] == pytest.approx(np.std([1.0, 0.5], ddof=1))


def test_best_threshold_from_curves_matches_metrics_best_threshold():
    rng = np.random.default_rng(0)
    s, y = rng.random(50), rng.random(50) < 0.4
    curve = metrics.threshold_curve(s, y)
    best = tables.best_thresholds_from_curves(curve.assign(run_id="x"))
    assert (best["best_f1"].iloc[0], best["best_threshold"].iloc[0]) == pytest.approx(metrics.best_threshold(curve))


def scores_frame(run_id, rows, tokens):
    out = []
    for i, (source, category, probs) in enumerate(rows):
        r = {
            "run_id": run_id,
            "id": f"{run_id}-{i}",
            "source": source,
            "category": category,
            "should_refuse": source == "refusal",
        }
        for t, p in zip(tokens, probs):
            r[f"p{t}"] = p
        r["p_refuse"] = max(probs[1:])
        out.append(r)
    return pd.DataFrame(out)


def test_refusal_rate_by_kind_vs_threshold_counts_prompts_at_or_above_t():
    tokens = control_tokens("single")
    s = scores_frame(
        "a",
        [
            ("refusal", "Requests with safety concerns", [0.1, 0.9]),
            ("refusal", "Requests with safety concerns", [0.6, 0.4]),
            ("contrast", "", [0.7, 0.3]),
            ("general", "", [0.99, 0.01]),
        ],
        tokens,
    )
    got = tables.refusal_rate_by_kind_vs_threshold(s, [0.0, 0.3, 0.4, 0.5, 1.0]).set_index(["kind", "threshold"])
    assert list(got.loc["safety"]["refusal_rate"]) == [1.0, 1.0, 1.0, 0.5, 0.0]
    assert list(got.loc["contrast"]["refusal_rate"]) == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert list(got.loc["general"]["refusal_rate"]) == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_category_control_matrix_suppressing_a_token_moves_only_its_prompts():
    tokens = control_tokens("category")  # [respond], incomplete, unsupported, indeterminate, humanizing, safety
    rows = [
        ("refusal", "Requests with safety concerns", [0.1, 0.0, 0.0, 0.0, 0.0, 0.9]),
        ("refusal", "Requests with safety concerns", [0.2, 0.0, 0.0, 0.0, 0.1, 0.7]),
        ("refusal", "Humanizing requests", [0.1, 0.0, 0.0, 0.0, 0.8, 0.1]),
        ("contrast", "", [0.4, 0.0, 0.0, 0.0, 0.0, 0.6]),  # over-refused via [safety]
        ("general", "", [0.9, 0.0, 0.05, 0.0, 0.0, 0.05]),
    ]
    s = scores_frame("c0", rows, tokens)
    runs = make_runs([{"scheme": "category", "cr": 0.5, "seed": 0}]).assign(run_id="c0")
    m = tables.category_control_matrix(s, runs).set_index(["suppressed", "kind"])
    assert m.loc[("safety", "safety"), "base_rate"] == 1.0 and m.loc[("safety", "safety"), "rate"] == 0.0
    assert m.loc[("safety", "contrast"), "change"] == -1.0  # suppressing [safety] fixes the over-refusal
    assert m.loc[("safety", "humanizing"), "change"] == 0.0
    assert m.loc[("humanizing", "humanizing"), "change"] == -1.0
    assert m.loc[("humanizing", "safety"), "change"] == 0.0
    assert (m.loc["incomplete", "change"] == 0.0).all()
    # a threshold instead of full suppression keeps the confident prompt only
    half = tables.category_control_matrix(s, runs, threshold=0.8).set_index(["suppressed", "kind"])
    assert half.loc[("safety", "safety"), "rate"] == 0.5
    # single-scheme runs have no category tokens: no rows
    single = runs.assign(scheme="single")
    assert tables.category_control_matrix(s, single).empty


def test_paper_table_and_headline_one_row_per_config():
    base = {
        "eval/f1": 0.8,
        "eval/best_f1": 0.9,
        "eval/best_threshold": 0.3,
        "eval/auroc": 0.95,
        "eval/false_refusal_rate": 0.1,
        "eval/missed_refusal_rate": 0.2,
        "eval/refusal_rate/contrast": 0.25,
    }
    runs = make_runs(
        [
            {"scheme": "single", "cr": 0.0, "seed": 0, **base},
            {"scheme": "single", "cr": 0.0, "seed": 1, **base, "eval/f1": 0.6},
            {"scheme": "category", "cr": 0.0, "seed": 0, **base},
        ]
    )
    paper = tables.paper_table(runs)
    assert len(paper) == 2 and list(paper["n_seeds"]) == [1, 2]
    assert paper.loc[paper["scheme"] == "single", "eval/f1_mean"].iloc[0] == pytest.approx(0.7)
    head = tables.headline_frame(paper)
    row = head[head["config"] == "single cr=0"].iloc[0]
    assert row["F1 (default)"] == f"0.700 ± {np.std([0.8, 0.6], ddof=1):.3f}"
    assert row["false refusal (II)"] == "10.0% ± 0.0"
    assert head[head["config"] == "category cr=0"].iloc[0]["F1 (default)"] == "0.800"  # one seed: no spread
    text = tables.format_text_table(head)
    assert text.splitlines()[0].startswith("config") and "single cr=0" in text


def test_unfinished_jobs_lists_every_planned_job_without_results():
    planned = pd.DataFrame(
        [
            {"index": 0, "has_results": True, "status": "completed"},
            {"index": 1, "has_results": False, "status": "failed"},
            {"index": 2, "has_results": False, "status": "missing"},
        ]
    )
    assert list(tables.unfinished_jobs(planned)["index"]) == [1, 2]
