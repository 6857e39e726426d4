"""Sweeps without a cluster, through the real CLI (`refusal-lab -m ...`, Hydra's multirun): validation of
every job before anything is written, the dry run, glob/range/choice, experiment and hparams_search
files, a real local sweep with its logs, W&B conventions and the final table, a failure and a resubmit."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from refusal_lab.analysis.wandb_offline import find_offline_runs, read_offline_run
from refusal_lab.config import LoggerConfig
from refusal_lab.experiments import sweeps, tracking
from refusal_lab.experiments.jobs import read_events
from refusal_lab.experiments.launcher_config import LauncherConfig
from refusal_lab.paths import CONF_DIR

TINY = [
    "train.max_steps=6",
    "mix.total=60",
    "eval.max_prompts=20",
    "eval.samples_per_kind=0",
    "train.threads=1",
    "train.save_checkpoint=false",
    "train.log_every=2",
]


def cli(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`refusal-lab ARGS` in a fresh process, as a user types it."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("REFUSAL_LAB_", "WANDB_"))}
    full_env.update({"OMP_NUM_THREADS": "1"} | (env or {}))
    return subprocess.run(
        [sys.executable, "-c", "from refusal_lab.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=400,
        env=full_env,
    )


def test_every_problem_of_every_job_is_reported_before_anything_is_written(tmp_path):
    out = cli(
        [
            "-m",
            "hydra.launcher.timeout_min=0",
            "mix.contrast_ratio=-1,0.5",
            "tokens=single,nope",
            "eval.threshold=2",
            f"hydra.sweep.dir={tmp_path}/s",
        ],
        tmp_path,
    )
    assert out.returncode == 2, out.stderr
    err = out.stderr
    assert "hydra.launcher.timeout_min=0: must be >= 1" in err
    assert (
        "job 0 (mix.contrast_ratio=-1 tokens=single eval.threshold=2): mix.contrast_ratio=-1.0: must be >= 0.0" in err
    )
    assert "Could not find 'tokens/nope'" in err
    assert err.count("eval.threshold=2.0: must be between") == 2  # jobs 0 and 2 compose; 1 and 3 do not
    assert "nothing submitted" in err and "Traceback" not in err
    assert not (tmp_path / "s").exists() and not (tmp_path / "outputs").exists()


def test_dry_run_prints_jobs_overrides_and_gpu_hours_and_writes_nothing(tmp_path):
    out = cli(
        [
            "-m",
            "launcher=slurm",
            "hydra.launcher.gpus_per_node=4",
            "hydra.launcher.timeout_min=90",
            "mix.contrast_ratio=0,0.1,0.3,1",
            "tokens=single,category",
            "--dry-run",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "8 job(s), launcher RefusalLabLauncher (slurm)" in out.stdout
    assert "[5] launcher=slurm mix.contrast_ratio=0.3 tokens=category" in out.stdout
    assert "GPU-hours requested: 48.0 (8 x 4 GPU(s) x 1.50 h)" in out.stdout
    assert "dry run: nothing submitted" in out.stdout
    assert not (tmp_path / "outputs").exists()


def test_glob_range_and_choice_expand_like_hydra(tmp_path):
    out = cli(
        ["-m", "tokens=glob(*,exclude=none)", "seed=range(0,3)", "mix.contrast_ratio=choice(0,0.5)", "--dry-run"],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    jobs = [line.split("] ", 1)[1] for line in out.stdout.splitlines() if line.startswith("  [")]
    assert len(jobs) == 12
    assert {j.split()[0] for j in jobs} == {"tokens=category", "tokens=single"}  # glob over conf/tokens, none excluded
    assert {j.split()[1] for j in jobs} == {"seed=0", "seed=1", "seed=2"}
    assert {j.split()[2] for j in jobs} == {"mix.contrast_ratio=0", "mix.contrast_ratio=0.5"}


def test_sweeper_params_of_an_experiment_file_expand_to_the_full_grid(tmp_path):
    out = cli(["-m", "experiment=contrast_ratio", "--dry-run"], tmp_path)
    assert out.returncode == 0, out.stderr
    params = yaml.safe_load((CONF_DIR / "experiment" / "contrast_ratio.yaml").read_text())["hydra"]["sweeper"]["params"]
    n = 1
    for v in params.values():
        n *= len(str(v).split(","))
    assert f"{n} job(s)" in out.stdout and n == 30
    assert "GPU-hours requested: 960.0 (30 x 8 GPU(s) x 4.00 h)" in out.stdout


def _experiment_files(folder: str) -> list[Path]:
    files = sorted((CONF_DIR / folder).glob("*.yaml"))
    assert files, f"conf/{folder}/ is missing or empty"
    return files


@pytest.mark.parametrize("group", ["experiment", "hparams_search"])
def test_every_experiment_and_search_file_composes_and_validates(group):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from refusal_lab.config import validate
    from refusal_lab.paths import register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for path in _experiment_files(group):
            cfg = compose("config", overrides=[f"{group}={path.stem}"], return_hydra_config=True)
            header = path.read_text().split("\n\n")[0]
            assert "refusal-lab " in header and f"{group}={path.stem}" in header, f"{path}: no command in its header"
            run = validate(
                {
                    k: OmegaConf.to_container(cfg[k], resolve=True) if OmegaConf.is_config(cfg[k]) else cfg[k]
                    for k in cfg
                    if k != "hydra"
                }
            )
            if path.stem.startswith("llama3_8b"):
                t = run.train
                assert (
                    run.model.name_or_path,
                    t.lr,
                    t.warmup_ratio,
                    t.epochs,
                    t.max_length,
                    t.loss_on,
                    run.model.dtype,
                ) == ("meta-llama/Meta-Llama-3-8B", 2e-5, 0.1, 1.0, 2048, "all", "bfloat16")
                assert t.batch_size * t.grad_accum * cfg.hydra.launcher.tasks_per_node == 128
                assert "zero3" in t.deepspeed_config and cfg.hydra.launcher.gpus_per_node == 8


def test_launcher_yaml_carries_exactly_the_schema_fields():
    node = yaml.safe_load((CONF_DIR / "hydra" / "launcher" / "refusal_lab.yaml").read_text())
    assert set(node) - {"_target_"} == {f.name for f in dataclasses.fields(LauncherConfig)}
    for f in dataclasses.fields(LauncherConfig):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        assert node[f.name] == default, f.name


@pytest.mark.unit
def test_job_names_are_the_varying_overrides_and_unique():
    batch = [["logger=disabled", f"train.lr={lr}", f"seed={s}"] for lr in (1e-3, 3e-3) for s in (0, 1)]
    keys = sweeps.differing_keys(batch)
    assert keys == ["train.lr", "seed"]
    names = [sweeps.job_name(b, keys) for b in batch]
    assert names[0] == "train.lr=0.001,seed=0" and len(set(names)) == 4


@pytest.mark.unit
def test_wandb_settings_env_applies_where_the_config_keeps_its_default():
    env = {
        "WANDB_PROJECT": "p-env",
        "WANDB_ENTITY": "e-env",
        "WANDB_MODE": "online",
        "WANDB_TAGS": "a, b",
        "WANDB_RUN_GROUP": "g",
    }
    s = tracking.wandb_settings(LoggerConfig(tags=["paper"]), "default-name", "eval", env)
    assert (s["project"], s["entity"], s["mode"], s["group"], s["job_type"]) == (
        "p-env",
        "e-env",
        "online",
        "g",
        "eval",
    )
    assert s["tags"] == ["paper", "a", "b"] and s["name"] == "default-name"
    s = tracking.wandb_settings(
        LoggerConfig(project="mine", entity="me", mode="disabled", group="sw", name="n"), "x", "train", env
    )
    assert (s["project"], s["entity"], s["mode"], s["group"], s["name"]) == ("mine", "me", "disabled", "sw", "n")
    assert tracking.wandb_settings(LoggerConfig(), "x", "train", {})["mode"] == "offline"


@pytest.mark.unit
def test_run_config_gets_inputs_and_the_summary_gets_derived_objects():
    inputs, derived = tracking.split_inputs(
        {"mix": {"total": 3}, "mix_manifest": {"hash": "h"}, "data_report": {"n": 1}}
    )
    assert inputs == {"mix": {"total": 3}} and set(derived) == {"mix_manifest", "data_report"}


@pytest.mark.unit
@pytest.mark.parametrize(
    "state, finished, status",
    [
        ("PENDING", False, "pending"),
        ("REQUEUED", False, "pending"),
        ("RUNNING", False, "running"),
        ("COMPLETED", True, "completed"),
        ("COMPLETED", False, "failed"),
        ("FAILED", False, "failed"),
        ("OUT_OF_MEMORY", False, "failed"),
        ("PREEMPTED", False, "preempted"),
        ("TIMEOUT", False, "timeout"),
        ("CANCELLED by 0", False, "cancelled"),
        ("RUNNING", True, "completed"),
    ],
)
def test_status_from_slurm(state, finished, status):
    assert sweeps.status_from_slurm(state, finished) == status


def test_local_sweep_logs_wandb_conventions_table_and_resubmit(tmp_path):
    """A real 3-job sweep here (launcher=local): job 2 fails (missing file); logs carry the loss lines
    and the final table; W&B runs are named by what varies, job_type train, config without derived
    objects; the final table counts right; `sweep resubmit` runs only the failed job again."""
    sweep_dir = tmp_path / "sweep"
    args = ["-m", *TINY, "train.lr=0.001,0.003", f"hydra.sweep.dir={sweep_dir}"]
    out = cli(args, tmp_path, env={"WANDB_TAGS": "ci"})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    manifest = json.loads((sweep_dir / "sweep_manifest.json").read_text())
    assert [j["status"] for j in manifest["jobs"]] == ["completed", "completed"]
    assert manifest["sweep_id"] == "sweep"
    assert "sweep sweep: 2 job(s): 2 completed" in out.stdout
    assert "train.lr=0.001" in out.stdout and "refusal-lab analyze" in out.stdout
    job_log = Path(manifest["jobs"][0]["log"]).read_text()
    assert "step 2 loss" in job_log and "tokens/s" in job_log and "refusal F1 (default rule)" in job_log
    runs = [read_offline_run(d) for j in manifest["jobs"] for d in find_offline_runs(Path(j["run_dir"]) / "wandb")]
    assert sorted(r.name for r in runs) == ["train.lr=0.001", "train.lr=0.003"]
    assert {r.job_type for r in runs} == {"train"} and {r.group for r in runs} == {"sweep"}
    assert all("ci" in r.tags for r in runs)
    assert all("mix_manifest" not in r.config and "data_report" not in r.config for r in runs)
    assert all("mix_manifest" in r.summary for r in runs)

    # a third job that fails; resubmit runs it again and skips the finished ones
    # a job that passes the pre-flight (the file exists) and fails when its empty general pool is mixed
    (tmp_path / "empty.jsonl").write_text("")
    bad = [
        "-m",
        *TINY,
        "data.general_source=builtin,jsonl",
        f"+data.general_path={tmp_path}/empty.jsonl",
        f"hydra.sweep.dir={tmp_path}/bad",
    ]
    out = cli(bad, tmp_path)
    assert out.returncode == 1
    assert "2 job(s): 1 completed, 1 failed" in out.stdout
    manifest = json.loads((tmp_path / "bad" / "sweep_manifest.json").read_text())
    assert "job failed" in Path(manifest["jobs"][1]["log"]).read_text()
    out = cli(["sweep", "resubmit", str(tmp_path / "bad")], tmp_path)
    assert out.returncode == 1
    ok, failed = (Path(j["run_dir"]) for j in manifest["jobs"])
    assert [e["event"] for e in read_events(ok)] == ["start", "finish"]  # not run again
    assert [e["event"] for e in read_events(failed)] == ["start", "error", "start", "error"]
    status = cli(["sweep", "status", str(tmp_path / "bad")], tmp_path)
    assert "1 completed, 1 failed" in status.stdout and "missing" not in status.stderr


def test_rerun_with_other_overrides_into_the_same_dir_is_refused(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "sweep_manifest.json").write_text(
        json.dumps(
            {
                "sweep_id": "s",
                "created": "x",
                "jobs": [
                    {
                        "index": 0,
                        "overrides": ["seed=5"],
                        "run_dir": str(tmp_path / "s/0"),
                        "slurm_job_id": None,
                        "status": "failed",
                        "log": None,
                    }
                ],
            }
        )
    )
    out = cli(["-m", "seed=1,2", f"hydra.sweep.dir={tmp_path}/s", "--dry-run"], tmp_path)
    assert out.returncode == 0  # a dry run writes nothing, so it never clashes
    out = cli(["-m", *TINY, "seed=1,2", f"hydra.sweep.dir={tmp_path}/s"], tmp_path)
    assert out.returncode == 2 and "its manifest has other jobs" in out.stderr


@pytest.mark.unit
def test_dry_run_and_cfg_become_flags_and_the_rest_goes_to_hydra(monkeypatch):
    monkeypatch.delenv(sweeps.DRY_RUN_ENV, raising=False)
    monkeypatch.delenv(sweeps.SHOW_CFG_ENV, raising=False)
    assert sweeps.hydra_argv(["-m", "a=1,2", "--dry-run", "-cd", "x"]) == ["-m", "a=1,2", "-cd", "x"]
    assert os.environ[sweeps.DRY_RUN_ENV] == "1"
    assert (
        sweeps.hydra_argv(["a=1,2", "--cfg", "hydra"]) == ["-m", "a=1,2"] and os.environ[sweeps.SHOW_CFG_ENV] == "hydra"
    )


def test_optional_local_config_and_a_config_dir_given_with_cd(tmp_path):
    """conf/local/default.yaml (git-ignored) sets the cluster account for every command; `-cd` picks a conf dir."""
    import shutil

    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf, ignore=shutil.ignore_patterns("default.yaml"))
    (conf / "local" / "default.yaml").write_text((CONF_DIR / "local" / "example.yaml").read_text())
    out = cli(["-m", "-cd", str(conf), "launcher=slurm", "seed=0,1", "--dry-run"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "2 job(s)" in out.stdout and "partition=gpu account=my-lab" in out.stdout
    out = cli(["-m", "-cd", str(conf), "seed=0,1", "--cfg", "job"], tmp_path)
    assert out.returncode == 0 and out.stdout.count("entity: my-team") == 2
