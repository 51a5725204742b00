"""The profiler: chunks in, the report out (duplicate rows, correlations and the sample too)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from datasets.profiling.columns import _Column, numbers_of
from datasets.profiling.normalize import _infer_kind, _normalize, _schema_types
from datasets.profiling.options import (
    KIND_OF_TYPE,
    NUMERIC,
    REPORT_VERSION,
    ROW_HASH_PRIME,
    ProfileError,
    ProfileOptions,
)
from datasets.profiling.report import _clean, summary_warnings
from datasets.profiling.target import target_analysis


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
