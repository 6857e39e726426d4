"""Capability tax of control tokens (pure functions; the model calls live in tradeoff_experiment).

* First-position KL between the model without tokens (P) and the token model (Q) on
  should-answer prompts: KL(P || Q) per prompt, in nats. The two models may have different
  vocabularies (the tiny model trains its BPE per run; the token model has extra rows), so
  both distributions are restricted to the token *strings* they share, control tokens
  excluded, and renormalised there. Excluding the control tokens is the choice that makes
  the two comparable: at the first response position the token model puts most of its mass
  on `[respond]`/`[refuse]`, which the baseline cannot emit; what is left says how the token
  model would rank ordinary first tokens. `kl_after_respond` (computed by the experiment)
  compares instead with the token model one position later, after a forced `[respond]`,
  where its answer really starts.
* Answer quality after a forced `[respond]`: ROUGE-L F1 and token F1 of the generated answer
  against the reference answer (lower-cased word tokens), averaged over held-back general
  instructions.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)


def shared_columns(vocab_p: dict[str, int], vocab_q: dict[str, int], exclude=()) -> tuple[np.ndarray, np.ndarray]:
    """(ids in P, ids in Q) of every token string both vocabularies have, minus `exclude`,
    in a fixed (sorted by string) order."""
    shared = sorted((set(vocab_p) & set(vocab_q)) - set(exclude))
    return np.array([vocab_p[t] for t in shared], dtype=int), np.array([vocab_q[t] for t in shared], dtype=int)


def log_renormalise(logits: np.ndarray) -> np.ndarray:
    """log-softmax along the last axis (float64): a distribution restricted to the given columns."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def kl_divergence(logp: np.ndarray, logq: np.ndarray) -> np.ndarray:
    """KL(P || Q) per row of two log-probability arrays over the same support (nats)."""
    logp, logq = np.asarray(logp, np.float64), np.asarray(logq, np.float64)
    p = np.exp(logp)
    return np.sum(np.where(p > 0, p * (logp - logq), 0.0), axis=-1)


def shared_vocab_kl(
    logits_p: np.ndarray, vocab_p: dict[str, int], logits_q: np.ndarray, vocab_q: dict[str, int], exclude=()
) -> np.ndarray:
    """Per-row KL(P || Q) with both restricted to the shared, non-excluded token strings and
    renormalised there. logits_*: [n_prompts, vocab] at the same response position."""
    cols_p, cols_q = shared_columns(vocab_p, vocab_q, exclude)
    if not len(cols_p):
        raise ValueError("the two vocabularies share no token outside the excluded ones")
    return kl_divergence(
        log_renormalise(np.asarray(logits_p)[:, cols_p]), log_renormalise(np.asarray(logits_q)[:, cols_q])
    )


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def token_f1(candidate: str, reference: str) -> float:
    """SQuAD-style bag-of-words F1 (1.0 when both are empty)."""
    c, r = words(candidate), words(reference)
    if not c or not r:
        return float(c == r)
    common = sum((Counter(c) & Counter(r)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(c), common / len(r)
    return 2 * precision * recall / (precision + recall)


def _lcs(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1: longest common subsequence of word tokens (1.0 when both are empty)."""
    c, r = words(candidate), words(reference)
    if not c or not r:
        return float(c == r)
    lcs = _lcs(c, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(c), lcs / len(r)
    return 2 * precision * recall / (precision + recall)
