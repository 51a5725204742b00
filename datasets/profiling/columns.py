"""Per-column accumulators: every statistic of one column, and its part of the report."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from datasets.profiling.options import (
    BOOLEAN,
    CATEGORICAL,
    DATETIME,
    MICROS,
    NULL_HASH,
    NUMERIC,
    QUANTILES,
    TEXT,
    ProfileOptions,
)
from datasets.profiling.sketches import _Distinct, _Histogram, _Moments, _TopValues


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
