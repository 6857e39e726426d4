"""Seeded train/eval splits that keep duplicates and near-duplicates on one side (pure)."""

from __future__ import annotations

import random
from collections import defaultdict

from refusal_lab.data.dedup import duplicate_groups, normalise
from refusal_lab.data.records import Example


def drop_exact_duplicates(rows: list[Example]) -> tuple[list[Example], int]:
    seen, kept = set(), []
    for r in rows:
        key = normalise(r.prompt)
        if key not in seen:
            seen.add(key)
            kept.append(r)
    return kept, len(rows) - len(kept)


def split_pool(
    rows: list[Example], eval_size: int, seed: int, threshold: float
) -> tuple[list[Example], list[Example], dict]:
    """Exact duplicates are dropped (first kept); near-duplicate groups go whole to one
    side; groups are drawn for eval in a seeded order until eval_size is reached."""
    rows, exact = drop_exact_duplicates(rows)
    groups = duplicate_groups([r.prompt for r in rows], threshold)
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    order = sorted(members, key=lambda g: rows[g].id)  # independent of input order
    random.Random(seed).shuffle(order)
    eval_idx: set[int] = set()
    for g in order:
        if len(eval_idx) >= eval_size:
            break
        eval_idx.update(members[g])
    train = [r for i, r in enumerate(rows) if i not in eval_idx]
    evals = [r for i, r in enumerate(rows) if i in eval_idx]
    report = {
        "exact_duplicates_dropped": exact,
        "near_duplicate_rows_grouped": sum(len(m) for m in members.values() if len(m) > 1),
    }
    return train, evals, report


def drop_overlap_with_eval(train: list[Example], evals: list[Example], threshold: float) -> tuple[list[Example], int]:
    """For fixed eval files: drop training rows that duplicate or near-duplicate any eval row."""
    texts = [r.prompt for r in evals] + [r.prompt for r in train]
    groups = duplicate_groups(texts, threshold)
    eval_groups = set(groups[: len(evals)])
    kept = [r for r, g in zip(train, groups[len(evals) :]) if g not in eval_groups]
    return kept, len(train) - len(kept)


def drop_cross_source_duplicates(
    train: dict[str, list[Example]], evals: list[Example]
) -> tuple[dict[str, list[Example]], dict]:
    """A prompt lives in one place: training rows whose (normalised) prompt equals any eval row's are
    dropped, and a prompt in two training pools is kept in the first pool only. Counts per pool."""
    eval_keys = {normalise(e.prompt) for e in evals}
    earlier: set[str] = set()
    kept: dict[str, list[Example]] = {}
    report: dict[str, dict[str, int]] = {"dropped_matching_eval": {}, "dropped_in_earlier_pool": {}}
    for pool, rows in train.items():
        out, pool_keys, hits, repeats = [], set(), 0, 0
        for r in rows:
            key = normalise(r.prompt)
            if key in eval_keys:
                hits += 1
            elif key in earlier:
                repeats += 1
            else:
                pool_keys.add(key)
                out.append(r)
        kept[pool] = out
        report["dropped_matching_eval"][pool] = hits
        report["dropped_in_earlier_pool"][pool] = repeats
        earlier |= pool_keys
    return kept, report
