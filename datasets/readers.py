"""Reading a dataset version's data in chunks, whatever its format.

Django-free on purpose: Studio's job modules (profiling, recipes) import this in the job's own
process, where there are no settings.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

DEFAULT_CHUNK_ROWS = 100_000
TABULAR_FORMATS = frozenset({"csv", "tsv", "parquet", "jsonl", "xlsx"})


class ReadError(ValueError):
    """The data does not read as its format says; the message names where."""


def data_files(root: Path) -> list[Path]:
    """The data files of a version: the file itself, or every file below a folder (sorted)."""
    if root.is_file():
        return [root]
    return sorted(path for path in root.rglob("*") if path.is_file() and not path.name.startswith("."))


def iter_frames(
    path: Path, fmt: str, read_options: dict | None = None, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[pd.DataFrame]:
    """Yield the rows of ``path`` (a file, or a folder of files of one format) as DataFrames of at
    most ``chunk_rows`` rows, never holding more than one chunk."""
    options = read_options or {}
    for file in data_files(path):
        if fmt in {"csv", "tsv"}:
            yield from _csv_frames(file, fmt, options, chunk_rows)
        elif fmt == "parquet":
            for batch in pq.ParquetFile(file).iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
        elif fmt == "jsonl":
            yield from _jsonl_frames(file, options, chunk_rows)
        elif fmt == "xlsx":
            yield from _xlsx_frames(file, options, chunk_rows)
        else:
            raise ReadError(f"{fmt!r} data has no rows to read")


def _csv_frames(file: Path, fmt: str, options: dict, chunk_rows: int) -> Iterator[pd.DataFrame]:
    header = options.get("header", True)
    names = options.get("columns") if not header else None
    try:
        reader = pd.read_csv(
            file,
            sep=options.get("delimiter", "\t" if fmt == "tsv" else ","),
            header=0 if header else None,
            names=names,
            encoding=options.get("encoding", "utf-8-sig"),
            quotechar=options.get("quotechar", '"'),
            chunksize=chunk_rows,
            dtype=options.get("dtypes"),
            low_memory=False,
            on_bad_lines="error",
        )
        yield from reader
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error) as exc:
        raise ReadError(f"{file.name}: {exc}") from exc


def _jsonl_frames(file: Path, options: dict, chunk_rows: int) -> Iterator[pd.DataFrame]:
    rows: list[dict] = []
    with open(file, encoding=options.get("encoding", "utf-8-sig")) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ReadError(f"{file.name} line {number}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise ReadError(f"{file.name} line {number}: expected a JSON object per line")
            rows.append(row)
            if len(rows) >= chunk_rows:
                yield pd.DataFrame.from_records(rows)
                rows = []
    if rows:
        yield pd.DataFrame.from_records(rows)


def _xlsx_frames(file: Path, options: dict, chunk_rows: int) -> Iterator[pd.DataFrame]:
    from openpyxl import load_workbook

    workbook = load_workbook(file, read_only=True, data_only=True)
    try:
        sheet = workbook[options["sheet"]] if options.get("sheet") else workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        first = next(rows, ())
        header = [str(value) if value is not None else f"column_{i}" for i, value in enumerate(first)]
        chunk: list[tuple] = []
        for row in rows:
            if all(value is None for value in row):
                continue
            chunk.append(row[: len(header)])
            if len(chunk) >= chunk_rows:
                yield pd.DataFrame.from_records(chunk, columns=header)
                chunk = []
        if chunk:
            yield pd.DataFrame.from_records(chunk, columns=header)
    finally:
        workbook.close()


def read_sample(path: Path, fmt: str, read_options: dict | None = None, *, rows: int = 1000) -> pd.DataFrame:
    """The first ``rows`` rows (for previews and recipe previews)."""
    frame = next(iter_frames(path, fmt, read_options, chunk_rows=rows), None)
    return frame if frame is not None else pd.DataFrame()
