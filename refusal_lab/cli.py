"""`refusal-lab [train] [hydra overrides...]` and the other subcommands.

The train entry is thin: compose with Hydra, validate everything, call
experiments.run.run(cfg, run_dir) (or torchrun with train.processes > 1), print the table. No arguments = the embedded default.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from refusal_lab.paths import CONF_DIR, register_resolvers

# Subcommands other than train live in their own modules, each with main(argv: list[str]) -> int.
SUBCOMMANDS = {
    "analyze": "refusal_lab.analysis.cli",     # W&B / sweep-dir analysis: tables, plots, report
    "calibrate": "refusal_lab.steering.calibration",    # thresholds that meet target refusal rates -> policy YAML
    "eval": "refusal_lab.evaluation.checkpoint_eval",        # score a checkpoint under a policy
    "serve": "refusal_lab.steering.server",              # OpenAI-compatible endpoint with a policy
    "sweep": "refusal_lab.experiments.sweeps",             # validated sweeps, dry-run, Slurm dispatch and status
}
log = logging.getLogger("refusal_lab")


def config_from_hydra(cfg) -> "RunConfig":  # noqa: F821
    from omegaconf import OmegaConf

    from refusal_lab.config import validate

    return validate(OmegaConf.to_container(cfg, resolve=True))


def train_main() -> None:
    import hydra
    from hydra.core.hydra_config import HydraConfig

    register_resolvers()

    @hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
    def _train(cfg) -> float:
        from refusal_lab.config import ConfigError
        from refusal_lab.evaluation.report import format_table
        from refusal_lab.experiments.run import run
        from refusal_lab.training.steps import StopRequested

        try:
            run_cfg = config_from_hydra(cfg)
            run_dir = Path(run_cfg.run_dir or HydraConfig.get().runtime.output_dir)
            if run_cfg.train.processes > 1 and _alone():
                summary = _run_with_torchrun(run_cfg, run_dir)
            else:
                summary = run(run_cfg, run_dir)
        except ConfigError as exc:
            print(f"refusal-lab: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        except StopRequested as exc:
            print(f"refusal-lab: {exc}; rerun with run_dir={run_dir} to resume", file=sys.stderr)
            raise SystemExit(130) from None
        if "eval/f1" not in summary or os.environ.get(_LAUNCHED_BY_TRAIN):
            return 0.0  # a process started for train.processes > 1: the command that started it prints the table
        print("\n" + format_table(summary))
        print(f"\nwritten to {run_dir}: summary.json, threshold_curve.csv, scores.csv, mix_manifest.json, checkpoint/"
              + (f", W&B {run_cfg.logger.mode} run under {run_dir / 'wandb'}" if run_cfg.logger.mode != "disabled" else ""))
        return float(summary["eval/f1"])

    _train()


_LAUNCHED_BY_TRAIN = "REFUSAL_LAB_LAUNCHED_BY_TRAIN"  # set for the processes the train command starts


def _alone() -> bool:
    from refusal_lab.training import distributed

    return distributed.detect().world_size == 1


def _run_with_torchrun(run_cfg, run_dir: Path) -> dict:
    """train.processes > 1 on one machine: this command again in that many processes, started
    by torchrun's standalone mode, all writing to this run directory; rank 0's summary."""
    import json
    import subprocess

    from refusal_lab.experiments import run_dirs
    from refusal_lab.training import distributed

    if run_cfg.run_dir_policy == "continue":
        run_dirs.check(run_dir, run_cfg)  # a conflict is reported here, before any process starts
    argv = [a for a in sys.argv[1:] if not a.startswith(("run_dir=", "hydra.run.dir="))]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), _LAUNCHED_BY_TRAIN: "1"}
    env.setdefault("DS_ACCELERATOR", "cuda" if _has_cuda() else "cpu")
    code = subprocess.run(distributed.torchrun_command(run_cfg.train.processes, argv + [f"run_dir={run_dir}",
                          f"hydra.run.dir={run_dir}"]), env=env).returncode
    if code != 0:
        print(f"refusal-lab: train.processes={run_cfg.train.processes}: a process failed (exit code {code}); "
              "torchrun printed its error above", file=sys.stderr)
        raise SystemExit(code)
    return json.loads((run_dir / "summary.json").read_text())


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] in SUBCOMMANDS:
        import importlib

        module = importlib.import_module(SUBCOMMANDS[args[0]])
        raise SystemExit(module.main(args[1:]))
    if args and args[0] == "train":
        args = args[1:]
    if "-m" in args or "--multirun" in args:
        # Every multirun goes through sweeps: all jobs composed and validated before the
        # first starts, one sweep id as W&B group, a manifest; launcher=local|submitit_local|slurm.
        from refusal_lab.experiments import sweeps

        verb = "dry-run" if "--dry-run" in args else "run"
        raise SystemExit(sweeps.main([verb, *[a for a in args if a not in ("-m", "--multirun", "--dry-run")]]))
    sys.argv = ["refusal-lab train"] + args
    train_main()


if __name__ == "__main__":
    main()
