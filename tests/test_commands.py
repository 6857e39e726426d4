"""Every subcommand: --help exits 0 and lists its keys; eval/calibrate/serve read Hydra primary
configs (conf/<command>.yaml) checked by the same schema machinery as training."""

import subprocess
import sys

import pytest
import yaml

from refusal_lab.commands import calibrate, eval as eval_command, serve
from refusal_lab.config import CheckpointEvalConfig, schema_help

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "command,keys",
    [
        ("eval", ["checkpoint", "policy", "max_new_tokens", "judge_url"]),
        ("calibrate", ["scores", "calib_fraction", "target"]),
        ("serve", ["checkpoint", "host", "port", "max_new_tokens"]),
        ("sweep", ["dry-run", "status", "resubmit"]),
        ("analyze", ["--group", "--out", "--push"]),
        ("train", ["refusal-lab experiment=laptop_smollm2", "eval, calibrate, serve", "mix:", "contrast_ratio"]),
    ],
)
def test_help_exits_0_and_lists_the_keys(command, keys):
    proc = subprocess.run(
        [sys.executable, "-m", "refusal_lab.cli", command, "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    for key in keys:
        assert key in proc.stdout


def test_eval_help_has_every_schema_key_with_its_help(capsys):
    assert eval_command.main(["--help"]) == 0
    out = capsys.readouterr().out
    for key, _, help_ in schema_help(CheckpointEvalConfig):
        assert f"  {key}" in out and help_ in out


def test_cfg_job_prints_the_composed_config(capsys):
    assert eval_command.main(["--cfg", "job", "checkpoint=/some/run/checkpoint", "max_prompts=12"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["checkpoint"] == "/some/run/checkpoint" and shown["max_prompts"] == 12 and shown["batch_size"] == 32
    assert serve.main(["--cfg", "job", "port=0"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["port"] == 0


def test_every_problem_in_one_message_exit_2(capsys):
    assert serve.main(["port=http", "hots=0.0.0.0", "threads=0"]) == 2
    err = capsys.readouterr().err
    assert "3 problem(s) in the config" in err
    assert (
        "port='http': expected an integer" in err
        and "hots='0.0.0.0': unknown key" in err
        and "threads=0: must be >= 1" in err
    )
    assert calibrate.main(["calib_fraction=2", "target.safety=x"]) == 2
    err = capsys.readouterr().err
    assert (
        "calib_fraction=2.0: must be between 0.0 and 1.0" in err and "target.safety='x': expected a refusal rate" in err
    )


def test_hydra_errors_are_the_same_format(capsys):
    assert eval_command.main(["batch_size=[1,"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("refusal-lab eval: 1 problem(s) in the config") and "Traceback" not in err


def test_schema_keys_missing_from_the_yaml_reach_hydra_as_additions():
    from refusal_lab.composing import hydra_arguments

    args = ["data.general_path=x", "seed=1", "-m", "hydra.run.dir=y", "tokens=category", "+extra=1"]
    assert hydra_arguments(args) == [
        "++data.general_path=x",
        "seed=1",
        "-m",
        "hydra.run.dir=y",
        "tokens=category",
        "+extra=1",
    ]


def test_train_reads_a_general_folder_named_on_the_command_line(tmp_path):
    """data.general_path is not in data/builtin.yaml: Hydra's main must accept it as the schema
    check did, so that the data loader (not Hydra) answers: here, a folder without .jsonl files."""
    (tmp_path / "alpaca").mkdir()
    (tmp_path / "alpaca" / "notes.txt").write_text("x")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "refusal_lab.cli",
            "debug=fast",
            "logger=disabled",
            "data.general_source=jsonl",
            f"data.general_path={tmp_path / 'alpaca'}",
            f"run_dir={tmp_path / 'run'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "the folder holds no .jsonl files (it has: notes.txt)" in proc.stderr and "Traceback" not in proc.stderr
