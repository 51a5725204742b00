"""The profile engine: Studio's data-quality and insights report, computed in one streaming pass.

Django-free on purpose: the profiling job (``python -m datasets.runtime.profile``) imports it in
the job's own process, and ``benchmarks/profile.py`` calls it directly on a file.

The data is read in chunks (``datasets.readers.iter_frames``) and never held whole. Per chunk,
each column is factorized once; the codes and unique values feed every per-column statistic:

- count, missing, invalid (values that do not parse as the column's schema type): exact;
- distinct: exact 64-bit value hashes up to ``distinct_cap`` distinct values, then a
  k-minimum-values (KMV) estimate with k = ``distinct_cap`` (``distinct_exact`` says which);
- min / max / mean / std (ddof=1, like pandas): exact, from mergeable moments (Chan et al.);
  infinite values are counted apart and left out of the moments, histogram and correlations;
- histogram of numeric and datetime columns: exact counts in power-of-two-wide bins aligned on
  multiples of their width, coarsened by doubling as the range grows (nested bins merge exactly),
  so the result does not depend on where chunks begin; at most ``histogram_bins`` bins in the
  report. Integer columns with few distinct values, and categorical ones, get a bar per value;
- top values: bounded counters (``top_capacity`` values per column); exact while nothing was
  dropped (``top_values_exact``), else each count is low by at most ``top_values_error``;
- quantiles (p5, p25, p50, p75, p95) and IQR outliers: from a uniform random sample of at most
  ``sample_rows`` rows (bottom-k of seeded random keys, the same whatever the chunking); exact
  when the sample holds every row (``quantiles_exact``);
- correlations: exact pairwise-complete Pearson (what ``DataFrame.corr()`` computes), from
  streaming sums of products over the numeric columns, shifted for numerical stability;
- duplicate rows: exact count from 64-bit row hashes (combined column hashes), up to
  ``duplicate_hash_cap`` distinct rows (beyond it, the count covers the rows hashed so far);
- for a target column: class balance (classification) or its distribution (regression),
  single-feature leakage scores (a depth-limited tree, or a category-to-target lookup, trained on
  one feature of the sample and scored on held-out sample rows: balanced accuracy or R²), and a
  baseline HistGradientBoosting model on the sample with permutation feature importances.

The report (JSON; every float finite or ``null``)::

    {
      "report_version": 1,
      "generated_at": "2026-01-01T00:00:00+00:00",
      "engine": {"chunk_rows", "sample_rows", "distinct_cap", "top_capacity", "seconds", "chunks"},
      "dataset": {"rows", "columns", "missing_cells", "missing_cells_fraction", "duplicate_rows",
                  "duplicate_rows_fraction", "kinds": {"numeric": 3, ...}},
      "columns": [{
          "name", "kind" (numeric|boolean|datetime|categorical|text),
          "type" (integer|float|boolean|datetime|categorical|text),
          "count", "missing", "missing_fraction", "invalid", "distinct", "distinct_exact",
          "top_values": [{"value", "count", "fraction"}], "top_values_exact", "top_values_error",
          "histogram": {"kind": "bins", "edges": [...], "counts": [...]}
                     | {"kind": "values", "values": [...], "counts": [...], "other": n},
          # numeric, boolean and datetime (datetimes as ISO strings):
          "min", "max", "mean", "std",
          # numeric:
          "zeros", "negatives", "infinite", "quantiles": {"p5", "p25", "p50", "p75", "p95"},
          "quantiles_exact", "outliers": {"method": "iqr", "lower_fence", "upper_fence",
              "sample_count", "sample_rows", "fraction", "estimated_count", "examples"},
          # categorical and text:
          "length": {"min", "mean", "max"},
      }],
      "correlations": {"method": "pearson", "columns": [...], "matrix": [[r or null]],
                       "top_pairs": [{"a", "b", "r"}], "omitted_columns": [...]},
      "duplicates": {"rows", "fraction", "exact", "method", "examples": [{column: value}]},
      "sample": {"rows", "exact", "method"},
      "target": null | {
          "column", "problem_type" (classification|regression|null), "note",
          "classes": [{"value", "count", "fraction"}], "imbalance_ratio",   # classification
          "distribution": {"histogram", "mean", "std", "quantiles"},        # regression
          "leakage": {"metric", "threshold", "holdout_rows",
                      "features": [{"column", "score", "leaks"}]},          # best first
          "baseline": {"model", "metric", "score", "naive_score", "train_rows", "holdout_rows",
                       "importances": [{"column", "importance", "std"}]} | null
      },
      "warnings": [{"type", "severity" (high|medium|low), "column" (or null), "message"}]
    }
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datasets.readers import DEFAULT_CHUNK_ROWS, iter_frames

REPORT_VERSION = 1
QUANTILES = {"p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}

NUMERIC, BOOLEAN, DATETIME, CATEGORICAL, TEXT = "numeric", "boolean", "datetime", "categorical", "text"
# Schema types (datasets.models.ColumnType) to the kind of statistics a column gets.
KIND_OF_TYPE = {
    "integer": NUMERIC,
    "float": NUMERIC,
    "boolean": BOOLEAN,
    "datetime": DATETIME,
    "categorical": CATEGORICAL,
    "text": TEXT,
}
BOOLEAN_WORDS = {
    "true": 1.0, "t": 1.0, "yes": 1.0, "y": 1.0, "1": 1.0, "1.0": 1.0,
    "false": 0.0, "f": 0.0, "no": 0.0, "n": 0.0, "0": 0.0, "0.0": 0.0,
}  # fmt: skip
NULL_HASH = np.uint64(0x9E3779B97F4A7C15)
ROW_HASH_PRIME = np.uint64(0x100000001B3)
TWO_64 = float(2**64)
MICROS = 1_000_000


class ProfileError(ValueError):
    """The data cannot be profiled as asked (no columns, an unknown target column, ...)."""


@dataclass(frozen=True)
class ProfileOptions:
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    sample_rows: int = 20_000  # the random sample behind quantiles, outliers, leakage and the model
    distinct_cap: int = 65_536  # exact distinct counts up to here, then a KMV estimate
    top_capacity: int = 1_000  # values counted per column
    top_k: int = 20  # values shown per column
    histogram_bins: int = 64  # at most, in the report (fewer for few values: about sqrt(count))
    value_bars: int = 30  # integer columns with at most this many distinct values get a bar per value
    correlation_max_columns: int = 50
    duplicate_hash_cap: int = 50_000_000  # 400 MB of row hashes at most
    duplicate_examples: int = 5
    outlier_examples: int = 5
    classification_max_classes: int = 20  # an integer target with more distinct values is regression
    model_max_classes: int = 50
    leakage_threshold: float = 0.99
    leakage_tree_depth: int = 8
    holdout_fraction: float = 0.25
    min_model_rows: int = 20
    high_missing: float = 0.05
    very_high_missing: float = 0.5
    high_cardinality: float = 0.5  # distinct / count of a categorical column
    imbalance_ratio: float = 0.1  # rarest / commonest class
    high_correlation: float = 0.95
    seed: int = 0


# --- small mergeable pieces ------------------------------------------------------------------------


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


# --- columns -------------------------------------------------------------------------------------


def _hash_uniques(uniques: pd.Index) -> np.ndarray:
    values = uniques.to_numpy()
    if values.dtype.kind not in "biufcmM":
        values = values.astype(object)
    return pd.util.hash_array(values)


class _Column:
    """Every statistic of one column, updated with that column of each chunk (normalized)."""

    def __init__(self, name: str, kind: str, declared_type: str | None, options: ProfileOptions) -> None:
        self.name = name
        self.kind = kind
        self.declared_type = declared_type
        self.options = options
        self.count = 0
        self.missing = 0
        self.invalid = 0
        self.distinct = _Distinct(options.distinct_cap)
        self.top = _TopValues(options.top_capacity)
        self.numeric = kind in (NUMERIC, BOOLEAN, DATETIME)
        self.moments = _Moments()
        self.histogram = _Histogram() if kind in (NUMERIC, DATETIME) else None
        self.integral = True
        self.zeros = self.negatives = self.infinite = 0
        self.length = _Moments() if kind in (CATEGORICAL, TEXT) else None

    def update(self, values: pd.Series, invalid: int) -> np.ndarray:
        """Take one chunk of this column; returns its per-row hashes (for duplicate rows)."""
        self.invalid += invalid
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        missing = int((codes < 0).sum())
        self.missing += missing
        self.count += len(codes) - missing
        unique_hashes = _hash_uniques(uniques)
        self.distinct.update(unique_hashes)
        if len(uniques):
            self.top.update(uniques, np.bincount(codes[codes >= 0], minlength=len(uniques)))
        if self.numeric:
            self._update_numbers(numbers_of(values))
        if self.length is not None and len(codes) > missing:
            lengths = values.str.len().to_numpy(dtype="float64", na_value=np.nan)
            self.length.update(lengths[~np.isnan(lengths)])
        if not len(uniques):
            return np.full(len(codes), NULL_HASH, dtype=np.uint64)
        return np.where(codes >= 0, unique_hashes[np.maximum(codes, 0)], NULL_HASH)

    def _update_numbers(self, x: np.ndarray) -> None:
        finite = x[np.isfinite(x)]
        self.infinite += int(np.isinf(x).sum())
        self.moments.update(finite)
        if self.kind == NUMERIC:
            self.zeros += int((finite == 0).sum())
            self.negatives += int((finite < 0).sum())
            if self.integral and len(finite):
                self.integral = bool(np.all(finite == np.floor(finite)))
        if self.histogram is not None:
            self.histogram.update(finite)

    # --- the report --------------------------------------------------------------------------------

    @property
    def type(self) -> str:
        if self.declared_type:
            return self.declared_type
        if self.kind == NUMERIC:
            return "integer" if self.integral and self.moments.n else "float"
        return self.kind

    def _value(self, value: Any) -> Any:
        if self.kind == BOOLEAN:
            return bool(value)
        if self.kind == DATETIME:
            return pd.Timestamp(value).isoformat()
        if self.kind == NUMERIC:
            value = float(value)
            return int(value) if self.integral and math.isfinite(value) and abs(value) < 2**53 else value
        return value if isinstance(value, str | int | float | bool) else str(value)

    def _number(self, value: float | None) -> Any:
        if value is None or not math.isfinite(value):
            return None
        if self.kind == DATETIME:
            return _iso_from_seconds(value)
        return value

    def report(self, rows: int, sample: pd.Series | None, sample_exact: bool) -> dict:
        options = self.options
        distinct, distinct_exact = self.distinct.result()
        items = self.top.items()
        result: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "type": self.type,
            "count": self.count,
            "missing": self.missing,
            "missing_fraction": self.missing / rows if rows else 0.0,
            "invalid": self.invalid,
            "distinct": distinct,
            "distinct_exact": distinct_exact,
            "top_values": [
                {"value": self._value(value), "count": count, "fraction": count / rows if rows else 0.0}
                for value, count in items[: options.top_k]
            ],
            "top_values_exact": self.top.exact,
            "top_values_error": self.top.error,
        }
        if self.numeric:
            moments = self.moments
            result.update(
                {
                    "min": self._number(moments.min if moments.n else None),
                    "max": self._number(moments.max if moments.n else None),
                    "mean": self._number(moments.mean if moments.n else None),
                    "std": moments.std,  # in seconds for datetimes
                }
            )
        if self.kind == NUMERIC:
            result.update({"zeros": self.zeros, "negatives": self.negatives, "infinite": self.infinite})
            result.update(self._sample_statistics(sample, sample_exact))
        if self.kind == DATETIME and sample is not None:
            seconds = numbers_of(sample)
            seconds = seconds[np.isfinite(seconds)]
            if len(seconds):
                result["quantiles"] = {
                    key: _iso_from_seconds(float(value))
                    for key, value in zip(
                        QUANTILES, np.quantile(seconds, list(QUANTILES.values())), strict=True
                    )
                }
                result["quantiles_exact"] = sample_exact
        if self.length is not None:
            length = self.length
            result["length"] = {
                "min": int(length.min) if length.n else None,
                "mean": length.mean if length.n else None,
                "max": int(length.max) if length.n else None,
            }
        result["histogram"] = self._histogram(items, distinct, distinct_exact)
        return result

    def _histogram(self, items: list[tuple[Any, int]], distinct: int, distinct_exact: bool) -> dict | None:
        options = self.options
        by_value = self.kind in (BOOLEAN, CATEGORICAL, TEXT) or (
            self.kind == NUMERIC
            and self.integral
            and distinct_exact
            and distinct <= options.value_bars
            and self.top.exact
        )
        if by_value:
            shown = items[: options.value_bars] if self.kind == NUMERIC else items[: options.top_k]
            if self.kind == NUMERIC:
                shown = sorted(shown, key=lambda pair: pair[0])
            return {
                "kind": "values",
                "values": [self._value(value) for value, _ in shown],
                "counts": [count for _, count in shown],
                "other": self.count - sum(count for _, count in shown),
            }
        histogram = (
            self.histogram.result(
                min(options.histogram_bins, max(10, math.isqrt(self.moments.n))),
                integer=self.kind == NUMERIC and self.integral,
            )
            if self.histogram
            else None
        )
        if histogram and self.kind == DATETIME:
            histogram["edges"] = [_iso_from_seconds(edge) for edge in histogram["edges"]]
        return histogram

    def _sample_statistics(self, sample: pd.Series | None, sample_exact: bool) -> dict:
        options = self.options
        x = numbers_of(sample) if sample is not None else np.empty(0)
        x = x[np.isfinite(x)]
        if not len(x):
            return {"quantiles": None, "quantiles_exact": sample_exact, "outliers": None}
        values = np.quantile(x, list(QUANTILES.values()))
        quantiles = dict(zip(QUANTILES, values.tolist(), strict=True))
        q1, q3 = quantiles["p25"], quantiles["p75"]
        iqr = q3 - q1
        lower, upper = q1 - 1.5 * iqr, q3 + 1.5 * iqr
        outside = x[(x < lower) | (x > upper)] if iqr > 0 else np.empty(0)
        median = quantiles["p50"]
        extreme = outside[np.argsort(-np.abs(outside - median), kind="stable")][: options.outlier_examples]
        fraction = len(outside) / len(x)
        return {
            "quantiles": quantiles,
            "quantiles_exact": sample_exact,
            "outliers": {
                "method": "iqr",
                "lower_fence": lower,
                "upper_fence": upper,
                "sample_count": len(outside),
                "sample_rows": len(x),
                "fraction": fraction,
                "estimated_count": round(fraction * self.moments.n),
                "examples": [self._value(value) for value in extreme.tolist()],
                "note": "" if iqr > 0 else "The interquartile range is 0: no outlier rule applies.",
            },
        }


def numbers_of(values: pd.Series) -> np.ndarray:
    """A normalized column as float64: numbers as they are, booleans 0/1, datetimes in epoch seconds."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        micros = values.to_numpy(dtype="datetime64[us]").astype("int64").astype("float64")
        micros[values.isna().to_numpy()] = np.nan
        return micros / MICROS
    return values.to_numpy(dtype="float64", na_value=np.nan)


def _iso_from_seconds(seconds: float) -> str:
    return pd.Timestamp(round(seconds * MICROS), unit="us").isoformat()


# --- reading chunks into a consistent shape ---------------------------------------------------------


def _infer_kind(values: pd.Series) -> str:
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return BOOLEAN
    if pd.api.types.is_numeric_dtype(dtype):
        return NUMERIC
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return DATETIME
    if pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(values, skipna=True) == "boolean":
        return BOOLEAN
    return CATEGORICAL


def _normalize(values: pd.Series, kind: str) -> tuple[pd.Series, int]:
    """The column in its kind's representation, and how many present values did not convert.

    numeric and boolean: float64 (booleans 0/1); datetime: datetime64[us] (naive UTC);
    categorical and text: pandas strings. Missing stays missing.
    """
    dtype = values.dtype
    if kind == NUMERIC:
        if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            converted = pd.Series(values.to_numpy(dtype="float64", na_value=np.nan), index=values.index)
        else:
            converted = pd.to_numeric(values, errors="coerce").astype("float64")
        converted = converted + 0.0  # -0.0 and 0.0 are one value
    elif kind == BOOLEAN:
        if pd.api.types.is_bool_dtype(dtype):
            converted = values.astype("float64")
        elif pd.api.types.is_numeric_dtype(dtype):
            converted = values.astype("float64").where(values.isin([0, 1]))
        else:
            converted = values.astype("str").str.strip().str.lower().map(BOOLEAN_WORDS).astype("float64")
    elif kind == DATETIME:
        if pd.api.types.is_datetime64_any_dtype(dtype):
            converted = values
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "could not infer format": it falls back per value
                converted = pd.to_datetime(values, errors="coerce", utc=True)
        if getattr(converted.dt, "tz", None) is not None:
            converted = converted.dt.tz_convert("UTC").dt.tz_localize(None)
        converted = converted.dt.as_unit("us")
    else:
        if isinstance(dtype, pd.StringDtype):
            return values, 0
        if pd.api.types.is_float_dtype(dtype):
            finite = values.dropna()
            if len(finite) and np.all(np.isfinite(finite)) and np.all(finite == np.floor(finite)):
                values = values.astype("Int64")  # 3.0 reads as "3", as it would without missing values
        return values.astype("str"), 0
    invalid = int((converted.isna() & values.notna()).sum())
    return converted, invalid


# --- the profiler ----------------------------------------------------------------------------------


def _schema_types(schema: Iterable[dict] | dict[str, str] | None) -> dict[str, str]:
    if not schema:
        return {}
    if isinstance(schema, dict):
        return {str(name): str(kind) for name, kind in schema.items()}
    return {str(item["name"]): str(item.get("type", "")) for item in schema}


class Profiler:
    """Feed it chunks with :meth:`update`; :meth:`report` gives the JSON-ready report."""

    def __init__(
        self,
        *,
        target_column: str = "",
        schema: Iterable[dict] | dict[str, str] | None = None,
        options: ProfileOptions | None = None,
    ) -> None:
        self.options = options or ProfileOptions()
        self.target_column = target_column
        self.schema = _schema_types(schema)
        self.columns: list[_Column] = []
        self.rows = 0
        self.chunks = 0
        self.extra_columns: set[str] = set()
        self.started = time.perf_counter()
        self._rng = np.random.default_rng(self.options.seed)
        self._sample: pd.DataFrame | None = None
        self._sample_keys = np.empty(0)
        self._row_hashes: list[np.ndarray] = []
        self._row_hash_count = 0  # rows hashed (up to the cap)
        self._row_hashes_kept = 0
        self._duplicate_examples: list[dict] = []
        self._corr: dict[str, np.ndarray] | None = None
        self._corr_columns: list[int] = []
        self._shift: np.ndarray | None = None

    # --- streaming -------------------------------------------------------------------------------

    def _setup(self, frame: pd.DataFrame) -> None:
        names = [str(name) for name in frame.columns]
        if not names:
            raise ProfileError("The data has no columns.")
        if self.target_column and self.target_column not in names:
            raise ProfileError(
                f"The target column {self.target_column!r} is not in the data "
                f"(its columns: {', '.join(names[:20])}{', ...' if len(names) > 20 else ''})."
            )
        for name in names:
            declared = self.schema.get(name) if self.schema.get(name) in KIND_OF_TYPE else None
            kind = KIND_OF_TYPE[declared] if declared else _infer_kind(frame[name])
            self.columns.append(_Column(name, kind, declared, self.options))
        numeric = [i for i, column in enumerate(self.columns) if column.kind == NUMERIC]
        self._corr_columns = numeric[: self.options.correlation_max_columns]

    def update(self, frame: pd.DataFrame) -> None:
        frame = frame.set_axis([str(name) for name in frame.columns], axis=1)
        if not self.columns:
            self._setup(frame)
        names = [column.name for column in self.columns]
        self.extra_columns.update(set(frame.columns) - set(names))
        frame = frame.loc[:, ~frame.columns.duplicated()].reindex(columns=names)
        if not len(frame):
            return
        normalized: dict[str, pd.Series] = {}
        row_hash = np.zeros(len(frame), dtype=np.uint64)
        for column in self.columns:
            values, invalid = _normalize(frame[column.name].reset_index(drop=True), column.kind)
            normalized[column.name] = values
            hashes = column.update(values, invalid)
            row_hash = (row_hash ^ hashes) * ROW_HASH_PRIME
        chunk = pd.DataFrame(normalized)
        self._update_duplicates(row_hash, chunk)
        self._update_correlations(chunk)
        self._update_sample(chunk)
        self.rows += len(chunk)
        self.chunks += 1

    def _update_duplicates(self, row_hash: np.ndarray, chunk: pd.DataFrame) -> None:
        room = self.options.duplicate_hash_cap - self._row_hash_count
        if room <= 0:
            return
        row_hash = row_hash[:room]
        self._row_hash_count += len(row_hash)
        if len(self._duplicate_examples) < self.options.duplicate_examples:
            repeated = np.flatnonzero(pd.Series(row_hash).duplicated().to_numpy())
            for position in repeated[: self.options.duplicate_examples - len(self._duplicate_examples)]:
                self._duplicate_examples.append(dict(chunk.iloc[int(position)].items()))
        unique = pd.unique(row_hash)
        self._row_hashes.append(unique)
        self._row_hashes_kept += len(unique)
        if len(self._row_hashes) >= 16:  # fold the chunks' hashes together so memory follows distinct rows
            self._row_hashes = [pd.unique(np.concatenate(self._row_hashes))]
            self._row_hashes_kept = len(self._row_hashes[0])

    def _update_correlations(self, chunk: pd.DataFrame) -> None:
        if len(self._corr_columns) < 2:
            return
        x = np.column_stack([numbers_of(chunk[self.columns[i].name]) for i in self._corr_columns])
        present = np.isfinite(x)
        if self._shift is None:
            # Sums of products about a value near each mean: no catastrophic cancellation later.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                self._shift = np.nan_to_num(np.nanmean(np.where(present, x, np.nan), axis=0))
        mask = present.astype("float64")
        x0 = np.where(present, x - self._shift, 0.0)
        parts = {"n": mask.T @ mask, "s": x0.T @ mask, "q": x0.T @ x0, "ss": (x0 * x0).T @ mask}
        if self._corr is None:
            self._corr = parts
        else:
            for key, value in parts.items():
                self._corr[key] += value

    def _update_sample(self, chunk: pd.DataFrame) -> None:
        size = self.options.sample_rows
        keys = self._rng.random(len(chunk))
        if self._sample is not None and len(self._sample) >= size:
            wanted = keys < self._sample_keys.max()
            if not wanted.any():
                return
            chunk, keys = chunk[wanted], keys[wanted]
        if self._sample is None:
            candidates, candidate_keys = chunk.reset_index(drop=True), keys
        else:
            candidates = pd.concat([self._sample, chunk], ignore_index=True)
            candidate_keys = np.concatenate([self._sample_keys, keys])
        if len(candidates) > size:
            keep = np.sort(np.argpartition(candidate_keys, size - 1)[:size])
            candidates, candidate_keys = candidates.iloc[keep].reset_index(drop=True), candidate_keys[keep]
        self._sample, self._sample_keys = candidates, candidate_keys

    # --- the report -------------------------------------------------------------------------------

    def report(self) -> dict:
        if not self.columns:
            raise ProfileError("The data has no rows or columns to profile.")
        options = self.options
        rows = self.rows
        sample = self._sample
        sample_exact = rows <= options.sample_rows
        columns = [
            column.report(rows, sample[column.name] if sample is not None else None, sample_exact)
            for column in self.columns
        ]
        duplicates = self._duplicates_report()
        missing_cells = sum(column.missing for column in self.columns)
        kinds: dict[str, int] = {}
        for column in self.columns:
            kinds[column.kind] = kinds.get(column.kind, 0) + 1
        report = {
            "report_version": REPORT_VERSION,
            "generated_at": datetime.now(UTC).isoformat(),
            "engine": {
                "chunk_rows": options.chunk_rows,
                "sample_rows": options.sample_rows,
                "distinct_cap": options.distinct_cap,
                "top_capacity": options.top_capacity,
                "chunks": self.chunks,
                "seconds": 0.0,
            },
            "dataset": {
                "rows": rows,
                "columns": len(self.columns),
                "missing_cells": missing_cells,
                "missing_cells_fraction": missing_cells / (rows * len(self.columns)) if rows else 0.0,
                "duplicate_rows": duplicates["rows"],
                "duplicate_rows_fraction": duplicates["fraction"],
                "kinds": kinds,
            },
            "columns": columns,
            "correlations": self._correlation_report(),
            "duplicates": duplicates,
            "sample": {
                "rows": 0 if sample is None else len(sample),
                "exact": sample_exact,
                "method": (
                    "every row"
                    if sample_exact
                    else f"uniform random sample of {options.sample_rows} rows "
                    f"(bottom-k of seeded random keys, seed {options.seed})"
                ),
            },
            "target": None,
        }
        if self.target_column:
            report["target"] = target_analysis(
                sample if sample is not None else pd.DataFrame(),
                {column.name: column for column in self.columns},
                columns,
                self.target_column,
                options,
            )
        report["warnings"] = summary_warnings(report, options, extra_columns=sorted(self.extra_columns))
        report["engine"]["seconds"] = time.perf_counter() - self.started
        return _clean(report)

    def _duplicates_report(self) -> dict:
        hashed = self._row_hash_count
        unique = len(pd.unique(np.concatenate(self._row_hashes))) if self._row_hashes else 0
        rows = hashed - unique
        exact = hashed == self.rows
        return {
            "rows": rows,
            "fraction": rows / hashed if hashed else 0.0,
            "exact": exact,
            "method": "64-bit row hashes"
            + ("" if exact else f" of the first {hashed} rows (the cap on hashes kept)"),
            "examples": [
                {
                    column.name: None if pd.isna(row[column.name]) else column._value(row[column.name])
                    for column in self.columns
                }
                for row in self._duplicate_examples
            ],
        }

    def _correlation_report(self) -> dict:
        names = [self.columns[i].name for i in self._corr_columns]
        omitted = [
            column.name for i, column in enumerate(self.columns)
            if column.kind == NUMERIC and i not in self._corr_columns
        ]  # fmt: skip
        result: dict[str, Any] = {
            "method": "pearson",
            "columns": names,
            "matrix": [],
            "top_pairs": [],
            "omitted_columns": omitted,
        }
        if self._corr is None:
            return result
        n, s, q, ss = (self._corr[key] for key in ("n", "s", "q", "ss"))
        with np.errstate(divide="ignore", invalid="ignore"):
            cov = q - s * s.T / n
            var_i = ss - s * s / n
            var_j = var_i.T
            corr = cov / np.sqrt(var_i * var_j)
        corr[(n < 2) | (var_i <= 0) | (var_j <= 0)] = np.nan
        corr = np.clip(corr, -1.0, 1.0)
        for i in range(len(names)):
            if np.isfinite(corr[i, i]):
                corr[i, i] = 1.0
        result["matrix"] = [[None if not np.isfinite(v) else float(v) for v in row] for row in corr]
        pairs = [
            {"a": names[i], "b": names[j], "r": float(corr[i, j])}
            for i in range(len(names))
            for j in range(i + 1, len(names))
            if np.isfinite(corr[i, j])
        ]
        pairs.sort(key=lambda pair: -abs(pair["r"]))
        result["top_pairs"] = pairs[:10]
        return result


# --- the target: balance, leakage, baseline --------------------------------------------------------


def _encode_features(frame: pd.DataFrame, columns: dict[str, _Column], train_rows: np.ndarray) -> tuple:
    """Features as floats for scikit-learn: categories become codes of their 250 commonest training
    values (the rest share one code), so HistGradientBoosting can treat them as categorical."""
    encoded, categorical = {}, []
    for name in frame.columns:
        kind = columns[name].kind
        values = frame[name]
        if kind in (CATEGORICAL, TEXT):
            common = values.iloc[train_rows].value_counts().index[:250]
            codes = pd.Categorical(values, categories=common).codes.astype("float64")
            codes[(codes < 0) & values.notna().to_numpy()] = len(common)
            codes[values.isna().to_numpy()] = np.nan
            encoded[name] = codes
            categorical.append(True)
        else:
            encoded[name] = numbers_of(values)
            categorical.append(False)
    return pd.DataFrame(encoded), np.array(categorical, dtype=bool)


def _score(problem: str, y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    from sklearn.metrics import balanced_accuracy_score, r2_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if problem == "classification":
            return float(balanced_accuracy_score(y_true, y_pred))
        if len(np.unique(y_true)) < 2:
            return None
        return float(r2_score(y_true, y_pred))


def _single_feature_score(
    problem: str, x_raw: pd.Series, x: np.ndarray, is_category: bool, y: np.ndarray, train, test, depth: int
) -> float | None:
    """How well this one feature alone predicts the target on held-out rows."""
    if is_category:
        # A lookup from each training category to its commonest class (or mean): trees on arbitrary
        # codes would understate a category that determines the target.
        keys = x_raw.astype("object").where(x_raw.notna(), "\0missing")
        table = pd.DataFrame({"key": keys.iloc[train].to_numpy(), "y": y[train]})
        if problem == "classification":
            fallback = pd.Series(y[train]).mode().iloc[0]
            commonest = table.value_counts(["key", "y"], sort=True).reset_index().drop_duplicates("key")
            mapping = pd.Series(commonest["y"].to_numpy(), index=commonest["key"].to_numpy())
        else:
            fallback = float(np.mean(y[train]))
            mapping = table.groupby("key")["y"].mean()
        predicted = keys.iloc[test].map(mapping).to_numpy(dtype=object)
        predicted = np.where(pd.isna(predicted), fallback, predicted)
        return _score(problem, y[test], predicted.astype(y.dtype))
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if not np.isfinite(x[train]).any():
        return None
    model_class = DecisionTreeClassifier if problem == "classification" else DecisionTreeRegressor
    model = model_class(max_depth=depth, random_state=0)
    features = np.where(np.isinf(x), np.nan, x).reshape(-1, 1)
    model.fit(features[train], y[train])
    return _score(problem, y[test], model.predict(features[test]))


def target_analysis(
    sample: pd.DataFrame,
    columns: dict[str, _Column],
    column_reports: list[dict],
    target: str,
    options: ProfileOptions,
) -> dict:
    column = columns[target]
    report = next(item for item in column_reports if item["name"] == target)
    result: dict[str, Any] = {
        "column": target,
        "problem_type": None,
        "note": "",
        "leakage": None,
        "baseline": None,
    }
    distinct, distinct_exact = column.distinct.result()
    if column.kind in (CATEGORICAL, TEXT, BOOLEAN) or (
        column.kind == NUMERIC
        and column.integral
        and distinct_exact
        and distinct <= options.classification_max_classes
    ):
        problem = "classification"
        classes = column.top.items()
        counted = column.count or 1
        result["classes"] = [
            {"value": column._value(value), "count": count, "fraction": count / counted}
            for value, count in classes[: options.model_max_classes]
        ]
        result["classes_exact"] = column.top.exact
        result["imbalance_ratio"] = classes[-1][1] / classes[0][1] if len(classes) > 1 else None
    elif column.kind == NUMERIC:
        problem = "regression"
        result["distribution"] = {
            key: report.get(key) for key in ("histogram", "mean", "std", "min", "max", "quantiles")
        }
    else:
        result["note"] = f"A {column.kind} target is neither a class nor a number: no model was trained."
        return result
    result["problem_type"] = problem

    rows = sample[sample[target].notna()].reset_index(drop=True) if len(sample) else sample
    if problem == "classification" and distinct > options.model_max_classes:
        result["note"] = (
            f"The target has {distinct} classes (more than {options.model_max_classes}): no model."
        )
        return result
    if len(rows) < options.min_model_rows:
        result["note"] = f"Too few sample rows with a target ({len(rows)}) to train a model."
        return result
    if problem == "classification":
        y_values = rows[target]
        y = (
            y_values.to_numpy(dtype="float64").astype("int64")
            if column.kind in (NUMERIC, BOOLEAN)
            else y_values.astype("str").to_numpy(dtype=object)
        )
        if len(pd.unique(y)) < 2:
            result["note"] = "The target has a single class in the sample: no model."
            return result
    else:
        y = numbers_of(rows[target])
        finite = np.isfinite(y)
        rows, y = rows[finite].reset_index(drop=True), y[finite]

    rng = np.random.default_rng(options.seed)
    order = rng.permutation(len(rows))
    n_test = max(1, round(len(rows) * options.holdout_fraction))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    features = rows.drop(columns=[target])
    if features.shape[1] == 0:
        result["note"] = "There are no feature columns besides the target."
        return result
    x, categorical = _encode_features(features, columns, train)

    scores = []
    for position, name in enumerate(features.columns):
        score = _single_feature_score(
            problem,
            features[name],
            x[name].to_numpy(),
            bool(categorical[position]),
            y,
            train,
            test,
            options.leakage_tree_depth,
        )
        if score is not None:
            scores.append({"column": name, "score": score, "leaks": score >= options.leakage_threshold})
    scores.sort(key=lambda item: -item["score"])
    result["leakage"] = {
        "metric": "balanced_accuracy" if problem == "classification" else "r2",
        "threshold": options.leakage_threshold,
        "holdout_rows": len(test),
        "method": "one feature at a time: a decision tree (depth "
        f"{options.leakage_tree_depth}) on numbers, a category-to-target lookup on categories",
        "features": scores,
    }
    result["baseline"] = _baseline(problem, x, categorical, y, train, test, options)
    return result


def _baseline(problem, x: pd.DataFrame, categorical, y, train, test, options: ProfileOptions) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import accuracy_score, r2_score

    features = x.to_numpy(dtype="float64", copy=True)
    features[np.isinf(features)] = np.nan
    model_class = (
        HistGradientBoostingClassifier if problem == "classification" else HistGradientBoostingRegressor
    )
    model = model_class(
        max_iter=100,
        categorical_features=categorical if categorical.any() else None,
        early_stopping=True,  # a held-out tenth of the training rows decides when to stop
        n_iter_no_change=10,
        random_state=options.seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(features[train], y[train])
        predicted = model.predict(features[test])
        if problem == "classification":
            metric, score = "accuracy", float(accuracy_score(y[test], predicted))
            majority = pd.Series(y[train]).mode().iloc[0]
            naive = float(np.mean(y[test] == majority))
        else:
            metric = "r2"
            score = float(r2_score(y[test], predicted)) if len(np.unique(y[test])) > 1 else None
            naive = 0.0
        importance = permutation_importance(
            model, features[test], y[test], n_repeats=3, random_state=options.seed
        )
    importances = [
        {"column": name, "importance": float(mean), "std": float(std)}
        for name, mean, std in zip(
            x.columns, importance.importances_mean, importance.importances_std, strict=True
        )
    ]
    importances.sort(key=lambda item: -item["importance"])
    return {
        "model": model_class.__name__,
        "metric": metric,
        "score": score,
        "naive_score": naive,
        "naive_model": "the commonest class" if problem == "classification" else "the mean",
        "train_rows": len(train),
        "holdout_rows": len(test),
        "importance_method": "permutation importance on the holdout (3 repeats): the drop in " + metric,
        "importances": importances,
    }


# --- warnings --------------------------------------------------------------------------------------


def summary_warnings(report: dict, options: ProfileOptions, *, extra_columns: list[str] = ()) -> list[dict]:
    found: list[dict] = []

    def add(kind: str, severity: str, message: str, column: str | None = None) -> None:
        found.append({"type": kind, "severity": severity, "column": column, "message": message})

    rows = report["dataset"]["rows"]
    if rows == 0:
        add("empty", "high", "The data has no rows.")
    target = report["target"]
    target_name = target["column"] if target else None
    for column in report["columns"]:
        name = column["name"]
        if rows and column["count"] == 0:
            add("all_missing", "high", f"{name} has no values at all.", name)
            continue
        fraction = column["missing_fraction"]
        if fraction >= options.high_missing:
            severity = "high" if fraction >= options.very_high_missing else "medium"
            add("high_missing", severity, f"{name} is missing in {fraction:.1%} of rows.", name)
        if column["distinct"] == 1 and rows > 1:
            add("constant", "high", f"{name} has a single value: it carries no information.", name)
        if column["invalid"]:
            add(
                "invalid_values",
                "medium",
                f"{name}: {column['invalid']} values are not valid {column['type']} values "
                "(counted as missing).",
                name,
            )
        if column["kind"] in (CATEGORICAL, TEXT) and column["count"] and name != target_name:
            ratio = column["distinct"] / column["count"]
            if column["distinct"] > 50 and ratio >= options.high_cardinality:
                looks_like = " (it looks like an identifier)" if ratio >= 0.99 else ""
                add(
                    "high_cardinality",
                    "medium",
                    f"{name} has {column['distinct']} distinct values in {column['count']} rows{looks_like}.",
                    name,
                )
        if column.get("infinite"):
            add("infinite_values", "medium", f"{name} has {column['infinite']} infinite values.", name)
        outliers = column.get("outliers")
        if outliers and outliers["fraction"] >= 0.05:
            add(
                "outliers",
                "low",
                f"{name}: about {outliers['fraction']:.1%} of values lie outside the IQR fences "
                f"[{outliers['lower_fence']:.4g}, {outliers['upper_fence']:.4g}].",
                name,
            )
    duplicates = report["duplicates"]
    if duplicates["rows"]:
        severity = "medium" if duplicates["fraction"] >= 0.01 else "low"
        add(
            "duplicates",
            severity,
            f"{duplicates['rows']} rows ({duplicates['fraction']:.1%}) are duplicates.",
        )
    for pair in report["correlations"]["top_pairs"]:
        if abs(pair["r"]) >= options.high_correlation and target_name not in (pair["a"], pair["b"]):
            add(
                "high_correlation",
                "low",
                f"{pair['a']} and {pair['b']} are almost collinear (r = {pair['r']:.3f}).",
                pair["a"],
            )
    for name in extra_columns:
        add("extra_column", "low", f"{name} appears only after the first chunk and was not profiled.", name)
    if target:
        if target.get("note"):
            add("target", "low", target["note"], target_name)
        for item in (target.get("leakage") or {}).get("features", []):
            if item["leaks"]:
                add(
                    "target_leakage",
                    "high",
                    f"{item['column']} alone predicts {target_name} almost perfectly "
                    f"({target['leakage']['metric']} {item['score']:.3f} on held-out rows): "
                    "it may leak the answer.",
                    item["column"],
                )
        ratio = target.get("imbalance_ratio")
        if ratio is not None and ratio < options.imbalance_ratio:
            rarest, commonest = target["classes"][-1], target["classes"][0]
            add(
                "class_imbalance",
                "high" if ratio < options.imbalance_ratio / 10 else "medium",
                f"{target_name} is imbalanced: the rarest class ({rarest['value']}, {rarest['count']} rows) "
                f"is {ratio:.1%} of the commonest ({commonest['value']}, {commonest['count']} rows).",
                target_name,
            )
    order = {"high": 0, "medium": 1, "low": 2}
    found.sort(key=lambda item: order[item["severity"]])
    return found


# --- entry points ----------------------------------------------------------------------------------


def profile_frames(
    frames: Iterable[pd.DataFrame],
    *,
    target_column: str = "",
    schema: Iterable[dict] | dict[str, str] | None = None,
    options: ProfileOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Profile a stream of DataFrames (the chunks of one table)."""
    profiler = Profiler(target_column=target_column, schema=schema, options=options)
    for frame in read_ahead(frames):
        profiler.update(frame)
        if progress is not None:
            progress(profiler.rows, profiler.chunks)
    return profiler.report()


def read_ahead(frames: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The same chunks, the next one read by a thread while this one is profiled (the CSV and
    Parquet readers release the GIL while parsing). At most two chunks are held at once."""
    slot: queue.Queue = queue.Queue(maxsize=1)
    done = object()
    stop = threading.Event()

    def reader() -> None:
        try:
            for frame in frames:
                while not stop.is_set():
                    try:
                        slot.put((frame, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slot.put((done, None))
        except BaseException as exc:  # handed to the consumer, raised there
            slot.put((done, exc))

    thread = threading.Thread(target=reader, name="profile-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slot.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            slot.get_nowait()  # unblock a reader waiting to put


def profile_file(
    path: Path,
    fmt: str,
    read_options: dict | None = None,
    *,
    target_column: str = "",
    schema: Iterable[dict] | dict[str, str] | None = None,
    options: ProfileOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Profile a version's data (a file, or a folder of files of one format), streaming it."""
    options = options or ProfileOptions()
    read_options = dict(read_options or {})
    types = _schema_types(schema)
    if fmt in {"csv", "tsv"} and types and "dtypes" not in read_options:
        # Read text columns as text in every chunk, so "007" stays "007" and chunks agree.
        read_options["dtypes"] = {
            name: "str" for name, kind in types.items() if kind in ("categorical", "text")
        }
    frames = iter_frames(Path(path), fmt, read_options, chunk_rows=options.chunk_rows)
    return profile_frames(
        frames, target_column=target_column, schema=types, options=options, progress=progress
    )


# --- JSON ------------------------------------------------------------------------------------------


def _json_scalar(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, str | int | bool):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _clean(value: Any) -> Any:
    """The report with numpy scalars made plain and NaN/inf made null, so it is strict JSON."""
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return _json_scalar(value)


def options_dict(options: ProfileOptions) -> dict:
    return asdict(options)
