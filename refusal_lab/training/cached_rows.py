"""Control-token rows fitted on cached first-position states (train.trainable=control_tokens
with train.cached_states=true).

With trainable=control_tokens only the new token rows learn and the loss sits at the
control position (the first response position). The logit of vocabulary row v there is
h . W[v], where h is the frozen network's final hidden state (after the final norm) at the
last prompt position. h does not depend on the new rows: the prompt never contains a
control token, so the new rows enter the network only as head rows (and, tied, as input
embeddings of tokens that come after that position). So h is computed once per prompt
(batched, no grad) together with the log-sum-exp of the frozen rows' logits, and the
rows are then fitted with the full-vocabulary softmax:

    log p(c | prompt) = h . w_c - logsumexp([lse_frozen(h), h . w_1, ..., h . w_k])

with the loop's step plan (plan_steps), loss normalisation, AdamW (betas 0.9/0.95, no
weight decay on embedding rows, as build_optimizer does), warmup + cosine schedule,
gradient clipping and new_rows_lr rule, so the rows equal the loop's up to float
tolerance (tests/test_cached_rows.py). The fitted rows go back into the head (tied:
the one shared matrix; untied: the head; the input rows stay at their init, as in the
loop, where they never get a gradient), so scoring and forced generation read them
unchanged.

States are cached as one file per (model fingerprint, prompt ids hash) under
train.states_cache_dir: reruns and sweeps over epochs, lr or thresholds skip the forward
passes; another model or other prompts get another key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from refusal_lab.config import TrainConfig
from refusal_lab.model.chat import Encoded
from refusal_lab.training.steps import TrainResult, lr_lambda, plan_steps

log = logging.getLogger("refusal_lab")


@dataclass
class FirstPositionStates:
    hidden: torch.Tensor  # [n, d] float32: final hidden state at the last prompt position
    frozen_lse: torch.Tensor  # [n] float32: logsumexp of the frozen rows' logits there
    prompt_tokens: int = 0  # tokens run through the network to get them (0 on a cache hit)
    seconds: float = 0.0  # time spent computing or loading them
    cache_hit: bool = False


def head_matrix(model) -> torch.Tensor:
    head = model.get_output_embeddings()
    return (head if head is not None else model.get_input_embeddings()).weight


def model_fingerprint(model, new_ids: list[int]) -> str:
    """Hash of the config and every weight except the new control-token rows (which
    the states do not depend on): another model, or the same model changed, gets
    another key."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps(model.config.to_dict(), sort_keys=True, default=str).encode())
    new = set(new_ids)
    token_matrices = {id(model.get_input_embeddings().weight), id(head_matrix(model))}
    for name, p in model.named_parameters():
        t = p.detach()
        if id(p) in token_matrices and new:
            keep = torch.ones(t.shape[0], dtype=torch.bool, device=t.device)
            keep[[i for i in new if i < t.shape[0]]] = False
            t = t[keep]
        digest.update(name.encode())
        digest.update(t.float().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def prompts_hash(prompts: list[list[int]]) -> str:
    return hashlib.blake2b(json.dumps(prompts).encode(), digest_size=16).hexdigest()


def head_is_linear(model, prompt: list[int], hidden: torch.Tensor, device) -> bool:
    """Do the model's own logits at the end of `prompt` equal h @ W^T? (False for heads with
    a bias, a logit scale or soft-capping, where the cached fit would not be exact.)"""
    own = (
        model(input_ids=torch.tensor([prompt], device=device), logits_to_keep=1, use_cache=False).logits[0, -1].float()
    )
    return bool(torch.allclose(own, hidden @ head_matrix(model).float().T, atol=1e-3, rtol=1e-3))


@torch.no_grad()
def compute_states(
    model, prompts: list[list[int]], pad_id: int, new_ids: list[int], batch_size: int, device
) -> FirstPositionStates:
    """Right-padded batches of similar length; h gathered at each prompt's last position."""
    start = time.perf_counter()
    was_training = model.training
    model.eval()
    decoder = getattr(model, model.base_model_prefix)
    weight = head_matrix(model)
    frozen = torch.ones(weight.shape[0], dtype=torch.bool, device=weight.device)
    frozen[new_ids] = False
    frozen_w = weight[frozen].float()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    hidden = torch.zeros(len(prompts), weight.shape[1])
    lse = torch.zeros(len(prompts))
    for b in range(0, len(order), batch_size):
        chunk = order[b : b + batch_size]
        width = max(len(prompts[i]) for i in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, i in enumerate(chunk):
            ids[r, : len(prompts[i])] = torch.tensor(prompts[i])
            mask[r, : len(prompts[i])] = 1
        ids, mask = ids.to(device), mask.to(device)
        last = mask.sum(dim=1) - 1
        h = decoder(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        h = h[torch.arange(len(chunk), device=device), last].float()
        if b == 0 and not head_is_linear(model, prompts[chunk[0]], h[0], device):
            raise ValueError(
                "train.cached_states=true: this model's logits are not h @ W^T of its head (bias, scale or "
                "soft-capping); set train.cached_states=false to train with the loop"
            )
        hidden[chunk] = h.cpu()
        lse[chunk] = torch.logsumexp(h @ frozen_w.T, dim=-1).cpu()
    model.train(was_training)
    return FirstPositionStates(hidden, lse, sum(len(p) for p in prompts), time.perf_counter() - start)


def cached_states(
    model,
    prompts: list[list[int]],
    pad_id: int,
    new_ids: list[int],
    cache_dir: str | Path | None,
    batch_size: int,
    device,
) -> FirstPositionStates:
    """Load the states for (model, prompts) from cache_dir, or compute and store them."""
    if cache_dir is None:
        return compute_states(model, prompts, pad_id, new_ids, batch_size, device)
    start = time.perf_counter()
    path = Path(cache_dir) / f"{model_fingerprint(model, new_ids)[:20]}-{prompts_hash(prompts)[:20]}.pt"
    if path.exists():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        return FirstPositionStates(saved["hidden"], saved["frozen_lse"], 0, time.perf_counter() - start, True)
    states = compute_states(model, prompts, pad_id, new_ids, batch_size, device)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"hidden": states.hidden, "frozen_lse": states.frozen_lse}, tmp)
    tmp.replace(path)  # atomic: a concurrent sweep job reads the old file or the whole new one
    states.seconds = time.perf_counter() - start
    return states


def step_loss(rows: torch.Tensor, states: FirstPositionStates, targets: torch.Tensor, idx: list[int]) -> torch.Tensor:
    """Summed cross-entropy over the full vocabulary at the control position of examples idx."""
    h = states.hidden[idx]
    new_logits = h @ rows.T
    lse = torch.logsumexp(torch.cat([states.frozen_lse[idx, None], new_logits], dim=1), dim=1)
    return (lse - new_logits[torch.arange(len(idx)), targets[idx]]).sum()


def fit_rows(
    rows: torch.Tensor,
    states: FirstPositionStates,
    targets: torch.Tensor,
    cfg: TrainConfig,
    log_fn: Callable[[dict, int], None] = lambda m, s: None,
) -> tuple[torch.Tensor, list[float]]:
    """The loop's optimisation of the new head rows, on cached states. targets index rows."""
    rows = rows.detach().float().clone().requires_grad_(True)
    steps = plan_steps(len(targets), cfg)
    optimizer = torch.optim.AdamW([rows], lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(len(steps), cfg.warmup_ratio))
    scale = cfg.new_rows_lr / cfg.lr if cfg.new_rows_lr is not None and cfg.lr > 0 else 1.0
    losses: list[float] = []
    for step, micro_batches in enumerate(steps):
        idx = [i for mb in micro_batches for i in mb]
        loss = step_loss(rows, states, targets, idx) / max(1, len(idx))
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([rows], cfg.grad_clip)
        before = rows.detach().clone()
        optimizer.step()
        if scale != 1.0:
            with torch.no_grad():
                rows.copy_(before + scale * (rows - before))
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if (step + 1) % cfg.log_every == 0 or step + 1 == len(steps):
            log_fn(
                {
                    "train/loss": losses[-1],
                    "train/lr": scheduler.get_last_lr()[0],
                    "train/epoch": (step + 1) * cfg.batch_size * cfg.grad_accum / max(1, len(targets)),
                },
                step + 1,
            )
    return rows.detach(), losses


def train_cached_rows(
    model,
    encoded: list[Encoded],
    pad_id: int,
    cfg: TrainConfig,
    new_ids: list[int],
    log_fn: Callable[[dict, int], None] = lambda m, s: None,
    device=None,
) -> TrainResult:
    """trainable=control_tokens through cached states; writes the fitted rows into the model."""
    start = time.perf_counter()
    device = device or next(model.parameters()).device
    prompts = [e.input_ids[: e.prompt_len] for e in encoded]
    position = {t: j for j, t in enumerate(new_ids)}
    targets = torch.tensor([position[e.labels[e.prompt_len]] for e in encoded])
    states = cached_states(model, prompts, pad_id, new_ids, cfg.states_cache_dir, 32, device)
    log.info(
        "first-position states of %d prompts: %s in %.1f s",
        len(prompts),
        "loaded from the cache" if states.cache_hit else "computed",
        states.seconds,
    )
    weight = head_matrix(model)
    fitted, losses = fit_rows(weight.detach()[new_ids], states, targets, cfg, log_fn)
    with torch.no_grad():
        weight[new_ids] = fitted.to(weight.device, weight.dtype)
    seconds = time.perf_counter() - start
    log_fn(
        {
            "train/states_seconds": states.seconds,
            "train/states_cache_hit": int(states.cache_hit),
            "train/fit_seconds": seconds - states.seconds,
        },
        len(losses),
    )
    return TrainResult(
        losses=losses,
        steps=len(losses),
        real_tokens=states.prompt_tokens,
        padded_tokens=states.prompt_tokens,
        seconds=seconds,
    )
