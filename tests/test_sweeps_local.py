"""Sweeps without a cluster: validation before anything is submitted, the dry run, launcher
profiles, the manifest, and a real local sweep with a failing job that a rerun retries."""
import json
from pathlib import Path

import pytest

from refusal_lab.commands import sweep as sweep_command
from refusal_lab.experiments import sweeps
from refusal_lab.config import ConfigError
from refusal_lab.experiments.jobs import read_events

TINY = ["debug=fast", "mix.total=60", "eval.max_prompts=20"]  # conf/debug/fast.yaml: 8 steps, no checkpoint, no W&B


@pytest.fixture(autouse=True)
def no_local_profile(tmp_path, monkeypatch):
    """Tests never read the developer's launchers/local.yaml."""
    monkeypatch.setenv("REFUSAL_LAB_LAUNCHER_LOCAL", str(tmp_path / "no-local.yaml"))


def test_every_problem_of_every_job_is_reported_before_anything_is_written(tmp_path):
    args = ["launcher=slurm", "launcher.partiton=gpu", "launcher.timeout_min=0",
            "mix.contrast_ratio=-1,0.5", "tokens=single,nope", "eval.threshold=2"]
    with pytest.raises(ConfigError) as err:
        sweeps.run_sweep(args, tmp_path / "sweep", echo=lambda s: None)
    problems = err.value.problems
    text = str(err.value)
    assert any(p.startswith("launcher.partiton='gpu': unknown key") and "did you mean 'partition'" in p for p in problems)
    assert any(p.startswith("launcher.timeout_min=0: must be >= 1") for p in problems)
    assert "job 0 (mix.contrast_ratio=-1 tokens=single eval.threshold=2): mix.contrast_ratio=-1.0: must be >= 0.0" in text
    assert "tokens/nope" in text
    # every job's eval.threshold problem is listed, not only the first job's
    assert sum("eval.threshold=2.0" in p for p in problems) == 2  # jobs 0 and 2 compose; 1 and 3 do not
    assert not (tmp_path / "sweep").exists()


def test_dry_run_prints_jobs_overrides_and_gpu_hours_and_writes_nothing(tmp_path, capsys):
    rc = sweep_command.main(["dry-run", "--sweep-dir", str(tmp_path / "s"), "launcher=slurm", "launcher.gpus_per_node=4",
                      "launcher.timeout_min=90", "mix.contrast_ratio=0,0.1,0.3,1", "tokens=single,category"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "8 job(s), launcher slurm" in out
    assert "[5] mix.contrast_ratio=0.3 tokens=category" in out
    assert "GPU-hours requested: 48.0 (8 x 4 GPU(s) x 1.50 h)" in out
    assert "dry run: nothing submitted" in out
    assert not (tmp_path / "s").exists()


def test_dry_run_with_a_bad_override_exits_2_with_the_problem(tmp_path, capsys):
    rc = sweep_command.main(["dry-run", "--sweep-dir", str(tmp_path / "s"), "mix.refusal_fraction=0.9,0.3", "mix.contrast_ratio=0.5"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "job 0 (mix.refusal_fraction=0.9 mix.contrast_ratio=0.5)" in err and "exceeds 1" in err
    assert "job 1" not in err


def test_local_profile_overrides_the_profile_and_the_command_line_overrides_both(tmp_path, monkeypatch):
    local = tmp_path / "local.yaml"
    local.write_text("profile: slurm\naccount: my-lab\npartition: gpu\nsetup: [module load cuda]\n")
    monkeypatch.setenv("REFUSAL_LAB_LAUNCHER_LOCAL", str(local))
    problems = []
    launcher = sweeps.load_launcher(None, ["partition=gpu-long", "extra_sbatch={reservation: r1}"], problems)
    assert problems == []
    assert (launcher.kind, launcher.account, launcher.partition) == ("slurm", "my-lab", "gpu-long")
    assert launcher.gpus_per_node == 1 and launcher.setup == ["module load cuda"]
    assert launcher.extra_sbatch == {"reservation": "r1"}
    sweeps.load_launcher("nosuch", [], problems)
    assert problems and "launcher='nosuch': no such profile; available:" in problems[0] and "slurm_dev" in problems[0]


@pytest.mark.parametrize("state, finished, status", [
    ("PENDING", False, "pending"), ("REQUEUED", False, "pending"), ("RUNNING", False, "running"),
    ("COMPLETED", True, "completed"), ("COMPLETED", False, "failed"), ("FAILED", False, "failed"),
    ("OUT_OF_MEMORY", False, "failed"), ("NODE_FAIL", False, "failed"), ("PREEMPTED", False, "preempted"),
    ("TIMEOUT", False, "timeout"), ("CANCELLED by 0", False, "cancelled"), ("RUNNING", True, "completed"),
])
def test_status_from_slurm(state, finished, status):
    assert sweeps.status_from_slurm(state, finished) == status


def test_local_sweep_reports_the_failure_and_a_rerun_skips_the_finished_job(tmp_path):
    # job 1 passes every check before the start (the folder exists) but fails when the loader opens its one file
    broken = tmp_path / "missing.jsonl"
    broken.mkdir()
    (broken / "rows.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    args = ["launcher=local", *TINY, "data.general_source=builtin,jsonl", f"+data.general_path={broken}"]
    sweep_dir, manifest = sweeps.run_sweep(args, tmp_path / "sweep", echo=lambda s: None)
    on_disk = json.loads((sweep_dir / "sweep_manifest.json").read_text())
    assert on_disk == manifest
    assert set(manifest) == {"sweep_id", "created", "jobs"}
    assert all(set(j) == {"index", "overrides", "run_dir", "slurm_job_id", "status", "log"} for j in manifest["jobs"])
    ok, failed = manifest["jobs"]
    assert ok["status"] == "completed" and failed["status"] == "failed"
    assert ok["slurm_job_id"] is None
    assert "missing.jsonl" in Path(failed["log"]).read_text()
    summary = json.loads((Path(ok["run_dir"]) / "summary.json").read_text())
    assert summary["train/steps"] == 8
    cfg = json.loads((Path(ok["run_dir"]) / "config.json").read_text())
    assert cfg["logger"]["group"] == manifest["sweep_id"] and cfg["run_dir"] == ok["run_dir"]

    _, again = sweeps.run_sweep(args, sweep_dir, echo=lambda s: None)
    assert again["sweep_id"] == manifest["sweep_id"]
    assert [j["status"] for j in again["jobs"]] == ["completed", "failed"]
    assert [e["event"] for e in read_events(Path(ok["run_dir"]))] == ["start", "finish"]  # not run again
    assert [e["event"] for e in read_events(Path(failed["run_dir"]))] == ["start", "error", "start", "error"]


def test_rerun_with_other_overrides_into_the_same_dir_is_refused(tmp_path):
    sweep_dir, _ = sweeps.run_sweep(["launcher=local", *TINY, "train.max_steps=1"], tmp_path / "s", echo=lambda s: None)
    with pytest.raises(ConfigError, match="manifest has other jobs"):
        sweeps.run_sweep(["launcher=local", *TINY, "tokens=single,category"], sweep_dir, echo=lambda s: None)
