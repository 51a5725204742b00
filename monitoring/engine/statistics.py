"""``statistics.json``: per-feature statistics of a dataset, streamed in chunks.

Each column keeps a small accumulator (counts, moments, a KLL quantile sketch, a bounded
category counter), so memory stays flat however many rows stream through, and two results
merge (``merge_statistics``) without the data. Studio adds two fields per feature beside
SageMaker's: ``studio_sketch`` (the serialized KLL sketch, base64; the drift tests read it) and
``studio_type_counts`` (how many values were integral, fractional or strings; the data type
check reads it).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from datasketches import kll_floats_sketch

KLL_K = 2048
KLL_C = 0.64  # SageMaker's published sketch parameters (c is Deequ's compaction ratio)
NUM_BUCKETS = 10
SKETCH_SAMPLE_POINTS = 101  # ``sketch.data``: representative quantiles (one level), for readers
MAX_CATEGORIES = 10_000  # a counter larger than this stops taking new values (bounded memory)
MAX_BUCKETS = 1000  # categorical buckets written to the JSON

INTEGRAL, FRACTIONAL, STRING, UNKNOWN = "Integral", "Fractional", "String", "Unknown"


class _Column:
    """One column's running statistics."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.present = 0
        self.missing = 0
        self.integral = 0
        self.fractional = 0
        self.strings = 0
        # Numeric moments over the values that parse as numbers (Chan's parallel update).
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.sketch = kll_floats_sketch(KLL_K)
        self.categories: dict[str, int] = {}
        self.categories_truncated = False

    # -- updates --------------------------------------------------------------------------------

    def update(self, series: pd.Series) -> None:
        dtype = series.dtype
        if pd.api.types.is_bool_dtype(dtype):
            series = (
                series.astype(object).where(series.notna(), None).map(lambda v: None if v is None else str(v))
            )
            dtype = series.dtype
        if pd.api.types.is_numeric_dtype(dtype):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            present = ~np.isnan(values)
            self.missing += int(values.size - np.count_nonzero(present))
            values = values[present]
            self.present += int(values.size)
            self._numbers(values, integer_dtype=pd.api.types.is_integer_dtype(dtype))
            if self.strings and values.size:
                # Already a String column: numbers count as categories too (from here on).
                self._count(pd.Series(values).map(_number_text))
            return
        # Text: work on the distinct values and their counts (a few per categorical column), not on
        # every row: parsing numbers and spotting blanks per row was most of an execution's time.
        given = series[series.notna()]
        counts = given.value_counts(sort=False)
        tallies = counts.to_numpy(dtype=np.int64)
        keys = pd.Index(counts.index.astype(str))
        blank = np.asarray(keys.str.strip() == "")  # empty or blank strings are missing, as in a CSV
        self.missing += int(series.size - given.size + tallies[blank].sum())
        keys, tallies, originals = keys[~blank], tallies[~blank], counts.index[~blank]
        self.present += int(tallies.sum())
        if not tallies.size:
            return
        numbers = pd.to_numeric(pd.Series(originals, dtype=object), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        is_number = ~np.isnan(numbers)
        self.strings += int(tallies[~is_number].sum())
        if is_number.any():
            self._numbers(np.repeat(numbers[is_number], tallies[is_number]), integer_dtype=False)
        self._count_keys(keys.tolist(), tallies.tolist())

    def _numbers(self, values: np.ndarray, *, integer_dtype: bool) -> None:
        if not values.size:
            return
        finite = values[np.isfinite(values)]
        whole = finite.size if integer_dtype else int(np.count_nonzero(finite == np.floor(finite)))
        self.integral += whole
        self.fractional += int(values.size - whole)
        if not finite.size:
            return
        n = int(finite.size)
        mean = float(finite.mean())
        m2 = float(((finite - mean) ** 2).sum())
        self._combine(n, mean, m2, float(finite.sum()), float(finite.min()), float(finite.max()))
        self.sketch.update(finite.astype(np.float32))

    def _combine(self, n: int, mean: float, m2: float, total: float, low: float, high: float) -> None:
        if not n:
            return
        count = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / count
        self.m2 += m2 + delta * delta * self.count * n / count
        self.count = count
        self.sum += total
        self.min = min(self.min, low)
        self.max = max(self.max, high)

    def _count(self, values: pd.Series) -> None:
        counts = values.value_counts(sort=False)
        self._count_keys(counts.index.tolist(), counts.tolist())

    def _count_keys(self, keys: list, tallies: list[int]) -> None:
        categories = self.categories
        for value, count in zip(keys, tallies, strict=True):
            key = str(value)
            if key in categories:
                categories[key] += int(count)
            elif len(categories) < MAX_CATEGORIES:
                categories[key] = int(count)
            else:
                self.categories_truncated = True

    def merge(self, other: _Column) -> None:
        self.present += other.present
        self.missing += other.missing
        self.integral += other.integral
        self.fractional += other.fractional
        self.strings += other.strings
        self._combine(other.count, other.mean, other.m2, other.sum, other.min, other.max)
        if not other.sketch.is_empty():
            self.sketch.merge(other.sketch)
        for key, count in other.categories.items():
            if key in self.categories:
                self.categories[key] += count
            elif len(self.categories) < MAX_CATEGORIES:
                self.categories[key] = count
            else:
                self.categories_truncated = True
        self.categories_truncated |= other.categories_truncated

    # -- results --------------------------------------------------------------------------------

    @property
    def inferred_type(self) -> str:
        if not self.present:
            return UNKNOWN
        if self.strings:
            return STRING
        return FRACTIONAL if self.fractional else INTEGRAL

    def to_feature(self) -> dict:
        kind = self.inferred_type
        common = {"num_present": self.present, "num_missing": self.missing}
        feature: dict = {"name": self.name, "inferred_type": kind}
        if kind in (INTEGRAL, FRACTIONAL):
            std = math.sqrt(self.m2 / self.count) if self.count else 0.0
            feature["numerical_statistics"] = {
                "common": common,
                "mean": _finite(self.mean),
                "sum": _finite(self.sum),
                "std_dev": _finite(std),
                "min": _finite(self.min),
                "max": _finite(self.max),
                "distribution": {"kll": self._kll()},
            }
            feature["studio_sketch"] = base64.b64encode(self.sketch.serialize()).decode("ascii")
        else:
            ranked = sorted(self.categories.items(), key=lambda item: (-item[1], item[0]))
            feature["string_statistics"] = {
                "common": common,
                "distinct_count": len(self.categories),
                "distribution": {
                    "categorical": {
                        "buckets": [{"value": value, "count": count} for value, count in ranked[:MAX_BUCKETS]]
                    }
                },
            }
            if self.categories_truncated or len(ranked) > MAX_BUCKETS:
                feature["studio_categories_truncated"] = True
        feature["studio_type_counts"] = {
            "integral": self.integral,
            "fractional": self.fractional,
            "string": self.strings,
        }
        return feature

    def _kll(self) -> dict:
        sketch = self.sketch
        if sketch.is_empty():
            return {"buckets": [], "sketch": {"parameters": {"c": KLL_C, "k": KLL_K}, "data": [[]]}}
        low, high = float(self.min), float(self.max)
        edges = np.linspace(low, high, NUM_BUCKETS + 1)
        interior = np.unique(edges[1:-1])
        cdf = np.asarray(sketch.get_cdf(interior.tolist(), inclusive=True)) if interior.size else np.ones(1)
        counts = np.diff(np.concatenate([[0.0], cdf])) * sketch.n
        if interior.size < NUM_BUCKETS - 1:  # a constant column: one bucket holds everything
            counts = np.concatenate([counts, np.zeros(NUM_BUCKETS - counts.size)])
        buckets = [
            {
                "lower_bound": float(edges[i]),
                "upper_bound": float(edges[i + 1]),
                "count": round(float(counts[i])),
            }
            for i in range(NUM_BUCKETS)
        ]
        data = sketch.get_quantiles(np.linspace(0, 1, SKETCH_SAMPLE_POINTS).tolist())
        return {"buckets": buckets, "sketch": {"parameters": {"c": KLL_C, "k": KLL_K}, "data": [list(data)]}}

    @classmethod
    def from_feature(cls, feature: dict) -> _Column:
        """Rebuild an accumulator from a ``statistics.json`` feature (for merging)."""
        column = cls(feature["name"])
        stats = feature.get("numerical_statistics") or feature.get("string_statistics") or {}
        common = stats.get("common", {})
        column.present = int(common.get("num_present", 0))
        column.missing = int(common.get("num_missing", 0))
        types = feature.get("studio_type_counts") or {}
        kind = feature.get("inferred_type")
        column.integral = int(types.get("integral", column.present if kind == INTEGRAL else 0))
        column.fractional = int(types.get("fractional", column.present if kind == FRACTIONAL else 0))
        column.strings = int(types.get("string", column.present if kind == STRING else 0))
        if "numerical_statistics" in feature:
            sketch = feature_sketch(feature)
            if sketch is not None:
                column.sketch = sketch
            column.count = int(sketch.n) if sketch is not None else column.integral + column.fractional
            column.mean = float(stats.get("mean") or 0.0)
            column.m2 = float(stats.get("std_dev") or 0.0) ** 2 * column.count
            column.sum = float(stats.get("sum") or 0.0)
            column.min = float(stats["min"]) if stats.get("min") is not None else math.inf
            column.max = float(stats["max"]) if stats.get("max") is not None else -math.inf
        else:
            for bucket in stats.get("distribution", {}).get("categorical", {}).get("buckets", []):
                column.categories[str(bucket["value"])] = int(bucket["count"])
            column.categories_truncated = bool(feature.get("studio_categories_truncated"))
        return column


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def feature_sketch(feature: dict) -> kll_floats_sketch | None:
    """The KLL sketch of a numeric feature (``studio_sketch``), or None when it has none."""
    encoded = feature.get("studio_sketch")
    if not encoded:
        return None
    return kll_floats_sketch.deserialize(base64.b64decode(encoded))


class StatisticsAccumulator:
    """Statistics built chunk by chunk; ``result()`` is ``statistics.json``."""

    def __init__(self, *, exclude: Sequence[str] = ()) -> None:
        self.exclude = set(exclude)
        self.columns: dict[str, _Column] = {}
        self.item_count = 0

    def update(self, frame: pd.DataFrame) -> None:
        self.item_count += len(frame)
        for name in frame.columns:
            key = str(name)
            # "__..." columns are Studio's own (inference ids, predictions), never features.
            if key in self.exclude or key.startswith("__"):
                continue
            column = self.columns.get(key)
            if column is None:
                column = self.columns[key] = _Column(key)
                # A column first seen in a later chunk was missing from the rows before it.
                column.missing = self.item_count - len(frame)
            column.update(frame[name])
        for key, column in self.columns.items():
            if key not in frame.columns:
                column.missing += len(frame)

    def result(self) -> dict:
        return {
            "version": 0,
            "dataset": {"item_count": self.item_count},
            "features": [column.to_feature() for column in self.columns.values()],
        }


def dataset_statistics(
    frames: Iterable[pd.DataFrame],
    *,
    exclude: Sequence[str] = (),
    chunk_update: Callable[[int], None] | None = None,
) -> dict:
    """``statistics.json`` of the rows in ``frames`` (one chunk in memory at a time).
    ``chunk_update(rows_so_far)`` is called after each chunk (the job's progress line)."""
    accumulator = StatisticsAccumulator(exclude=exclude)
    for frame in frames:
        accumulator.update(frame)
        if chunk_update is not None:
            chunk_update(accumulator.item_count)
    return accumulator.result()


def merge_statistics(a: dict, b: dict) -> dict:
    """The statistics of both datasets together: counts add, moments combine, sketches merge."""
    columns: dict[str, _Column] = {}
    count_a = int(a.get("dataset", {}).get("item_count", 0))
    count_b = int(b.get("dataset", {}).get("item_count", 0))
    for feature in a.get("features", []):
        columns[feature["name"]] = _Column.from_feature(feature)
    names_b = set()
    for feature in b.get("features", []):
        names_b.add(feature["name"])
        other = _Column.from_feature(feature)
        if feature["name"] in columns:
            columns[feature["name"]].merge(other)
        else:
            other.missing += count_a  # absent from a: all of a's rows lack it
            columns[feature["name"]] = other
    for name, column in columns.items():
        if name not in names_b:
            column.missing += count_b
    return {
        "version": 0,
        "dataset": {"item_count": count_a + count_b},
        "features": [column.to_feature() for column in columns.values()],
    }


def features_by_name(statistics: dict) -> dict[str, dict]:
    return {feature["name"]: feature for feature in statistics.get("features", [])}
