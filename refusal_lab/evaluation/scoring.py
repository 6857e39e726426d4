"""First-position scoring and forced-token generation (model I/O).

One forward pass per prompt over the chat template with the generation prompt;
the softmax (optionally temperature-scaled) over the whole vocabulary at the last
prompt position gives every control token's probability.
"""

from __future__ import annotations

import numpy as np
import torch

from refusal_lab.model.chat import prompt_ids
from refusal_lab.definitions import control_tokens


def _left_padded(batch: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, x in enumerate(batch):
        ids[i, width - len(x) :] = torch.tensor(x)
        mask[i, width - len(x) :] = 1
    # positions count real tokens only, so a left-padded prompt sees the positions it saw in training
    pos = (mask.cumsum(dim=1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), pos.to(device)


@torch.no_grad()
def first_position_logprobs(
    model, id_lists: list[list[int]], token_ids: list[int], pad_id: int, temperature: float = 1.0, batch_size: int = 32
) -> np.ndarray:
    """[n, n_tokens] log-softmax (over the whole vocabulary, at `temperature`) of `token_ids`
    at the first response position of each prompt's ids. Log space keeps tiny probabilities
    exact for the bias rule."""
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(id_lists)), key=lambda i: len(id_lists[i]))  # similar lengths share a batch
    out = np.zeros((len(id_lists), len(token_ids)), dtype=np.float64)
    index = torch.tensor(token_ids, device=device)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        ids, mask, pos = _left_padded([id_lists[i] for i in chunk], pad_id, device)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=1).logits[:, -1, :]
        out[chunk] = torch.log_softmax(logits.float() / temperature, dim=-1)[:, index].double().cpu().numpy()
    return out


def first_position_probs(
    model, tokenizer, prompts: list[str], token_ids: list[int], batch_size: int = 32, temperature: float = 1.0
) -> np.ndarray:
    """[n_prompts, n_tokens] softmax probabilities of `token_ids` at the first response position."""
    ids = [prompt_ids(tokenizer, p) for p in prompts]
    return np.exp(first_position_logprobs(model, ids, token_ids, tokenizer.pad_token_id, temperature, batch_size))


def control_token_ids(tokenizer) -> list[int]:
    """Ids of every control token (any scheme) this tokenizer has."""
    vocab = tokenizer.get_vocab()
    names = dict.fromkeys(control_tokens("single") + control_tokens("category"))
    return [vocab[n] for n in names if n in vocab]


@torch.no_grad()
def generate_after(
    model, tokenizer, id_lists: list[list[int]], max_new_tokens: int, batch_size: int = 16
) -> list[list[int]]:
    """Greedy continuation ids of each prompt (eos included if reached).

    Control tokens belong at the first response position only, so they are
    suppressed in the continuation: a model whose new head rows were trained hard
    (train.trainable=control_tokens) would otherwise repeat them."""
    model.eval()
    suppress = control_token_ids(tokenizer) or None
    device = next(model.parameters()).device
    rows: list[list[int]] = []
    for start in range(0, len(id_lists), batch_size):
        ids, mask, _ = _left_padded(id_lists[start : start + batch_size], tokenizer.pad_token_id, device)
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            suppress_tokens=suppress,
        )
        rows += out[:, ids.shape[1] :].tolist()
    return rows


def generate_forced(
    model, tokenizer, prompts: list[str], forced: list[int | None], max_new_tokens: int, batch_size: int = 16
) -> list[str]:
    """Greedy text after the chosen control token (None: nothing forced)."""
    id_lists = [prompt_ids(tokenizer, p) + ([f] if f is not None else []) for p, f in zip(prompts, forced)]
    rows = generate_after(model, tokenizer, id_lists, max_new_tokens, batch_size)
    return [t.strip() for t in tokenizer.batch_decode(rows, skip_special_tokens=True)]
