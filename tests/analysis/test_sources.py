"""Both sources on a real tiny sweep (real pipeline runs, real offline W&B), read back and
checked against the files the runs wrote themselves."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from refusal_lab.analysis import tables
from refusal_lab.analysis.report import analyze
from refusal_lab.analysis.sources import load_runs
from refusal_lab.analysis.sweep_dir_source import load_sweep_dir
from refusal_lab.analysis.wandb_api_source import build_filters, load_wandb_project
from refusal_lab.analysis.wandb_offline import read_offline_run

from .conftest import SWEEP_GROUP, RecordedApi

EVAL_KEYS = (
    "eval/f1",
    "eval/auroc",
    "eval/best_f1",
    "eval/best_threshold",
    "eval/false_refusal_rate",
    "eval/missed_refusal_rate",
    "eval/refusal_rate/contrast",
    "eval/refusal_rate/safety",
)


def run_dirs(sweep: Path) -> list[Path]:
    return sorted((p.parent for p in sweep.glob("*/summary.json")), key=lambda p: int(p.name))


def test_offline_source_reads_every_run_of_a_hydra_multirun(tiny_sweep):
    data = load_sweep_dir(tiny_sweep)
    assert data.sweep_id == SWEEP_GROUP
    assert len(data.runs) == 8 and data.runs["state"].eq("finished").all()
    assert len(data.planned) == 8 and data.planned["has_results"].all()
    assert list(data.planned["status"]) == ["completed"] * 8
    # Hydra's expansion order: contrast ratio slowest, seed fastest
    assert data.planned["overrides"].iloc[3][:3] == ["mix.contrast_ratio=0", "tokens=category", "seed=1"]
    assert sorted(zip(data.runs["scheme"], data.runs["contrast_ratio"], data.runs["seed"])) == sorted(
        (s, c, d) for s in ("single", "category") for c in (0.0, 0.5) for d in (0, 1)
    )
    for d in run_dirs(tiny_sweep):
        written = json.loads((d / "summary.json").read_text())
        run_id = (d / "wandb_run_id").read_text().strip()
        row = data.runs.set_index("run_id").loc[run_id]
        for key in EVAL_KEYS:
            assert row[key] == pytest.approx(written[key]), (d, key)
        assert row["group"] == SWEEP_GROUP  # set by the sweep-group callback, not by logger.group
        assert pd.isna(row["config.logger.group"])
        curve = data.curves[data.curves["run_id"] == run_id].reset_index(drop=True)
        on_disk = pd.read_csv(d / "threshold_curve.csv")
        pd.testing.assert_frame_equal(curve.drop(columns="run_id"), on_disk.astype(float), check_dtype=False)
        assert (data.scores["run_id"] == run_id).sum() == len(pd.read_csv(d / "scores.csv"))


def test_tables_on_real_runs_agree_with_what_the_runs_wrote(tiny_sweep):
    data = load_sweep_dir(tiny_sweep)
    result = analyze(data)
    paper = result.tables["paper_table"]
    assert len(paper) == 4 and (paper["n_seeds"] == 2).all()
    written = pd.DataFrame(
        [
            json.loads((d / "summary.json").read_text())
            | json.loads((d / "config.json").read_text())["tokens"]
            | {"cr": json.loads((d / "config.json").read_text())["mix"]["contrast_ratio"]}
            for d in run_dirs(tiny_sweep)
        ]
    )
    for (scheme, cr), g in written.groupby(["scheme", "cr"]):
        row = paper[(paper["scheme"] == scheme) & (paper["contrast_ratio"] == cr)].iloc[0]
        for key in EVAL_KEYS:
            assert row[f"{key}_mean"] == pytest.approx(g[key].mean()), (scheme, cr, key)
            assert row[f"{key}_std"] == pytest.approx(g[key].std(ddof=1), abs=1e-12), (scheme, cr, key)
    err = result.tables["error_rates_by_config"]
    assert set(err["config_id"]) == set(paper["config_id"])
    # best threshold recomputed from each logged curve = the one the run chose
    best = result.tables["best_threshold_per_run"].set_index("run_id")
    runs = data.runs.set_index("run_id")
    assert best["best_threshold"].to_dict() == pytest.approx(runs.loc[best.index, "eval/best_threshold"].to_dict())
    # per-kind rates from scores.csv, pooled over should-refuse kinds, = recall of the curve at each grid point
    kinds = result.tables["kind_rates_per_run"]
    grid = result.tables["threshold_curves_per_run"].set_index(["run_id", "threshold"])
    refuse = kinds[~kinds["kind"].isin(["contrast", "general"])]
    pooled = (refuse["refusal_rate"] * refuse["n"]).groupby([refuse["run_id"], refuse["threshold"]]).sum() / refuse[
        "n"
    ].groupby([refuse["run_id"], refuse["threshold"]]).sum()
    assert pooled.to_numpy() == pytest.approx(grid.loc[pooled.index, "recall"].to_numpy())
    # the control matrix covers every category run, 5 suppressed tokens x 7 kinds each
    control = result.tables["control_matrix_per_run"]
    assert set(control["run_id"]) == set(data.runs.loc[data.runs["scheme"] == "category", "run_id"])
    assert len(control) == 4 * 5 * 7


def test_manifest_lists_failed_and_missing_planned_jobs(sweep_copy, wandb_tmp_env):
    import wandb

    failed_dir = sweep_copy / "failed_job"
    failed_dir.mkdir()
    run = wandb.init(
        project="refusal-lab",
        group="manifest-sweep",
        mode="offline",
        dir=str(failed_dir),
        config={"tokens": {"scheme": "single"}, "mix": {"contrast_ratio": 1.0}, "seed": 0},
    )
    run.log({"train/loss": 3.0})
    run.finish(exit_code=1)
    jobs = [
        {
            "index": i,
            "overrides": [f"job={i}"],
            "run_dir": str(sweep_copy / str(i)),
            "slurm_job_id": str(100 + i),
            "status": "completed",
            "log": None,
        }
        for i in range(8)
    ]
    jobs += [
        {
            "index": 8,
            "overrides": ["mix.contrast_ratio=1", "tokens=single", "seed=0"],
            "run_dir": "failed_job",
            "slurm_job_id": "108",
            "status": "failed",
            "log": "logs/108.err",
        },
        {
            "index": 9,
            "overrides": ["mix.contrast_ratio=1", "tokens=single", "seed=1"],
            "run_dir": "never_ran",
            "slurm_job_id": None,
            "status": "pending",
            "log": None,
        },
        {
            "index": 10,
            "overrides": ["mix.contrast_ratio=1", "tokens=category", "seed=0"],
            "run_dir": "said_done",
            "slurm_job_id": "110",
            "status": "completed",
            "log": None,
        },
    ]
    (sweep_copy / "sweep_manifest.json").write_text(
        json.dumps({"sweep_id": "manifest-sweep", "created": "2026-01-01T00:00:00", "jobs": jobs})
    )
    data = load_sweep_dir(sweep_copy)
    assert data.sweep_id == "manifest-sweep"
    assert len(data.runs) == 8 and len(data.planned) == 11
    missing = tables.unfinished_jobs(data.planned).set_index("index")
    assert list(missing.index) == [8, 9, 10]
    assert missing.loc[8, "status"] == "failed" and "failed" in missing.loc[8, "reason"]
    assert missing.loc[8, "run_id"] == run.id
    assert missing.loc[9, "status"] == "pending" and "does not exist" in missing.loc[9, "reason"]
    assert missing.loc[10, "status"] == "missing" and "manifest says completed" in missing.loc[10, "reason"]
    assert Path(missing.loc[9, "run_dir"]).is_absolute()


def test_bad_manifest_names_the_key_and_value(sweep_copy):
    (sweep_copy / "sweep_manifest.json").write_text(
        json.dumps({"sweep_id": "s", "jobs": [{"index": 0, "run_dir": "0", "status": "done"}, {"index": 1}]})
    )
    with pytest.raises(ValueError) as e:
        load_sweep_dir(sweep_copy)
    assert "jobs[0].status='done'" in str(e.value) and "jobs[1].run_dir" in str(e.value)


def test_missing_hydra_job_dirs_are_listed(sweep_copy):
    shutil.rmtree(sweep_copy / "5")
    (sweep_copy / "6" / "summary.json").unlink()
    for p in (sweep_copy / "6" / "wandb").glob("offline-run-*"):
        shutil.rmtree(p)
    data = load_sweep_dir(sweep_copy)
    assert len(data.runs) == 6
    missing = tables.unfinished_jobs(data.planned).set_index("index")
    assert list(missing.index) == [5, 6]
    assert missing.loc[5, "status"] == "missing" and missing.loc[6, "status"] == "no results"
    assert missing.loc[5, "overrides"][:3] == ["mix.contrast_ratio=0.5", "tokens=single", "seed=1"]


def offline_runs(sweep: Path):
    return [read_offline_run(p) for d in run_dirs(sweep) for p in (d / "wandb").glob("offline-run-*")]


def test_wandb_api_source_gives_the_same_tables_and_caches(tiny_sweep, tmp_path):
    api = RecordedApi(offline_runs(tiny_sweep))
    stats: dict = {}
    remote = load_wandb_project(
        "team/refusal-lab", group=SWEEP_GROUP, api=api, cache_dir=tmp_path / "cache", per_page=3, stats=stats
    )
    assert api.calls[0]["filters"] == {"group": SWEEP_GROUP} and api.pages == 3  # 8 runs in pages of 3
    assert stats == {"listed": 8, "cache_hits": 0, "downloads": 8} and api.downloads == 8
    local = load_sweep_dir(tiny_sweep)
    assert remote.sweep_id == SWEEP_GROUP and remote.scores.empty
    a, b = (d.runs.set_index("run_id").sort_index() for d in (remote, local))
    assert list(a.index) == list(b.index)
    for key in EVAL_KEYS + ("scheme", "contrast_ratio", "seed", "config.mix.total"):
        if a[key].dtype.kind == "f":
            assert a[key].tolist() == pytest.approx(b[key].tolist()), key
        else:
            assert a[key].tolist() == b[key].tolist(), key
    pd.testing.assert_frame_equal(
        remote.curves.sort_values(["run_id", "threshold"], ignore_index=True),
        local.curves.sort_values(["run_id", "threshold"], ignore_index=True),
    )
    pd.testing.assert_frame_equal(analyze(remote).tables["paper_table"], analyze(local).tables["paper_table"])
    # the per-kind fallback without scores.csv: pooled should-refuse rate = recall
    kinds = analyze(remote).tables["kind_rates_per_run"]
    assert set(kinds["kind"]) == {tables.SHOULD_REFUSE_ALL, tables.SHOULD_ANSWER_ALL}

    # second analysis of the same sweep: nothing downloaded, not even per-run config/summary
    api.offline, loads = True, api.heavy_loads
    again = load_wandb_project(
        "team/refusal-lab", group=SWEEP_GROUP, api=api, cache_dir=tmp_path / "cache", stats=stats
    )
    assert stats == {"listed": 8, "cache_hits": 8, "downloads": 0} and api.heavy_loads == loads
    pd.testing.assert_frame_equal(again.curves, remote.curves)


def test_wandb_api_source_filters_and_does_not_cache_running_runs(tiny_sweep, tmp_path):
    api = RecordedApi(offline_runs(tiny_sweep))
    one = next(r for r in api.runs_by_id.values() if r.config["tokens"]["scheme"] == "category")
    one.state = "running"  # e.g. still evaluating: its entry may change, never cached
    stats: dict = {}
    data = load_runs(
        "team/refusal-lab",
        group=SWEEP_GROUP,
        config={"tokens.scheme": "category"},
        api=api,
        cache_dir=tmp_path / "c",
        stats=stats,
    )
    assert api.calls[-1]["filters"] == build_filters(SWEEP_GROUP, None, {"tokens.scheme": "category"})
    assert set(data.runs["scheme"]) == {"category"} and len(data.runs) == 4
    load_runs("team/refusal-lab", group=SWEEP_GROUP, api=api, cache_dir=tmp_path / "c", stats=stats)
    assert stats["downloads"] == 4 + 1  # the four single-scheme runs, and the running run again
    assert load_runs("team/refusal-lab", group="other-sweep", api=api, cache_dir=tmp_path / "c").runs.empty


def test_local_filters_match_the_server_side_ones(tiny_sweep):
    data = load_runs(str(tiny_sweep), config={"mix.contrast_ratio": 0, "tokens.scheme": "single"})
    assert len(data.runs) == 2 and set(data.curves["run_id"]) == set(data.runs["run_id"])
    with pytest.raises(ValueError, match="no run has config key 'mix.ratio'"):
        load_runs(str(tiny_sweep), config={"mix.ratio": 0})
    with pytest.raises(ValueError, match="not an existing directory and not a W&B"):
        load_runs("no/such/dir/here")


def test_one_bad_run_file_is_a_warning_not_an_abort(sweep_copy):
    """Issue 13 item 9: a garbage scores.csv, an empty one, a curve without its columns and a
    config.json that is not an object each cost only their own file, named in a warning."""
    runs = sorted(p.parent for p in sweep_copy.glob("*/summary.json"))
    (runs[0] / "scores.csv").write_text("\x00\x01 not,a\ncsv")
    (runs[1] / "scores.csv").write_text("")
    shutil.rmtree(runs[2] / "wandb")  # no W&B table: the curve comes from the file
    (runs[2] / "threshold_curve.csv").write_text("a,b\n1,2\n")
    shutil.rmtree(runs[3] / "wandb")  # no W&B config: the run's own config.json is read
    (runs[3] / "config.json").write_text("[1, 2, 3]")
    data = load_sweep_dir(sweep_copy)
    assert len(data.runs) == 8
    joined = "\n".join(data.warnings)
    for path in (
        runs[0] / "scores.csv",
        runs[1] / "scores.csv",
        runs[2] / "threshold_curve.csv",
        runs[3] / "config.json",
    ):
        assert str(path) in joined


def test_a_copied_or_moved_sweep_with_absolute_manifest_paths_counts_each_run_once(sweep_copy, tmp_path):
    jobs = [
        {"index": i, "overrides": [f"job={i}"], "run_dir": str(sweep_copy / str(i)), "status": "completed"}
        for i in range(8)
    ]
    (sweep_copy / "sweep_manifest.json").write_text(json.dumps({"sweep_id": "abs-sweep", "created": "x", "jobs": jobs}))
    copy = tmp_path / "elsewhere" / "copied"
    shutil.copytree(sweep_copy, copy, symlinks=True)
    data = load_sweep_dir(copy)
    assert len(data.runs) == 8 and len(data.planned) == 8
    assert all(str(d).startswith(str(copy)) for d in data.planned["run_dir"])
    assert tables.unfinished_jobs(data.planned).empty
    moved = tmp_path / "moved"
    sweep_copy.rename(moved)  # the original place no longer exists
    data = load_sweep_dir(moved)
    assert len(data.runs) == 8 and tables.unfinished_jobs(data.planned).empty
