"""`refusal-lab lm-eval CHECKPOINT [--tasks a,b] [--first-token "[respond]"] [--limit N] [--out DIR]`.

lm-evaluation-harness on a checkpoint through its chat template with the first token
forced (refusal_lab/evaluation/lm_eval_harness.py); optional extra `.[lmeval]`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from refusal_lab.evaluation import lm_eval_harness as h


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="refusal-lab lm-eval",
        description="lm-evaluation-harness through the chat template with the control token crossed.",
    )
    p.add_argument("checkpoint", help="a run's checkpoint/ folder")
    p.add_argument(
        "--tasks", default=h.LOCAL_TASK, help=f"comma-separated lm-eval tasks (default {h.LOCAL_TASK}, offline)"
    )
    p.add_argument("--first-token", default="[respond]", help='appended after the generation prompt ("" = none)')
    p.add_argument("--limit", type=int, help="examples per task")
    p.add_argument("--out", help="folder for results.json and the task files (default CHECKPOINT/../lm_eval)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        print("refusal-lab lm-eval: lm-eval is not installed; pip install -e '.[lmeval]'", file=sys.stderr)
        return 2
    if not Path(args.checkpoint).is_dir():
        print(f"refusal-lab lm-eval: checkpoint {args.checkpoint}: no such folder", file=sys.stderr)
        return 2
    out = Path(args.out or Path(args.checkpoint).parent / "lm_eval")
    try:
        scores = h.evaluate(args.checkpoint, args.tasks.split(","), args.first_token, args.limit, out / "tasks")
    except ValueError as e:
        print(f"refusal-lab lm-eval: {e}", file=sys.stderr)
        return 2
    from refusal_lab.io import write_json

    write_json(
        out / "results.json", {"checkpoint": args.checkpoint, "first_token": args.first_token, "results": scores}
    )
    for task, metrics in scores.items():
        print(task + ": " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    print(f"written to {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
