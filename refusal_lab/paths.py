"""Where things live: the project root, its conf/ and launcher profiles, and the shared data folder.

In a checkout (or an editable install) conf/ and launchers/ sit at the top of the
repository; a regular `pip install .` copies them into the package as
refusal_lab/conf and refusal_lab/launchers (pyproject.toml package-data). Both are found.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent


def _first_with(marker: str, *candidates: Path) -> Path:
    return next((c for c in candidates if (c / marker).exists()), candidates[-1])


def conf_dir() -> Path:
    """The Hydra config folder: the checkout's conf/, else the copy installed in the package."""
    return _first_with("config.yaml", PROJECT_ROOT / "conf", PACKAGE_DIR / "conf")


def launchers_dir() -> Path:
    """launchers/ (local_slurm.sh): the checkout's, else the copy installed in the package."""
    return _first_with("local_slurm.sh", PROJECT_ROOT / "launchers", PACKAGE_DIR / "launchers")


def project_file(path: str | Path) -> Path:
    """A path from a config: absolute as given; `conf/...` and `launchers/...` inside the
    project's (or the installed) folders; anything else relative to the project root."""
    p = Path(path)
    if p.is_absolute():
        return p
    if p.parts and p.parts[0] == "conf":
        return conf_dir().joinpath(*p.parts[1:])
    if p.parts and p.parts[0] == "launchers":
        return launchers_dir().joinpath(*p.parts[1:])
    return PROJECT_ROOT / p


CONF_DIR = conf_dir()


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
