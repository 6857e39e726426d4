"""The main job through its real entry point, as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "refusal_lab.cli"]


def run_cli(tmp_path, *overrides, timeout=900):
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "2"}
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR"):
        env[var] = str(tmp_path / var.lower())
    return subprocess.run(
        CLI + [f"hydra.run.dir={tmp_path / 'run'}", *overrides],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check_run(tmp_path, proc, min_auroc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    for key in (
        "eval/f1",
        "eval/auroc",
        "eval/best_f1",
        "eval/best_threshold",
        "eval/false_refusal_rate",
        "eval/missed_refusal_rate",
        "eval/refusal_rate/safety",
        "eval/refusal_rate/contrast",
    ):
        assert key in summary, key
    assert summary["eval/auroc"] > min_auroc, summary
    assert summary["train/final_loss"] < summary["train/first_loss"]
    for line in (
        "refusal F1 (default rule)",
        "best F1 over thresholds",
        "AUROC of p(refuse)",
        "false-refusal rate",
        "missed-refusal rate",
        "humanizing",
        str(run),
    ):
        assert line in proc.stdout, line
    curve = pd.read_csv(run / "threshold_curve.csv")
    scores = pd.read_csv(run / "scores.csv")
    assert len(curve) == scores["p_refuse"].nunique()
    assert curve["f1"].max() == pytest.approx(summary["eval/best_f1"])
    manifest = json.loads((run / "mix_manifest.json").read_text())
    assert manifest["content_hash"] == summary["mix/content_hash"]
    assert (run / "checkpoint" / "model.safetensors").exists() and (run / "checkpoint" / "tokenizer.json").exists()
    return run, summary


def test_default_main_job_learns_to_separate_refuse_from_respond(tmp_path):
    proc = run_cli(tmp_path)
    run, summary = check_run(tmp_path, proc, min_auroc=0.8)
    offline = list((run / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(offline) == 1, "one offline W&B run inside the run directory"
    from refusal_lab.analysis.wandb_offline import read_offline_run

    logged = read_offline_run(offline[0].parent)
    assert logged.state == "finished"
    assert logged.summary["eval/auroc"] == pytest.approx(summary["eval/auroc"])
    assert logged.config["mix"]["contrast_ratio"] == 0.5
    # the run config holds inputs only; the mix manifest (derived) is in the run's summary
    assert "mix_manifest" not in logged.config and "data_report" not in logged.config
    assert logged.summary["mix_manifest"]["content_hash"] == summary["mix/content_hash"]
    sweep = pd.read_csv(run / "rules.csv")  # every steering rule, evaluated from the cached scores
    at_t = sweep[(sweep["rule"] == "threshold") & (sweep["threshold"].round(6) == 0.5)]
    assert len(at_t) == 1 and at_t["f1"].iloc[0] == pytest.approx(summary["eval/f1_at_threshold"])
    assert "eval/threshold_curve" in logged.tables and len(logged.tables["eval/threshold_curve"]) > 1
    assert any("train/loss" in row for row in logged.history)


def test_invalid_config_fails_before_work_with_every_problem(tmp_path):
    proc = run_cli(tmp_path, "mix.contrast_ratio=-2", "eval.threshold=7", "tokens.init=zeros")
    assert proc.returncode == 2
    assert "3 problem(s) in the config" in proc.stderr
    for key in ("mix.contrast_ratio=-2", "eval.threshold=7", "tokens.init='zeros'"):
        assert key in proc.stderr
    assert not (tmp_path / "run").exists()  # checked before Hydra makes its output folder


@pytest.mark.slow
def test_category_scheme_on_coconot(tmp_path, shared_data):
    proc = run_cli(tmp_path, "data=coconot", "tokens=category", "mix.total=1200", "logger=disabled")
    _, summary = check_run(tmp_path, proc, min_auroc=0.7)
    assert summary["eval/n_prompts"] == 200 + 379 + 100


def test_baseline_without_tokens_is_judged_from_generated_text(tmp_path, compose):
    from refusal_lab.config import validate
    from refusal_lab.evaluation.pattern_judge import pattern_refused
    from refusal_lab.experiments.run import run

    cfg = validate(
        compose(
            [
                "tokens=none",
                "logger=disabled",
                "train.max_steps=40",
                "mix.total=120",
                "eval.max_prompts=40",
                "eval.samples_per_kind=0",
                "eval.max_new_tokens=12",
                "train.threads=2",
            ]
        )
    )
    summary = run(cfg, tmp_path / "run")
    scores = pd.read_csv(tmp_path / "run" / "scores.csv", keep_default_na=False)
    assert summary["eval/score_kind"] == "pattern_judge"
    assert list(scores["refused_default"]) == [pattern_refused(t) for t in scores["response"]]
    assert summary["eval/refusal_rate"] == pytest.approx(scores["refused_default"].mean())
    assert not (tmp_path / "run" / "rules.csv").exists()  # no control tokens, no steering rules
