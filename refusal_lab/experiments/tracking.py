"""Experiment tracking behind a small Protocol: W&B, or nothing, and the INFO lines of a job's log.

Offline W&B keeps every file inside the run directory (its env dirs are pointed
there before wandb is imported). `finish` always runs: the pipeline calls it in
a `finally`, with the exit code of the run.

Conventions (`wandb_settings`): job_type train / eval / analysis; inside a multirun the run name is
the overrides that vary (`tokens=category,train.lr=0.001`), unique within the sweep; group = the sweep
id; tags = logger.tags + $WANDB_TAGS; $WANDB_PROJECT / $WANDB_ENTITY / $WANDB_MODE apply where the
config keeps its default (a value set in the config wins). The run config holds the inputs only:
derived objects (mix manifest, data report) go to the run summary.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

from refusal_lab.config import LoggerConfig

DERIVED_KEYS = ("mix_manifest", "data_report")  # computed by the run, not chosen: summary, not config
ENV_MODES = {"offline": "offline", "dryrun": "offline", "online": "online", "run": "online", "disabled": "disabled"}
log = logging.getLogger("refusal_lab")


class RunLogger(Protocol):
    run_id: str | None

    def log(self, metrics: dict, step: int | None = None) -> None: ...
    def log_table(self, key: str, frame) -> None: ...
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


def process_age_s() -> float:
    """Seconds since this process started (Linux /proc; 0.0 elsewhere): a job's start-up so far."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # start, clock ticks after boot
        return float(Path("/proc/uptime").read_text().split()[0]) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class LineLogger:
    """Wraps a RunLogger: every training log call also becomes an INFO line (loss, lr, tokens/s)."""

    def __init__(self, inner):
        self.inner = inner
        self.run_id = inner.run_id
        self._first = True

    def log(self, metrics, step=None):
        if "train/loss" in metrics:
            if self._first:
                log.info("stage start-up + first %s step(s): %.1f s since the process started", step, process_age_s())
                self._first = False
            speed = metrics.get("train/tokens_per_s")  # absent when rows are fitted on cached states
            log.info(
                "step %s loss %.4f lr %.3g%s",
                step,
                metrics["train/loss"],
                metrics.get("train/lr", float("nan")),
                "" if speed is None else f" {speed:.0f} tokens/s",
            )
        self.inner.log(metrics, step=step)

    def log_table(self, key, frame):
        self.inner.log_table(key, frame)

    def set_summary(self, summary):
        self.inner.set_summary(summary)

    def finish(self, exit_code=0):
        self.inner.finish(exit_code=exit_code)


def split_inputs(config: dict) -> tuple[dict, dict]:
    """(inputs for the W&B run config, derived objects for its summary)."""
    return (
        {k: v for k, v in config.items() if k not in DERIVED_KEYS},
        {k: v for k, v in config.items() if k in DERIVED_KEYS},
    )


def multirun_name(env=os.environ) -> str | None:
    """Inside a Hydra multirun job (stock launchers): the overrides of this job that vary in the sweep."""
    keys = [k for k in env.get("REFUSAL_LAB_SWEEP_KEYS", "").split(",") if k]
    if not keys:
        return None
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    except Exception:
        return None
    return ",".join(o for o in overrides if o.split("=", 1)[0].lstrip("+~") in keys) or None


def wandb_settings(cfg: LoggerConfig, default_name: str, job_type: str, env=os.environ) -> dict:
    """wandb.init arguments from the config and the WANDB_* environment (config wins where it says something)."""
    default = LoggerConfig()
    env_mode = ENV_MODES.get(env.get("WANDB_MODE", "").lower())
    tags = list(dict.fromkeys([*cfg.tags, *(t.strip() for t in env.get("WANDB_TAGS", "").split(",") if t.strip())]))
    return {
        "project": cfg.project if cfg.project != default.project else env.get("WANDB_PROJECT") or cfg.project,
        "entity": cfg.entity or env.get("WANDB_ENTITY"),
        "mode": cfg.mode if cfg.mode != default.mode or not env_mode else env_mode,
        "group": cfg.group or env.get("WANDB_RUN_GROUP"),
        "tags": tags,
        "job_type": job_type,
        "name": cfg.name or multirun_name(env) or default_name,
    }


class WandbLogger:
    def __init__(
        self,
        cfg: LoggerConfig,
        run_dir: Path,
        config: dict,
        name: str,
        run_id: str | None = None,
        job_type: str = "train",
    ):
        wandb_dir = run_dir / "wandb_files"
        settings = wandb_settings(cfg, name, job_type)
        if settings["mode"] == "offline":
            for var in ("WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
                os.environ.setdefault(var, str(wandb_dir / var.lower().removeprefix("wandb_")))
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

        self._wandb = wandb
        # A requeued job passes its saved run id and resumes the same run.
        inputs, derived = split_inputs(config)
        self.run = wandb.init(
            **settings,
            dir=str(run_dir),
            config=inputs,
            id=run_id,
            resume="allow" if run_id else None,
            settings=wandb.Settings(x_transaction_log_flush_interval=2) if _has_flush_setting(wandb) else None,
        )
        self.run_id = self.run.id
        self.set_summary(derived)

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


def make_logger(
    cfg: LoggerConfig, run_dir: Path, config: dict, name: str, run_id: str | None = None, job_type: str = "train"
) -> RunLogger:
    if wandb_settings(cfg, name, job_type)["mode"] == "disabled":
        return LineLogger(NullLogger())
    return LineLogger(WandbLogger(cfg, run_dir, config, name, run_id, job_type))
