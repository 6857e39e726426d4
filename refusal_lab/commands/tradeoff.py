"""`refusal-lab tradeoff [EXPERIMENT.yaml] [HYDRA_OVERRIDE ...] [--out DIR] [--bootstrap N]`.

Runs the experiment file (default refusal_lab/evaluation/tradeoff_plans/tradeoff.yaml) with
refusal_lab.evaluation.tradeoff_experiment: every run composed and validated first
(exit 2, nothing trained, on any problem), then trained (finished runs reused),
steered, measured and drawn; prints the table.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from refusal_lab.evaluation import tradeoff_experiment as tx


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="refusal-lab tradeoff",
        description="The refusal trade-off: one token model against retrained, steered and prompted baselines.",
        epilog="example: refusal-lab tradeoff tradeoff model=smollm2_135m data=coconot --out outputs/tradeoff/smol",
    )
    p.add_argument(
        "experiment",
        nargs="?",
        default=tx.DEFAULT_EXPERIMENT,
        help="experiment file: a path or a name in refusal_lab/evaluation/tradeoff_plans/ (default: tradeoff.yaml)",
    )
    p.add_argument("overrides", nargs="*", help="Hydra overrides added to every run, e.g. model=smollm2_135m")
    p.add_argument(
        "--out", help="output folder (default outputs/tradeoff/<experiment>); finished runs in it are reused"
    )
    p.add_argument("--bootstrap", type=int, help="bootstrap replicates (overrides the file)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from refusal_lab.config import ConfigError

    args = parse_args(sys.argv[1:] if argv is None else argv)
    if "=" in args.experiment:  # only overrides given
        args.overrides, args.experiment = [args.experiment, *args.overrides], tx.DEFAULT_EXPERIMENT
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        path = tx.experiment_path(args.experiment)
        spec = tx.load_spec(path)
        if args.bootstrap is not None:
            spec.bootstrap = args.bootstrap
        out = Path(args.out or Path("outputs") / "tradeoff" / path.stem)
        tx.plan_runs(spec, [*args.overrides, f"eval.max_new_tokens={spec.max_new_tokens}"], out)  # validate before work
    except (ValueError, FileNotFoundError, ConfigError) as e:
        print(f"refusal-lab tradeoff: {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    result = tx.run_tradeoff(spec, out, args.overrides)
    print("\n" + result["text"])
    cap = result["capability"]
    if "kl_first_position_mean" in cap:
        print(
            f"\ncapability tax ({cap['token_model']} vs {cap['no_token_model']}): first-position KL "
            f"{cap['kl_first_position_mean']:.4f} nats (control tokens excluded), after [respond] "
            f"{cap['kl_after_respond_mean']:.4f}; ROUGE-L {cap['rouge_l_token_model_after_respond']:.3f} vs "
            f"{cap['rouge_l_no_token_model']:.3f} on {cap['n_general']} general instructions"
        )
    print(
        f"\nwritten to {out}: table.csv, points.csv, capability.json, tradeoff.png, report.md "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
