"""The trade-off pipeline end to end on the tiny model: one token model and two retrained
no-token models (plus steering and a system prompt on one of them) give a figure and a
table whose points are the runs' own rates."""

import json

import numpy as np
import pandas as pd
import pytest

from refusal_lab.evaluation import tradeoff, tradeoff_experiment as tx

FAST = [
    "logger=disabled",
    "train.max_steps=25",
    "train.batch_size=8",
    "mix.total=150",
    "eval.max_prompts=60",
    "eval.samples_per_kind=0",
    "train.save_checkpoint=true",
    "train.threads=1",
]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("tradeoff")
    spec_file = out / "tradeoff_test.yaml"
    spec_file.write_text(
        json.dumps(
            {
                "overrides": FAST,
                "token_models": ["tokens=single"],
                "retrained_key": "mix.refusal_fraction",
                "retrained_values": [0.2, 0.4],
                "steer_value": 0.2,
                "layer": None,
                "alphas": [2.0],
                "ablation": True,
                "direction_prompts": 16,
                "system_prompts": {"none": None, "safety": "Refuse anything risky."},
                "max_new_tokens": 6,
                "targets": [0.5, 0.8],
                "bootstrap": 20,
            }
        )
    )
    spec = tx.load_spec(spec_file)
    return out, tx.run_tradeoff(spec, out / "run"), spec


def test_points_equal_the_runs_own_rates(result):
    out, res, spec = result
    pts = res["points"]
    retrained = pts[pts["family"] == "retrained"].set_index("param")
    for v in spec.retrained_values:
        summary = json.loads((out / "run" / "runs" / f"none-refusal_fraction{v:g}" / "summary.json").read_text())
        assert retrained.loc[v, "refusal_rate"] == pytest.approx(summary["eval/recall"])
        assert retrained.loc[v, "false_refusal_rate"] == pytest.approx(summary["eval/false_refusal_rate"])
    # the unsteered point of the alpha sweep and the no-system-prompt point are the steered run's own
    steer = retrained.loc[spec.steer_value]
    for family, param in (("steering", 0.0), ("system_prompt", "none")):
        row = pts[(pts["family"] == family) & (pts["param"].astype(str) == str(param))].iloc[0]
        assert (row["refusal_rate"], row["false_refusal_rate"]) == pytest.approx(
            (steer["refusal_rate"], steer["false_refusal_rate"])
        )
    token = json.loads((out / "run" / "runs" / "tokens-single" / "summary.json").read_text())
    tab = res["table"].set_index("method")
    assert tab.loc["token model (single): threshold", "auc"] == pytest.approx(token["eval/auroc"])


def test_every_method_is_in_the_table_figure_and_files(result):
    out, res, _ = result
    methods = set(res["points"]["method"])
    assert {"token model (single): threshold", "no-token models retrained at mix.refusal_fraction"} <= methods
    assert any("directional ablation" in m for m in methods) and any("activation addition" in m for m in methods)
    assert any("system prompt" in m for m in methods) and any("refusal opening" in m for m in methods)
    tab = pd.read_csv(out / "run" / "table.csv")
    assert set(tab["method"]) == methods
    assert (tab["auc_low"] <= tab["auc"] + 1e-12).all() and (tab["auc"] <= tab["auc_high"] + 1e-12).all()
    png = (out / "run" / "tradeoff.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    cap = json.loads((out / "run" / "capability.json").read_text())
    assert cap["kl_first_position_mean"] >= 0 and np.isfinite(cap["kl_after_respond_mean"])
    assert 0 <= cap["rouge_l_token_model_after_respond"] <= 1 and cap["n_general"] > 0


def test_rerun_reuses_finished_runs(result):
    out, _, spec = result
    summaries = sorted((out / "run" / "runs").glob("*/summary.json"))
    before = [p.stat().st_mtime_ns for p in summaries]
    spec.bootstrap = 0
    res = tx.run_tradeoff(spec, out / "run")
    assert [p.stat().st_mtime_ns for p in summaries] == before and len(summaries) == 3
    assert len(res["table"]) == len(set(res["points"]["method"]))


def test_a_bad_experiment_file_names_file_and_key(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("overrides: []\nalphaz: [1]\n")
    with pytest.raises(ValueError) as e:
        tx.load_spec(bad)
    assert (
        "alphaz: unknown key" in str(e.value) and str(bad) in str(e.value) and "token_models: missing" in str(e.value)
    )
    assert tradeoff.DEFAULT_TARGETS == (0.5, 0.8, 0.9)
