"""Training mix as a pure, seeded function of the pools and the `mix` settings.

Counts, with N the total:
  refusal  = round(refusal_fraction * N), split over categories by weight
  contrast = round(contrast_ratio * refusal)
  general  = N - refusal - contrast
With `general_count` G set instead of `total`, N is solved from
G = N * (1 - refusal_fraction * (1 + contrast_ratio)).

Rows are drawn without replacement from each pool sorted by id (so loader order
does not matter); a shortfall is an error, a cap, or explicit oversampling.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass

from refusal_lab.config import MixConfig, category_weights
from refusal_lab.definitions import CATEGORIES, CATEGORY_SLUGS, SOURCE_CONTRAST, SOURCE_GENERAL, SOURCE_REFUSAL
from refusal_lab.data.records import Example


class MixError(ValueError):
    pass


@dataclass(frozen=True)
class Mix:
    examples: list[Example]  # shuffled training sample
    manifest: dict  # requested vs realised counts, seed, settings, content hash


def largest_remainder(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Integer counts proportional to weights that sum exactly to total."""
    wsum = sum(weights.values())
    if total == 0 or wsum <= 0:
        return {k: 0 for k in weights}
    exact = {k: total * w / wsum for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    rest = total - sum(counts.values())
    for k in sorted(exact, key=lambda k: (counts[k] - exact[k], k))[:rest]:
        counts[k] += 1
    return counts


def requested_counts(settings: MixConfig, refusal_pool: list[Example]) -> dict[str, int]:
    f, r = settings.refusal_fraction, settings.contrast_ratio
    if settings.total is not None:
        total = settings.total
        n_ref = round(f * total)
        n_con = round(r * n_ref)
        n_gen = total - n_ref - n_con
    else:
        n_gen = settings.general_count
        total = round(n_gen / (1 - f * (1 + r))) if f * (1 + r) < 1 else n_gen
        n_ref = round(f * total)
        n_con = round(r * n_ref)
    if n_gen < 0:
        raise MixError(
            f"mix.refusal_fraction={f}, mix.contrast_ratio={r}: leave no room for general rows; lower one of them"
        )
    weights = category_weights(settings)
    if weights is None:  # natural proportions of the pool
        weights = {c: float(sum(e.category == c for e in refusal_pool)) for c in CATEGORIES}
    weights = {c: weights.get(c, 0.0) for c in CATEGORIES}
    counts = {f"{SOURCE_REFUSAL}/{CATEGORY_SLUGS[c]}": n for c, n in largest_remainder(n_ref, weights).items()}
    counts[SOURCE_CONTRAST] = n_con
    counts[SOURCE_GENERAL] = n_gen
    return counts


def _draw(pool: list[Example], n: int, rng: random.Random, key: str, mode: str) -> tuple[list[Example], int]:
    """n rows of pool; returns (rows, how many were drawn again by oversampling)."""
    pool = sorted(pool, key=lambda e: e.id)
    if n <= len(pool):
        return rng.sample(pool, n), 0
    if mode == "error":
        raise MixError(
            f"mix: {key} needs {n} rows but its pool has {len(pool)}; lower mix.total / mix.general_count / "
            f"mix.refusal_fraction / mix.contrast_ratio, or set mix.on_shortfall=cap (take what there is) or "
            f"mix.on_shortfall=oversample (repeat rows)"
        )
    rows = rng.sample(pool, len(pool))
    if mode == "cap" or not pool:
        return rows, 0
    extra = [rng.choice(pool) for _ in range(n - len(pool))]
    return rows + extra, len(extra)


def content_hash(examples: list[Example]) -> str:
    h = hashlib.sha256()
    for e in examples:
        h.update(json.dumps([e.id, e.prompt, e.response, e.source, e.category], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def mix(pools: dict[str, list[Example]], settings: MixConfig) -> Mix:
    rng = random.Random(settings.seed)
    requested = requested_counts(settings, pools.get(SOURCE_REFUSAL, []))
    chosen: list[Example] = []
    realised, oversampled, pool_sizes = {}, {}, {}
    for key, n in requested.items():
        if key.startswith(SOURCE_REFUSAL + "/"):
            slug = key.split("/", 1)[1]
            pool = [e for e in pools.get(SOURCE_REFUSAL, []) if CATEGORY_SLUGS.get(e.category or "") == slug]
        else:
            pool = pools.get(key, [])
        rows, extra = _draw(pool, n, rng, key, settings.on_shortfall)
        chosen += rows
        realised[key], pool_sizes[key] = len(rows), len(pool)
        if extra:
            oversampled[key] = extra
    rng.shuffle(chosen)
    manifest = {
        "seed": settings.seed,
        "settings": {
            k: getattr(settings, k)
            for k in (
                "total",
                "general_count",
                "refusal_fraction",
                "contrast_ratio",
                "category_weights",
                "on_shortfall",
            )
        },
        "requested": requested,
        "realised": realised,
        "pool_sizes": pool_sizes,
        "oversampled": oversampled,
        "total_requested": sum(requested.values()),
        "total_realised": len(chosen),
        "realised_contrast_ratio": realised[SOURCE_CONTRAST]
        / max(1, sum(v for k, v in realised.items() if k.startswith(SOURCE_REFUSAL))),
        "content_hash": content_hash(chosen),
    }
    return Mix(examples=chosen, manifest=manifest)
