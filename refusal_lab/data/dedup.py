"""Exact and near-duplicate detection of prompts (pure).

Near-duplicates: Jaccard similarity of word 3-shingles >= a threshold. Candidates
come from MinHash banding (16 hashes in 8 bands of 2: a pair at Jaccard 0.8 is a
candidate with probability 0.9997) and every candidate is verified exactly, so
the result has no false positives and is linear in the number of prompts.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

_WORD = re.compile(r"[a-z0-9']+")
_NUM_HASHES, _BAND_ROWS = 16, 2
_PRIME = (1 << 61) - 1
_rng = np.random.default_rng(20241209)
_A = _rng.integers(1, _PRIME, _NUM_HASHES, dtype=np.uint64)
_B = _rng.integers(0, _PRIME, _NUM_HASHES, dtype=np.uint64)


def normalise(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def shingles(text: str) -> frozenset[str]:
    words = normalise(text).split()
    if len(words) < 3:
        return frozenset([" ".join(words)])
    return frozenset(" ".join(words[i : i + 3]) for i in range(len(words) - 2))


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _minhash(sh: frozenset[str]) -> np.ndarray:
    h = np.fromiter((zlib.crc32(s.encode()) for s in sh), dtype=np.uint64, count=len(sh))
    # (a*h + b) mod p in uint64 arithmetic; overflow wraps, which keeps it a fixed hash family.
    return ((np.outer(_A, h) + _B[:, None]) % np.uint64(_PRIME)).min(axis=1)


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def duplicate_groups(texts: list[str], threshold: float) -> list[int]:
    """Group id per text (the smallest index in its group); texts in one group are
    exact or near-duplicates of each other, transitively."""
    uf = _UnionFind(len(texts))
    sh = [shingles(t) for t in texts]
    first_by_norm: dict[str, int] = {}
    buckets: dict[tuple, list[int]] = {}
    for i, t in enumerate(texts):
        key = normalise(t)
        if key in first_by_norm:
            uf.union(first_by_norm[key], i)
            continue
        first_by_norm[key] = i
        sig = _minhash(sh[i])
        for band in range(_NUM_HASHES // _BAND_ROWS):
            bkey = (band, *sig[band * _BAND_ROWS : (band + 1) * _BAND_ROWS].tolist())
            buckets.setdefault(bkey, []).append(i)
    for members in buckets.values():
        for a_pos in range(len(members)):
            for b in members[a_pos + 1 :]:
                a = members[a_pos]
                if uf.find(a) != uf.find(b) and jaccard(sh[a], sh[b]) >= threshold:
                    uf.union(a, b)
    return [uf.find(i) for i in range(len(texts))]
