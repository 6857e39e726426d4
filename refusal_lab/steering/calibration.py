"""Thresholds that meet target refusal rates -> a policy YAML.

The library behind `refusal-lab calibrate` (refusal_lab/commands/calibrate.py):
`refusal-lab calibrate scores=RUN/scores.csv target.humanizing=0.05 target.should_refuse=0.9 out=policy.yaml`

From a scores file (one row per prompt with every control token's first-position
probability, as a run writes it) split into calibration and held-out parts, find the
per-category-threshold policy (decisions.per_category_rule) whose refusal rates on
the calibration part are the achievable rates nearest each target, and report what
those thresholds give on the held-out part with a 95% Wilson interval.

Targets name a group of prompts and the share of them to refuse:
  target.<category slug>    (humanizing, safety, ...) -> the threshold of that category's token
  target.all | should_refuse | should_answer | contrast | general -> the threshold of every other token
  max_contrast_refusal=x    -> the lowest shared threshold whose contrast refusal rate is <= x
Rates are step functions of the thresholds, so "exactly" means the nearest achievable
step (granularity 1/group size; ties go to fewer refusals). The rate of category c's
prompts also depends on the other tokens' thresholds (a Humanizing prompt whose top token
is Safety follows Safety's threshold), so the thresholds are fitted by coordinate descent,
first each towards its own target, then all towards the summed squared gap of every
target (a maximum counts 100x when exceeded). Targets that cannot all be met are
reported as not met, with what was achieved.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from refusal_lab.steering import decisions
from refusal_lab.steering import policy as policy_mod
from refusal_lab.definitions import (
    CATEGORY_SLUGS,
    RESPOND_TOKEN,
    SOURCE_CONTRAST,
    category_token,
    control_tokens,
    normalise_category,
    refusal_rate_key,
)
from refusal_lab.config import ConfigError, InputError

GLOBAL_GROUPS = ("all", "should_refuse", "should_answer", "contrast", "general")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (95% by default); (nan, nan) for n = 0."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def scheme_of(columns) -> tuple[str, list[str]]:
    for scheme in ("category", "single"):
        tokens = control_tokens(scheme)
        if all(f"p{t}" in columns for t in tokens):
            return scheme, tokens
    raise InputError(
        f"scores: no control-token columns (expected p[respond] and p[refuse] or the p[<category>] columns); got {list(columns)}"
    )


def group_masks(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Boolean row mask per target group name."""
    kinds = np.array(
        [refusal_rate_key(s, c if isinstance(c, str) else None) for s, c in zip(df["source"], df["category"])]
    )
    y = df["should_refuse"].astype(bool).to_numpy()
    masks = {
        "all": np.ones(len(df), bool),
        "should_refuse": y,
        "should_answer": ~y,
        "contrast": df["source"].to_numpy() == SOURCE_CONTRAST,
        "general": kinds == "general",
    }
    masks.update({slug: kinds == slug for slug in CATEGORY_SLUGS.values()})
    return masks


@dataclass
class Target:
    group: str  # a key of group_masks
    rate: float  # wanted refusal rate (or the maximum, when is_max)
    is_max: bool = False


def parse_targets(pairs: dict[str, str]) -> list[Target]:
    problems, out = [], []
    for key, raw in pairs.items():
        name = key.split(".", 1)[1]
        group = name if name in GLOBAL_GROUPS else CATEGORY_SLUGS.get(normalise_category(name) or "", None)
        try:
            rate = float(raw)
        except ValueError:
            problems.append(f"{key}={raw!r}: expected a refusal rate between 0 and 1")
            continue
        if group is None:
            problems.append(
                f"{key}={raw!r}: unknown group {name!r}; use one of {', '.join(GLOBAL_GROUPS + tuple(CATEGORY_SLUGS.values()))}"
            )
        elif not 0 <= rate <= 1:
            problems.append(f"{key}={raw!r}: must be between 0 and 1")
        else:
            out.append(Target(group, rate))
    if problems:
        raise ConfigError(problems)
    return out


def _refused(p: np.ndarray, tokens: list[str], t_of_col: np.ndarray) -> np.ndarray:
    """per_category_rule with thresholds by column (nan = model's own choice), as refused bools."""
    thresholds = {tokens[j]: float(t) for j, t in enumerate(t_of_col) if j and not np.isnan(t)}
    return decisions.is_refusal(decisions.per_category_rule(p, tokens, thresholds), tokens)


def _candidates(p_top: np.ndarray, governed: np.ndarray) -> np.ndarray:
    """Thresholds between consecutive distinct governed scores (midpoints), plus 0 and above the top:
    every achievable decision on the calibration rows, placed away from the rows' own scores."""
    v = np.unique(p_top[governed])
    if len(v) == 0:
        return np.array([0.0])
    mids = (v[1:] + v[:-1]) / 2
    return np.unique(np.r_[0.0, mids, (v[-1] + 1.0) / 2 if v[-1] < 1.0 else 1.0])


def fit(
    p: np.ndarray, tokens: list[str], masks: dict[str, np.ndarray], targets: list[Target], passes: int = 50
) -> tuple[dict, float | None]:
    """(thresholds by token, shared threshold) meeting the targets on these rows."""
    cols = [j for j, t in enumerate(tokens) if t != RESPOND_TOKEN]
    top = np.array(cols)[p[:, cols].argmax(axis=1)]
    p_top = p[np.arange(len(p)), top]
    own = {}  # column -> target bound to that token's threshold
    shared = [t for t in targets if t.group in GLOBAL_GROUPS or t.is_max]
    for t in targets:
        if t not in shared:
            col = tokens.index(category_token(next(k for k, v in CATEGORY_SLUGS.items() if v == t.group)))
            own[col] = t
    if len(shared) > 1:
        raise InputError(
            f"targets {[('max_contrast_refusal' if t.is_max else 'target.' + t.group) for t in shared]}: "
            "at most one shared target (all, should_refuse, should_answer, contrast, general or max_contrast_refusal); "
            "the others have no threshold left to set"
        )
    t_of_col = np.full(len(tokens), np.nan)
    shared_cols = [j for j in cols if j not in own] if shared else []
    params = [([j], tgt) for j, tgt in own.items()] + ([(shared_cols, shared[0])] if shared and shared_cols else [])
    for j in own:
        t_of_col[j] = 0.5
    for j in shared_cols:
        t_of_col[j] = 0.5

    def target_loss(stack: np.ndarray) -> np.ndarray:
        """Squared gap summed over every target, one value per candidate row of `stack`;
        going over a maximum costs 100x (a cap, met from below when it can be)."""
        total = np.zeros(len(stack))
        for tgt in targets:
            gap = stack[:, masks[tgt.group]].mean(axis=1) - tgt.rate
            total += np.where(gap > 0, 100.0, 1.0) * gap**2 if tgt.is_max else gap**2
        return total

    for tgt in targets:
        if not masks[tgt.group].any():
            raise InputError(f"target.{tgt.group}: no calibration prompts in that group")
    # first each threshold towards its own target, then all of them towards all targets at once
    # (coordinate descent on the summed loss never increases it, so it stops)
    for joint in (False, True):
        for _ in range(passes):
            changed = False
            for cols_of_param, tgt in params:
                governed = np.isin(top, cols_of_param)
                cand = _candidates(p_top, governed)
                fixed = _refused(p, tokens, t_of_col)
                # rows governed by this parameter flip with the candidate; the others keep their decision
                stack = np.where(governed[None, :], p_top[None, :] >= cand[:, None], fixed[None, :])
                if joint:
                    loss = target_loss(stack)
                else:
                    gap = stack[:, masks[tgt.group]].mean(axis=1) - tgt.rate
                    loss = np.where(gap > 0, 100.0, 1.0) * gap**2 if tgt.is_max else gap**2
                best = np.nonzero(loss <= loss.min() + 1e-12)[0][-1]  # ties: the higher threshold, fewer refusals
                if not np.allclose(t_of_col[cols_of_param], cand[best]):
                    t_of_col[cols_of_param] = cand[best]
                    changed = True
            if not changed:
                break
    thresholds = {tokens[j]: float(t_of_col[j]) for j in own}
    default = float(t_of_col[shared_cols[0]]) if shared_cols else None
    return thresholds, default


def split(df: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Calibration / held-out halves, stratified by kind (category, contrast, general)."""
    rng = np.random.default_rng(seed)
    kinds = [refusal_rate_key(s, c if isinstance(c, str) else None) for s, c in zip(df["source"], df["category"])]
    calib = np.zeros(len(df), bool)
    for k in sorted(set(kinds)):
        idx = np.nonzero(np.array(kinds) == k)[0]
        rng.shuffle(idx)
        calib[idx[: int(round(fraction * len(idx)))]] = True
    return df[calib].reset_index(drop=True), df[~calib].reset_index(drop=True)


def report(
    pol: policy_mod.Policy, tokens: list[str], targets: list[Target], calib: pd.DataFrame, held: pd.DataFrame
) -> list[dict]:
    rows = []
    for part, df in (("calibration", calib), ("held_out", held)):
        p = df[[f"p{t}" for t in tokens]].to_numpy(dtype=np.float64)
        refused = decisions.is_refusal(policy_mod.apply(pol, p, tokens), tokens)
        masks = group_masks(df)
        for tgt in targets:
            m = masks[tgt.group]
            k, n = int(refused[m].sum()), int(m.sum())
            lo, hi = wilson(k, n)
            rate = k / n if n else float("nan")
            # met on calibration: the nearest achievable step (within half a prompt) or under the maximum;
            # on held-out data: consistent with the 95% interval (target inside it; a maximum not below it)
            if part == "calibration":
                met = rate <= tgt.rate + 1e-12 if tgt.is_max else abs(rate - tgt.rate) <= 1 / (2 * max(n, 1)) + 1e-12
            else:
                met = lo - 1e-12 <= tgt.rate if tgt.is_max else lo - 1e-12 <= tgt.rate <= hi + 1e-12
            rows.append(
                {
                    "part": part,
                    "group": tgt.group,
                    "target": tgt.rate,
                    "kind": "max" if tgt.is_max else "rate",
                    "refused": k,
                    "n": n,
                    "rate": rate,
                    "ci_low": lo,
                    "ci_high": hi,
                    "met": bool(met),
                }
            )
    return rows


def calibrate(
    calib: pd.DataFrame, held: pd.DataFrame, targets: list[Target], temperature: float = 1.0
) -> tuple[policy_mod.Policy, list[dict]]:
    scheme, tokens = scheme_of(calib.columns)
    if scheme == "single" and any(t.group in CATEGORY_SLUGS.values() for t in targets):
        raise InputError(
            "per-category targets need a checkpoint trained with tokens=category (one token per category); "
            "with the single scheme give one shared target (e.g. target.should_refuse=0.9)"
        )
    if not targets:
        raise InputError(
            "no targets: give at least one, e.g. target.humanizing=0.05 or target.should_refuse=0.9 or max_contrast_refusal=0.1"
        )
    p = calib[[f"p{t}" for t in tokens]].to_numpy(dtype=np.float64)
    thresholds, default = fit(p, tokens, group_masks(calib), targets)
    if scheme == "single" or not thresholds:
        pol = policy_mod.Policy(scheme=scheme, rule="threshold", threshold=default, temperature=temperature)
    else:
        pol = policy_mod.Policy(
            scheme=scheme, rule="per_category", threshold=default, thresholds=thresholds, temperature=temperature
        )
    return pol, report(pol, tokens, targets, calib, held)


def scores_temperature(scores_path: Path, given: float | None) -> float:
    if given is not None:
        return given
    cfg = scores_path.parent / "config.json"
    if cfg.exists():
        return float(json.loads(cfg.read_text()).get("eval", {}).get("temperature", 1.0))
    return 1.0


def format_rows(rows: list[dict]) -> str:
    lines = [f"{'part':<12}{'group':<15}{'target':>9}{'achieved':>10}{'n':>6}   95% Wilson CI    met"]
    for r in rows:
        target = ("<= " if r["kind"] == "max" else "") + f"{r['target']:.3f}"
        lines.append(
            f"{r['part']:<12}{r['group']:<15}{target:>9}{r['rate']:>10.3f}{r['n']:>6}   [{r['ci_low']:.3f}, {r['ci_high']:.3f}]   {'yes' if r['met'] else 'NO'}"
        )
    if any(not r["met"] for r in rows if r["part"] == "calibration"):
        lines.append(
            "\nNO on calibration: the target is not reachable with these scores: a category's prompts whose top token is "
            "another category follow that token's threshold, and a shared target competes with per-category ones."
        )
    return "\n".join(lines)
