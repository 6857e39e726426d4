"""Steering the first control token at inference (model I/O).

Two equivalent paths:

* generate with a LogitsProcessor: `FirstPositionBias` adds a bias per control token
  at the first generated position only (logits / temperature + bias, every other token
  masked so the first token is a control token); `FirstPositionPolicy` applies any
  policy rule there. Later positions pass through untouched.
* decide, then force: one forward pass gives the control tokens' first-position
  log-probabilities, policy.apply picks the token, and the continuation is generated
  after it (`decide_and_generate`). This path also returns the probabilities, which is
  what the server reports.

Both give the same token decision for the same settings (tests/steering/test_steering.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from refusal_lab.steering import policy as policy_mod
from refusal_lab.evaluation.scoring import _left_padded, first_position_logprobs, generate_after


def chat_ids(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of a conversation rendered with the generation prompt (the scoring position is its end)."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


class FirstPositionBias(LogitsProcessor):
    """Logit bias at the first generated position only.

    At the first position the scores become logits / temperature + bias for the control
    tokens and -inf for every other token; greedy decoding then picks exactly
    decisions.logit_bias_rule, and sampling draws from the biased, temperature-scaled
    softmax over the control tokens. `prompt_len` is the width of the input_ids given
    to generate (the first call sees exactly that many tokens).
    """

    def __init__(self, token_ids: list[int], biases: list[float], prompt_len: int, temperature: float = 1.0):
        if len(token_ids) != len(biases):
            raise ValueError(f"{len(token_ids)} token ids but {len(biases)} biases")
        self.token_ids = torch.tensor(token_ids)
        self.biases = torch.tensor(biases, dtype=torch.float32)
        self.prompt_len = prompt_len
        self.temperature = float(temperature)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] != self.prompt_len:
            return scores  # later positions are untouched
        ids = self.token_ids.to(scores.device)
        out = torch.full_like(scores, float("-inf"))
        out[:, ids] = scores[:, ids].float().div(self.temperature).add(self.biases.to(scores.device)).to(scores.dtype)
        return out


class FirstPositionPolicy(LogitsProcessor):
    """Any policy rule at the first generated position: the control tokens' softmax at the
    scoring temperature goes through policy.apply, and only the chosen token is allowed.
    `self.probs` keeps the probabilities of the last call (one row per sequence)."""

    def __init__(self, pol: policy_mod.Policy, token_ids: list[int], prompt_len: int):
        self.policy = pol
        self.token_ids = torch.tensor(token_ids)
        self.prompt_len = prompt_len
        self.probs: np.ndarray | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] != self.prompt_len:
            return scores
        ids = self.token_ids.to(scores.device)
        t = policy_mod.scoring_temperature(self.policy)
        probs = torch.softmax(scores.float() / t, dim=-1)[:, ids].cpu().numpy().astype(np.float64)
        self.probs = probs
        chosen = policy_mod.apply(self.policy, probs, self.policy.tokens)
        out = torch.full_like(scores, float("-inf"))
        rows = torch.arange(scores.shape[0], device=scores.device)
        out[rows, ids[torch.as_tensor(chosen, device=scores.device)]] = 0.0
        return out


@dataclass
class Steered:
    chosen: np.ndarray  # index into the policy's tokens per prompt
    tokens: list[str]  # the control tokens (policy.tokens)
    probs: np.ndarray  # [n, n_tokens] first-position probabilities at the scoring temperature
    texts: list[str]  # visible continuation after the chosen token (control token never shown)
    finish: list[str]  # "stop" (eos) or "length"


def _visible(tokenizer, ids: list[int], control: list[str]) -> str:
    text = tokenizer.decode(ids, skip_special_tokens=True)
    for tok in control:  # control tokens are special tokens, so this only guards against odd tokenizers
        text = text.replace(tok, "")
    return text.strip()


@torch.no_grad()
def decide_and_generate(
    model,
    tokenizer,
    id_lists: list[list[int]],
    pol: policy_mod.Policy,
    token_ids: dict[str, int],
    max_new_tokens: int,
    batch_size: int = 16,
    lock: threading.Lock | None = None,
) -> Steered:
    """Score once, decide with the policy, force the chosen token, generate greedily after it."""
    tokens = pol.tokens
    missing = [t for t in tokens if t not in token_ids]
    if missing:
        raise policy_mod.PolicyError(
            [
                f"scheme={pol.scheme!r}: the checkpoint has no control token(s) {missing}; "
                f"set the policy's scheme to the one the checkpoint was trained with"
            ]
        )
    ids = [token_ids[t] for t in tokens]
    lock = lock or threading.Lock()
    with lock:
        logp = first_position_logprobs(
            model, id_lists, ids, tokenizer.pad_token_id, policy_mod.scoring_temperature(pol), batch_size
        )
        probs = np.exp(logp)
        chosen = policy_mod.apply(pol, probs, tokens)
        texts, finish = [], []
        if max_new_tokens > 0:
            forced = [x + [ids[c]] for x, c in zip(id_lists, chosen)]
            for row in generate_after(model, tokenizer, forced, max_new_tokens, batch_size):
                ended = tokenizer.eos_token_id in row
                row = row[: row.index(tokenizer.eos_token_id)] if ended else row
                texts.append(_visible(tokenizer, row, tokens))
                finish.append("stop" if ended else "length")
        else:
            texts, finish = [""] * len(id_lists), ["length"] * len(id_lists)
    return Steered(chosen=chosen, tokens=tokens, probs=probs, texts=texts, finish=finish)


@torch.no_grad()
def generate_with_processor(
    model, tokenizer, id_lists: list[list[int]], processor_for, max_new_tokens: int, **generate_kwargs
) -> list[list[int]]:
    """model.generate on left-padded prompts with processor_for(prompt_len) in its processor list;
    returns the generated ids per prompt (first = the control token)."""
    device = next(model.parameters()).device
    inp, mask, _ = _left_padded(id_lists, tokenizer.pad_token_id, device)
    out = model.generate(
        input_ids=inp,
        attention_mask=mask,
        max_new_tokens=max_new_tokens,
        logits_processor=LogitsProcessorList([processor_for(inp.shape[1])]),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **generate_kwargs,
    )
    return out[:, inp.shape[1] :].tolist()
