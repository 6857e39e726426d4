"""`refusal-lab analyze` end to end on the real tiny sweep: files, printed table, push to W&B."""

import shutil

import pandas as pd

from refusal_lab.commands.analyze import main
from refusal_lab.analysis.sweep_dir_source import load_sweep_dir
from refusal_lab.analysis.wandb_offline import read_offline_runs

from .conftest import SWEEP_GROUP


def test_analyze_writes_tables_figures_and_report_and_prints_the_headline(tiny_sweep, tmp_path, capsys):
    out = tmp_path / "report"
    assert main([str(tiny_sweep), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "8 run(s) with results of 8 planned" in printed
    for config in ("single cr=0", "single cr=0.5", "category cr=0", "category cr=0.5"):
        assert f"\n{config} " in printed
    assert "false refusal (II)" in printed and "missed refusal (I)" in printed
    report = (out / "report.md").read_text()
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == [
        "category_control_matrix.png",
        "category_independence.png",
        "error_rates_vs_contrast.png",
        "headline_metrics.png",
        "kind_rates_vs_threshold.png",
        "threshold_curves.png",
    ]
    for name in figures:
        assert f"](figures/{name})" in report
        assert (out / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"# Sweep report: {SWEEP_GROUP}" in report and "all 8 planned jobs have results" in report
    paper = pd.read_csv(out / "tables" / "paper_table.csv")
    assert len(paper) == 4 and set(paper["n_seeds"]) == {2}
    per_run = pd.read_csv(out / "tables" / "threshold_curves_per_run.csv").groupby("run_id").size()
    assert len(per_run) == 8 and per_run.nunique() == 1 and per_run.iloc[0] >= 101  # one common grid (log near 0)


def test_analyze_lists_planned_jobs_without_results(tiny_sweep, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    shutil.copytree(tiny_sweep, sweep)
    shutil.rmtree(sweep / "7")
    assert main([str(sweep)]) == 0
    printed = capsys.readouterr().out
    assert "7 run(s) with results of 8 planned" in printed
    assert "1 planned job(s) without results:" in printed and "#7 missing" in printed
    report = (sweep / "analysis" / "report.md").read_text()
    assert "**1 of 8 planned jobs have no results**" in report
    assert "mix.contrast_ratio=0.5 tokens=category seed=1" in report


def test_push_logs_a_report_run_in_the_sweep_group_that_sweeps_then_skip(tiny_sweep, tmp_path, wandb_tmp_env, capsys):
    sweep = tmp_path / "sweep"
    shutil.copytree(tiny_sweep, sweep)
    assert main([str(sweep), "--push"]) == 0
    assert f"(group {SWEEP_GROUP})" in capsys.readouterr().out
    pushed = read_offline_runs(sweep / "analysis" / "wandb")
    assert len(pushed) == 1
    run = pushed[0]
    assert run.state == "finished" and run.job_type == "analysis" and run.group == SWEEP_GROUP
    assert len(run.tables["analysis/paper_table"]) == 4
    assert run.summary["analysis/n_runs"] == 8
    assert any(k.startswith("figures/") for k in run.summary)
    # the main curves as W&B line charts: one series per token scheme over the contrast ratio
    chart = run.tables["charts/false_refusal_vs_contrast_table"]
    assert sorted(chart["series"].unique()) == ["category", "single"] and len(chart) == 4
    assert "charts/f1_vs_threshold_table" in run.tables
    # the report run sits inside the sweep dir now; reading the sweep again ignores it
    assert len(load_sweep_dir(sweep).runs) == 8


def test_bad_target_exits_2_with_the_fix(tmp_path, capsys):
    assert main([str(tmp_path / "nope" / "x")]) == 2
    err = capsys.readouterr().err
    assert "not an existing directory and not a W&B 'entity/project'" in err
    assert main([str(tmp_path), "--config", "novalue"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_empty_folder_writes_a_report_and_exits_1(tmp_path, capsys):
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    assert "0 run(s) with results" in capsys.readouterr().out
    assert "_no run has results_" in (tmp_path / "out" / "report.md").read_text()
