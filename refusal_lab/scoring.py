"""First-position scoring and forced-token generation (model I/O).

One forward pass per prompt over the chat template with the generation prompt;
the softmax (optionally temperature-scaled) over the whole vocabulary at the last
prompt position gives every control token's probability.
"""

from __future__ import annotations

import numpy as np
import torch

from refusal_lab.chat import prompt_ids
from refusal_lab.definitions import control_tokens


def _left_padded(batch: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, x in enumerate(batch):
        ids[i, width - len(x):] = torch.tensor(x)
        mask[i, width - len(x):] = 1
    # positions count real tokens only, so a left-padded prompt sees the positions it saw in training
    pos = (mask.cumsum(dim=1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), pos.to(device)


@torch.no_grad()
def first_position_probs(model, tokenizer, prompts: list[str], token_ids: list[int], batch_size: int = 32,
                         temperature: float = 1.0) -> np.ndarray:
    """[n_prompts, n_tokens] softmax probabilities of `token_ids` at the first response position."""
    model.eval()
    device = next(model.parameters()).device
    encoded = [prompt_ids(tokenizer, p) for p in prompts]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))  # similar lengths share a batch
    out = np.zeros((len(prompts), len(token_ids)), dtype=np.float64)
    index = torch.tensor(token_ids, device=device)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        ids, mask, pos = _left_padded([encoded[i] for i in chunk], tokenizer.pad_token_id, device)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=1).logits[:, -1, :]
        probs = torch.softmax(logits.float() / temperature, dim=-1)[:, index]
        out[chunk] = probs.cpu().numpy()
    return out


def control_token_ids(tokenizer) -> list[int]:
    """Ids of every control token (any scheme) this tokenizer has."""
    vocab = tokenizer.get_vocab()
    names = dict.fromkeys(control_tokens("single") + control_tokens("category"))
    return [vocab[n] for n in names if n in vocab]


@torch.no_grad()
def generate_forced(model, tokenizer, prompts: list[str], forced: list[int | None], max_new_tokens: int,
                    batch_size: int = 16) -> list[str]:
    """Greedy continuation after the chosen control token (None: nothing forced).

    Control tokens belong at the first response position only, so they are
    suppressed in the continuation: a model whose new head rows were trained hard
    (train.trainable=control_tokens) would otherwise repeat them."""
    model.eval()
    suppress = control_token_ids(tokenizer) or None
    device = next(model.parameters()).device
    texts: list[str] = []
    for start in range(0, len(prompts), batch_size):
        batch = [prompt_ids(tokenizer, p) + ([f] if f is not None else [])
                 for p, f in zip(prompts[start:start + batch_size], forced[start:start + batch_size])]
        ids, mask, _ = _left_padded(batch, tokenizer.pad_token_id, device)
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                             suppress_tokens=suppress)
        texts += tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
    return [t.strip() for t in texts]
