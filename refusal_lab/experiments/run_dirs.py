"""Which run a run directory belongs to. A run directory records the hash of the config
that made it (run_identity.json); a rerun into it continues only with the same config
(a killed run resumes, a finished one is handed back as it is), another config is refused
with the keys that differ, and run_dir_policy=restart removes the old run's outputs first."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from refusal_lab.config import ConfigError, RunConfig, to_dict
from refusal_lab.io import write_json

IDENTITY_FILE = "run_identity.json"
NOT_IDENTITY = ("run_dir", "run_dir_policy")  # where the run goes and how a rerun behaves, not what it is
# what a run writes into its directory (Hydra's .hydra/ and the log stay)
RUN_OUTPUTS = (
    "config.json",
    IDENTITY_FILE,
    "data_report.json",
    "mix_manifest.json",
    "mix.jsonl",
    "wandb_run_id",
    "wandb",
    "train_state",
    "ranks",
    "checkpoint",
    "checkpoint.tmp",
    "scores.csv",
    "threshold_curve.csv",
    "rules.csv",
    "samples.jsonl",
    "train_losses.json",
    "summary.json",
)


class RunDirConflict(ConfigError):
    """The run directory holds a run of another config."""


@dataclass(frozen=True)
class RunDirState:
    finished_summary: dict | None  # the summary of a finished run of this config, else None


def identity(cfg: RunConfig) -> dict:
    return {k: v for k, v in to_dict(cfg).items() if k not in NOT_IDENTITY}


def config_hash(cfg: RunConfig) -> str:
    return hashlib.sha256(json.dumps(identity(cfg), sort_keys=True, default=str).encode()).hexdigest()


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out |= _flat(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def differing_keys(old: dict, new: dict) -> list[str]:
    """`key: old -> new` for every dotted key whose value differs."""
    a, b = _flat({k: v for k, v in old.items() if k not in NOT_IDENTITY}), _flat(new)
    keys = sorted(a.keys() | b.keys(), key=lambda k: (not (k in a and k in b), k))  # changed values before missing keys
    return [
        f"{k}: {a[k]!r} -> {b[k]!r}"
        if k in a and k in b
        else f"{k}: {a.get(k, '(unset)')!r} -> {b.get(k, '(unset)')!r}"
        for k in keys
        if a.get(k) != b.get(k)
    ]


def read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def check(run_dir: Path, cfg: RunConfig) -> RunDirState:
    """Read-only: may this config continue in run_dir? Raises RunDirConflict if it holds another run."""
    run_dir = Path(run_dir)
    stored = read_json(run_dir / IDENTITY_FILE)
    old_cfg = read_json(run_dir / "config.json")
    if stored is None and old_cfg is None:
        return RunDirState(None)
    same = (
        stored.get("config_hash") == config_hash(cfg)
        if isinstance(stored, dict)
        else identity(cfg) == _without(old_cfg)
    )
    if not same:
        diff = (
            differing_keys(old_cfg, identity(cfg)) if isinstance(old_cfg, dict) else ["(its config.json is unreadable)"]
        )
        raise RunDirConflict(
            [
                f"run_dir={str(run_dir)!r} holds a run of another config ({'; '.join(diff[:12])}"
                + (f"; and {len(diff) - 12} more" if len(diff) > 12 else "")
                + "): nothing was changed. "
                "Use another run_dir, or run_dir_policy=restart to delete that run and start over"
            ]
        )
    summary = read_json(run_dir / "summary.json")
    return RunDirState(summary if isinstance(summary, dict) and summary else None)


def _without(cfg) -> dict | None:
    return {k: v for k, v in cfg.items() if k not in NOT_IDENTITY} if isinstance(cfg, dict) else None


def start_over(run_dir: Path) -> None:
    """Delete what an earlier run wrote into run_dir (run_dir_policy=restart)."""
    for name in RUN_OUTPUTS:
        path = Path(run_dir) / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def claim(run_dir: Path, cfg: RunConfig, is_main: bool) -> RunDirState:
    """The run directory for this config: emptied first with run_dir_policy=restart (by the
    main process), else checked; records the config hash."""
    from refusal_lab.training import distributed

    if cfg.run_dir_policy == "restart":
        if is_main:
            start_over(run_dir)
        distributed.barrier()  # the other processes start once the old run is gone
        return RunDirState(None)
    return check(run_dir, cfg)


def record(run_dir: Path, cfg: RunConfig) -> None:
    write_json(Path(run_dir) / IDENTITY_FILE, {"config_hash": config_hash(cfg)})
