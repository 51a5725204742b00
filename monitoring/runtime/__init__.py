"""Model Monitor's job modules (``python -m monitoring.runtime.<job>``), Django-free.

Like ``datasets.runtime.profile``: paths are relative to the job's directory (``STUDIO_ML_ROOT``,
SageMaker's ``/opt/ml``); on bad input a job writes a readable reason to ``output/failure`` and
exits 1; progress lines read ``records=<n>``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd


class JobError(Exception):
    """A known problem: its message is the job's failure reason."""


def ml_root() -> Path:
    return Path(os.environ.get("STUDIO_ML_ROOT") or ".")


def read_json_file(path: Path, what: str) -> dict:
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise JobError(f"The {what} is missing: {path}") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise JobError(f"The {what} could not be read ({path}): {exc}") from exc
    if not isinstance(value, dict):
        raise JobError(f"The {what} must be a JSON object: {path}")
    return value


def json_argument(text: str, name: str) -> dict:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise JobError(f"--{name} is not valid JSON: {exc.msg}") from exc
    if not isinstance(value, dict):
        raise JobError(f"--{name} must be a JSON object")
    return value


def config_file(path: str) -> dict:
    """The job's configuration file, or {} when there is none."""
    if not path:
        return {}
    file = Path(path)
    if not file.is_absolute():
        file = ml_root() / file
    if not file.exists():
        return {}
    return read_json_file(file, "configuration file")


def parse_moment(text: str, name: str) -> datetime:
    from monitoring.engine.capture import parse_time

    try:
        return parse_time(text)
    except ValueError as exc:
        raise JobError(f"--{name} is not an ISO 8601 time: {text!r}") from exc


def write_json(folder: Path, name: str, value: dict) -> None:
    """Write atomically: a reader never sees half a report."""
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}.partial"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(value, handle, allow_nan=False, separators=(",", ":"), default=str)
    partial.replace(folder / name)


def progress_printer() -> Callable[[int], None]:
    def progress(records: int) -> None:
        print(f"records={records}", flush=True)

    return progress


def _known_error(exc: BaseException) -> str | None:
    import pyarrow

    from datasets.readers import ReadError

    if isinstance(exc, JobError | ReadError):
        return str(exc)
    if isinstance(exc, pd.errors.EmptyDataError):
        return "The data file is empty: there are no columns to read."
    if isinstance(exc, pd.errors.ParserError | UnicodeDecodeError | pyarrow.ArrowException):
        return f"The data does not read as its format says: {exc}"
    if isinstance(exc, MemoryError):
        return "The job ran out of memory; choose an instance type with more memory."
    return None


def write_failure(message: str) -> None:
    failure = ml_root() / "output" / "failure"
    failure.parent.mkdir(parents=True, exist_ok=True)
    failure.write_text(message)


def run_main(run: Callable[[], object], what: str) -> int:
    """Run a job; a known error or a bug becomes ``output/failure`` and exit status 1."""
    try:
        run()
    except Exception as exc:
        reason = _known_error(exc)
        if reason is None:
            traceback.print_exc()
            reason = f"{what} failed: {type(exc).__name__}: {exc}"
        print(reason, file=sys.stderr, flush=True)
        write_failure(reason)
        return 1
    return 0
