"""`refusal-lab [train] [hydra overrides...]`: one run (experiments/run.py) under Hydra.

The config is composed and checked (schema, then this machine: files, device, W&B key,
model modules, mix) before Hydra makes its output folder, so a bad value costs no folder,
no data loading and no W&B run: one message, exit 2. Hydra flags (--cfg job, --info,
--help) go straight to Hydra. No arguments = the embedded default (conf/config.yaml).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from refusal_lab.commands.arguments import fail
from refusal_lab.config import ConfigError


def _plain_overrides(argv: list[str]) -> list[str] | None:
    """The config overrides of a plain run; None when a Hydra flag asks for something else."""
    if any(a.startswith("-") for a in argv):
        return None
    return [a for a in argv if not a.startswith(("hydra.", "hydra/", "+hydra", "~hydra"))]


def hydra_train() -> None:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from refusal_lab.paths import conf_dir, register_resolvers

    register_resolvers()

    @hydra.main(config_path=str(conf_dir()), config_name="config", version_base="1.3")
    def _train(cfg) -> float:
        from refusal_lab.config import InputError, validate
        from refusal_lab.data.mixing import MixError
        from refusal_lab.evaluation.report import format_table
        from refusal_lab.experiments.run import run
        from refusal_lab.training.steps import StopRequested

        try:
            run_cfg = validate(OmegaConf.to_container(cfg, resolve=True))
            run_dir = Path(run_cfg.run_dir or HydraConfig.get().runtime.output_dir)
            if run_cfg.train.processes > 1 and _alone():
                summary = _run_with_torchrun(run_cfg, run_dir)
            else:
                summary = run(run_cfg, run_dir)
        except (
            ConfigError,
            MixError,
            InputError,
        ) as exc:  # MixError: a pool smaller than the mix; InputError: a bad data file (file:line)
            _remove_if_unused(Path(HydraConfig.get().runtime.output_dir))
            raise SystemExit(fail("train", exc)) from None
        except StopRequested as exc:
            print(f"refusal-lab train: {exc}; rerun with run_dir={run_dir} to resume", file=sys.stderr)
            raise SystemExit(130) from None
        if "eval/f1" not in summary or os.environ.get(_LAUNCHED_BY_TRAIN):
            return 0.0  # a process started for train.processes > 1: the command that started it prints the table
        print("\n" + format_table(summary))
        print(
            f"\nwritten to {run_dir}: summary.json, threshold_curve.csv, scores.csv, mix_manifest.json, checkpoint/"
            + (
                f", W&B {run_cfg.logger.mode} run under {run_dir / 'wandb'}"
                if run_cfg.logger.mode != "disabled"
                else ""
            )
        )
        return float(summary[run_cfg.optimize_metric])  # what Hydra sweepers (Optuna) optimise

    _train()


def _remove_if_unused(output_dir: Path) -> None:
    """A run refused on its data (checked once the data is read) leaves no folder behind: Hydra's
    output dir goes if it holds only what Hydra (.hydra/, its log) and the run-dir claim wrote, then its empty parents
    up to the working directory. A folder holding an earlier run's outputs is left alone."""
    made_here = {".hydra", "run_identity.json"}
    if not output_dir.is_dir() or any(p.name not in made_here and p.suffix != ".log" for p in output_dir.iterdir()):
        return
    import shutil

    shutil.rmtree(output_dir)
    cwd, parent = Path.cwd().resolve(), output_dir.resolve().parent
    while parent != cwd and cwd in parent.parents and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


_LAUNCHED_BY_TRAIN = "REFUSAL_LAB_LAUNCHED_BY_TRAIN"  # set for the processes the train command starts


def _alone() -> bool:
    from refusal_lab.training import distributed

    return distributed.detect().world_size == 1


def _run_with_torchrun(run_cfg, run_dir: Path) -> dict:
    """train.processes > 1 on one machine: this command again in that many processes, started
    by torchrun's standalone mode, all writing to this run directory; rank 0's summary."""
    import json
    import subprocess

    import torch

    from refusal_lab.experiments import run_dirs
    from refusal_lab.training import distributed

    if run_cfg.run_dir_policy == "continue":
        run_dirs.check(run_dir, run_cfg)  # a conflict is reported here, before any process starts
    argv = [a for a in sys.argv[1:] if not a.startswith(("run_dir=", "hydra.run.dir="))]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), _LAUNCHED_BY_TRAIN: "1"}
    env.setdefault("DS_ACCELERATOR", "cuda" if torch.cuda.is_available() else "cpu")
    code = subprocess.run(
        distributed.torchrun_command(
            run_cfg.train.processes, argv + [f"run_dir={run_dir}", f"hydra.run.dir={run_dir}"]
        ),
        env=env,
    ).returncode
    if code != 0:
        print(
            f"refusal-lab train: train.processes={run_cfg.train.processes}: a process failed (exit code {code}); "
            "torchrun printed its error above",
            file=sys.stderr,
        )
        raise SystemExit(code)
    return json.loads((run_dir / "summary.json").read_text())


def main(argv: list[str]) -> int:
    from refusal_lab.composing import compose_run

    overrides = _plain_overrides(argv)
    if overrides is not None:
        try:
            compose_run(overrides)
        except ConfigError as exc:
            return fail("train", exc)
    from refusal_lab.composing import hydra_arguments

    sys.argv = ["refusal-lab train", *hydra_arguments(argv)]
    hydra_train()
    return 0
