"""train.backend=torch: the step loop of steps.py in one process with a plain AdamW
(new control-token rows optionally on their own learning rate), bf16 autocast, and a
resumable state file. `TorchBackend` is what a run uses: build the model and its
control tokens, train, hand back the final model.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch

from refusal_lab.config import RunConfig, TrainConfig
from refusal_lab.io import atomic_open
from refusal_lab.model.chat import Encoded
from refusal_lab.training.steps import (
    TrainResult,
    embedding_matrices,
    lr_lambda,
    plan_steps,
    run_steps,
    use_packing,
    attention_implementation,
)

log = logging.getLogger("refusal_lab")


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

    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        target_modules=list(cfg.lora_targets),
        lora_dropout=0.0,
        trainable_token_indices={"embed_tokens": list(new_ids)} if new_ids else None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def build_optimizer(model, cfg: TrainConfig, new_ids: list[int]):
    embed_ids = {id(w) for w in embedding_matrices(model)}
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if id(p) in embed_ids or p.ndim < 2 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    on_gpu = all(
        p.is_cuda for g in groups for p in g["params"]
    )  # fused: one kernel per step (launch-bound small models)
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


STATE_FILE = "train_state.pt"


def save_state(state_dir: Path, model, optimizer, scheduler, result: TrainResult) -> None:
    """Everything needed to continue at the next step, written atomically (a kill
    mid-write leaves the previous state intact)."""
    with atomic_open(state_dir / STATE_FILE, "wb") as fh:
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "result": asdict(result),
                "rng": torch.get_rng_state(),
            },
            fh,
        )


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


class TorchEngine:
    """steps.Engine for one process: backward divides by the step's label count, the
    optimizer steps once all micro-batches of a step are in."""

    rank, world = 0, 1

    def __init__(
        self,
        model,
        encoded: list[Encoded],
        pad_id: int,
        cfg: TrainConfig,
        new_ids: list[int],
        device: torch.device,
        n_steps: int,
    ):
        self.module, self.device, self.cfg = model, device, cfg
        self.packed = use_packing(model, encoded, pad_id, cfg, device)
        self.attn = attention_implementation(model)
        self.optimizer = build_optimizer(model, cfg, new_ids)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(n_steps, cfg.warmup_ratio))
        self.rows_lr = NewRowLR(model, cfg, new_ids)
        self.params = [p for p in model.parameters() if p.requires_grad]
        model.train()

    def autocast(self):
        # mixed precision: bf16 compute, fp32 (model.dtype) master weights and optimizer state
        if self.cfg.autocast == "bfloat16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def backward(self, loss: torch.Tensor, n_labels: int) -> None:
        (loss / max(1, n_labels)).backward()

    def after_micro_batch(self) -> None:
        pass

    def step(self) -> float:
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.rows_lr.snapshot()
        self.optimizer.step()
        self.rows_lr.apply()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return self.scheduler.get_last_lr()[0]

    def all_sum(self, value: float) -> float:
        return value

    def save(self, state_dir: Path, result: TrainResult, step: int) -> None:
        save_state(state_dir, self.module, self.optimizer, self.scheduler, result)

    def load(self, state_dir: Path) -> TrainResult | None:
        return load_state(state_dir, self.module, self.optimizer, self.scheduler)

    def finished(self, state_dir: Path) -> None:
        shutil.rmtree(state_dir, ignore_errors=True)  # the final checkpoint supersedes it


def train(
    model,
    encoded: list[Encoded],
    pad_id: int,
    cfg: TrainConfig,
    new_ids: list[int],
    log: Callable[[dict, int], None] = lambda m, s: None,
    device: torch.device | None = None,
    progress: bool = True,
    state_dir: Path | None = None,
    checkpoint_every: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> TrainResult:
    """Train in this process; with state_dir, resume from a saved state there and save one every
    `checkpoint_every` steps and whenever should_stop() turns true (then raise StopRequested)."""
    if cfg.cached_states and cfg.trainable == "control_tokens":  # the frozen network runs once per prompt
        from refusal_lab.training.cached_rows import train_cached_rows

        return train_cached_rows(model, encoded, pad_id, cfg, new_ids, log, device)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        raise RuntimeError(
            f"train.backend='torch' runs in one process but this job has {dist.get_world_size()} processes; "
            "use train=deepspeed_zero2 (or train.backend=deepspeed) for data-parallel training"
        )
    steps = plan_steps(len(encoded), cfg)
    engine = TorchEngine(model, encoded, pad_id, cfg, new_ids, device or next(model.parameters()).device, len(steps))
    return run_steps(engine, encoded, pad_id, cfg, steps, log, progress, state_dir, checkpoint_every, should_stop)


class TorchBackend:
    """A run in one process: the model on train.device, trained as `train.trainable` says,
    saved as an ordinary checkpoint."""

    is_main = True
    world_size = 1

    def __init__(self, cfg: RunConfig, dist_env):
        from refusal_lab.model.loading import resolve_device

        if dist_env.world_size > 1:
            raise ValueError(
                f"train.backend='torch' with {dist_env.world_size} processes ({dist_env.source}): the torch loop "
                "runs in one process; use train=deepspeed_zero2 / deepspeed_zero3 for several"
            )
        self.cfg, self.device, self.trained = cfg, resolve_device(cfg.train.device), None

    def build_model(self, texts: list[str]):
        """Model, tokenizer and the ids of the control tokens added to both."""
        from refusal_lab.model.loading import load_model
        from refusal_lab.model.tokens import install_control_tokens

        model, tokenizer = load_model(self.cfg.model, texts, self.cfg.seed)
        token_ids = install_control_tokens(model, tokenizer, self.cfg.tokens)
        return model.to(self.device), tokenizer, token_ids

    def train(
        self, model, encoded: list[Encoded], pad_id: int, new_ids: list[int], log_fn, state_dir: Path, should_stop
    ) -> TrainResult:
        self.trained = prepare_trainable(model, self.cfg.train, new_ids)
        return train(
            self.trained,
            encoded,
            pad_id,
            self.cfg.train,
            new_ids,
            log_fn,
            self.device,
            state_dir=state_dir,
            checkpoint_every=self.cfg.train.checkpoint_every,
            should_stop=should_stop,
        )

    def final_model(self, model, tokenizer, result: TrainResult, run_dir: Path):
        """The trained model to evaluate (LoRA merged), saved under run_dir/checkpoint if asked."""
        if self.cfg.train.trainable == "lora":
            model = self.trained.merge_and_unload()
        if self.cfg.train.save_checkpoint:
            model.save_pretrained(run_dir / "checkpoint")
            tokenizer.save_pretrained(run_dir / "checkpoint")
        return model, tokenizer

    def close(self) -> None:
        pass
