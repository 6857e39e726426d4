"""A trained tiny category-scheme checkpoint, once per session (about 20 s on 1 thread)."""

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    import torch
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from refusal_lab.config import validate
    from refusal_lab.paths import CONF_DIR, register_resolvers
    from refusal_lab.experiments.run import run

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=[
                "logger=disabled",
                "tokens=category",
                "train.max_steps=60",
                "mix.total=200",
                "eval.samples_per_kind=0",
                "train.threads=1",
            ],
        )
    run_dir = tmp_path_factory.mktemp("steering_run")
    run(validate(OmegaConf.to_container(cfg, resolve=True)), run_dir)
    return run_dir


@pytest.fixture(scope="session")
def model_and_tokenizer(trained_run):
    from refusal_lab.model.loading import load_pretrained

    return load_pretrained(str(trained_run / "checkpoint"))
