"""`refusal-lab eval` on a trained checkpoint: table, scores, sweep and metrics files."""

import json

import numpy as np
import pandas as pd
import pytest

from refusal_lab.steering import decisions

from refusal_lab.commands import eval as eval_command

from refusal_lab.steering import policy


def test_eval_builtin_under_a_policy(trained_run, tmp_path, capsys):
    pol = policy.save(
        policy.from_dict(
            {"scheme": "category", "rule": "per_category", "thresholds": {"safety": 0.05}, "threshold": 0.2}
        ),
        tmp_path / "pol.yaml",
    )
    out = tmp_path / "eval"
    assert (
        eval_command.main(
            [f"checkpoint={trained_run / 'checkpoint'}", f"policy={pol}", f"out={out}", "max_new_tokens=3"]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert (
        "refusal rate per kind:" in printed
        and "threshold rule p(refuse) >= t" in printed
        and "token/text agreement" in printed
    )
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    metrics = json.loads((out / "metrics.json").read_text())
    sweep = pd.read_csv(out / "rules.csv")
    # the run's own scores (same eval split, same model) agree with the re-scored probabilities
    run_scores = pd.read_csv(trained_run / "scores.csv", keep_default_na=False)
    assert list(scores.id) == list(run_scores.id)
    np.testing.assert_allclose(scores["p[respond]"], run_scores["p[respond]"], rtol=1e-4, atol=1e-6)
    tokens = policy.load(pol).tokens
    p = scores[[f"p{t}" for t in tokens]].to_numpy()
    refused = decisions.is_refusal(
        decisions.per_category_rule(p, tokens, {"[Requests with safety concerns]": 0.05}, 0.2), tokens
    )
    assert list(scores.refused_policy) == list(refused)
    contrast = (scores.source == "contrast").to_numpy()
    assert metrics["policy/refusal_rate/contrast"] == pytest.approx(refused[contrast].mean())
    assert metrics["default/refusal_rate/contrast"] == pytest.approx(scores.refused_default[contrast].mean())
    assert any(k.startswith("policy/refusal_rate_sub/") for k in metrics)
    assert "agreement/agreement" in metrics and metrics["judge/n"] == len(scores)
    t30 = sweep[(sweep.rule == "threshold") & np.isclose(sweep.threshold, 0.3)].iloc[0]
    assert t30["refusal_rate/contrast"] == pytest.approx((scores.p_refuse[contrast] >= 0.3).mean())


def test_eval_arguments_are_checked(tmp_path, capsys):
    assert eval_command.main(["checkpoint=" + str(tmp_path), "colour=blue", "max_prompts=many"]) == 2
    err = capsys.readouterr().err
    assert "colour='blue': unknown key" in err and "max_prompts='many': expected an integer" in err
    assert eval_command.main([f"checkpoint={tmp_path}"]) == 2
    assert "no model there" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_coconot_per_category_and_contrast(trained_run, shared_data, tmp_path, capsys):
    out = tmp_path / "coconot"
    assert (
        eval_command.main(
            [f"checkpoint={trained_run / 'checkpoint'}", "data=coconot", "split=all", "max_prompts=150", f"out={out}"]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    for kind in ("contrast", "humanizing", "incomplete", "indeterminate", "safety", "unsupported"):
        assert 0.0 <= metrics[f"default/refusal_rate/{kind}"] <= 1.0
    subs = [k for k in metrics if k.startswith("default/refusal_rate_sub/refusal:")]
    assert subs and all(k == k.lower() for k in subs)  # normalised subcategory names
    assert (pd.read_csv(out / "rules.csv").rule == "threshold").sum() == 101
