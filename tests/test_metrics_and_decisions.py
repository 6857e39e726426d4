import numpy as np
import pytest
from sklearn import metrics as skm

from refusal_lab.steering import decisions

from refusal_lab.evaluation import metrics
from refusal_lab.definitions import control_tokens

pytestmark = pytest.mark.unit  # pure modules and config: `pytest -m unit`


@pytest.mark.parametrize("seed", range(5))
def test_curve_matches_sklearn_at_every_threshold(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(300) < 0.4
    s = np.round(rng.random(300) * (1 + y), 2)  # ties on purpose
    curve = metrics.threshold_curve(s, y)
    assert list(curve["threshold"]) == sorted(set(s), reverse=True)
    for row in curve.itertuples():
        pred = s >= row.threshold
        assert row.precision == pytest.approx(skm.precision_score(y, pred, zero_division=0))
        assert row.recall == pytest.approx(skm.recall_score(y, pred))
        assert row.f1 == pytest.approx(skm.f1_score(y, pred, zero_division=0))
        tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[False, True]).ravel()
        assert (row.tp, row.fp, row.fn, row.tn) == (tp, fp, fn, tn)
        assert row.false_refusal_rate == pytest.approx(fp / (fp + tn))
        assert row.missed_refusal_rate == pytest.approx(fn / (fn + tp))
    assert metrics.auroc(s, y) == pytest.approx(skm.roc_auc_score(y, s))
    best_f1, best_t = metrics.best_threshold(curve)
    assert best_f1 == pytest.approx(max(skm.f1_score(y, s >= t, zero_division=0) for t in set(s)))


def test_binary_metrics_and_edge_cases():
    m = metrics.binary_metrics([True, False, True, False], [True, True, False, False])
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (1, 1, 1, 1)
    assert m["f1"] == 0.5 and m["false_refusal_rate"] == 0.5 and m["missed_refusal_rate"] == 0.5
    none = metrics.binary_metrics([False, False], [True, False])
    assert none["precision"] == 0 and none["f1"] == 0 and none["missed_refusal_rate"] == 1
    assert np.isnan(metrics.auroc([0.1, 0.2], [True, True]))


def test_refusal_rates_by_group():
    assert metrics.refusal_rates_by_group([1, 0, 1, 1], ["a", "a", "b", "b"]) == {"a": 0.5, "b": 1.0}


def test_single_token_rules():
    tokens = control_tokens("single")
    p = np.array([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5], [0.9, 0.05]])
    assert list(decisions.is_refusal(decisions.model_choice(p), tokens)) == [False, True, True, False]
    assert list(decisions.is_refusal(decisions.threshold_rule(p, tokens, 0.45), tokens)) == [False, True, True, False]
    assert list(decisions.is_refusal(decisions.threshold_rule(p, tokens, 0.05), tokens)) == [True, True, True, True]
    assert list(decisions.refusal_score(p, tokens)) == [0.4, 0.7, 0.5, 0.05]


def test_paper_category_rule():
    tokens = control_tokens("category")  # [respond], incomplete, unsupported, indeterminate, humanizing, safety
    p = np.array(
        [
            [0.10, 0.0, 0.0, 0.0, 0.60, 0.30],  # top humanizing 0.6
            [0.50, 0.0, 0.0, 0.0, 0.20, 0.30],  # top safety 0.3, model's own choice respond
            [0.20, 0.0, 0.0, 0.0, 0.05, 0.75],  # top safety 0.75
        ]
    )
    hum, safety = "[Humanizing requests]", "[Requests with safety concerns]"
    chosen = decisions.category_rule(p, tokens, {hum}, 0.7)
    # row0: in S, below t -> respond; row1: top safety not in S -> model's own ([respond]); row2: not in S -> own (safety)
    assert [tokens[c] for c in chosen] == ["[respond]", "[respond]", safety]
    chosen = decisions.category_rule(p, tokens, {hum, safety}, 0.25)
    assert [tokens[c] for c in chosen] == [hum, safety, safety]
