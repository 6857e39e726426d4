"""A trained tiny category-scheme checkpoint, once per session (about 20 s on 1 thread)."""

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    import torch

    from refusal_lab.composing import compose_run
    from refusal_lab.experiments.run import run

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    cfg = compose_run(
        ["experiment=tiny_category"],
        check_machine=False,
    )
    run_dir = tmp_path_factory.mktemp("steering_run")
    run(cfg, run_dir)
    return run_dir


@pytest.fixture(scope="session")
def model_and_tokenizer(trained_run):
    from refusal_lab.model.loading import load_pretrained

    return load_pretrained(str(trained_run / "checkpoint"))
