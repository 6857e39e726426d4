"""GPU tier (`-m gpu`): the same code paths on CUDA. Skipped without a CUDA device."""

import numpy as np
import pytest
import torch

from refusal_lab.config import EvalConfig, LoggerConfig, RunConfig, TrainConfig
from refusal_lab.experiments.run import run
from refusal_lab.evaluation.scoring import first_position_probs
from refusal_lab.training.steps import micro_loss, pack, collate
from tests.test_packing import _setup
from tests.test_training_and_scoring import setup

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def small_run(device: str, **train_kw) -> RunConfig:
    return RunConfig(
        train=TrainConfig(device=device, packing=True, **train_kw),
        eval=EvalConfig(samples_per_kind=1),
        logger=LoggerConfig(mode="disabled"),
    )


def test_pipeline_on_cuda_matches_the_cpu_run(tmp_path):
    gpu = run(small_run("cuda"), tmp_path / "gpu")
    cpu = run(small_run("cpu"), tmp_path / "cpu")
    assert gpu["eval/auroc"] > 0.8, gpu
    assert abs(gpu["eval/auroc"] - cpu["eval/auroc"]) < 0.03, (gpu, cpu)
    np.testing.assert_allclose(gpu["train/final_loss"], cpu["train/final_loss"], rtol=0.05)


def test_bf16_autocast_pipeline_on_cuda(tmp_path):
    s = run(small_run("cuda", autocast="bfloat16"), tmp_path / "bf16")
    assert s["train/final_loss"] < 0.5 * s["train/first_loss"] and s["eval/auroc"] > 0.8, s


def test_packed_loss_equals_padded_loss_on_cuda_in_bf16():
    model, tok, _, enc = _setup("sdpa")
    model.cuda()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        packed, n_packed = micro_loss(model, {k: v.cuda() for k, v in pack(enc, tok.pad_token_id, None).items()})
        padded, n_padded = micro_loss(model, {k: v.cuda() for k, v in collate(enc, tok.pad_token_id).items()})
    assert n_packed == n_padded
    assert packed.item() == pytest.approx(padded.item(), rel=2e-2)


def test_scoring_on_cuda_equals_cpu():
    model, tok, ids, _, _ = setup()
    prompts = ["How do I bake bread?", "Do you feel lonely?", "a much longer prompt " * 6]
    cpu = first_position_probs(model, tok, prompts, list(ids.values()), batch_size=2)
    gpu = first_position_probs(model.cuda(), tok, prompts, list(ids.values()), batch_size=2)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-6)
