"""The profile engine's constants, its error and its options."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from datasets.readers import DEFAULT_CHUNK_ROWS

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


def options_dict(options: ProfileOptions) -> dict:
    return asdict(options)
