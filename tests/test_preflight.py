"""Values that pass the schema but cannot work on this machine are refused before any work,
all in one ConfigError (preflight.py), and the CLI says so with exit 2 and no folder."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from refusal_lab import preflight
from refusal_lab.config import ConfigError, validate

ROOT = Path(__file__).resolve().parents[1]


def problems_of(compose, overrides, **kw):
    return preflight.problems(validate(compose(overrides)), **kw)


def test_missing_files_are_named(compose, tmp_path):
    found = problems_of(
        compose, ["data=coconot", f"data.coconot_path={tmp_path}/nothing", f"data.general_path={tmp_path}/none.jsonl"]
    )
    assert any("data.coconot_path=" in p and "coconot_eval.jsonl" in p for p in found)
    assert any(f"data.general_path='{tmp_path}/none.jsonl': does not exist" in p for p in found)
    found = problems_of(compose, ["train=deepspeed_zero2", f"train.deepspeed_config={tmp_path}/ds.json"])
    assert found and "train.deepspeed_config=" in found[0] and "no such file" in found[0]
    assert problems_of(compose, ["train=deepspeed_zero2"]) == []  # the shipped JSON is found
    found = problems_of(compose, ["model=hf", f"model.name_or_path={tmp_path}/model"])
    assert "no such folder" in found[0]
    found = problems_of(compose, ["train=deepspeed_zero3", "tokens.separate_input_rows=true"])
    assert len(found) == 1 and "tokens.separate_input_rows=true: ZeRO-3" in found[0]
    assert problems_of(compose, ["train=deepspeed_zero2", "tokens.separate_input_rows=true"]) == []


def test_hf_without_a_name_is_refused_by_the_schema(compose):
    with pytest.raises(ConfigError, match=r"model.name_or_path='\?\?\?': required"):
        validate(compose(["model=hf"]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only case")
def test_cuda_on_a_cpu_build(compose):
    assert "train.device='cuda': this machine has" in problems_of(compose, ["train.device=cuda"])[0]
    assert problems_of(compose, ["train.device=cuda"], runs_here=False) == []  # a Slurm sweep's job runs elsewhere
    with pytest.raises(ConfigError, match="train.device='gpu': expected auto, cpu, cuda or cuda:N"):
        validate(compose(["train.device=gpu"]))


def test_wandb_online_needs_a_key(compose, tmp_path):
    cfg = validate(compose(["logger=wandb_online"]))
    assert "no W&B key" in preflight.wandb_key_problems(cfg, {"HOME": str(tmp_path)})[0]
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "x" * 40 + "\n")
    (tmp_path / ".netrc").chmod(0o600)
    assert preflight.wandb_key_problems(cfg, {"HOME": str(tmp_path)}) == []
    assert preflight.wandb_key_problems(cfg, {"HOME": str(tmp_path / "elsewhere"), "WANDB_API_KEY": "k"}) == []


def test_several_slurm_tasks_need_deepspeed(compose):
    slurm = {
        "SLURM_NTASKS": "2",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_JOB_ID": "7",
        "SLURM_JOB_NODELIST": "n1",
    }
    assert "started as 2 tasks (slurm)" in preflight.launch_problems(validate(compose()), slurm)[0]
    assert preflight.launch_problems(validate(compose(["train=deepspeed_zero2"])), slurm) == []


def test_model_positions_and_lora_targets(compose):
    found = problems_of(compose, ["model.max_position_embeddings=64", "train.max_length=100"])
    assert found == [
        "train.max_length=100: the model has only 64 positions (model.max_position_embeddings); lower train.max_length to <= 64"
    ]
    found = problems_of(compose, ["train=lora", "train.lora_targets=[q_proj,query_key_value]"])
    assert "['query_key_value'] match no module" in found[0] and "'v_proj'" in found[0]
    assert problems_of(compose, ["train=lora"]) == []


def test_a_mix_larger_than_the_builtin_pools(compose):
    found = problems_of(compose, ["mix.total=100000"])
    assert "needs" in found[0] and "mix.on_shortfall=cap" in found[0]
    assert problems_of(compose, ["mix.total=100000", "mix.on_shortfall=oversample"]) == []


def test_cli_refuses_before_hydra_makes_a_folder(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HOME": str(tmp_path), "WANDB_API_KEY": ""}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "refusal_lab.cli",
            "logger=wandb_online",
            "data=coconot",
            f"data.coconot_path={tmp_path}/none",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "problem(s) in the config" in proc.stderr and "Traceback" not in proc.stderr
    assert "no W&B key" in proc.stderr and "data.coconot_path=" in proc.stderr
    assert list(tmp_path.iterdir()) == []
