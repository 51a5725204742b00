"""The profile engine: Studio's data-quality and insights report, computed in one streaming pass.

Django-free on purpose: the profiling job (``python -m datasets.runtime.profile``) imports it in
the job's own process, and ``benchmarks/profile.py`` calls it directly on a file.

The package: ``options`` (constants, ``ProfileError``, ``ProfileOptions``), ``sketches`` (the
mergeable distinct / top-value / moment / histogram pieces), ``columns`` (per-column
accumulators), ``normalize`` (each column's kind and values, chunk by chunk), ``profiler``
(``Profiler``: duplicate rows, correlations, the sample, the assembled report), ``target`` (class
balance, leakage, the baseline model), ``report`` (warnings, strict JSON) and ``entry``
(``profile_frames``, ``profile_file``). Everything public is re-exported here.

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

from datasets.profiling.columns import numbers_of
from datasets.profiling.entry import profile_file, profile_frames, read_ahead
from datasets.profiling.options import (
    BOOLEAN,
    BOOLEAN_WORDS,
    CATEGORICAL,
    DATETIME,
    KIND_OF_TYPE,
    MICROS,
    NULL_HASH,
    NUMERIC,
    QUANTILES,
    REPORT_VERSION,
    ROW_HASH_PRIME,
    TEXT,
    TWO_64,
    ProfileError,
    ProfileOptions,
    options_dict,
)
from datasets.profiling.profiler import Profiler
from datasets.profiling.report import summary_warnings
from datasets.profiling.target import target_analysis

__all__ = [
    "BOOLEAN",
    "BOOLEAN_WORDS",
    "CATEGORICAL",
    "DATETIME",
    "KIND_OF_TYPE",
    "MICROS",
    "NULL_HASH",
    "NUMERIC",
    "QUANTILES",
    "REPORT_VERSION",
    "ROW_HASH_PRIME",
    "TEXT",
    "TWO_64",
    "ProfileError",
    "ProfileOptions",
    "Profiler",
    "numbers_of",
    "options_dict",
    "profile_file",
    "profile_frames",
    "read_ahead",
    "summary_warnings",
    "target_analysis",
]
