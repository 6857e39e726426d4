"""Suite metrics: bootstrap intervals, per-set and per-category rates, the two averages, kappa."""

import numpy as np
import pandas as pd
import pytest

from refusal_lab.evaluation import agreement
from refusal_lab.evaluation import suite_metrics as sm

pytestmark = pytest.mark.unit


def test_bootstrap_interval_contains_the_estimate_and_shrinks_with_n():
    rng = np.random.default_rng(1)
    widths = []
    for n in (20, 200, 2000):
        x = rng.random(n) < 0.3
        lo, hi = sm.bootstrap_interval(x, seed=0)
        assert lo <= x.mean() <= hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2] > 0
    assert sm.bootstrap_interval(np.ones(10)) == (1.0, 1.0)
    assert sm.bootstrap_interval([], seed=0)[0] != sm.bootstrap_interval([], seed=0)[0]  # nan for no rows


def test_bootstrap_is_seeded_and_matches_resampling_rows():
    x = np.r_[np.ones(30), np.zeros(70)]
    assert sm.bootstrap_interval(x, seed=3) == sm.bootstrap_interval(x, seed=3)
    rng = np.random.default_rng(0)  # the plain row bootstrap gives the same interval within Monte Carlo error
    means = x[rng.integers(0, len(x), (4000, len(x)))].mean(axis=1)
    lo, hi = sm.bootstrap_interval(x, n_boot=4000, seed=0)
    assert abs(lo - np.quantile(means, 0.025)) <= 0.02 and abs(hi - np.quantile(means, 0.975)) <= 0.02


def _frame(refused, should_refuse, category, p=None):
    f = pd.DataFrame({"refused": refused, "should_refuse": should_refuse, "category": category})
    if p is not None:
        f["p_refuse"] = p
    return f


def test_set_summary_rates_per_label_and_category_and_auroc():
    f = _frame(
        [1, 1, 0, 0, 1, 0],
        [True, True, True, False, False, False],
        ["a", "b", "b", "a", "a", "b"],
        [0.9, 0.8, 0.4, 0.3, 0.85, 0.1],
    )
    s = sm.set_summary("x", f)
    assert s["eval/x/should_refuse/refusal_rate"] == pytest.approx(2 / 3) and s["eval/x/should_refuse/n"] == 3
    assert s["eval/x/should_answer/refusal_rate"] == pytest.approx(1 / 3)
    assert s["eval/x/category/b/should_refuse/refusal_rate"] == pytest.approx(0.5)
    assert s["eval/x/category/a/should_answer/n"] == 2
    assert s["eval/x/auroc"] == pytest.approx(7 / 9)  # 7 of 9 (refuse, answer) pairs ordered correctly
    single = sm.set_summary("y", _frame([1, 0], [True, True], ["", ""], [0.2, 0.3]))
    assert "eval/y/auroc" not in single and "eval/y/should_answer/refusal_rate" not in single


def test_pooled_and_mean_over_sets_differ_and_are_named():
    big = _frame([1] * 90 + [0] * 10, [True] * 100, [""] * 100)
    small = _frame([0] * 10, [True] * 10, [""] * 10)
    avg = sm.averages({"big": big, "small": small})
    assert avg["eval/pooled/should_refuse/refusal_rate"] == pytest.approx(90 / 110)
    assert avg["eval/mean_over_sets/should_refuse/refusal_rate"] == pytest.approx(0.45)
    assert "eval/mean_over_sets/should_answer/refusal_rate" not in avg


def test_cohen_kappa_against_a_hand_computation():
    a = ["R", "R", "A", "A", "R", "A", "A", "A", "R", "A"]
    b = ["R", "A", "A", "A", "R", "A", "R", "A", "R", "A"]
    # observed 0.8; p(R) a=0.4 b=0.4 -> chance 0.16+0.36=0.52; kappa=(0.8-0.52)/0.48
    assert agreement.cohen_kappa(a, b) == pytest.approx(0.28 / 0.48)
    assert agreement.cohen_kappa(a, a) == pytest.approx(1.0)


def test_consistency_by_category():
    f = pd.DataFrame(
        {
            "category": ["c", "c", "c", "d"],
            "refused": [False, False, True, True],
            "judge/pattern": ["REFUSED", "ANSWERED", "ANSWERED", "REFUSED"],
        }
    )
    t = sm.consistency_by_category(f, "judge/pattern").set_index("category")
    assert t.loc["c", "respond_then_refused_rate"] == 0.5 and t.loc["c", "refuse_then_answered_rate"] == 1.0
    assert t.loc["d", "refuse_then_answered_rate"] == 0.0
