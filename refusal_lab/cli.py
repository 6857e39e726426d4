"""`refusal-lab [SUBCOMMAND] ...`: dispatch to refusal_lab/commands/<subcommand>.py.

No subcommand = train (Hydra overrides); `-m` / `--multirun` makes the overrides a sweep.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = {
    "train": "refusal_lab.commands.train",  # one run: data -> mix -> model -> train -> eval -> report
    "eval": "refusal_lab.commands.eval",  # score a checkpoint under a policy
    "calibrate": "refusal_lab.commands.calibrate",  # thresholds that meet target refusal rates -> policy YAML
    "serve": "refusal_lab.commands.serve",  # OpenAI-compatible endpoint with a policy
    "sweep": "refusal_lab.commands.sweep",  # validated sweeps, dry-run, Slurm dispatch and status
    "analyze": "refusal_lab.commands.analyze",  # W&B / sweep-dir analysis: tables, plots, report
    "tradeoff": "refusal_lab.commands.tradeoff",  # token model vs retrained / steered / prompted baselines
    "lm-eval": "refusal_lab.commands.lm_eval",  # lm-evaluation-harness through the chat template + [respond]
}


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] in SUBCOMMANDS and args[0] != "train":
        raise SystemExit(importlib.import_module(SUBCOMMANDS[args[0]]).main(args[1:]))
    if args and args[0] == "train":
        args = args[1:]
    if "-m" in args or "--multirun" in args:
        # `-m` is Hydra's multirun (any sweeper, any launcher). SweepCallback (conf/config.yaml) and this
        # project's launcher add the pre-flight; `--dry-run` and `--cfg` become flags they act on.
        from refusal_lab.experiments.sweeps import hydra_argv

        args = hydra_argv(args)
    raise SystemExit(importlib.import_module(SUBCOMMANDS["train"]).main(args))


if __name__ == "__main__":
    main()
