"""What a chat request to `refusal-lab serve` may contain (pure logic, no I/O).

Every problem becomes a RequestError with an HTTP status and an OpenAI-style message
that names the field, the value's kind and the fix. The body is parsed with finite
numbers only and a nesting limit, and invalid input is never echoed back.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from refusal_lab.steering import policy as policy_mod

OVERRIDE_FIELD = "refusal_lab"
MAX_DEPTH = 32  # JSON nesting; a chat request needs about 5
ROLES = ("system", "user", "assistant", "developer")


class RequestError(ValueError):
    def __init__(self, message: str, status: int = 400, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.param, self.code = status, param, code


def _reject_constant(name: str):
    raise RequestError(
        f"the body contains {name}: only finite numbers are accepted", param=None, code="non_finite_number"
    )


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise RequestError(
            "the body contains a number too large for a float: only finite numbers are accepted",
            code="non_finite_number",
        )
    return value


def _depth(obj, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of parsed JSON, stopping once it passes `limit`."""
    stack, deepest = [(obj, 1)], 0
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def parse_body(raw: bytes) -> dict:
    """The request body as a JSON object: UTF-8, finite numbers, at most MAX_DEPTH levels."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
    except RequestError:
        raise
    except UnicodeDecodeError:
        raise RequestError("the body is not valid JSON (not UTF-8)") from None
    except json.JSONDecodeError as exc:  # the position only, never the text
        raise RequestError(f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise RequestError(f"the body is nested too deeply (limit {MAX_DEPTH} levels)") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise RequestError(f"the body is not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object with at least 'messages'")
    if _depth(body) > MAX_DEPTH:
        raise RequestError(f"the body is nested too deeply (limit {MAX_DEPTH} levels)")
    return body


def _kind(value) -> str:
    return (
        "null"
        if value is None
        else {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
            type(value), type(value).__name__
        )
    )


def messages(raw) -> list[dict]:
    """OpenAI messages -> plain {role, content} with text content (content parts joined)."""
    if not isinstance(raw, list) or not raw:
        raise RequestError("messages: expected a non-empty list of {role, content} objects", param="messages")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            role = m.get("role") if isinstance(m, dict) else None
            shown = repr(role)[:40] if isinstance(role, str) else _kind(role if isinstance(m, dict) else m)
            raise RequestError(
                f"messages[{i}]: expected an object with role system, user or assistant; got {shown}", param="messages"
            )
        content = m.get("content")
        if isinstance(content, list):  # content parts: only text is understood
            parts = []
            for part in content:
                if (
                    not isinstance(part, dict)
                    or part.get("type") != "text"
                    or not isinstance(part.get("text", ""), str)
                ):
                    raise RequestError(
                        f'messages[{i}].content: only text parts are supported ({{"type": "text", "text": "..."}})',
                        param="messages",
                    )
                parts.append(part.get("text", ""))
            content = "".join(parts)
        if not isinstance(content, str):
            raise RequestError(
                f"messages[{i}].content: expected a string or a list of text parts, got {_kind(content)}",
                param="messages",
            )
        out.append({"role": "system" if m["role"] == "developer" else m["role"], "content": content})
    if out[-1]["role"] != "user":
        raise RequestError(
            f"messages[{len(out) - 1}]: the last message must come from the user (got role {out[-1]['role']!r})",
            param="messages",
        )
    return out


def max_tokens(body: dict, default: int, cap: int) -> int:
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestError(f"{key}={value!r}: must be a positive integer (this server allows 1..{cap})", param=key)
    if value > cap:
        raise RequestError(
            f"{key}={value}: above this server's limit of {cap} new tokens; ask for at most {cap}", param=key
        )
    return value


def flags(body: dict, model_name: str) -> tuple[bool, bool]:
    """(stream, include_usage) after checking the model name and the plain-typed fields."""
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError(f"model: expected a string, got {_kind(model)}", param="model")
    if model is not None and model != model_name:
        raise RequestError(
            f"model {model[:100]!r} does not exist here; this server serves {model_name!r}",
            status=404,
            param="model",
            code="model_not_found",
        )
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise RequestError(f"stream: expected true or false, got {_kind(stream)}", param="stream")
    n = body.get("n", 1)
    if n is not None and (isinstance(n, bool) or n != 1):
        raise RequestError("n: this server returns one choice; use n=1", param="n")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise RequestError(f"stream_options: expected an object, got {_kind(options)}", param="stream_options")
    usage = options.get("include_usage", False)
    if not isinstance(usage, bool):
        raise RequestError(
            f"stream_options.include_usage: expected true or false, got {_kind(usage)}", param="stream_options"
        )
    return bool(stream), usage


@dataclass
class OverrideLock:
    """Which per-request policy overrides the operator allows.

    mode any: every policy key; off: none; allowed: only the keys in `ranges`, each with an
    optional [lo, hi] that its value (or every value of a mapping such as biases) must lie in."""

    mode: str = "any"
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)

    def describe(self) -> str:
        if self.mode != "allowed":
            return self.mode
        return ", ".join(
            k if lo is None and hi is None else f"{k} in [{lo}, {hi}]" for k, (lo, hi) in self.ranges.items()
        )


def make_lock(mode: str, ranges: dict | None = None) -> OverrideLock:
    """mode any | off | allowed; ranges (allowed): policy key -> [lo, hi], or [] for any valid value."""
    if mode in ("any", "off"):
        return OverrideLock(mode)
    if mode != "allowed":
        raise ValueError(f"overrides={mode!r}: expected any, off or allowed")
    known = set(policy_mod.Policy.__dataclass_fields__)
    out: dict[str, tuple[float | None, float | None]] = {}
    for key, rng in (ranges or {}).items():
        if key not in known:
            raise ValueError(f"override_ranges.{key}: not a policy key; allowed: {', '.join(sorted(known))}")
        rng = list(rng or [])
        if rng and (
            len(rng) != 2 or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in rng) or rng[0] > rng[1]
        ):
            raise ValueError(
                f"override_ranges.{key}={rng}: expected [lo, hi] with finite lo <= hi, or [] for any valid value"
            )
        out[key] = (float(rng[0]), float(rng[1])) if rng else (None, None)
    if not out:
        raise ValueError(
            "overrides='allowed': name the allowed keys, e.g. override_ranges.threshold=[0.2,0.8] override_ranges.temperature=[]"
        )
    return OverrideLock("allowed", out)


def _out_of_range(value, lo, hi) -> bool:
    values = value.values() if isinstance(value, dict) else [value]
    return any(isinstance(v, (int, float)) and not isinstance(v, bool) and not lo <= v <= hi for v in values)


def check_override(lock: OverrideLock, changes) -> None:
    """403 for any override the operator's lock does not allow; the policy itself validates values."""
    if lock.mode == "any" or changes is None:
        return
    if lock.mode == "off":
        raise RequestError(
            f"{OVERRIDE_FIELD}: per-request policy overrides are turned off on this server",
            status=403,
            param=OVERRIDE_FIELD,
            code="override_locked",
        )
    if not isinstance(changes, dict):
        return  # policy.override names the type error as a 400
    for key, value in changes.items():
        if key not in lock.ranges:
            raise RequestError(
                f"{OVERRIDE_FIELD}.{key}: this server does not allow overriding {key!r}; allowed: {lock.describe()}",
                status=403,
                param=OVERRIDE_FIELD,
                code="override_locked",
            )
        lo, hi = lock.ranges[key]
        if lo is not None and _out_of_range(value, lo, hi):
            raise RequestError(
                f"{OVERRIDE_FIELD}.{key}: this server allows {key} only in [{lo}, {hi}]",
                status=403,
                param=OVERRIDE_FIELD,
                code="override_locked",
            )


def request_policy(base: policy_mod.Policy, lock: OverrideLock, changes) -> policy_mod.Policy:
    """The served policy with the request's allowed override applied (400 for invalid values)."""
    if changes is None:
        return base
    check_override(lock, changes)
    try:
        pol = policy_mod.override(base, changes, f"request field {OVERRIDE_FIELD!r}")
    except policy_mod.PolicyError as exc:
        raise RequestError(str(exc), param=OVERRIDE_FIELD) from None
    if pol.scheme != base.scheme:
        raise RequestError(
            f"{OVERRIDE_FIELD}.scheme={pol.scheme!r}: the served checkpoint uses scheme {base.scheme!r}",
            param=OVERRIDE_FIELD,
        )
    return pol
