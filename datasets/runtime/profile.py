"""The profiling job: a dataset version's data-quality and insights report.

    python -m datasets.runtime.profile --format csv --read-options '{"delimiter": ","}' \\
        [--target label] [--schema '{"age": "integer", ...}'] [--config config.json]

Runs in the job's own process, without Django (see ``datasets.profiling``). It reads the data
under ``processing/input/data/`` and writes ``processing/output/report/report.json``; paths are
relative to the job's directory (``STUDIO_ML_ROOT``, SageMaker's ``/opt/ml``). Options too long
for an argument come in a JSON file (``--config``, keys ``read_options``, ``schema``,
``target_column``). It prints ``rows=<n>`` after each chunk, for the job's progress metric.

On bad data it writes a readable reason to ``output/failure`` (SageMaker's failure file, which
becomes the job's failure reason) and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
import zipfile
from pathlib import Path

import pandas as pd

from datasets.profiling import ProfileError, ProfileOptions, profile_file
from datasets.readers import ReadError

INPUT = "processing/input/data"
OUTPUT = "processing/output/report"
REPORT_NAME = "report.json"


class JobError(Exception):
    """A known problem: its message is the job's failure reason."""


def ml_root() -> Path:
    return Path(os.environ.get("STUDIO_ML_ROOT") or ".")


def _json_argument(text: str, name: str) -> dict:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise JobError(f"--{name} is not valid JSON: {exc.msg}") from exc
    if not isinstance(value, dict):
        raise JobError(f"--{name} must be a JSON object")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m datasets.runtime.profile", description=__doc__)
    parser.add_argument("--format", required=True, help="csv, tsv, parquet, jsonl or xlsx")
    parser.add_argument("--read-options", default="{}", help="JSON: delimiter, header, encoding, ...")
    parser.add_argument("--target", default="", help="the target column (optional)")
    parser.add_argument("--schema", default="", help='JSON: {"column": "integer|float|...", ...}')
    parser.add_argument("--config", default="", help="a JSON file with read_options, schema, target_column")
    parser.add_argument("--input", default="", help=f"the data (default {INPUT}/)")
    parser.add_argument("--output", default="", help=f"the report's folder (default {OUTPUT}/)")
    parser.add_argument("--chunk-rows", type=int, default=ProfileOptions.chunk_rows)
    parser.add_argument("--sample-rows", type=int, default=ProfileOptions.sample_rows)
    return parser.parse_args(argv)


def _known_error(exc: BaseException) -> str | None:
    """A readable reason for errors bad data causes, or None for a bug."""
    import pyarrow

    if isinstance(exc, JobError | ReadError | ProfileError):
        return str(exc)
    if isinstance(exc, pd.errors.EmptyDataError):
        return "The data file is empty: there are no columns to profile."
    if isinstance(exc, pd.errors.ParserError | UnicodeDecodeError):
        return f"The data does not read as its format says: {exc}"
    if isinstance(exc, pyarrow.ArrowException):
        return f"The data does not read as its format says: {exc}"
    if isinstance(exc, zipfile.BadZipFile):
        return f"The Excel file is damaged or not an .xlsx file: {exc}"
    if isinstance(exc, MemoryError):
        return "The profile ran out of memory; choose an instance type with more memory."
    return None


def _write_failure(message: str) -> None:
    failure = ml_root() / "output" / "failure"
    failure.parent.mkdir(parents=True, exist_ok=True)
    failure.write_text(message)


def run(args: argparse.Namespace) -> dict:
    root = ml_root()
    config = {}
    if args.config:
        try:
            config = json.loads(Path(args.config).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise JobError(f"The profile's configuration file could not be read: {exc}") from exc
    read_options = config.get("read_options") or _json_argument(args.read_options, "read-options")
    schema = config.get("schema") or _json_argument(args.schema, "schema")
    target = config.get("target_column") or args.target
    source = Path(args.input) if args.input else root / INPUT
    if not source.exists() or (source.is_dir() and not any(source.rglob("*"))):
        raise JobError(f"No data found at {source}")
    output = Path(args.output) if args.output else root / OUTPUT
    options = ProfileOptions(chunk_rows=args.chunk_rows, sample_rows=args.sample_rows)
    started = time.perf_counter()

    def progress(rows: int, chunks: int) -> None:
        print(f"rows={rows} chunks={chunks} elapsed_s={time.perf_counter() - started:.1f}", flush=True)

    print(
        f"profiling {args.format} data at {source}" + (f", target {target!r}" if target else ""), flush=True
    )
    report = profile_file(
        source,
        args.format,
        read_options,
        target_column=target,
        schema=schema,
        options=options,
        progress=progress,
    )
    output.mkdir(parents=True, exist_ok=True)
    partial = output / f".{REPORT_NAME}.partial"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(report, handle, allow_nan=False, separators=(",", ":"))
    partial.replace(output / REPORT_NAME)
    dataset = report["dataset"]
    print(
        f"done rows={dataset['rows']} columns={dataset['columns']} "
        f"duplicate_rows={dataset['duplicate_rows']} warnings={len(report['warnings'])} "
        f"seconds={time.perf_counter() - started:.2f}",
        flush=True,
    )
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except Exception as exc:
        reason = _known_error(exc)
        if reason is None:
            traceback.print_exc()
            reason = f"Profiling failed: {type(exc).__name__}: {exc}"
        print(reason, file=sys.stderr, flush=True)
        _write_failure(reason)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
