"""Calibration hits requested rates on the calibration split, reports held-out rates with
Wilson intervals, and writes a policy that reproduces them."""

import math

import numpy as np
import pandas as pd
import pytest

from refusal_lab.commands import calibrate as calibrate_command
from refusal_lab.steering import calibration

from refusal_lab.steering import decisions

from refusal_lab.steering import policy
from refusal_lab.definitions import CATEGORIES, category_token, control_tokens

pytestmark = pytest.mark.unit  # pure modules and config: `pytest -m unit`

CAT = control_tokens("category")


def synthetic_scores(n_per_kind=200, seed=0) -> pd.DataFrame:
    """Should-refuse prompts whose top token is mostly their own category; contrast and general below."""
    rng = np.random.default_rng(seed)
    rows = []
    for kind, source, category in [(c, "refusal", c) for c in CATEGORIES] + [
        ("contrast", "contrast", CATEGORIES[4]),
        ("general", "general", ""),
    ]:
        for i in range(n_per_kind):
            alpha = np.full(len(CAT), 0.3)
            if source == "refusal":
                alpha[CAT.index(category_token(category))] = 3.0
                alpha[0] = 1.0
            else:
                alpha[0] = 3.0 if source == "general" else 1.5
            p = rng.dirichlet(alpha)
            rows.append(
                {
                    "id": f"{kind}-{i}",
                    "source": source,
                    "category": category,
                    "should_refuse": source == "refusal",
                    **{f"p{t}": p[j] for j, t in enumerate(CAT)},
                }
            )
    return pd.DataFrame(rows)


def test_wilson_known_values():
    lo, hi = calibration.wilson(5, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.2366, 0.7634)
    lo, hi = calibration.wilson(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    assert all(math.isnan(x) for x in calibration.wilson(0, 0))


def test_per_category_targets_met_on_calibration_and_reported_held_out():
    df = synthetic_scores()
    calib, held = calibration.split(df, 0.5, seed=0)
    targets = [
        calibration.Target("humanizing", 0.05),
        calibration.Target("safety", 0.8),
        calibration.Target("should_answer", 0.1),
    ]
    pol, rows = calibration.calibrate(calib, held, targets)
    assert pol.rule == "per_category" and set(pol.thresholds) == {
        category_token(CATEGORIES[3]),
        category_token(CATEGORIES[4]),
    }
    by = {(r["part"], r["group"]): r for r in rows}
    for t in targets:
        r = by[("calibration", t.group)]
        assert abs(r["rate"] - t.rate) <= 1 / (2 * r["n"]) + 1e-12, r  # the nearest achievable step
        assert r["met"]
        h = by[("held_out", t.group)]
        assert h["n"] == (200 if t.group == "should_answer" else 100) and h["ci_low"] <= h["rate"] <= h["ci_high"]
    # the written policy reproduces the calibration decisions
    p = calib[[f"p{t}" for t in CAT]].to_numpy()
    refused = decisions.is_refusal(policy.apply(pol, p, CAT), CAT)
    hum = (calib.category == CATEGORIES[3]) & (calib.source == "refusal")
    assert refused[hum.to_numpy()].mean() == by[("calibration", "humanizing")]["rate"]


def test_max_contrast_refusal_picks_the_most_refusing_threshold_under_the_cap():
    df = synthetic_scores(seed=1)
    calib, held = calibration.split(df, 0.5, seed=1)
    pol, rows = calibration.calibrate(calib, held, [calibration.Target("contrast", 0.1, is_max=True)])
    assert pol.rule == "threshold"
    r = next(r for r in rows if r["part"] == "calibration")
    assert r["rate"] <= 0.1
    p = calib[[f"p{t}" for t in CAT]].to_numpy()
    contrast = (calib.source == "contrast").to_numpy()
    p_top = p[contrast, 1:].max(axis=1)
    lower = np.sort(p_top[p_top < pol.threshold])
    if len(lower):  # the next lower threshold breaks the cap
        assert (p_top >= lower[-1]).mean() > 0.1


def test_cli_writes_a_loadable_policy_and_rejects_bad_targets(tmp_path, capsys):
    df = synthetic_scores(n_per_kind=60)
    df.to_csv(tmp_path / "scores.csv", index=False)
    out = tmp_path / "pol.yaml"
    assert (
        calibrate_command.main(
            [f"scores={tmp_path / 'scores.csv'}", "target.Humanizing=0.05", "target.all=0.4", f"out={out}"]
        )
        == 0
    )
    pol = policy.load(out)
    assert pol.rule == "per_category" and pol.threshold is not None
    assert "held_out" in capsys.readouterr().out and out.with_suffix(".json").exists()
    assert (
        calibrate_command.main(
            [f"scores={tmp_path / 'scores.csv'}", "target.bogus=0.1", "target.safety=7", "frobnicate=1"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert (
        "frobnicate=1: unknown key" in err
        and "unknown group 'bogus'" in err
        and "target.safety='7': must be between 0 and 1" in err
    )
    assert calibrate_command.main([f"scores={tmp_path / 'scores.csv'}", "target.all=0.3", "target.contrast=0.1"]) == 2
    assert "at most one shared target" in capsys.readouterr().err


def test_single_scheme_rejects_category_targets():
    rng = np.random.default_rng(0)
    p = rng.dirichlet([1, 1], size=40)
    df = pd.DataFrame(
        {
            "id": range(40),
            "source": ["refusal"] * 20 + ["general"] * 20,
            "category": [CATEGORIES[3]] * 20 + [""] * 20,
            "should_refuse": [True] * 20 + [False] * 20,
            "p[respond]": p[:, 0],
            "p[refuse]": p[:, 1],
        }
    )
    with pytest.raises(
        calibration.InputError, match="per-category targets need a checkpoint trained with tokens=category"
    ):
        calibration.calibrate(df, df, [calibration.Target("humanizing", 0.1)])
    pol, rows = calibration.calibrate(df, df, [calibration.Target("should_refuse", 0.5)])
    assert pol.scheme == "single" and pol.rule == "threshold" and rows[0]["rate"] == 0.5
