"""Control-token training (train.trainable=control_tokens): today's loop against rows fitted on
cached first-position states (train.cached_states), same model, data, epochs and step plan,
measured in one run on this machine.

    OMP_NUM_THREADS=1 python bench/control_token_training.py                      # SmolLM2-135M, 200 CoCoNot+alpaca rows, 2 epochs
    OMP_NUM_THREADS=1 python bench/control_token_training.py --model tiny --data builtin

Prints the loop's time, the cached path's time cold (states computed) and warm (states read
from the cache), their ratios, the cost of extra epochs on each path, and the largest
difference between the rows the two paths learned.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time

import torch


def compose(overrides: list[str]):
    from refusal_lab.composing import compose_run

    return compose_run(overrides, check_machine=False)


def setup(args):
    from refusal_lab.data import loaders, mixing
    from refusal_lab.model.chat import encode_example
    from refusal_lab.model.loading import load_model
    from refusal_lab.model.tokens import add_control_tokens, resize_and_init

    cfg = compose(
        [
            f"model={args.model}",
            "train=control_tokens",
            f"data={args.data}",
            f"mix.total={args.rows}",
            f"train.epochs={args.epochs}",
            "logger=disabled",
        ]
    )
    data = loaders.load(cfg.data)
    mix = mixing.mix(data.train, cfg.mix)
    model, tok = load_model(cfg.model, [e.prompt for e in mix.examples] + [e.response for e in mix.examples], cfg.seed)
    ids = add_control_tokens(tok, cfg.tokens.scheme)
    resize_and_init(model, tok, ids, cfg.tokens.init, dict(cfg.tokens.descriptions))
    enc = [
        x
        for e in mix.examples
        if (x := encode_example(tok, e, cfg.tokens.scheme, cfg.train.loss_on, cfg.train.max_length, True))
    ]
    return cfg, model, tok, list(ids.values()), enc


def rows_of(model, new_ids):
    return [
        w.detach()[new_ids].clone() for w in (model.get_input_embeddings().weight, model.get_output_embeddings().weight)
    ]


def restore(model, new_ids, rows):
    with torch.no_grad():
        for w, r in zip((model.get_input_embeddings().weight, model.get_output_embeddings().weight), rows):
            w[new_ids] = r


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2_135m", help="smollm2_135m or tiny")
    ap.add_argument("--data", default="coconot", help="coconot (../shared/data) or builtin")
    ap.add_argument("--rows", type=int, default=200, help="training mix size")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--extra-epochs", type=float, default=8.0, help="added epochs for the per-epoch cost")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from refusal_lab.training.cached_rows import train_cached_rows
    from refusal_lab.training.loop import prepare_trainable, train

    cfg, model, tok, new_ids, enc = setup(args)
    print(
        f"model {args.model}, {len(enc)} rows, {args.epochs:g} epochs, threads {args.threads}, load {os.getloadavg()[0]:.1f}"
    )
    init = rows_of(model, new_ids)
    loop_cfg = dataclasses.replace(cfg.train, cached_states=False)
    loop, loop_s = timed(
        lambda: train(
            prepare_trainable(model, loop_cfg, new_ids), enc, tok.pad_token_id, loop_cfg, new_ids, progress=False
        )
    )
    loop_rows = rows_of(model, new_ids)
    with tempfile.TemporaryDirectory() as cache:
        cached_cfg = dataclasses.replace(cfg.train, cached_states=True, states_cache_dir=cache)
        restore(model, new_ids, init)
        cold, cold_s = timed(lambda: train_cached_rows(model, enc, tok.pad_token_id, cached_cfg, new_ids))
        diff = max(float((a - b).abs().max()) for a, b in zip(rows_of(model, new_ids), loop_rows))
        restore(model, new_ids, init)
        _, warm_s = timed(lambda: train_cached_rows(model, enc, tok.pad_token_id, cached_cfg, new_ids))
        more_cfg = dataclasses.replace(cached_cfg, epochs=args.epochs + args.extra_epochs)
        restore(model, new_ids, init)
        _, more_s = timed(lambda: train_cached_rows(model, enc, tok.pad_token_id, more_cfg, new_ids))
    print(
        f"loop (today)            {loop_s:8.2f} s   {loop.steps} steps, {loop.padded_tokens} tokens through the network"
    )
    print(f"cached, cold            {cold_s:8.2f} s   {cold.steps} steps, {cold.real_tokens} prompt tokens once")
    print(f"cached, warm (rerun)    {warm_s:8.2f} s")
    print(f"speed-up at {args.epochs:g} epochs     {loop_s / cold_s:8.1f}x cold, {loop_s / warm_s:.0f}x warm")
    print(
        f"per extra epoch         loop {loop_s / args.epochs:.2f} s, cached {(more_s - warm_s) / args.extra_epochs:.4f} s "
        f"({args.epochs + args.extra_epochs:g} epochs warm: {more_s:.2f} s)"
    )
    print(
        f"max |row difference| loop vs cached: {diff:.2e}; final loss loop {loop.losses[-1]:.4f}, cached {cold.losses[-1]:.4f}; "
        f"load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
