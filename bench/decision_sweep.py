"""Exact threshold sweep from cached first-position probabilities vs the paper's way.

The paper's evaluation decides the first token at generation time: for every threshold,
every prompt is generated again with the rule applied at the first position. Here the
same rule runs inside model.generate (first_position.FirstPositionPolicy, batched over prompts)
once per threshold, against one forward pass + decisions.threshold_grid for all
thresholds. Both run on the same prompts and model in this process; the bench checks the
first-token decisions are identical and prints the speed ratio.

    .venv/bin/python bench/decision_sweep.py                       # tiny model trained here (~20 s), 40 prompts, 4 new tokens
    .venv/bin/python bench/decision_sweep.py --checkpoint RUN/checkpoint --prompts 200 --new-tokens 32
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def train_tiny(scheme: str, out: Path) -> Path:
    from refusal_lab.composing import compose_run
    from refusal_lab.experiments.run import run

    cfg = compose_run(
        ["experiment=tiny_category", f"tokens={scheme}"],
        check_machine=False,
    )
    run(cfg, out)
    return out / "checkpoint"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="run_dir/checkpoint to use (default: train a tiny model first, ~20 s)")
    ap.add_argument(
        "--scheme", default="single", choices=["single", "category"], help="scheme of the tiny model trained by default"
    )
    ap.add_argument("--prompts", type=int, default=40, help="eval prompts (builtin eval split)")
    ap.add_argument("--thresholds", type=int, default=101, help="thresholds evenly spaced in [0, 1]")
    ap.add_argument(
        "--new-tokens", type=int, default=4, help="tokens generated per prompt per threshold on the paper's path"
    )
    ap.add_argument("--batch-size", type=int, default=40, help="prompts per generate call on the paper's path")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from refusal_lab.steering import decisions

    from refusal_lab.steering import policy as policy_mod

    from refusal_lab.evaluation import scoring

    from refusal_lab.steering import first_position
    from refusal_lab.data.builtin import builtin_pools
    from refusal_lab.model.loading import load_pretrained

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(args.checkpoint) if args.checkpoint else train_tiny(args.scheme, Path(tmp))
        model, tok = load_pretrained(str(checkpoint))
        scheme = (
            json.loads((checkpoint.parent / "config.json").read_text())["tokens"]["scheme"]
            if (checkpoint.parent / "config.json").exists()
            else args.scheme
        )
        tokens = policy_mod.Policy(scheme=scheme).tokens
        token_ids = [tok.convert_tokens_to_ids(t) for t in tokens]
        pools = builtin_pools()
        rows = [e for source in ("refusal", "contrast", "general") for e in pools[source]]
        rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))[: args.prompts]]
        ids = [first_position.chat_ids(tok, [{"role": "user", "content": r.prompt}]) for r in rows]
        thresholds = np.linspace(0, 1, args.thresholds)

        # exact: one forward pass, then every threshold from the cached probabilities
        t0 = time.perf_counter()
        probs = np.exp(scoring.first_position_logprobs(model, ids, token_ids, tok.pad_token_id))
        t_forward = time.perf_counter() - t0
        grid = decisions.threshold_grid(probs, tokens, thresholds)
        t_exact = time.perf_counter() - t0

        # the paper's way: generate every prompt again for each threshold, the rule applied at the first position
        t0 = time.perf_counter()
        generated = np.zeros_like(grid)
        for k, t in enumerate(thresholds):
            pol = policy_mod.Policy(scheme=scheme, rule="threshold", threshold=float(t))
            for start in range(0, len(ids), args.batch_size):
                chunk = ids[start : start + args.batch_size]
                out = first_position.generate_with_processor(
                    model,
                    tok,
                    chunk,
                    lambda n: first_position.FirstPositionPolicy(pol, token_ids, n),
                    args.new_tokens,
                    do_sample=False,
                )
                generated[k, start : start + len(chunk)] = [token_ids.index(o[0]) for o in out]
        t_paper = time.perf_counter() - t0

    mismatches = int((generated != grid).sum())
    p_top = decisions.refusal_score(probs, tokens)
    figures = {
        "prompts": len(ids),
        "thresholds": len(thresholds),
        "new_tokens": args.new_tokens,
        "scheme": scheme,
        "exact_seconds": t_exact,
        "exact_forward_seconds": t_forward,
        "exact_grid_seconds": t_exact - t_forward,
        "paper_seconds": t_paper,
        "speed_ratio": t_paper / t_exact,
        "decisions": int(grid.size),
        "mismatches": mismatches,
        "refusal_rate_range": [
            float(decisions.is_refusal(grid, tokens).mean(axis=1).min()),
            float(decisions.is_refusal(grid, tokens).mean(axis=1).max()),
        ],
    }
    print(
        f"{len(ids)} prompts x {len(thresholds)} thresholds, scheme {scheme}, {args.new_tokens} new tokens per generation"
    )
    print(
        f"exact sweep (1 forward pass + grid): {t_exact:8.3f} s  (forward {t_forward:.3f} s, grid {1000 * (t_exact - t_forward):.2f} ms)"
    )
    print(f"paper's way (generate per threshold): {t_paper:8.3f} s")
    print(f"speed ratio: {t_paper / t_exact:.0f}x; identical decisions: {grid.size - mismatches}/{grid.size}")
    if mismatches:
        k, i = np.nonzero(generated != grid)
        print(
            f"mismatches at |p(refuse) - t| up to {np.abs(p_top[i] - thresholds[k]).max():.2e} (float noise between two forward passes)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
