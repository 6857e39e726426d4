"""`refusal-lab [train] [hydra overrides...]`: one run (experiments/run.py) under Hydra.

The config is composed and checked (schema, then this machine: files, device, W&B key,
model modules, mix) before Hydra makes its output folder, so a bad value costs no folder,
no data loading and no W&B run: one message, exit 2. Hydra flags (--cfg job, --info,
--help) go straight to Hydra. No arguments = the embedded default (conf/config.yaml).
"""

from __future__ import annotations

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
        from refusal_lab.config import validate
        from refusal_lab.data.mixing import MixError
        from refusal_lab.experiments.run import format_table, run

        try:
            run_cfg = validate(OmegaConf.to_container(cfg, resolve=True))
        except ConfigError as exc:
            raise SystemExit(fail("train", exc)) from None
        run_dir = Path(run_cfg.run_dir or HydraConfig.get().runtime.output_dir)
        try:
            summary = run(run_cfg, run_dir)
        except MixError as exc:  # a pool smaller than the mix (data read from files): a clean message
            raise SystemExit(fail("train", exc)) from None
        print("\n" + format_table(summary))
        print(f"\nwritten to {run_dir}: summary.json, threshold_curve.csv, scores.csv, mix_manifest.json, checkpoint/"
              + (f", W&B {run_cfg.logger.mode} run under {run_dir / 'wandb'}" if run_cfg.logger.mode != "disabled" else ""))
        return float(summary["eval/f1"])

    _train()


def main(argv: list[str]) -> int:
    from refusal_lab.composing import compose_run

    overrides = _plain_overrides(argv)
    if overrides is not None:
        try:
            compose_run(overrides)
        except ConfigError as exc:
            return fail("train", exc)
    sys.argv = ["refusal-lab train", *argv]
    hydra_train()
    return 0
