"""The step plan and the one step loop every training backend runs (plain PyTorch in
loop.py, DeepSpeed in deepspeed_engine.py): they differ only in an `Engine` (wrap the
model, backward, optimizer step, save/load state).

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
import logging
import math
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import torch

from refusal_lab.config import TrainConfig
from refusal_lab.model.chat import IGNORE, Encoded

log = logging.getLogger("refusal_lab")


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)  # loss per optimizer step
    steps: int = 0
    real_tokens: int = 0  # non-padding tokens processed
    padded_tokens: int = 0  # tokens processed including padding
    seconds: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.real_tokens / self.seconds if self.seconds else 0.0


class EmptyTrainingSet(ValueError):
    """Nothing to train on: planning steps over no examples would never end."""


class StopRequested(Exception):
    """Raised at a step boundary after the state was saved (preemption, time limit)."""


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
    if n_examples == 0:
        raise EmptyTrainingSet(
            "no training examples to plan steps over (every example was skipped or the mix is empty)"
        )
    stream: list[int] = []
    while len(stream) < total * per_step:
        epoch = list(range(n_examples))
        rng.shuffle(epoch)
        stream += epoch
    steps = []
    for s in range(total):
        chunk = stream[s * per_step : (s + 1) * per_step]
        steps.append([chunk[m : m + cfg.batch_size] for m in range(0, per_step, cfg.batch_size)])
    return steps


class Engine(Protocol):
    """Where the backends differ. `module` is what the loop forwards through; rank r of
    `world` processes takes micro-batches r, r+world, ... of every step."""

    module: torch.nn.Module
    device: torch.device
    rank: int
    world: int
    packed: bool
    attn: str | None

    def autocast(self) -> contextlib.AbstractContextManager: ...
    def backward(self, loss: torch.Tensor, n_labels: int) -> None: ...
    def after_micro_batch(self) -> None: ...
    def step(self) -> float: ...  # the optimizer step; returns the lr it used
    def all_sum(self, value: float) -> float: ...  # summed over the processes of the job
    def save(self, state_dir: Path, result: TrainResult, step: int) -> None: ...
    def load(self, state_dir: Path) -> TrainResult | None: ...
    def finished(self, state_dir: Path) -> None: ...  # training done: its resumable state goes


def step_label_count(encoded: list[Encoded], micro_batches: list[list[int]]) -> int:
    """Label tokens of one optimizer step over every process (the first label of each
    example is never predicted), the divisor of the token-weighted loss."""
    return sum(sum(1 for x in encoded[i].labels[1:] if x != IGNORE) for mb in micro_batches for i in mb)


def run_steps(
    engine: Engine,
    encoded: list[Encoded],
    pad_id: int,
    cfg: TrainConfig,
    steps: list[list[list[int]]],
    log_fn: Callable[[dict, int], None],
    progress: bool,
    state_dir: Path | None,
    checkpoint_every: int | None,
    should_stop: Callable[[], bool],
) -> TrainResult:
    """The step loop: resume from `state_dir`, run the remaining steps, save every
    `checkpoint_every` steps and when should_stop() turns true on any process or Ctrl-C is
    pressed (then raise StopRequested), drop the state when done."""
    from tqdm.auto import tqdm

    result = (engine.load(state_dir) if state_dir is not None else None) or TrainResult()
    first_step = result.steps
    bar = tqdm(
        total=len(steps),
        initial=first_step,
        desc="train" if engine.world == 1 else f"train[{engine.rank}/{engine.world}]",
        disable=None if (progress and engine.rank == 0) else True,
        leave=False,
    )
    start = time.perf_counter() - result.seconds
    with interrupt_stops(state_dir is not None) as interrupted:
        for step in range(first_step, len(steps)):
            n_labels = step_label_count(encoded, steps[step])
            local_loss = sum(
                micro_step(engine, [encoded[i] for i in mb], pad_id, cfg, n_labels, result)
                for mb in steps[step][engine.rank :: engine.world]
                if mb
            )
            lr = engine.step()
            record_step(
                result,
                step,
                len(steps),
                engine.all_sum(local_loss) / max(1, n_labels),
                lr,
                (step + 1) * cfg.batch_size * cfg.grad_accum * engine.world / max(1, len(encoded)),
                start,
                log_fn,
                bar,
                cfg.log_every,
            )
            stop = engine.all_sum(float(should_stop() or interrupted())) > 0  # every process stops at the same step
            if state_dir is not None and ((checkpoint_every and (step + 1) % checkpoint_every == 0) or stop):
                result.seconds = time.perf_counter() - start
                engine.save(state_dir, result, step + 1)
                if stop and step + 1 < len(steps):
                    bar.close()
                    raise StopRequested(f"stopped after step {step + 1} of {len(steps)}; state in {state_dir}")
    bar.close()
    result.seconds = time.perf_counter() - start
    if state_dir is not None:
        engine.finished(state_dir)
    return result


@contextlib.contextmanager
def interrupt_stops(enabled: bool):
    """While training with a state folder, Ctrl-C (SIGINT) stops at the next step boundary
    with the state saved, so a rerun resumes; a second Ctrl-C interrupts at once. Signal
    handlers belong to the main thread: elsewhere (a Slurm job's worker) nothing changes."""
    hits = []
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def on_interrupt(signum, frame):
        if hits:
            raise KeyboardInterrupt
        hits.append(signum)
        log.warning("Ctrl-C: stopping after this step with the training state saved (Ctrl-C again quits at once)")

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield lambda: bool(hits)
    finally:
        signal.signal(signal.SIGINT, previous)


def micro_step(
    engine: Engine, rows: list[Encoded], pad_id: int, cfg: TrainConfig, n_labels: int, result: TrainResult
) -> float:
    """Forward and backward of one micro-batch; returns its summed loss."""
    batch = make_batch(rows, pad_id, cfg, engine.packed, engine.attn)
    result.real_tokens += int(batch.pop("real_tokens"))
    result.padded_tokens += batch["input_ids"].numel()
    batch = {k: v.to(engine.device) for k, v in batch.items()}
    with engine.autocast():
        loss, _ = micro_loss(engine.module, batch)
    engine.backward(loss, n_labels)
    engine.after_micro_batch()
    return loss.item()


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


def record_step(
    result: TrainResult,
    step: int,
    n_steps: int,
    step_loss: float,
    lr: float,
    epoch: float,
    start: float,
    log: Callable[[dict, int], None],
    bar,
    log_every: int,
) -> None:
    """Book-keeping after an optimizer step, shared by the torch and DeepSpeed loops."""
    result.losses.append(step_loss)
    result.steps = step + 1
    bar.update(1)
    bar.set_postfix(loss=f"{step_loss:.3f}")
    if (step + 1) % log_every == 0 or step + 1 == n_steps:
        result.seconds = time.perf_counter() - start
        log(
            {
                "train/loss": step_loss,
                "train/lr": lr,
                "train/epoch": epoch,
                "train/tokens_per_s": result.real_tokens / result.seconds,
                "train/tokens_per_s_with_padding": result.padded_tokens / result.seconds,
            },
            step + 1,
        )


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
    cap = (
        max([len(r.input_ids) for r in rows] + [row_tokens or 0]) if row_tokens else sum(len(r.input_ids) for r in rows)
    )
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
            ids[b, at : at + n] = torch.tensor(r.input_ids)
            labels[b, at + 1 : at + n] = torch.tensor(r.labels[1:])
            pos[b, at : at + n] = torch.arange(n)
            at += n
        pos[b, at:] = torch.arange(width - at)
        real += at
    return {"input_ids": ids, "labels": labels, "position_ids": pos, "real_tokens": torch.tensor(real)}


def make_batch(
    rows: list[Encoded], pad_id: int, cfg: TrainConfig, packed: bool, attn: str | None
) -> dict[str, torch.Tensor]:
    if not packed:
        batch = collate(rows, pad_id)
        batch["real_tokens"] = batch["attention_mask"].sum()
        return batch
    return pack(rows, pad_id, None if attn in FLASH_ATTENTION else cfg.max_length)


def attention_implementation(model) -> str | None:
    config = getattr(model, "config", None)
    return getattr(config, "_attn_implementation", None) if config is not None else None


@torch.no_grad()
def packing_matches_padding(
    model, rows: list[Encoded], pad_id: int, device, tokens: int = 24, atol: float = 1e-3
) -> bool:
    """Does this model honour packed position ids? Logits of two short examples packed
    into one row must equal their logits run one by one."""
    rows = [Encoded(r.input_ids[:tokens], r.labels[:tokens], r.prompt_len) for r in rows[:2]]
    if len(rows) < 2:
        return True
    was_training = model.training
    model.eval()
    try:
        packed = pack(rows, pad_id, None)
        out = (
            model(
                input_ids=packed["input_ids"].to(device),
                position_ids=packed["position_ids"].to(device),
                use_cache=False,
            )
            .logits[0]
            .float()
        )
        at, ok = 0, True
        for r in sorted(rows, key=lambda r: -len(r.input_ids)):  # pack() orders longest first
            alone = model(input_ids=torch.tensor([r.input_ids], device=device)).logits[0].float()
            ok &= bool(torch.allclose(out[at : at + len(r.input_ids)], alone, atol=atol, rtol=1e-3))
            at += len(r.input_ids)
        return ok
    finally:
        model.train(was_training)


def use_packing(model, encoded: list[Encoded], pad_id: int, cfg: TrainConfig, device) -> bool:
    if not cfg.packing:
        return False
    if packing_matches_padding(model, encoded, pad_id, device):
        return True
    log.warning(
        "train.packing=true but this model (attention %r) attends across packed examples; training on padded batches",
        attention_implementation(model),
    )
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
