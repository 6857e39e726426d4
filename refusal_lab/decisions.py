"""Decision rules on first-position control-token probabilities (pure).

`probs` is an array [n_prompts, n_tokens] whose columns follow `tokens`, the
scheme's control tokens with `[respond]` first (definitions.control_tokens).
Each rule returns the chosen token index per prompt; `is_refusal` maps that to
the refuse/answer decision.
"""

from __future__ import annotations

import numpy as np

from refusal_lab.definitions import RESPOND_TOKEN


def _respond_col(tokens: list[str]) -> int:
    return tokens.index(RESPOND_TOKEN)


def refusal_score(probs: np.ndarray, tokens: list[str]) -> np.ndarray:
    """p(refuse): the [refuse] probability, or for category tokens the largest category
    probability (the paper's rule compares the top category, max not sum)."""
    cols = [i for i, t in enumerate(tokens) if t != RESPOND_TOKEN]
    return np.asarray(probs)[:, cols].max(axis=1)


def model_choice(probs: np.ndarray) -> np.ndarray:
    """The model's own argmax among the control tokens (single scheme: refuse iff
    p(refuse) >= p(respond); ties go to the refusal token)."""
    p = np.asarray(probs)
    # reverse so that argmax picks the later (refusal) column on exact ties with [respond]
    return p.shape[1] - 1 - p[:, ::-1].argmax(axis=1)


def threshold_rule(probs: np.ndarray, tokens: list[str], threshold: float) -> np.ndarray:
    """Refuse iff p(refuse) >= t, emitting the top refusal token; else [respond]."""
    p = np.asarray(probs)
    cols = np.array([i for i, t in enumerate(tokens) if t != RESPOND_TOKEN])
    top = cols[p[:, cols].argmax(axis=1)]
    return np.where(p[np.arange(len(p)), top] >= threshold, top, _respond_col(tokens))


def category_rule(probs: np.ndarray, tokens: list[str], controlled: set[str], threshold: float) -> np.ndarray:
    """The paper's rule: top category c; c in S and p(c) >= t -> c; c in S and below
    t -> [respond]; c not in S -> the model's own choice."""
    p = np.asarray(probs)
    cols = np.array([i for i, t in enumerate(tokens) if t != RESPOND_TOKEN])
    top = cols[p[:, cols].argmax(axis=1)]
    in_s = np.array([tokens[c] in controlled for c in top], dtype=bool)
    above = p[np.arange(len(p)), top] >= threshold
    return np.where(in_s, np.where(above, top, _respond_col(tokens)), model_choice(p))


def is_refusal(choice: np.ndarray, tokens: list[str]) -> np.ndarray:
    return np.asarray(choice) != _respond_col(tokens)
