"""Supervised fine-tuning loop (PyTorch; backend=deepspeed runs the same plan in a
DeepSpeed engine, see deepspeed_backend.py).

Batches are planned up front from the seed (a list of optimizer steps, each a
list of micro-batches), so a resumed job can continue at step k with exactly the
batches it would have seen. The loss is the token-weighted mean over all
micro-batches of a step, not a mean of per-batch means.

Packing (train.packing): a micro-batch's examples are concatenated into rows with
position ids restarting at 0 for every example and no attention mask.
transformers 5.x reads such position ids as packed sequences: sdpa, eager and flex
attention get a block-diagonal causal mask (masking_utils.find_packed_sequence_indices,
any number of rows), flash_attention_2/3 call the varlen kernel (only with a single
row, so for them everything goes into one row). Only without a KV cache: with one
(the default use_cache=True creates it even in training) masking_utils skips the
packed-sequence detection and examples attend to each other, hence use_cache=False.
`packing_matches_padding` checks on
the real model that packed logits equal per-example logits before packing is used.
"""

from __future__ import annotations

import contextlib
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from refusal_lab.model.chat import IGNORE, Encoded
from refusal_lab.config import TrainConfig


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)   # loss per optimizer step
    steps: int = 0
    real_tokens: int = 0          # non-padding tokens processed
    padded_tokens: int = 0        # tokens processed including padding
    seconds: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.real_tokens / self.seconds if self.seconds else 0.0


def plan_steps(n_examples: int, cfg: TrainConfig, world_size: int = 1) -> list[list[list[int]]]:
    """Optimizer steps -> micro-batches -> example indices, seeded and deterministic.
    With world_size W each step holds grad_accum * W micro-batches; rank r takes
    micro-batches r, r+W, ... so W processes see the examples one process with
    grad_accum * W would see, in the same steps."""
    per_step = cfg.batch_size * cfg.grad_accum * world_size
    rng = random.Random(cfg.seed)
    if cfg.max_steps is not None:
        total = cfg.max_steps
    else:
        total = max(1, math.ceil(cfg.epochs * n_examples / per_step))
    stream: list[int] = []
    while len(stream) < total * per_step:
        epoch = list(range(n_examples))
        rng.shuffle(epoch)
        stream += epoch
    steps = []
    for s in range(total):
        chunk = stream[s * per_step:(s + 1) * per_step]
        steps.append([chunk[m:m + cfg.batch_size] for m in range(0, per_step, cfg.batch_size)])
    return steps


def collate(rows: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right padding; padded positions are masked by length (never by pad id, which may equal eos)."""
    width = max(len(r.input_ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r.input_ids)
        ids[i, :n] = torch.tensor(r.input_ids)
        labels[i, :n] = torch.tensor(r.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


FLASH_ATTENTION = ("flash_attention_2", "flash_attention_3", "flash_attention_4")


def pack(rows: list[Encoded], pad_id: int, row_tokens: int | None) -> dict[str, torch.Tensor]:
    """Padding-free layout: examples concatenated (first fit, longest first) into rows of
    at most `row_tokens` tokens (None = one row), position ids restarting per example and
    no attention mask. The first label of each example is masked so that no example is
    predicted from the one before it. Rows shorter than the longest get a tail of pad ids
    that forms its own position run (a separate sequence) with masked labels."""
    cap = max([len(r.input_ids) for r in rows] + [row_tokens or 0]) if row_tokens else sum(len(r.input_ids) for r in rows)
    bins: list[list[Encoded]] = []
    room: list[int] = []
    for r in sorted(rows, key=lambda r: -len(r.input_ids)):
        n = len(r.input_ids)
        for b, free in enumerate(room):
            if n <= free:
                bins[b].append(r)
                room[b] -= n
                break
        else:
            bins.append([r])
            room.append(cap - n)
    width = max(cap - free for free in room)
    ids = torch.full((len(bins), width), pad_id, dtype=torch.long)
    labels = torch.full((len(bins), width), IGNORE, dtype=torch.long)
    pos = torch.zeros((len(bins), width), dtype=torch.long)
    real = 0
    for b, members in enumerate(bins):
        at = 0
        for r in members:
            n = len(r.input_ids)
            ids[b, at:at + n] = torch.tensor(r.input_ids)
            labels[b, at + 1:at + n] = torch.tensor(r.labels[1:])
            pos[b, at:at + n] = torch.arange(n)
            at += n
        pos[b, at:] = torch.arange(width - at)
        real += at
    return {"input_ids": ids, "labels": labels, "position_ids": pos, "real_tokens": torch.tensor(real)}


def make_batch(rows: list[Encoded], pad_id: int, cfg: TrainConfig, packed: bool, attn: str | None) -> dict[str, torch.Tensor]:
    if not packed:
        batch = collate(rows, pad_id)
        batch["real_tokens"] = batch["attention_mask"].sum()
        return batch
    return pack(rows, pad_id, None if attn in FLASH_ATTENTION else cfg.max_length)


def attention_implementation(model) -> str | None:
    config = getattr(model, "config", None)
    return getattr(config, "_attn_implementation", None) if config is not None else None


@torch.no_grad()
def packing_matches_padding(model, rows: list[Encoded], pad_id: int, device, tokens: int = 24, atol: float = 1e-3) -> bool:
    """Does this model honour packed position ids? Logits of two short examples packed
    into one row must equal their logits run one by one."""
    rows = [Encoded(r.input_ids[:tokens], r.labels[:tokens], r.prompt_len) for r in rows[:2]]
    if len(rows) < 2:
        return True
    was_training = model.training
    model.eval()
    try:
        packed = pack(rows, pad_id, None)
        out = model(input_ids=packed["input_ids"].to(device), position_ids=packed["position_ids"].to(device),
                    use_cache=False).logits[0].float()
        at, ok = 0, True
        for r in sorted(rows, key=lambda r: -len(r.input_ids)):  # pack() orders longest first
            alone = model(input_ids=torch.tensor([r.input_ids], device=device)).logits[0].float()
            ok &= bool(torch.allclose(out[at:at + len(r.input_ids)], alone, atol=atol, rtol=1e-3))
            at += len(r.input_ids)
        return ok
    finally:
        model.train(was_training)


def use_packing(model, encoded: list[Encoded], pad_id: int, cfg: TrainConfig, device) -> bool:
    if not cfg.packing:
        return False
    if packing_matches_padding(model, encoded, pad_id, device):
        return True
    import logging

    logging.getLogger("refusal_lab").warning(
        "train.packing=true but this model (attention %r) attends across packed examples; training on padded batches",
        attention_implementation(model))
    return False


def lr_lambda(total_steps: int, warmup_ratio: float) -> Callable[[int], float]:
    warmup = int(round(warmup_ratio * total_steps))

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return f


def embedding_matrices(model) -> list[torch.nn.Parameter]:
    """Input embedding and (if untied) output head weights."""
    mats = [model.get_input_embeddings().weight]
    head = model.get_output_embeddings()
    if head is not None and head.weight is not mats[0]:
        mats.append(head.weight)
    return mats


def prepare_trainable(model, cfg: TrainConfig, new_ids: list[int]):
    """Freeze/wrap the model for `train.trainable`; returns the model to train."""
    if cfg.trainable == "all":
        return model
    if cfg.trainable == "control_tokens":
        for p in model.parameters():
            p.requires_grad_(False)
        keep = torch.zeros(model.get_input_embeddings().weight.shape[0], 1)
        keep[new_ids] = 1
        for w in embedding_matrices(model):
            w.requires_grad_(True)
            w.register_hook(lambda g, k=keep: g * k.to(g.device, g.dtype))  # only the new rows move
        return model
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, target_modules=list(cfg.lora_targets), lora_dropout=0.0,
                      trainable_token_indices={"embed_tokens": list(new_ids)} if new_ids else None, task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def build_optimizer(model, cfg: TrainConfig, new_ids: list[int]):
    embed_ids = {id(w) for w in embedding_matrices(model)}
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if id(p) in embed_ids or p.ndim < 2 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    on_gpu = all(p.is_cuda for g in groups for p in g["params"])  # fused: one kernel per step (launch-bound small models)
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr, betas=(0.9, 0.95), fused=on_gpu or None)


class NewRowLR:
    """Scales the update of the new control-token rows by new_rows_lr / lr after each
    step. Exact for Adam without weight decay (its update is proportional to lr), and
    the new rows never get weight decay; lets fresh tokens move fast while the
    pretrained rows keep a small learning rate."""

    def __init__(self, model, cfg: TrainConfig, new_ids: list[int]):
        self.scale = (cfg.new_rows_lr / cfg.lr) if (cfg.new_rows_lr is not None and cfg.lr > 0) else 1.0
        self.ids = torch.tensor(new_ids, dtype=torch.long)
        self.mats = [w for w in embedding_matrices(model) if w.requires_grad] if new_ids and self.scale != 1.0 else []
        self.before: list[torch.Tensor] = []

    def snapshot(self):
        self.before = [w.detach()[self.ids.to(w.device)].clone() for w in self.mats]

    @torch.no_grad()
    def apply(self):
        for w, old in zip(self.mats, self.before):
            idx = self.ids.to(w.device)
            w[idx] = old + self.scale * (w[idx] - old)


def micro_loss(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Summed next-token loss of a micro-batch (padded or packed) and its number of label tokens."""
    if "position_ids" in batch:  # use_cache=False: with a cache transformers ignores the packed position ids
        logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
    else:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
    shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
    shift_labels = batch["labels"][:, 1:].reshape(-1)
    loss = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=IGNORE, reduction="sum")
    return loss, int((shift_labels != IGNORE).sum())


def record_step(result: TrainResult, step: int, n_steps: int, step_loss: float, lr: float, epoch: float,
                start: float, log: Callable[[dict, int], None], bar, log_every: int) -> None:
    """Book-keeping after an optimizer step, shared by the torch and DeepSpeed loops."""
    result.losses.append(step_loss)
    result.steps = step + 1
    bar.update(1)
    bar.set_postfix(loss=f"{step_loss:.3f}")
    if (step + 1) % log_every == 0 or step + 1 == n_steps:
        result.seconds = time.perf_counter() - start
        log({"train/loss": step_loss, "train/lr": lr, "train/epoch": epoch,
             "train/tokens_per_s": result.real_tokens / result.seconds,
             "train/tokens_per_s_with_padding": result.padded_tokens / result.seconds}, step + 1)


STATE_FILE = "train_state.pt"


def save_state(state_dir: Path, model, optimizer, scheduler, result: TrainResult) -> None:
    """Everything needed to continue at the next step, written atomically (a kill
    mid-write leaves the previous state intact)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / (STATE_FILE + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "result": asdict(result), "rng": torch.get_rng_state()}, tmp)
    tmp.replace(state_dir / STATE_FILE)


def load_state(state_dir: Path, model, optimizer, scheduler) -> TrainResult | None:
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    return TrainResult(**state["result"])


class StopRequested(Exception):
    """Raised at a step boundary after the state was saved (preemption, time limit)."""


def train(model, encoded: list[Encoded], pad_id: int, cfg: TrainConfig, new_ids: list[int],
          log: Callable[[dict, int], None] = lambda m, s: None, device: torch.device | None = None,
          progress: bool = True, state_dir: Path | None = None, checkpoint_every: int | None = None,
          should_stop: Callable[[], bool] = lambda: False) -> TrainResult:
    """Train; with state_dir, resume from a saved state there and save one every
    `checkpoint_every` steps and whenever should_stop() turns true (then raise StopRequested)."""
    if cfg.backend == "deepspeed":
        from refusal_lab.training.deepspeed_engine import train_deepspeed

        return train_deepspeed(model, encoded, pad_id, cfg, new_ids, log, device, progress, state_dir, checkpoint_every, should_stop)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        raise RuntimeError(f"train.backend='torch' runs in one process but this job has {dist.get_world_size()} processes; "
                           "use train=deepspeed_zero2 (or train.backend=deepspeed) for data-parallel training")
    device = device or next(model.parameters()).device
    steps = plan_steps(len(encoded), cfg)
    packed = use_packing(model, encoded, pad_id, cfg, device)
    attn = attention_implementation(model)
    optimizer = build_optimizer(model, cfg, new_ids)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(len(steps), cfg.warmup_ratio))
    rows_lr = NewRowLR(model, cfg, new_ids)
    params = [p for p in model.parameters() if p.requires_grad]
    result = (load_state(state_dir, model, optimizer, scheduler) if state_dir else None) or TrainResult()
    # mixed precision: bf16 compute, fp32 (model.dtype) master weights and optimizer state
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if cfg.autocast == "bfloat16" else contextlib.nullcontext()
    first_step = result.steps
    model.train()
    from tqdm.auto import tqdm

    bar = tqdm(total=len(steps), initial=first_step, desc="train", disable=None if progress else True, leave=False)
    start = time.perf_counter() - result.seconds
    for step, micro_batches in enumerate(steps):
        if step < first_step:
            continue
        batches = [make_batch([encoded[i] for i in mb], pad_id, cfg, packed, attn) for mb in micro_batches if mb]
        n_labels = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in batches)
        total_loss = 0.0
        for b in batches:
            result.real_tokens += int(b.pop("real_tokens"))
            result.padded_tokens += b["input_ids"].numel()
            b = {k: v.to(device) for k, v in b.items()}
            with autocast:
                loss, _ = micro_loss(model, b)
            (loss / max(1, n_labels)).backward()
            total_loss += loss.item()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        rows_lr.snapshot()
        optimizer.step()
        rows_lr.apply()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        record_step(result, step, len(steps), total_loss / max(1, n_labels), scheduler.get_last_lr()[0],
                    (step + 1) * cfg.batch_size * cfg.grad_accum / max(1, len(encoded)), start, log, bar, cfg.log_every)
        stop = should_stop()
        if state_dir is not None and ((checkpoint_every and (step + 1) % checkpoint_every == 0) or stop):
            result.seconds = time.perf_counter() - start
            save_state(state_dir, model, optimizer, scheduler, result)
            if stop and step + 1 < len(steps):
                bar.close()
                raise StopRequested(f"stopped after step {step + 1} of {len(steps)}; state in {state_dir}")
    bar.close()
    result.seconds = time.perf_counter() - start
    if state_dir is not None:
        shutil.rmtree(state_dir, ignore_errors=True)  # finished: the final checkpoint supersedes it
    return result
