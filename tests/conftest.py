import os
from pathlib import Path

import pytest

from refusal_lab.paths import shared_data_dir

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture
def compose():
    """Compose the project's config as every command does (refusal_lab/composing.py)."""
    from refusal_lab.composing import compose as compose_config

    return lambda overrides=(): compose_config("config", list(overrides))


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "coconot" / "coconot_eval.jsonl").exists():
        pytest.skip(f"real data not found at {path} (set REFUSAL_LAB_SHARED_DATA)")
    return path


@pytest.fixture
def wandb_env(tmp_path, monkeypatch):
    """W&B offline with every directory inside tmp_path; torn down afterwards."""
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.setenv("WANDB_MODE", "offline")
    yield
    import wandb

    wandb.teardown()
