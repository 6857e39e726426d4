"""Policy files: round trip, spellings, validation messages, apply() per rule."""

import numpy as np
import pytest

from refusal_lab.steering import decisions

from refusal_lab.steering import policy
from refusal_lab.definitions import control_tokens

pytestmark = pytest.mark.unit  # pure modules and config: `pytest -m unit`

CAT = control_tokens("category")
HUM, SAFE = "[Humanizing requests]", "[Requests with safety concerns]"


@pytest.mark.parametrize(
    "raw",
    [
        {"scheme": "single", "rule": "threshold", "threshold": 0.3, "temperature": 0.7},
        {
            "scheme": "category",
            "rule": "per_category",
            "thresholds": {"humanizing": 0.9, "Requests with safety concerns": 0.2},
            "threshold": 0.5,
        },
        {"scheme": "category", "rule": "category", "controlled": ["humanizing"], "threshold": 0.4},
        {"scheme": "category", "rule": "bias", "biases": {"safety": -2.0, "respond": 0.5}},
        {"scheme": "single", "rule": "model_choice"},
    ],
)
def test_yaml_round_trip(tmp_path, raw):
    pol = policy.from_dict(raw)
    path = policy.save(pol, tmp_path / "p.yaml", "a comment\nsecond line")
    assert path.read_text().startswith("# a comment\n# second line\n")
    assert policy.load(path) == pol
    assert not list(tmp_path.glob("*.tmp"))


def test_spellings_resolve_to_tokens():
    pol = policy.from_dict(
        {
            "scheme": "category",
            "rule": "per_category",
            "thresholds": {"humanizing": 0.9, "[Requests with safety concerns]": 0.1},
        }
    )
    assert pol.thresholds == {HUM: 0.9, SAFE: 0.1}
    assert policy.from_dict({"scheme": "single", "rule": "bias", "biases": {"refuse": -1}}).biases == {"[refuse]": -1.0}


def test_every_problem_named_with_key_value_and_fix(tmp_path):
    with pytest.raises(policy.PolicyError) as err:
        policy.from_dict(
            {
                "scheme": "category",
                "rule": "per_category",
                "thresholds": {"humanizng": 0.9, "safety": 1.5},
                "temperature": 0,
                "colour": "red",
            }
        )
    msg = str(err.value)
    assert "4 problem(s)" in msg
    assert "thresholds.humanizng=0.9: 'humanizng' is not a control token" in msg
    assert "thresholds.safety=1.5: must be between 0.0 and 1.0" in msg
    assert "temperature=0: must be between" in msg
    assert "colour='red': unknown key; allowed keys:" in msg
    with pytest.raises(policy.PolicyError, match="rule='category': needs scheme 'category'"):
        policy.from_dict({"scheme": "single", "rule": "category", "controlled": ["refuse"], "threshold": 0.5})
    with pytest.raises(policy.PolicyError, match="threshold=None: rule 'threshold' needs"):
        policy.from_dict({"rule": "threshold"})
    with pytest.raises(policy.PolicyError, match="no such file"):
        policy.load(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("rule: [unclosed\n")
    with pytest.raises(policy.PolicyError, match="not valid YAML"):
        policy.load(tmp_path / "bad.yaml")


def test_override_switches_rule_and_revalidates():
    base = policy.from_dict({"scheme": "category"})
    assert policy.override(base, {"threshold": 0.2}).rule == "threshold"
    assert policy.override(base, {"biases": {"humanizing": -3}}).rule == "bias"
    assert policy.override(base, {"thresholds": {"safety": 0.1}}).thresholds == {SAFE: 0.1}
    with pytest.raises(policy.PolicyError, match="threshold=2"):
        policy.override(base, {"threshold": 2})


def test_apply_dispatches_to_the_rules():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(len(CAT)), size=50)
    cases = [
        ({"scheme": "category"}, decisions.model_choice(p)),
        ({"scheme": "category", "rule": "threshold", "threshold": 0.3}, decisions.threshold_rule(p, CAT, 0.3)),
        (
            {"scheme": "category", "rule": "category", "controlled": ["humanizing"], "threshold": 0.3},
            decisions.category_rule(p, CAT, {HUM}, 0.3),
        ),
        (
            {"scheme": "category", "rule": "per_category", "thresholds": {"humanizing": 0.6}},
            decisions.per_category_rule(p, CAT, {HUM: 0.6}),
        ),
        (
            {"scheme": "category", "rule": "bias", "biases": {"safety": 1.0}, "temperature": 0.5},
            decisions.logit_bias_rule(np.log(p), CAT, {SAFE: 1.0}, 0.5),
        ),
    ]
    for raw, want in cases:
        assert list(policy.apply(policy.from_dict(raw), p, CAT)) == list(want), raw
    with pytest.raises(policy.PolicyError, match="differ from the checkpoint"):
        policy.apply(policy.from_dict({"scheme": "single"}), p, CAT)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_numbers_are_refused(bad):
    """YAML spells them .nan and .inf; NaN passes every range comparison, so it needs its own check."""
    with pytest.raises(policy.PolicyError) as err:
        policy.from_dict({"rule": "threshold", "threshold": bad, "biases": {"refuse": bad}})
    assert f"threshold={bad!r}: expected a finite number" in str(err.value)
    assert f"biases.refuse={bad!r}: expected a finite number" in str(err.value)
    assert len(err.value.problems) == 2  # no second "threshold=None: rule 'threshold' needs a threshold"
    assert policy.from_dict(__import__("yaml").safe_load("rule: threshold\nthreshold: 0.4")).threshold == 0.4
