"""Suite evaluation speed on the CPU: prompts/s of first-position scoring and of
generate-then-judge, and the share of time per stage, measured in one process on the
same prompts and model.

Scoring is one forward pass per prompt; generate-then-judge runs `new_tokens` greedy
decoding steps per prompt and then the pattern judge. The ratio printed is
generate-then-judge time per prompt over scoring time per prompt (the baseline).

    .venv/bin/python bench/suite_speed.py                          # tiny model trained here (~20 s), 2 sets, 200 prompts
    .venv/bin/python bench/suite_speed.py --checkpoint RUN/checkpoint --suite coconot --prompts 400 --new-tokens 64
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decision_sweep import train_tiny  # noqa: E402  (the same tiny checkpoint the decision bench trains)


def builtin_sets(n: int):
    """Two sets from the builtin data (no files needed): should-refuse rows and should-answer rows."""
    from refusal_lab.config import EvalSetConfig
    from refusal_lab.data.builtin import builtin_pools
    from refusal_lab.evaluation.suite import LoadedSet

    pools = builtin_pools()
    refuse, answer = pools["refusal"][: n // 2], (pools["contrast"] + pools["general"])[: n - n // 2]
    return [
        LoadedSet(EvalSetConfig(name="builtin_refuse"), refuse, "builtin"),
        LoadedSet(EvalSetConfig(name="builtin_answer"), answer, "builtin"),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--checkpoint", help="a refusal-lab checkpoint with control tokens (default: train a tiny one here)"
    )
    ap.add_argument("--suite", help="a suite preset (e.g. coconot); default: two sets from the builtin data")
    ap.add_argument("--prompts", type=int, default=200, help="prompts in all (split over the sets)")
    ap.add_argument("--new-tokens", type=int, default=32, help="greedy tokens generated per prompt")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from refusal_lab.evaluation import suite, suite_eval
    from refusal_lab.model.loading import load_pretrained
    from refusal_lab.steering.policy import Policy

    t0 = time.perf_counter()
    if args.suite:
        sets = suite.load_suite(suite.suite_sets(args.suite, []))
        per_set = args.prompts // len(sets)
    else:
        sets, per_set = builtin_sets(args.prompts), None
    t_data = time.perf_counter() - t0
    checkpoint = Path(args.checkpoint) if args.checkpoint else train_tiny("single", Path(tempfile.mkdtemp()) / "run")
    t0 = time.perf_counter()
    model, tokenizer = load_pretrained(str(checkpoint))
    t_model = time.perf_counter() - t0
    pol = Policy(scheme=suite_eval.scheme_of(checkpoint, tokenizer))
    n = sum(len(suite_eval._subset(s.rows, per_set, 0)) for s in sets)

    score_opts = suite_eval.SuiteOptions(batch_size=args.batch_size, max_prompts=per_set)
    t0 = time.perf_counter()
    for s in sets:
        suite_eval.score_set(model, tokenizer, s, pol, score_opts)
    t_score_total = time.perf_counter() - t0

    gen_opts = suite_eval.SuiteOptions(
        batch_size=args.batch_size, max_new_tokens=args.new_tokens, max_prompts=per_set, judges=["pattern"]
    )
    t0 = time.perf_counter()
    for s in sets:
        suite_eval.generate_set(model, tokenizer, s, gen_opts)
    t_gen_total = time.perf_counter() - t0

    print(
        f"{n} prompts in {len(sets)} sets, {args.new_tokens} new tokens, batch {args.batch_size}, {args.threads} thread(s)"
    )
    print(f"scoring (one forward pass):   {n / t_score_total:8.1f} prompts/s")
    print(f"generate-then-judge:          {n / t_gen_total:8.1f} prompts/s")
    print(f"ratio: generate-then-judge takes {t_gen_total / t_score_total:.1f}x the time of scoring")
    stages = {
        "load data": t_data,
        "load model": t_model,
        "score": score_opts.timings.get("score", 0.0),
        **{k: v for k, v in gen_opts.timings.items()},
    }
    other = t_score_total + t_gen_total - sum(v for k, v in stages.items() if k not in ("load data", "load model"))
    stages["tokenize, decide, tables"] = max(other, 0.0)
    total = sum(stages.values())
    print("share of time per stage (scoring run + generate-then-judge run):")
    for k, v in stages.items():
        print(f"  {k:<26}{v:8.2f} s {100 * v / total:6.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
