"""Small mergeable pieces: distinct counts, top values, moments and histograms, chunk by chunk."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from datasets.profiling.options import TWO_64


class _Distinct:
    """Distinct values by 64-bit hash: exact up to ``cap`` hashes, then the ``cap`` smallest (KMV)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.hashes = np.empty(0, dtype=np.uint64)
        self.threshold: np.uint64 | None = None  # set once saturated

    def update(self, hashes: np.ndarray) -> None:
        if self.threshold is not None:
            hashes = hashes[hashes < self.threshold]
        if not len(hashes):
            return
        merged = pd.unique(np.concatenate([self.hashes, hashes]))
        if len(merged) > self.cap:
            merged = np.partition(merged, self.cap - 1)[: self.cap]
            self.threshold = merged.max()
        self.hashes = merged

    def result(self) -> tuple[int, bool]:
        if self.threshold is None:
            return len(self.hashes), True
        # KMV: the k-th smallest of n uniform hashes sits near k / n of the hash range.
        return round((self.cap - 1) / (float(self.threshold) / TWO_64)), False


class _TopValues:
    """Bounded value counters: exact until values must be dropped, then low by at most ``error``."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.counts: pd.Series | None = None
        self.error = 0

    def _bounded(self, counts: pd.Series) -> pd.Series:
        if len(counts) <= self.capacity:
            return counts
        values = counts.to_numpy()
        order = np.argpartition(-values, self.capacity)
        self.error += int(values[order[self.capacity]])  # the most any dropped value had
        return counts.iloc[order[: self.capacity]]

    def update(self, uniques: pd.Index, counts: np.ndarray) -> None:
        chunk = self._bounded(pd.Series(counts, index=uniques, dtype="int64"))
        if self.counts is None:
            self.counts = chunk
            return
        merged = pd.concat([self.counts, chunk]).groupby(level=0, sort=False).sum()
        self.counts = self._bounded(merged)

    @property
    def exact(self) -> bool:
        return self.error == 0

    def items(self) -> list[tuple[Any, int]]:
        """Every counted value, most frequent first (ties by value, so the order is stable)."""
        if self.counts is None or self.counts.empty:
            return []
        pairs = list(zip(self.counts.index.tolist(), self.counts.tolist(), strict=True))
        pairs.sort(key=lambda pair: (-pair[1], str(pair[0])))
        return pairs


class _Moments:
    """Count, mean and sum of squared deviations, merged chunk by chunk (Chan et al.), plus min/max."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf

    def update(self, x: np.ndarray) -> None:
        n_b = len(x)
        if not n_b:
            return
        mean_b = float(x.mean())
        m2_b = float(((x - mean_b) ** 2).sum())
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * self.n * n_b / n
        self.n = n
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))

    @property
    def std(self) -> float | None:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else None


class _Histogram:
    """Exact counts in ``size`` bins of a power-of-two width, aligned on multiples of that width.

    The width is always the smallest power of two (not below a floor set by the values' magnitude)
    that fits the range seen so far, and nested dyadic bins merge exactly, so the counts do not
    depend on how the data was chunked.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.width: float | None = None
        self.k0 = 0
        self.counts = np.zeros(size, dtype=np.int64)
        self.lo = math.inf
        self.hi = -math.inf

    def _fits(self, width: float, lo: float, hi: float) -> bool:
        return math.floor(hi / width) - math.floor(lo / width) < self.size

    def _floor_width(self, lo: float, hi: float) -> float:
        magnitude = max(abs(lo), abs(hi))
        exponent = math.frexp(magnitude)[1] if magnitude > 0 else 0
        return 2.0 ** (exponent - 40)  # keeps bin indices well inside int64

    def update(self, x: np.ndarray) -> None:
        if not len(x):
            return
        lo, hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))
        width = self.width
        if width is None:
            spread = (hi - lo) / self.size
            width = 2.0 ** math.ceil(math.log2(spread)) if 0 < spread < math.inf else 0.0
        width = max(width, self._floor_width(lo, hi))
        while not self._fits(width, lo, hi):
            width *= 2
        k0 = math.floor(lo / width)
        if self.width is not None and (width != self.width or k0 != self.k0):
            ratio = round(width / self.width)
            occupied = np.flatnonzero(self.counts)
            counts = np.zeros(self.size, dtype=np.int64)
            np.add.at(counts, (self.k0 + occupied) // ratio - k0, self.counts[occupied])
            self.counts = counts
        self.width, self.k0, self.lo, self.hi = width, k0, lo, hi
        index = (np.floor(x / width) - k0).astype(np.int64)
        self.counts += np.bincount(index, minlength=self.size)

    def result(self, max_bins: int, *, integer: bool = False) -> dict | None:
        """At most ``max_bins`` bins, each a whole number of dyadic bins, aligned on multiples of
        its width (and at least 1 wide, on integer edges, for integer columns)."""
        if self.width is None:
            return None
        occupied = np.flatnonzero(self.counts)
        first, last = self.k0 + int(occupied[0]), self.k0 + int(occupied[-1])
        group = 1
        while math.floor(last / group) - math.floor(first / group) + 1 > max_bins or (
            integer and group * self.width < 1
        ):
            group *= 2
        start = math.floor(first / group) * group
        bins = math.floor(last / group) - math.floor(first / group) + 1
        counts = np.zeros(bins * group, dtype=np.int64)
        counts[first - start : last - start + 1] = self.counts[first - self.k0 : last - self.k0 + 1]
        counts = counts.reshape(bins, group).sum(axis=1)
        edges = [(start + j * group) * self.width for j in range(bins + 1)]
        return {"kind": "bins", "edges": edges, "counts": counts.tolist()}
