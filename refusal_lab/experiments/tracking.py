"""Experiment tracking behind a small Protocol: W&B, or nothing.

Offline W&B keeps every file inside the run directory (its env dirs are pointed
there before wandb is imported). `finish` always runs: the pipeline calls it in
a `finally`, with the exit code of the run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import pandas as pd

from refusal_lab.config import LoggerConfig


class RunLogger(Protocol):
    run_id: str | None

    def log(self, metrics: dict, step: int | None = None) -> None: ...
    def log_table(self, key: str, frame: pd.DataFrame) -> None: ...
    def set_summary(self, summary: dict) -> None: ...
    def finish(self, exit_code: int = 0) -> None: ...


class NullLogger:
    run_id = None

    def log(self, metrics, step=None):
        pass

    def log_table(self, key, frame):
        pass

    def set_summary(self, summary):
        pass

    def finish(self, exit_code=0):
        pass


class WandbLogger:
    def __init__(self, cfg: LoggerConfig, run_dir: Path, config: dict, name: str, run_id: str | None = None,
                 job_type: str | None = None):
        wandb_dir = run_dir / "wandb_files"
        if cfg.mode == "offline":
            for var in ("WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
                os.environ.setdefault(var, str(wandb_dir / var.lower().removeprefix("wandb_")))
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

        self._wandb = wandb
        # A requeued job passes its saved run id and resumes the same run.
        self.run = wandb.init(project=cfg.project, entity=cfg.entity, group=cfg.group or os.environ.get("WANDB_RUN_GROUP"),
                              tags=list(cfg.tags), name=cfg.name or name, mode=cfg.mode, dir=str(run_dir), config=config,
                              id=run_id, resume="allow" if run_id else None, job_type=job_type,
                              settings=wandb.Settings(x_transaction_log_flush_interval=2) if _has_flush_setting(wandb) else None)
        self.run_id = self.run.id

    def log(self, metrics, step=None):
        self.run.log(metrics, step=step)

    def log_table(self, key, frame):
        self.run.log({key: self._wandb.Table(dataframe=frame)})

    def set_summary(self, summary):
        for k, v in summary.items():
            self.run.summary[k] = v

    def finish(self, exit_code=0):
        self.run.finish(exit_code=exit_code)


def _has_flush_setting(wandb) -> bool:
    return "x_transaction_log_flush_interval" in getattr(wandb.Settings, "model_fields", {})


def make_logger(cfg: LoggerConfig, run_dir: Path, config: dict, name: str, run_id: str | None = None,
                job_type: str | None = None) -> RunLogger:
    if cfg.mode == "disabled":
        return NullLogger()
    return WandbLogger(cfg, run_dir, config, name, run_id, job_type)
