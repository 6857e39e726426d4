"""`refusal-lab [SUBCOMMAND] ...`: dispatch to refusal_lab/commands/<subcommand>.py.

No subcommand = train (Hydra overrides); `-m` / `--multirun` makes the overrides a sweep.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = {
    "train": "refusal_lab.commands.train",          # one run: data -> mix -> model -> train -> eval -> report
    "eval": "refusal_lab.commands.eval",            # score a checkpoint under a policy
    "calibrate": "refusal_lab.commands.calibrate",  # thresholds that meet target refusal rates -> policy YAML
    "serve": "refusal_lab.commands.serve",          # OpenAI-compatible endpoint with a policy
    "sweep": "refusal_lab.commands.sweep",          # validated sweeps, dry-run, Slurm dispatch and status
    "analyze": "refusal_lab.commands.analyze",      # W&B / sweep-dir analysis: tables, plots, report
    "tradeoff": "refusal_lab.commands.tradeoff",    # token model vs retrained / steered / prompted baselines
    "lm-eval": "refusal_lab.commands.lm_eval",      # lm-evaluation-harness through the chat template + [respond]
}


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] in SUBCOMMANDS and args[0] != "train":
        raise SystemExit(importlib.import_module(SUBCOMMANDS[args[0]]).main(args[1:]))
    if args and args[0] == "train":
        args = args[1:]
    if "-m" in args or "--multirun" in args:
        # Every multirun goes through sweeps: all jobs composed and validated before the
        # first starts, one sweep id as W&B group, a manifest; launcher=local|submitit_local|slurm.
        from refusal_lab.commands import sweep

        verb = "dry-run" if "--dry-run" in args else "run"
        raise SystemExit(sweep.main([verb, *[a for a in args if a not in ("-m", "--multirun", "--dry-run")]]))
    raise SystemExit(importlib.import_module(SUBCOMMANDS["train"]).main(args))


if __name__ == "__main__":
    main()
