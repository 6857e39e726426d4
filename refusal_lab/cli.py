"""`refusal-lab [train] [hydra overrides...]` and the other subcommands.

The train entry is thin: compose with Hydra, validate everything, call
pipeline.run(cfg, run_dir), print the table. No arguments = the embedded default.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from refusal_lab.paths import CONF_DIR, register_resolvers

SUBCOMMANDS = ("train",)
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
        from refusal_lab.pipeline import format_table, run

        try:
            run_cfg = config_from_hydra(cfg)
        except ConfigError as exc:
            print(f"refusal-lab: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        run_dir = Path(run_cfg.run_dir or HydraConfig.get().runtime.output_dir)
        summary = run(run_cfg, run_dir)
        print("\n" + format_table(summary))
        print(f"\nwritten to {run_dir}: summary.json, threshold_curve.csv, scores.csv, mix_manifest.json, checkpoint/"
              + (f", W&B {run_cfg.logger.mode} run under {run_dir / 'wandb'}" if run_cfg.logger.mode != "disabled" else ""))
        return float(summary["eval/f1"])

    _train()


def main() -> None:
    args = sys.argv[1:]
    command = args[0] if args and args[0] in SUBCOMMANDS else "train"
    if args and args[0] in SUBCOMMANDS:
        sys.argv = [f"refusal-lab {command}"] + args[1:]
    if command == "train":
        train_main()


if __name__ == "__main__":
    main()
