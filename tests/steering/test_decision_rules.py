"""Every decision rule on hand-made probability tables with known answers, and the grids
against rule-by-rule loops."""

import numpy as np
import pytest

from refusal_lab.steering import decisions
from refusal_lab.definitions import control_tokens

pytestmark = pytest.mark.unit  # pure modules and config: `pytest -m unit`

CAT = control_tokens("category")  # [respond], incomplete, unsupported, indeterminate, humanizing, safety
HUM, SAFE, INC = "[Humanizing requests]", "[Requests with safety concerns]", "[Incomplete requests]"
P = np.array(
    [
        [0.10, 0.00, 0.00, 0.00, 0.60, 0.30],  # top humanizing 0.60, own choice humanizing
        [0.50, 0.00, 0.00, 0.00, 0.20, 0.30],  # top safety 0.30, own choice respond
        [0.20, 0.00, 0.00, 0.00, 0.05, 0.75],  # top safety 0.75
        [0.30, 0.40, 0.00, 0.00, 0.10, 0.20],  # top incomplete 0.40
    ]
)


def names(chosen):
    return [CAT[c] for c in chosen]


def test_per_category_thresholds_unset_means_model_choice():
    # humanizing stricter (0.7), safety looser (0.25); incomplete unset -> model's own choice
    got = decisions.per_category_rule(P, CAT, {HUM: 0.7, SAFE: 0.25})
    assert names(got) == ["[respond]", SAFE, SAFE, INC]
    # a default threshold for the unset tokens
    got = decisions.per_category_rule(P, CAT, {HUM: 0.7}, default=0.5)
    assert names(got) == ["[respond]", "[respond]", SAFE, "[respond]"]


def test_per_category_generalises_the_paper_rules():
    for t in (0.0, 0.25, 0.35, 0.5, 0.65, 1.0):
        for s in ({HUM}, {HUM, SAFE}, set(CAT[1:])):
            assert list(decisions.per_category_rule(P, CAT, {c: t for c in s})) == list(
                decisions.category_rule(P, CAT, s, t)
            )
        assert list(decisions.per_category_rule(P, CAT, {}, default=t)) == list(decisions.threshold_rule(P, CAT, t))
    assert list(decisions.per_category_rule(P, CAT, {})) == list(decisions.model_choice(P))
    with pytest.raises(ValueError, match="not control tokens"):
        decisions.per_category_rule(P, CAT, {"[nope]": 0.5})


def test_logit_bias_rule_known_answers():
    logp = decisions.log_probs(P)
    assert names(decisions.logit_bias_rule(logp, CAT, {})) == [HUM, "[respond]", SAFE, INC]
    # log(0.5) - log(0.3) = 0.51: a -0.6 bias on [respond] flips row 1 to safety, nothing else
    assert names(decisions.logit_bias_rule(logp, CAT, {"[respond]": -0.6})) == [HUM, SAFE, SAFE, INC]
    # suppressing humanizing by -1: row 0 goes to safety (log .6 - 1 < log .3)
    assert names(decisions.logit_bias_rule(logp, CAT, {HUM: -1.0})) == [SAFE, "[respond]", SAFE, INC]
    # temperature 2 halves log-prob gaps, so the same bias of -0.3 on [respond] (gap 0.51/2 = 0.26) flips row 1
    assert names(decisions.logit_bias_rule(logp, CAT, {"[respond]": -0.3}, temperature=2.0))[1] == SAFE
    assert names(decisions.logit_bias_rule(logp, CAT, {"[respond]": -0.3}, temperature=1.0))[1] == "[respond]"
    # a zero probability never wins, whatever the finite bias
    assert names(decisions.logit_bias_rule(logp, CAT, {"[Unsupported requests]": 50.0})) == [
        HUM,
        "[respond]",
        SAFE,
        INC,
    ]
    # raw logits give the same answer as log-probabilities (a per-row shift)
    assert list(decisions.logit_bias_rule(logp + np.array([[3.0], [-2.0], [7.0], [0.0]]), CAT, {HUM: -1.0})) == list(
        decisions.logit_bias_rule(logp, CAT, {HUM: -1.0})
    )


def test_single_scheme_bias_and_thresholds():
    tokens = control_tokens("single")
    p = np.array([[0.6, 0.4], [0.3, 0.7], [0.9, 0.1]])
    assert list(decisions.logit_bias_rule(decisions.log_probs(p), tokens, {"[refuse]": np.log(1.5) + 1e-9})) == [
        1,
        1,
        0,
    ]
    assert list(decisions.per_category_rule(p, tokens, {"[refuse]": 0.35})) == [1, 1, 0]


@pytest.mark.parametrize("seed", range(3))
def test_grids_equal_rule_by_rule(seed):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(len(CAT)) * 0.5, size=200)
    thresholds = np.linspace(0, 1, 101)
    tg = decisions.threshold_grid(p, CAT, thresholds)
    for i, t in enumerate(thresholds):
        assert np.array_equal(tg[i], decisions.threshold_rule(p, CAT, t))
    sets = [frozenset([HUM]), frozenset([HUM, SAFE]), frozenset(CAT[1:])]
    cg = decisions.category_grid(p, CAT, sets, thresholds[::10])
    for a, s in enumerate(sets):
        for b, t in enumerate(thresholds[::10]):
            assert np.array_equal(cg[a, b], decisions.category_rule(p, CAT, set(s), t))
    values = np.linspace(-4, 4, 9)
    bg = decisions.bias_grid(decisions.log_probs(p), CAT, values, temperature=0.7)
    for j, tok in enumerate(CAT):
        for b, v in enumerate(values):
            assert np.array_equal(bg[j, b], decisions.logit_bias_rule(decisions.log_probs(p), CAT, {tok: v}, 0.7))


def test_sweep_table_matches_metrics_and_groups():
    from refusal_lab.evaluation import metrics

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(len(CAT)), size=120)
    y = rng.random(120) < 0.5
    groups = np.where(y, rng.choice(["humanizing", "safety"], 120), rng.choice(["contrast", "general"], 120))
    table = decisions.rule_grid(p, CAT, y, groups)
    assert set(table.rule) == {"model_choice", "threshold", "category", "bias"}
    assert (table.rule == "threshold").sum() == 101 and (table.rule == "bias").sum() == 17 * len(CAT)
    assert (table.rule == "category").sum() == 101 * 6  # five singletons + all categories
    row = table[(table.rule == "threshold") & np.isclose(table.threshold, 0.3)].iloc[0]
    refused = decisions.is_refusal(decisions.threshold_rule(p, CAT, 0.3), CAT)
    m = metrics.binary_metrics(refused, y)
    assert row.f1 == pytest.approx(m["f1"]) and row.false_refusal_rate == pytest.approx(m["false_refusal_rate"])
    assert row["refusal_rate/humanizing"] == pytest.approx(refused[groups == "humanizing"].mean())
    own = table[table.rule == "model_choice"].iloc[0]
    assert own.refusal_rate == pytest.approx(decisions.is_refusal(decisions.model_choice(p), CAT).mean())
