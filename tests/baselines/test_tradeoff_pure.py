"""Trade-off curve, area, matched rates and intervals; KL and reference overlap (pure)."""

import numpy as np
import pytest

from refusal_lab.evaluation import capability, metrics, tradeoff

pytestmark = pytest.mark.unit


def test_threshold_method_area_equals_the_roc_auc_of_the_score():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.4
    score = np.where(y, rng.beta(3, 2, 300), rng.beta(2, 3, 300))
    m = tradeoff.threshold_method("t", score)
    rr, frr = tradeoff.rates(m.refused, y)
    assert tradeoff.area(rr, frr) == pytest.approx(metrics.auroc(score, y), abs=1e-12)


def test_points_joined_through_the_corners_and_the_pareto_frontier():
    # one retrained point at (FRR 0.2, refusal 0.6) and a dominated one at (0.5, 0.5)
    rr, frr = np.array([0.6, 0.5]), np.array([0.2, 0.5])
    x, y = tradeoff.frontier(rr, frr)
    assert list(x) == [0.0, 0.2, 0.5, 1.0] and list(y) == [0.0, 0.6, 0.6, 1.0]  # (0.5, 0.5) lifted to 0.6
    # area by hand: 0.2*0.6/2 + 0.3*0.6 + 0.5*(0.6+1)/2
    assert tradeoff.area(rr, frr) == pytest.approx(0.06 + 0.18 + 0.4)
    # FRR at 30% refusal: halfway to the first point; at 80%: halfway from (0.5, 0.6) to (1, 1)
    assert tradeoff.false_refusal_at(rr, frr, 0.3) == pytest.approx(0.1)
    assert tradeoff.false_refusal_at(rr, frr, 0.8) == pytest.approx(0.5 + 0.5 * 0.5)


def test_points_are_the_decisions_own_rates_and_counts():
    y = np.array([1, 1, 1, 0, 0], bool)
    refused = np.array([[1, 1, 0, 1, 0], [1, 0, 0, 0, 0]], bool)
    pts = tradeoff.points([tradeoff.Method("m", "retrained", [0.1, 0.3], refused)], y)
    assert list(pts["refusal_rate"]) == pytest.approx([2 / 3, 1 / 3])
    assert list(pts["false_refusal_rate"]) == pytest.approx([0.5, 0.0])
    assert list(pts["refused_should_answer"]) == [1, 0] and list(pts["n_should_refuse"]) == [3, 3]


def test_bootstrap_interval_contains_the_estimate_and_is_exact_for_a_perfect_rule():
    y = np.r_[np.ones(40, bool), np.zeros(60, bool)]
    perfect = y[None, :]
    est, low, high = tradeoff.bootstrap(perfect, y, (0.5, 0.9), n_boot=50)
    assert list(est) == [1.0, 0.0, 0.0] and list(low) == list(est) and list(high) == list(est)
    noisy = np.random.default_rng(1).random((3, 100)) < 0.5
    est, low, high = tradeoff.bootstrap(noisy, y, (0.5,), n_boot=200)
    assert np.all(low <= est + 1e-12) and np.all(est <= high + 1e-12) and high[0] > low[0]
    tab = tradeoff.table([tradeoff.Method("n", "steering", [1, 2, 3], noisy)], y, (0.5,), n_boot=50)
    assert {"auc", "auc_low", "auc_high", "frr_at_50", "frr_at_50_low", "frr_at_50_high"} <= set(tab.columns)


def test_controlled_set_of_all_categories_is_the_threshold_rule():
    from refusal_lab.definitions import control_tokens, refusal_tokens
    from refusal_lab.steering import decisions

    tokens = control_tokens("category")
    probs = np.random.default_rng(2).dirichlet(np.ones(len(tokens)), 50)
    m = tradeoff.controlled_set_method(
        "c", probs, tokens, set(refusal_tokens("category")), thresholds=[0.0, 0.3, np.inf]
    )
    assert m.refused[0].all() and not m.refused[2].any()
    assert (m.refused[1] == decisions.is_refusal(decisions.threshold_rule(probs, tokens, 0.3), tokens)).all()


def test_kl_is_zero_for_identical_models_and_matches_a_hand_computation():
    logits = np.log(np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]))
    assert capability.kl_divergence(logits, logits) == pytest.approx([0.0, 0.0])
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.5, 0.3])
    hand = sum(pi * np.log(pi / qi) for pi, qi in zip(p, q))
    assert capability.kl_divergence(np.log(p)[None], np.log(q)[None])[0] == pytest.approx(hand)


def test_shared_vocab_kl_matches_by_string_and_renormalises_without_control_tokens():
    vocab_p = {"a": 0, "b": 1, "c": 2}
    vocab_q = {"c": 0, "a": 1, "b": 2, "[respond]": 3, "zzz": 4}  # other order, extra rows
    p = np.array([[0.5, 0.3, 0.2]])
    q_mass = {"c": 0.04, "a": 0.1, "b": 0.06, "[respond]": 0.7, "zzz": 0.1}
    q = np.array([[q_mass[t] for t in ("c", "a", "b", "[respond]", "zzz")]])
    got = capability.shared_vocab_kl(np.log(p), vocab_p, np.log(q), vocab_q, exclude={"[respond]"})
    q_ren = np.array([0.1, 0.06, 0.04]) / 0.2  # a, b, c renormalised
    hand = sum(pi * np.log(pi / qi) for pi, qi in zip([0.5, 0.3, 0.2], q_ren))
    assert got[0] == pytest.approx(hand)
    same = capability.shared_vocab_kl(np.log(q), vocab_q, np.log(q), vocab_q, exclude={"[respond]"})
    assert same[0] == pytest.approx(0.0, abs=1e-12)


def test_reference_overlap_by_hand():
    assert capability.token_f1("the cat sat", "the cat sat") == 1.0
    assert capability.token_f1("a b", "c d") == 0.0
    # candidate 4 words, reference 3, 2 in common: P = 1/2, R = 2/3
    assert capability.token_f1("The cat is here", "a cat here") == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    # LCS("a b c d", "a c d e") = a c d = 3: P = R = 3/4
    assert capability.rouge_l("a b c d", "a c d e") == pytest.approx(0.75)
    assert capability.rouge_l("d c b a", "a b c d") == pytest.approx(0.25)
    assert capability.rouge_l("", "") == 1.0 and capability.rouge_l("x", "") == 0.0
