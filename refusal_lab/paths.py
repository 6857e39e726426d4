"""Where things live: the project root, its conf/, and the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = PROJECT_ROOT / "conf"


def shared_data_dir() -> Path:
    """REFUSAL_LAB_SHARED_DATA, else the `shared/data` folder beside the checkout."""
    return Path(os.environ.get("REFUSAL_LAB_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


def register_resolvers() -> None:
    """${refusal_lab.shared_data:} in YAML resolves to shared_data_dir(), ${refusal_lab.pid:} to this process id
    (run directories unique for simultaneous starts)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("refusal_lab.shared_data"):
        OmegaConf.register_new_resolver("refusal_lab.shared_data", lambda: str(shared_data_dir()))
    if not OmegaConf.has_resolver("refusal_lab.pid"):
        OmegaConf.register_new_resolver("refusal_lab.pid", lambda: str(os.getpid()))
