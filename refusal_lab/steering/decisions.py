"""Decision rules on first-position control-token probabilities (pure).

`probs` is an array [n_prompts, n_tokens] whose columns follow `tokens`, the
scheme's control tokens with `[respond]` first (definitions.control_tokens).
Each rule returns the chosen token index per prompt; `is_refusal` maps that to
the refuse/answer decision.

Rules: model_choice (default), threshold_rule (p(refuse) >= t), category_rule (the
paper's controlled set S), per_category_rule (a threshold per refusal token, unset =
model's choice), logit_bias_rule (additive bias per control token, then argmax). The
*_grid functions evaluate a rule over a whole grid in one broadcast and `rule_grid` puts
every rule's grid with its metrics in one table: no model call per setting.
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


# --- steering rules beyond the paper's single global threshold -------------------------------------------------


def _refusal_cols(tokens: list[str]) -> np.ndarray:
    return np.array([i for i, t in enumerate(tokens) if t != RESPOND_TOKEN])


def _top_refusal(p: np.ndarray, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(column of the most likely refusal token, its probability) per row."""
    cols = _refusal_cols(tokens)
    top = cols[p[:, cols].argmax(axis=1)]
    return top, p[np.arange(len(p)), top]


def per_category_rule(
    probs: np.ndarray, tokens: list[str], thresholds: dict[str, float], default: float | None = None
) -> np.ndarray:
    """A threshold per refusal token: top refusal token c; c has a threshold t_c ->
    c if p(c) >= t_c else [respond]; c has none -> `default` the same way, or the
    model's own choice when `default` is None.

    The threshold belongs to the token the model ranks first, not to the prompt's
    true category (unknown at inference). category_rule(S, t) is this rule with
    t_c = t for c in S; threshold_rule(t) is this rule with no t_c and default t.
    """
    p = np.asarray(probs)
    unknown = set(thresholds) - set(tokens)
    if unknown:
        raise ValueError(f"thresholds name {sorted(unknown)}, not control tokens of this scheme: {tokens}")
    top, p_top = _top_refusal(p, tokens)
    t_of_col = np.full(len(tokens), np.nan if default is None else float(default))
    for tok, t in thresholds.items():
        t_of_col[tokens.index(tok)] = float(t)
    t_row = t_of_col[top]
    own = model_choice(p)
    return np.where(np.isnan(t_row), own, np.where(p_top >= t_row, top, _respond_col(tokens)))


def logit_bias_rule(
    logprobs: np.ndarray, tokens: list[str], biases: dict[str, float], temperature: float = 1.0
) -> np.ndarray:
    """Additive logit bias at the first response position, then argmax among the control tokens.

    `logprobs` are log-softmax values of the control tokens at temperature 1 (any per-row
    constant shift, e.g. raw logits, gives the same answer). The decision is
        argmax_j ( logprobs_j / temperature + biases_j )
    which is exactly what greedy decoding picks after steering.FirstPositionBias (logits
    divided by the temperature, bias added, non-control tokens masked). Ties go to the
    earliest token in `tokens` ([respond] first), as torch.argmax over ascending ids does.
    """
    z = np.asarray(logprobs, dtype=np.float64) / float(temperature)
    unknown = set(biases) - set(tokens)
    if unknown:
        raise ValueError(f"biases name {sorted(unknown)}, not control tokens of this scheme: {tokens}")
    b = np.array([float(biases.get(t, 0.0)) for t in tokens])
    return (z + b).argmax(axis=1)


def log_probs(probs: np.ndarray) -> np.ndarray:
    """log p with exact zeros as -inf (a token the softmax underflowed can never win a bias rule)."""
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(probs, dtype=np.float64))


# --- exact grids from cached first-position probabilities --------------------------------------------------------


def threshold_grid(probs: np.ndarray, tokens: list[str], thresholds) -> np.ndarray:
    """Chosen token index [n_thresholds, n_prompts] of threshold_rule at every threshold, in one broadcast."""
    top, p_top = _top_refusal(np.asarray(probs), tokens)
    t = np.asarray(thresholds, dtype=np.float64)[:, None]
    return np.where(p_top[None, :] >= t, top[None, :], _respond_col(tokens))


def category_grid(probs: np.ndarray, tokens: list[str], controlled_sets: list[frozenset], thresholds) -> np.ndarray:
    """Chosen index [n_sets, n_thresholds, n_prompts] of category_rule for every S x t."""
    p = np.asarray(probs)
    top, p_top = _top_refusal(p, tokens)
    own = model_choice(p)
    in_s = np.array([[tokens[c] in s for c in top] for s in controlled_sets], dtype=bool)[:, None, :]
    above = p_top[None, None, :] >= np.asarray(thresholds, dtype=np.float64)[None, :, None]
    return np.where(in_s, np.where(above, top, _respond_col(tokens)), own[None, None, :])


def bias_grid(logprobs: np.ndarray, tokens: list[str], bias_values, temperature: float = 1.0) -> np.ndarray:
    """Chosen index [n_tokens, n_bias_values, n_prompts]: bias b on one control token at a time."""
    z = np.asarray(logprobs, dtype=np.float64) / float(temperature)
    b = np.asarray(bias_values, dtype=np.float64)
    m = len(tokens)
    shift = np.eye(m)[:, None, :] * b[None, :, None]  # [token, value, column]
    return (z[None, None, :, :] + shift[:, :, None, :]).argmax(axis=3)


def grid_metrics(refused: np.ndarray, should_refuse: np.ndarray, groups) -> dict[str, np.ndarray]:
    """Vectorised metrics for a stack of decisions refused[k, n]: refusal F1 etc. and the
    refusal rate of every group (definitions.refusal_rate_key), one value per row k."""
    from refusal_lab.evaluation.metrics import rates

    r = np.asarray(refused, dtype=bool)
    y = np.asarray(should_refuse, dtype=bool)
    tp, fp = (r & y).sum(axis=1), (r & ~y).sum(axis=1)
    fn, tn = (~r & y).sum(axis=1), (~r & ~y).sum(axis=1)
    out = {"tp": tp, "fp": fp, "fn": fn, "tn": tn, **rates(tp, fp, fn, tn)}
    g = np.asarray(list(groups))
    for name in sorted(set(g.tolist())):
        mask = g == name
        out[f"refusal_rate/{name}"] = r[:, mask].mean(axis=1)
    return out


def rule_grid(
    probs: np.ndarray,
    tokens: list[str],
    should_refuse,
    groups,
    thresholds=None,
    controlled_sets=None,
    bias_values=None,
    temperature: float = 1.0,
):
    """Every rule over its grid from one table of cached probabilities, as one DataFrame:
    rule (model_choice | threshold | category | bias), its parameters (threshold,
    controlled, bias_token, bias) and the metrics of grid_metrics. Defaults: 101
    thresholds 0..1; for the category scheme every single category and all of them as
    S (single-category S is also the per-category-threshold sweep: one token's threshold
    set, the others left to the model); bias values -8..8 on each control token.
    `temperature` only enters the bias rule (the probabilities carry their own)."""
    import pandas as pd

    p = np.asarray(probs, dtype=np.float64)
    thresholds = np.linspace(0, 1, 101) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    refusal = [t for t in tokens if t != RESPOND_TOKEN]
    if controlled_sets is None:
        controlled_sets = [frozenset([t]) for t in refusal] + ([frozenset(refusal)] if len(refusal) > 1 else [])
    bias_values = np.linspace(-8, 8, 17) if bias_values is None else np.asarray(bias_values, dtype=np.float64)
    frames = []

    def add(chosen2d: np.ndarray, params: dict):
        m = grid_metrics(is_refusal(chosen2d, tokens), should_refuse, groups)
        frames.append(pd.DataFrame({**params, **m}))

    add(model_choice(p)[None, :], {"rule": ["model_choice"]})
    add(threshold_grid(p, tokens, thresholds), {"rule": "threshold", "threshold": thresholds})
    if len(refusal) > 1:
        cg = category_grid(p, tokens, controlled_sets, thresholds)
        for s, chosen in zip(controlled_sets, cg):
            add(chosen, {"rule": "category", "threshold": thresholds, "controlled": "+".join(sorted(s))})
    bg = bias_grid(log_probs(p), tokens, bias_values, temperature)
    for tok, chosen in zip(tokens, bg):
        add(chosen, {"rule": "bias", "bias_token": tok, "bias": bias_values})
    return pd.concat(frames, ignore_index=True)
