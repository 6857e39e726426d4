"""A steering policy: which decision rule picks the first control token, with its settings.

One small YAML file that `calibrate` writes and `eval`, `serve` and the generation path
load. Keys (every token may be written as the token, `[refuse]`, the category slug
`humanizing`, the CoCoNot name `Humanizing requests`, or `refuse`/`respond`):

    scheme: category            # single | category (the checkpoint's control tokens)
    rule: per_category          # model_choice | threshold | category | per_category | bias
    threshold: 0.5              # threshold: p(refuse) >= t; category: t for the set S;
                                # per_category: threshold of tokens without their own (null = model's choice)
    thresholds: {humanizing: 0.9}   # per_category: threshold per refusal token
    controlled: [humanizing]    # category: the controlled set S
    biases: {safety: -2.0}      # bias: additive logit bias per control token at the first position
    temperature: 1.0            # softmax temperature at the first response position

apply(policy, probs, tokens) -> chosen token index per prompt (decisions.py does the work).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from refusal_lab.io import write_text
from refusal_lab.steering import decisions
from refusal_lab.definitions import (
    CATEGORIES,
    REFUSE_TOKEN,
    RESPOND_TOKEN,
    category_token,
    control_tokens,
    normalise_category,
)

RULES = ("model_choice", "threshold", "category", "per_category", "bias")


class PolicyError(ValueError):
    """Every problem of a policy, each naming the key, the value and the fix."""

    def __init__(self, problems: list[str], origin: str = "policy"):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in {origin}:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass
class Policy:
    scheme: str = "single"  # control tokens of the checkpoint: single | category
    rule: str = "model_choice"  # which decision rule picks the first token
    threshold: float | None = None  # global threshold (see module docstring per rule)
    thresholds: dict[str, float] = field(default_factory=dict)  # per_category: token -> threshold
    controlled: list[str] = field(default_factory=list)  # category: the controlled set S (tokens)
    biases: dict[str, float] = field(default_factory=dict)  # bias: token -> additive logit bias
    temperature: float = 1.0  # first-position softmax temperature

    @property
    def tokens(self) -> list[str]:
        return control_tokens(self.scheme)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def resolve_token(name: str, scheme: str) -> str | None:
    """A token spelling -> the control token of `scheme`, or None if it names none."""
    text = str(name).strip()
    tokens = control_tokens(scheme) if scheme in ("single", "category") else []
    if text in tokens:
        return text
    bare = text.strip("[]").strip().lower()
    if bare == "respond":
        return RESPOND_TOKEN
    if bare == "refuse" and scheme == "single":
        return REFUSE_TOKEN
    category = normalise_category(bare)
    if category is not None and scheme == "category":
        return category_token(category)
    return None


def _number(key: str, value, problems: list[str], lo: float | None = None, hi: float | None = None, fix: str = ""):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(f"{key}={value!r}: expected a number{fix}")
        return None
    if not math.isfinite(value):  # YAML reads .nan / .inf as floats; NaN would pass every range test below
        problems.append(f"{key}={value!r}: expected a finite number{fix}")
        return None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        problems.append(f"{key}={value!r}: must be between {lo} and {hi}{fix}")
        return None
    return float(value)


PROBABILITY = " (probabilities are between 0 and 1)"


def from_dict(raw: dict, origin: str = "policy") -> Policy:
    """Validate a plain mapping into a Policy; raise PolicyError listing every problem."""
    known = [f.name for f in dataclasses.fields(Policy)]
    if not isinstance(raw, dict):
        raise PolicyError([f"{origin}: expected a mapping with keys {known}, got {raw!r}"], origin)
    problems = [f"{k}={raw[k]!r}: unknown key; allowed keys: {', '.join(sorted(known))}" for k in raw if k not in known]
    scheme = raw.get("scheme", "single")
    if scheme not in ("single", "category"):
        problems.append(
            f"scheme={scheme!r}: expected 'single' or 'category' (the control tokens the checkpoint was trained with)"
        )
        scheme = "single"
    rule = raw.get("rule", "model_choice")
    if rule not in RULES:
        problems.append(f"rule={rule!r}: expected one of {', '.join(RULES)}")
    threshold = raw.get("threshold")
    if threshold is not None:
        threshold = _number("threshold", threshold, problems, 0.0, 1.0, PROBABILITY)
    temperature = _number(
        "temperature", raw.get("temperature", 1.0), problems, 1e-6, None, " (must be > 0; 1.0 = unscaled)"
    )
    thresholds = _token_numbers(raw, "thresholds", scheme, problems, 0.0, 1.0, PROBABILITY)
    biases = _token_numbers(raw, "biases", scheme, problems, None, None, " (a logit offset, e.g. -2.0)")
    if RESPOND_TOKEN in thresholds:
        problems.append(
            f"thresholds.[respond]={thresholds.pop(RESPOND_TOKEN)}: thresholds apply to refusal tokens only; "
            f"to favour answering, raise the refusal tokens' thresholds"
        )
    controlled = _controlled_tokens(raw.get("controlled") or [], scheme, problems)
    policy = Policy(
        scheme=scheme,
        rule=rule,
        threshold=threshold,
        thresholds=thresholds,
        controlled=controlled or [],
        biases=biases,
        temperature=temperature,
    )
    problems += _what_the_rule_needs(policy, controlled is not None, problems)
    if problems:
        raise PolicyError(problems, origin)
    return policy


def _token_numbers(raw: dict, key: str, scheme: str, problems: list[str], lo, hi, fix: str) -> dict[str, float]:
    """A mapping of control token (or category slug) -> number, e.g. thresholds: {humanizing: 0.9}."""
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        problems.append(f"{key}={value!r}: expected a mapping of control token to number, e.g. {{humanizing: 0.9}}")
        return {}
    out = {}
    for name, v in value.items():
        tok = resolve_token(name, scheme)
        if tok is None:
            problems.append(
                f"{key}.{name}={v!r}: {name!r} is not a control token of scheme {scheme!r}; use one of {control_tokens(scheme)} "
                f"(or a category slug such as humanizing)"
            )
            continue
        num = _number(f"{key}.{name}", v, problems, lo, hi, fix)
        if num is not None:
            out[tok] = num
    return out


def _controlled_tokens(names, scheme: str, problems: list[str]) -> list[str] | None:
    """The controlled set S as refusal tokens; None when it is not a list at all."""
    if not isinstance(names, (list, tuple)):
        problems.append(f"controlled={names!r}: expected a list of category tokens, e.g. [humanizing, safety]")
        return None
    controlled = []
    for name in names:
        tok = resolve_token(name, scheme)
        if tok is None or tok == RESPOND_TOKEN:
            problems.append(
                f"controlled: {name!r} is not a refusal token of scheme {scheme!r}; use one of {control_tokens(scheme)[1:]}"
            )
        else:
            controlled.append(tok)
    return controlled


def _what_the_rule_needs(p: Policy, controlled_is_list: bool, problems: list[str]) -> list[str]:
    """Settings the chosen rule cannot work without (problems so far: to avoid repeating one)."""
    needs = []
    threshold_missing = p.threshold is None and not any(q.startswith("threshold=") for q in problems)
    if p.rule == "threshold" and threshold_missing:
        needs.append(
            "threshold=None: rule 'threshold' needs a threshold between 0 and 1 (refuse iff p(refuse) >= threshold)"
        )
    if p.rule == "category":
        if p.scheme != "category":
            needs.append(
                f"rule='category': needs scheme 'category' (got {p.scheme!r}); use rule 'threshold' for the single scheme"
            )
        if threshold_missing:
            needs.append("threshold=None: rule 'category' needs the threshold applied to the controlled set")
        if not p.controlled and controlled_is_list:
            needs.append(
                f"controlled=[]: rule 'category' needs the controlled set S, e.g. [humanizing] (categories: {list(CATEGORIES)})"
            )
    if p.rule == "per_category" and not p.thresholds and p.threshold is None and not problems:
        needs.append(
            "thresholds={}: rule 'per_category' needs at least one threshold, e.g. thresholds: {humanizing: 0.9}"
        )
    if p.rule == "bias" and not p.biases and not any(q.startswith("biases") for q in problems):
        needs.append("biases={}: rule 'bias' needs at least one bias, e.g. biases: {refuse: -2.0}")
    return needs


def override(policy: Policy, changes: dict, origin: str = "request override") -> Policy:
    """The policy with some keys replaced (a served request's extra field); validated again."""
    if not isinstance(changes, dict):
        raise PolicyError(
            [f'{origin}={changes!r}: expected a mapping of policy keys, e.g. {{"threshold": 0.3}}'], origin
        )
    merged = policy.as_dict()
    if "rule" not in changes:  # giving only the settings of another rule switches to that rule
        if "biases" in changes:
            merged["rule"] = "bias"
        elif "thresholds" in changes:
            merged["rule"] = "per_category"
        elif "controlled" in changes:
            merged["rule"] = "category"
        elif "threshold" in changes and policy.rule == "model_choice":
            merged["rule"] = "threshold"
    merged.update(changes)
    return from_dict(merged, origin)


def load(path: str | Path) -> Policy:
    path = Path(path)
    if not path.exists():
        raise PolicyError(
            [
                f"policy={str(path)!r}: no such file; write one with `refusal-lab calibrate ... out={path}` or by hand "
                f"(keys: scheme, rule, threshold, thresholds, controlled, biases, temperature)"
            ],
            str(path),
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise PolicyError([f"policy={str(path)!r}: not valid YAML ({exc})"], str(path)) from None
    return from_dict(raw, str(path))


def for_checkpoint(checkpoint: str | Path) -> Policy:
    """No policy given: the model's own choice under the scheme its run was trained with
    (run_dir/config.json beside the checkpoint; `single` when there is none)."""
    import json

    checkpoint = Path(checkpoint)
    run_cfg = checkpoint.parent / "config.json"
    scheme = json.loads(run_cfg.read_text())["tokens"]["scheme"] if run_cfg.exists() else "single"
    if scheme == "none":
        raise PolicyError(
            [
                f"checkpoint={str(checkpoint)!r} was trained without control tokens (tokens.scheme=none): nothing to steer"
            ],
            str(run_cfg),
        )
    return Policy(scheme=scheme)


def save(policy: Policy, path: str | Path, comment: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    write_text(path, head + yaml.safe_dump(policy.as_dict(), sort_keys=False, allow_unicode=True))
    return path


def apply(policy: Policy, probs: np.ndarray, tokens: list[str]) -> np.ndarray:
    """Chosen control-token index per prompt. `probs` columns follow `tokens` and are the
    first-position softmax at policy.temperature (the bias rule divides log p by the
    temperature itself, so for it pass probabilities at temperature 1)."""
    if list(tokens) != policy.tokens:
        raise PolicyError(
            [
                f"scheme={policy.scheme!r}: the policy's tokens {policy.tokens} differ from the checkpoint's {list(tokens)}; "
                f"set scheme to match the checkpoint"
            ]
        )
    p = np.asarray(probs, dtype=np.float64)
    if policy.rule == "model_choice":
        return decisions.model_choice(p)
    if policy.rule == "threshold":
        return decisions.threshold_rule(p, tokens, policy.threshold)
    if policy.rule == "category":
        return decisions.category_rule(p, tokens, set(policy.controlled), policy.threshold)
    if policy.rule == "per_category":
        return decisions.per_category_rule(p, tokens, policy.thresholds, policy.threshold)
    return decisions.logit_bias_rule(decisions.log_probs(p), tokens, policy.biases, policy.temperature)


def scoring_temperature(policy: Policy) -> float:
    """Temperature at which to score for apply(): the bias rule scales log p itself."""
    return 1.0 if policy.rule == "bias" else policy.temperature
