"""Batch transform: a model over a folder of files, as SageMaker's CreateTransformJob runs it
(Django-free; a transform job's process).

    python -m endpoints.inference.transform --config transform.json

Each input file (below ``input_dir``) is read in blocks, never whole: with ``split_type`` Line
its lines are records, cut into blocks of whole lines of at most ``max_payload_bytes``
(MultiRecord: a block is one payload, one model call; SingleRecord: one call per record); with
``split_type`` None the whole file is one record. Up to ``max_concurrent_transforms`` worker
processes (forked once the driver has loaded the model, so they share it) answer the blocks.
For an uncompressed file the driver only finds where blocks end and the workers read them; a
gzipped one is decompressed by the driver as a stream. At most two blocks per worker are in
flight, so memory stays bounded whatever the input size, and the answers are written in input
order to ``<relative path>.out``.

DataProcessing is applied per record: ``input_filter`` (a JSONPath subset) before the model,
``join_source`` Input joins the input record with its output (CSV: input columns + output
columns; JSON: the input object gains ``SageMakerOutput``, a non-object becomes
``{"SageMakerInput", "SageMakerOutput"}``), then ``output_filter``.

A record the model cannot answer does not stop the others. A payload that fails is split in
halves until the failing records are found, so each bad line is named. A file with a failed
record gets no ``.out`` (SageMaker writes only files that succeeded whole) but a
``<relative path>.errors.jsonl`` listing them; the job then fails, its reason naming the files
and their first bad lines (the ``failure`` file), and ``report_file`` lists what every file
gave, for the job driver to upload and record.

Batchable handlers (Studio's built-ins, and joblib models with the toolkit's default functions)
are answered through their ``decode`` / ``predict`` / ``encode`` with faster equivalents of the
CSV codec on large payloads; other handlers through ``invoke``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import gc
import gzip
import io
import json
import multiprocessing
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from endpoints.inference import codecs
from endpoints.inference.codecs import PayloadError
from endpoints.inference.handlers import (
    BatchableHandler,
    DefaultFunctionsHandler,
    Handler,
    ModelInvocationError,
    ModelLoadError,
    load_handler,
)

SPLIT_TYPES = ("None", "Line")
COMPRESSION_TYPES = ("None", "Gzip")
BATCH_STRATEGIES = ("SingleRecord", "MultiRecord")
ASSEMBLE_WITH = ("None", "Line")
JOIN_SOURCES = ("None", "Input")
# A file's failed records listed one by one, at most; past this many its other payloads are not
# searched for more (a model that fails every record would otherwise be called once per record).
MAX_LISTED_FAILURES = 1000
# Failures per file kept in the report (and so in the job's outputs and its page).
REPORTED_FAILURES = 20
# Failures named in the job's failure reason, per file.
REASON_FAILURES = 3
# Below this many rows, Studio's own CSV decoder is as fast as pandas.
FAST_DECODE_MIN_ROWS = 64
PROGRESS_SECONDS = 2.0
IN_FLIGHT_PER_WORKER = 2
# Blocks of a file per worker, at least (a payload is the most a block holds), and the least a block
# holds: the model's answers to small payloads cost more per record.
BLOCKS_PER_WORKER = 4
MIN_BLOCK_BYTES = 256 * 1024
SCAN_BYTES = 64 * 1024
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


# --- JSONPath subset ------------------------------------------------------------------------------


class FilterError(ValueError):
    """A filter that cannot be read, or a record it does not fit; the message says which."""


_NAME_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*|\*)")
_BRACKET_STEP = re.compile(r"\[([^\]]*)\]")
_QUOTED = re.compile(r"""^\s*(?:'([^']*)'|"([^"]*)")\s*$""")
_INDEX = re.compile(r"^\s*(-?\d+)\s*$")
_SLICE = re.compile(r"^\s*(-?\d+)?\s*:\s*(-?\d+)?\s*$")


@dataclass(frozen=True)
class Step:
    """One step of a path: ``key`` / ``keys`` of an object, ``index`` / ``indexes`` (ints and
    slices) of an array, or ``all`` (``*``). ``keys``, ``indexes`` and ``all`` select several."""

    kind: str
    keys: tuple[str, ...] = ()
    items: tuple[int | tuple[int | None, int | None], ...] = ()

    @property
    def selects_many(self) -> bool:
        return self.kind in ("keys", "indexes", "all")

    @property
    def by_position(self) -> bool:
        return self.kind in ("index", "indexes", "all")


def _bracket_step(content: str, path: str) -> Step:
    if content.strip() == "*":
        return Step("all")
    parts = content.split(",")
    quoted = [_QUOTED.match(part) for part in parts]
    if all(quoted):
        keys = tuple(match.group(1) if match.group(1) is not None else match.group(2) for match in quoted)
        return Step("key" if len(keys) == 1 else "keys", keys=keys)
    items: list[int | tuple[int | None, int | None]] = []
    for part in parts:
        if index := _INDEX.match(part):
            items.append(int(index.group(1)))
        elif piece := _SLICE.match(part):
            start, stop = piece.groups()
            items.append((None if start is None else int(start), None if stop is None else int(stop)))
        else:
            raise FilterError(
                f"{path}: [{content}] is not an index (0), a slice (1:3), indexes (0,2), names ('a','b') or *"
            )
    if len(items) == 1 and isinstance(items[0], int):
        return Step("index", items=tuple(items))
    return Step("indexes", items=tuple(items))


def parse_path(path: str) -> tuple[Step, ...]:
    """Read a JSONPath of SageMaker's subset: ``$``, ``$.name``, ``$.a.b``, ``$[1]``, ``$[1:]``,
    ``$[0,2]``, ``$[0,5:]``, ``$['a','b']``, ``$[*]``. Steps after one that selects several apply
    to each of them (``$[*].score``)."""
    text = (path or "").strip()
    if not text.startswith("$"):
        raise FilterError(f"{path!r}: a JSONPath starts with $")
    steps, position = [], 1
    while position < len(text):
        if match := _NAME_STEP.match(text, position):
            name = match.group(1)
            steps.append(Step("all") if name == "*" else Step("key", keys=(name,)))
        elif match := _BRACKET_STEP.match(text, position):
            steps.append(_bracket_step(match.group(1), text))
        else:
            raise FilterError(
                f"{path!r}: cannot read {text[position:]!r}; use .name, [index], [a:b] or ['a']"
            )
        position = match.end()
    if any(step.kind == "keys" for step in steps[:-1]):
        raise FilterError(f"{path!r}: nothing may follow a selection of names ['a','b']")
    return tuple(steps)


def check_filter(path: str, *, csv_records: bool) -> None:
    """Raise FilterError if ``path`` is not of the subset, or (CSV records are arrays) names keys."""
    steps = parse_path(path)
    if csv_records and any(not step.by_position for step in steps):
        raise FilterError(f"{path!r}: CSV records are arrays of columns; use index paths such as $[1:]")


def _select(value: Any, step: Step) -> Any:
    if step.kind in ("key", "keys"):
        if not isinstance(value, dict):
            raise FilterError(f"['{step.keys[0]}'] needs an object, the record has {_kind(value)}")
        missing = [key for key in step.keys if key not in value]
        if missing:
            raise FilterError(f"the record has no {missing[0]!r}")
        if step.kind == "key":
            return value[step.keys[0]]
        return {key: value[key] for key in step.keys}
    if step.kind == "all":
        if isinstance(value, dict):
            return list(value.values())
        if isinstance(value, list):
            return list(value)
        raise FilterError(f"[*] needs an array or an object, the record has {_kind(value)}")
    if not isinstance(value, list):
        raise FilterError(f"[{_items_text(step)}] needs an array, the record has {_kind(value)}")
    picked = []
    for item in step.items:
        if isinstance(item, tuple):
            picked.extend(value[item[0] : item[1]])
        elif -len(value) <= item < len(value):
            picked.append(value[item])
        else:
            raise FilterError(f"index {item} is out of range: the record has {len(value)} values")
    return picked[0] if step.kind == "index" else picked


def _items_text(step: Step) -> str:
    return ",".join(
        f"{'' if item[0] is None else item[0]}:{'' if item[1] is None else item[1]}"
        if isinstance(item, tuple)
        else str(item)
        for item in step.items
    )


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string"}.get(type(value), "a single value")


def apply_path(steps: tuple[Step, ...], value: Any) -> Any:
    """The part of ``value`` the path selects."""
    for index, step in enumerate(steps):
        if any(earlier.selects_many for earlier in steps[:index]):
            value = [_select(item, step) for item in value]
        else:
            value = _select(value, step)
    return value


# --- Records --------------------------------------------------------------------------------------


def record_format(content_type: str) -> str | None:
    """How filters and joins read a record of this content type: ``csv``, ``json``, or not at all."""
    kind = codecs.media_type(content_type)
    if kind in ("", codecs.CSV):
        return "csv"
    if kind in (codecs.JSON, codecs.JSONLINES):
        return "json"
    return None


def csv_cells(raw: bytes) -> list[str]:
    text = raw.decode("utf-8")
    return next(csv.reader([text]), [])


def csv_line(cells: list) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([_cell_text(cell) for cell in cells])
    return buffer.getvalue().encode()


def _cell_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _number_or_text(cell: str) -> Any:
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(cell)
    return cell


def as_cells(value: Any) -> list:
    """A JSON value as CSV columns: an array's items, an object's values, else one column."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]


def as_json(cells: list[str]) -> Any:
    """CSV columns as a JSON value: one column is that value, several an array; numbers stay numbers."""
    values = [_number_or_text(cell) for cell in cells]
    return values[0] if len(values) == 1 else values


def split_response(body: bytes, content_type: str, count: int) -> tuple[str, list]:
    """One answer for ``count`` records, cut per record: ``("csv", [cells, ...])`` or
    ``("json", [value, ...])``. CSV and JSON lines answer a line per record; JSON an array (or an
    object holding one array) of ``count`` items, or any value for one record."""
    kind = codecs.media_type(content_type)
    if kind == codecs.JSON:
        try:
            value = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelInvocationError(f"the model's JSON answer cannot be read: {exc}") from None
        if count == 1:
            return "json", [value]
        if isinstance(value, dict) and len(value) == 1:
            value = next(iter(value.values()))
        if isinstance(value, list) and len(value) == count:
            return "json", value
        raise ModelInvocationError(
            f"the model answered one JSON value for {count} records; to join or filter them per record "
            "it must answer an array of one item per record (or use SingleRecord)"
        )
    if kind not in (codecs.CSV, codecs.JSONLINES) and not kind.startswith("text/"):
        raise ModelInvocationError(f"a {content_type} answer cannot be cut into records; accept CSV or JSON")
    lines = [line for line in body.splitlines() if line.strip()]
    if len(lines) != count:
        raise ModelInvocationError(f"the model answered {len(lines)} lines for {count} records")
    if kind == codecs.JSONLINES:
        try:
            return "json", [json.loads(line) for line in lines]
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelInvocationError(f"the model's JSON lines cannot be read: {exc}") from None
    return "csv", [csv_cells(line) for line in lines]


@dataclass(frozen=True)
class Record:
    line: int  # 1-based line of the (decompressed) file
    raw: bytes  # without its line ending


# Searched in "\n" + lines + "\n": a literal first, which the regex engine finds fast.
_BLANK_LINE = re.compile(rb"\n[ \t\r]*\n")


def split_records(block: bytes, first_line: int) -> list[Record]:
    """The non-blank lines of ``block`` as records, numbered from ``first_line``."""
    records = []
    for offset, line in enumerate(block.split(b"\n")):
        line = line.rstrip(b"\r")
        if line.strip():
            records.append(Record(first_line + offset, line))
    return records


def count_records(block: bytes) -> int:
    return sum(1 for line in block.split(b"\n") if line.strip())


def describe(exc: BaseException) -> str:
    """An error as one line for the report: the codec's or the model's message as it is."""
    if isinstance(exc, PayloadError | ModelInvocationError | FilterError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:500]


# --- Answering payloads ---------------------------------------------------------------------------


@dataclass
class Settings:
    input_dir: Path
    output_dir: Path
    scratch_dir: Path
    report_file: Path
    failure_file: Path
    model_dir: Path
    content_type: str = ""
    split_type: str = "None"
    compression: str = "None"
    batch_strategy: str = "SingleRecord"
    max_payload_bytes: int = 6 * 1024 * 1024
    max_concurrent_transforms: int = 1
    accept: str = ""
    assemble_with: str = "None"
    input_filter: str = "$"
    output_filter: str = "$"
    join_source: str = "None"
    share_model: bool = True

    @classmethod
    def from_config(cls, config: dict) -> Settings:
        paths = ("input_dir", "output_dir", "scratch_dir", "report_file", "failure_file", "model_dir")
        known = set(cls.__dataclass_fields__)
        values = {
            key: (Path(value) if key in paths else value) for key, value in config.items() if key in known
        }
        return cls(**values)


@dataclass
class BlockResult:
    """What a block gave: its output, its records, the failed ones by line (1 is the block's first)."""

    output: bytes
    records: int
    failures: list[tuple[int, str]]
    unchecked: int = 0
    lines: int = 0  # the block's line endings: where the next block's lines start


def fast_csv_encode(predictions: Any) -> bytes | None:
    """``codecs.encode_array(predictions, CSV)`` for plain arrays, without its per-cell Python calls
    (None when the array is not plain: the codec itself answers then). ``str`` of a Python float is
    its ``repr``, as the codec writes it."""
    if not isinstance(predictions, np.ndarray) or predictions.ndim not in (1, 2) or not predictions.size:
        return None
    if predictions.dtype.kind not in "biufUS":
        return None
    rows = predictions.tolist()
    if predictions.ndim == 1:
        return ("\n".join(map(str, rows)) + "\n").encode()
    return "".join(",".join(map(str, row)) + "\n" for row in rows).encode()


class Transformer:
    """Answers the blocks of one worker with its handler, by the job's settings."""

    def __init__(self, handler: Handler, settings: Settings) -> None:
        self.handler = handler
        self.settings = settings
        self.input_steps = None if settings.input_filter.strip() == "$" else parse_path(settings.input_filter)
        self.output_steps = (
            None if settings.output_filter.strip() == "$" else parse_path(settings.output_filter)
        )
        self.join = settings.join_source == "Input"
        self.per_record = self.join or self.output_steps is not None
        self.input_format = record_format(settings.content_type)
        self.single = settings.batch_strategy == "SingleRecord"
        self.line_split = settings.split_type == "Line"
        self.assemble_line = settings.assemble_with == "Line"
        self.batchable = bool(getattr(handler, "batchable", False))
        self.accept = ""
        if self.batchable:
            self.accept = codecs.pick_accept(settings.accept, handler.default_accept)
        self.fast_decode = (
            self.batchable
            and type(handler).decode is BatchableHandler.decode
            and codecs.media_type(settings.content_type) in ("", codecs.CSV)
        )
        self.fast_encode = (
            self.batchable
            and type(handler).encode is DefaultFunctionsHandler.encode
            and self.accept == codecs.CSV
        )
        self.failures_left = MAX_LISTED_FAILURES

    # One block: a whole file (split None), or whole lines of one (split Line).

    def block(self, block: bytes, first_line: int, failures_left: int) -> BlockResult:
        self.failures_left = failures_left
        if not block.strip():
            return BlockResult(b"", 0, [])  # an empty file, or blank lines: no records
        if not self.line_split:
            return self._records([Record(first_line, block)])
        lines = block.rstrip(b"\n")
        if (
            not self.single
            and self.input_steps is None
            and not self.per_record
            and not _BLANK_LINE.search(b"\n" + lines + b"\n")
        ):
            # Most blocks: the lines as they are, one payload, no per-record work. If the payload
            # fails, the records are searched one half at a time below.
            count = lines.count(b"\n") + 1
            try:
                return BlockResult(self._answer(block, count), count, [])
            except Exception as exc:
                return self._records(split_records(block, first_line), failed=exc)
        return self._records(split_records(block, first_line))

    def _records(self, records: list[Record], failed: Exception | None = None) -> BlockResult:
        """The records one by one (filters, joins), or in payloads searched for the bad ones;
        ``failed`` is the error the whole block gave already."""
        failures: list[tuple[int, str]] = []
        prepared: list[tuple[Record, bytes]] = []
        for record in records:
            try:
                prepared.append((record, self._filtered_input(record.raw)))
            except (FilterError, ValueError, csv.Error) as exc:
                failures.append((record.line, f"input_filter {self.settings.input_filter}: {describe(exc)}"))
        self.failures_left -= len(failures)
        chunks: list[bytes] = []
        result = BlockResult(b"", len(records), failures)
        if self.single:
            for item in prepared:
                self._search([item], chunks, result)
        elif prepared:
            self._search(prepared, chunks, result, failed)
        result.output = b"".join(chunks)
        return result

    def _search(
        self,
        items: list[tuple[Record, bytes]],
        chunks: list[bytes],
        result: BlockResult,
        failed: Exception | None = None,
    ) -> None:
        """Answer ``items`` in one payload; if that fails (or ``failed`` says it did), each half on its
        own, down to the bad records."""
        if self.failures_left <= 0:
            result.unchecked += len(items)
            return
        if failed is None:
            payload = b"\n".join(raw for _, raw in items)
            try:
                if len(payload) > self.settings.max_payload_bytes:
                    raise PayloadError(
                        f"the record is {len(payload):,} bytes, more than MaxPayloadInMB "
                        f"({self.settings.max_payload_bytes // 1024**2} MB)"
                    )
                chunks.append(self._answer(payload, len(items), [record for record, _ in items]))
                return
            except Exception as exc:
                failed = exc
        if len(items) == 1:
            result.failures.append((items[0][0].line, describe(failed)))
            self.failures_left -= 1
            return
        middle = len(items) // 2
        self._search(items[:middle], chunks, result)
        self._search(items[middle:], chunks, result)

    def _filtered_input(self, raw: bytes) -> bytes:
        if self.input_steps is None:
            return raw
        if self.input_format == "csv":
            return csv_line(as_cells(apply_path(self.input_steps, csv_cells(raw))))
        return json.dumps(apply_path(self.input_steps, json.loads(raw))).encode()

    # The model's answer to one payload, assembled.

    def _answer(self, payload: bytes, count: int, records: list[Record] | None = None) -> bytes:
        body, content_type = self._call(payload, count)
        if not self.per_record:
            if self.assemble_line and not body.endswith(b"\n"):
                body += b"\n"
            return body
        assert records is not None  # per-record work always goes through _records
        kind, outputs = split_response(body, content_type, count)
        lines = [
            self._output_record(record, kind, output) for record, output in zip(records, outputs, strict=True)
        ]
        ending = b"\n" if self.assemble_line else b""
        return b"".join(line + ending for line in lines)

    def _call(self, payload: bytes, count: int) -> tuple[bytes, str]:
        handler = self.handler
        if not self.batchable:
            answer = handler.invoke(payload, self.settings.content_type, self.settings.accept)
            return answer.body, answer.content_type
        matrix = self._decode(payload, count)
        predictions = handler.predict(matrix)
        body = fast_csv_encode(predictions) if self.fast_encode else None
        if body is None:
            body = handler.encode(predictions, 0, len(matrix), self.accept)
        return body, self.accept

    def _decode(self, payload: bytes, count: int) -> np.ndarray:
        if self.fast_decode and count >= FAST_DECODE_MIN_ROWS:
            matrix = _pandas_csv(payload)
            # pandas is more lenient than the codec (empty cells, quotes): only a clean, complete
            # matrix is taken; anything else is read again by the codec, which names what is wrong.
            if matrix is not None and matrix.shape[0] == count and not np.isnan(matrix).any():
                return matrix
        return self.handler.decode(payload, self.settings.content_type)

    def _output_record(self, record: Record, kind: str, output: Any) -> bytes:
        value: Any
        if self.join and self.input_format == "csv":
            value, fmt = csv_cells(record.raw) + (output if kind == "csv" else as_cells(output)), "csv"
        elif self.join:
            given = json.loads(record.raw)
            answer = as_json(output) if kind == "csv" else output
            if isinstance(given, dict):
                value = {**given, "SageMakerOutput": answer}
            else:
                value = {"SageMakerInput": given, "SageMakerOutput": answer}
            fmt = "json"
        else:
            value, fmt = output, kind
        if self.output_steps is not None:
            try:
                value = apply_path(self.output_steps, value)
            except FilterError as exc:
                raise FilterError(f"output_filter {self.settings.output_filter}: {exc}") from None
        if fmt == "csv":
            return csv_line(as_cells(value))
        return json.dumps(value).encode()


def _pandas_csv(payload: bytes) -> np.ndarray | None:
    try:
        import pandas as pd

        frame = pd.read_csv(io.BytesIO(payload), header=None, dtype=np.float64, na_filter=False)
    except Exception:
        return None
    return frame.to_numpy()


# --- Worker processes -----------------------------------------------------------------------------

_transformer: Transformer | None = None
_load_error = ""


def _limit_threads() -> None:
    """One thread per worker: the workers are the parallelism."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)


def _worker_start(config: dict) -> None:
    global _transformer, _load_error
    _limit_threads()
    if _transformer is not None:
        return  # forked from the driver, which loaded the model once for all of them
    settings = Settings.from_config(config)
    try:
        _transformer = Transformer(load_handler(settings.model_dir), settings)
    except (ModelLoadError, codecs.UnsupportedContentType) as exc:
        _load_error = f"{type(exc).__name__}: {exc}"


def _worker_block(piece: bytes | tuple[str, int, int], failures_left: int) -> BlockResult | str:
    """Answer one block: its bytes, or where to read them in an uncompressed file ``(path, offset,
    length)``, so the driver never holds or sends the input itself."""
    if _transformer is None:
        return _load_error or "the model is not loaded"
    block = piece_bytes(piece)
    try:
        result = _transformer.block(block, 1, failures_left)
    except BaseException as exc:  # SystemExit or the like from the model's code: the job cannot go on
        return f"The model's code raised {type(exc).__name__}: {exc}"
    result.lines = block.count(b"\n")
    return result


# --- The driver -----------------------------------------------------------------------------------


@dataclass
class FileState:
    relative: str
    path: Path
    records: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)
    failed: int = 0
    unchecked: int = 0
    line: int = 1  # of the next block's first line
    handle: Any = None

    @property
    def partial(self) -> str:
        return self.relative + ".out"


class Fatal(Exception):
    """The job cannot go on (the model does not load, a worker died); the message is the reason."""


def input_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def block_size(path: Path, settings: Settings) -> int:
    """How much of a file each block takes: a payload at most, but small enough that every worker gets
    a few blocks of it, so none waits while another answers the last one."""
    share = path.stat().st_size // (settings.max_concurrent_transforms * BLOCKS_PER_WORKER) + 1
    return min(settings.max_payload_bytes, max(MIN_BLOCK_BYTES, share))


Piece = bytes | tuple[str, int, int] | None  # bytes, where to read them, or a record too large


def _last_newline(handle: Any, start: int, end: int) -> int:
    """The offset of the last newline in ``[start, end)`` of the file, or -1."""
    while end > start:
        low = max(start, end - SCAN_BYTES)
        handle.seek(low)
        found = handle.read(end - low).rfind(b"\n")
        if found >= 0:
            return low + found
        end = low
    return -1


def _next_newline(handle: Any, start: int, stop: int) -> int:
    """The offset of the first newline in ``[start, stop)`` of the file, or -1."""
    while start < stop:
        handle.seek(start)
        chunk = handle.read(min(SCAN_BYTES, stop - start))
        if not chunk:
            return -1
        found = chunk.find(b"\n")
        if found >= 0:
            return start + found
        start += len(chunk)
    return -1


def file_pieces(path: Path, settings: Settings, target: int) -> Iterator[Piece]:
    """An uncompressed file's blocks of whole lines as ``(path, offset, length)``: about ``target``
    bytes, never more than a payload; None for a line longer than a payload. Only the bytes around
    each cut are read here; the workers read the blocks."""
    limit, size, name = settings.max_payload_bytes, path.stat().st_size, str(path)
    if settings.split_type != "Line":
        yield (name, 0, size) if size <= limit else None
        return
    with open(path, "rb") as handle:
        position = 0
        while position < size:
            end = min(position + target, size)
            cut = size - 1 if end == size else _last_newline(handle, position, end)
            if cut < 0:  # a line longer than the target: it may still fit in a payload
                cut = _next_newline(handle, end, min(position + limit, size))
                if cut < 0 and position + limit >= size:
                    cut = size - 1  # the last line, without a newline
            if cut >= 0:
                yield name, position, cut + 1 - position
                position = cut + 1
                continue
            yield None
            cut = _next_newline(handle, position + limit, size)
            position = size if cut < 0 else cut + 1


def stream_pieces(path: Path, settings: Settings, target: int) -> Iterator[Piece]:
    """A compressed file's blocks of whole lines, read here as a stream (it cannot be read at an
    offset): about ``target`` bytes, never more than a payload; None for a line longer than that."""
    limit = settings.max_payload_bytes
    with gzip.open(path, "rb") as stream:
        if settings.split_type != "Line":
            content = stream.read(limit + 1)
            yield content if len(content) <= limit else None
            return
        carry = b""
        while True:
            chunk = stream.read(target - len(carry) if len(carry) < target else target)
            data = carry + chunk
            if not chunk:  # the end of the file: its last line may have no newline
                if data:
                    yield data if len(data) <= limit else None
                return
            cut = data.rfind(b"\n", 0, limit)  # whole lines, a payload at most
            if cut >= 0:
                yield data[: cut + 1]
                carry = data[cut + 1 :]
            elif len(data) <= limit:
                carry = data  # a long line: read on
            else:
                # A line longer than a payload may be: skip to its end without keeping it.
                while b"\n" not in data:
                    data = stream.read(SCAN_BYTES)
                    if not data:
                        break
                yield None
                carry = data[data.find(b"\n") + 1 :] if data else b""


def read_pieces(path: Path, settings: Settings) -> Iterator[Piece]:
    target = block_size(path, settings)
    if settings.compression == "Gzip":
        return stream_pieces(path, settings, target)
    return file_pieces(path, settings, target)


def piece_bytes(piece: bytes | tuple[str, int, int]) -> bytes:
    if isinstance(piece, bytes):
        return piece
    path, offset, length = piece
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(length)


class Driver:
    """Reads the files into blocks, hands them to the workers, and writes their answers in order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started = time.monotonic()
        self.last_progress = self.started
        self.records = 0
        self.failed = 0
        self.files: list[FileState] = []
        self.files_done = 0

    def log(self, message: str) -> None:
        print(message, flush=True)

    def run(self) -> int:
        settings = self.settings
        paths = input_files(settings.input_dir)
        if not paths:
            raise Fatal(f"There are no input files in {settings.input_dir.name}/.")
        self.files = [FileState(path.relative_to(settings.input_dir).as_posix(), path) for path in paths]
        settings.output_dir.mkdir(parents=True, exist_ok=True)
        settings.scratch_dir.mkdir(parents=True, exist_ok=True)
        workers = settings.max_concurrent_transforms
        self.log(
            f"Transforming {len(paths)} file(s) with {workers} worker(s): split {settings.split_type}, "
            f"{settings.batch_strategy}, payloads up to {settings.max_payload_bytes / 1024**2:g} MB"
        )
        context = multiprocessing.get_context("fork")
        config = {
            key: str(value) if isinstance(value, Path) else value for key, value in vars(settings).items()
        }
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_worker_start, initargs=(config,)
        ) as pool:
            self._pump(pool, workers * IN_FLIGHT_PER_WORKER)
        return self._finish()

    def _pump(self, pool: ProcessPoolExecutor, in_flight: int) -> None:
        # In input order: a block's future, a result known already (a record too large), or the
        # file's end (None).
        pending: collections.deque[tuple[FileState, Future | BlockResult | None]] = collections.deque()
        line_split = self.settings.split_type == "Line"
        for state in self.files:
            state.handle = open(self.settings.scratch_dir / _flat(state.partial), "wb")  # noqa: SIM115
            for piece in read_pieces(state.path, self.settings):
                if piece is None:
                    pending.append((state, BlockResult(b"", 1, [(1, self._too_large())], lines=1)))
                elif state.failed >= MAX_LISTED_FAILURES:
                    # Enough failures named for this file: count its other records, do not try them.
                    block = piece_bytes(piece)
                    count = count_records(block) if line_split else 1
                    pending.append(
                        (state, BlockResult(b"", count, [], unchecked=count, lines=block.count(b"\n")))
                    )
                else:
                    left = MAX_LISTED_FAILURES - state.failed
                    pending.append((state, pool.submit(_worker_block, piece, left)))
                while len(pending) >= in_flight:
                    self._drain(*pending.popleft())
            pending.append((state, None))
            while pending and not isinstance(pending[0][1], Future):
                self._drain(*pending.popleft())
        while pending:
            self._drain(*pending.popleft())

    def _too_large(self) -> str:
        what = "the file" if self.settings.split_type != "Line" else "the line"
        return f"{what} is larger than MaxPayloadInMB ({self.settings.max_payload_bytes // 1024**2} MB)" + (
            "; split it with split_type Line" if self.settings.split_type != "Line" else ""
        )

    def _drain(self, state: FileState, item: Future | BlockResult | None) -> None:
        if item is None:
            self._close(state)
            return
        try:
            result = item.result() if isinstance(item, Future) else item
        except BrokenProcessPool:
            raise Fatal(
                "A transform worker process died while answering (killed, or out of memory: "
                "use a larger instance type, fewer max_concurrent_transforms or a smaller max_payload_mb)."
            ) from None
        if isinstance(result, str):
            raise Fatal(result)
        state.records += result.records
        state.unchecked += result.unchecked
        self.records += result.records
        if result.failures:
            self._fail(state, [(state.line + line - 1, message) for line, message in result.failures])
        state.line += result.lines
        if not state.failed:
            state.handle.write(result.output)
        self._progress()

    def _fail(self, state: FileState, failures: list[tuple[int, str]]) -> None:
        for line, message in sorted(failures):
            if state.failed < MAX_LISTED_FAILURES:
                self.log(f"FAILED {state.relative} line {line}: {message}")
            state.failures.append((line, message))
            state.failed += 1
        self.failed += len(failures)

    def _close(self, state: FileState) -> None:
        state.handle.close()
        partial = self.settings.scratch_dir / _flat(state.partial)
        state.failures.sort()
        if state.failed or state.unchecked:
            partial.unlink(missing_ok=True)
            errors = self.settings.output_dir / (state.relative + ".errors.jsonl")
            errors.parent.mkdir(parents=True, exist_ok=True)
            with open(errors, "w") as handle:
                for line, message in state.failures:
                    handle.write(json.dumps({"line": line, "error": message}) + "\n")
            self.log(
                f"{state.relative}: {state.failed} of {state.records} record(s) failed; no "
                f"{state.partial}, the failures are in {state.relative}.errors.jsonl"
            )
        else:
            target = self.settings.output_dir / state.partial
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(partial, target)
            self.log(f"{state.relative}: {state.records} record(s) -> {state.partial}")
        self.files_done += 1

    def _progress(self, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last_progress < PROGRESS_SECONDS:
            return
        self.last_progress = now
        elapsed = max(now - self.started, 1e-6)
        self.log(
            f"[progress] {self.records:,} records ({self.failed:,} failed), "
            f"{self.files_done}/{len(self.files)} file(s), {self.records / elapsed:,.0f} records/s"
        )

    def _finish(self) -> int:
        self._progress(final=True)
        report = {
            "records": self.records,
            "failed": self.failed,
            "seconds": round(time.monotonic() - self.started, 3),
            "files": [
                {
                    "input": state.relative,
                    "output": None if state.failed or state.unchecked else state.partial,
                    "errors": state.relative + ".errors.jsonl" if state.failed or state.unchecked else None,
                    "records": state.records,
                    "failed": state.failed,
                    "unchecked": state.unchecked,
                    "failures": [
                        {"line": line, "error": message}
                        for line, message in state.failures[:REPORTED_FAILURES]
                    ],
                }
                for state in self.files
            ],
        }
        self.settings.report_file.write_text(json.dumps(report))
        shutil.rmtree(self.settings.scratch_dir, ignore_errors=True)
        bad = [state for state in self.files if state.failed or state.unchecked]
        if not bad:
            return 0
        self.settings.failure_file.write_text(failure_reason(bad))
        return 1


def _flat(relative: str) -> str:
    """A scratch file name for a relative path (its folders flattened)."""
    return relative.replace("%", "%25").replace("/", "%2F")


def failure_reason(files: list[FileState]) -> str:
    """``2 of 300 records failed in part-1.csv: line 17: ...; line 42: ...`` for each failed file."""
    parts = []
    for state in files:
        named = "; ".join(
            f"line {line}: {message[:200].rstrip('.')}" for line, message in state.failures[:REASON_FAILURES]
        )
        more = f" (and {state.failed - REASON_FAILURES} more)" if state.failed > REASON_FAILURES else ""
        unchecked = (
            f"; {state.unchecked} more not tried after {MAX_LISTED_FAILURES} failures"
            if state.unchecked
            else ""
        )
        parts.append(
            f"{state.failed} of {state.records} records failed in {state.relative}: {named}{more}{unchecked}"
        )
    reason = ". ".join(parts[:3])
    if len(parts) > 3:
        reason += (
            f". And {len(parts) - 3} more file(s) with failed records; see the job's log and the "
            ".errors.jsonl files"
        )
    return reason


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a batch transform (a transform job's process).")
    parser.add_argument("--config", required=True, help="the job's transform.json")
    args = parser.parse_args(argv)
    settings = Settings.from_config(json.loads(Path(args.config).read_text()))
    global _transformer
    try:
        if settings.share_model:
            # Loaded once here: the forked workers share its memory (copy-on-write).
            _limit_threads()
            _transformer = Transformer(load_handler(settings.model_dir), settings)
            if _transformer.fast_decode:
                with contextlib.suppress(ImportError):
                    import pandas  # noqa: F401 - imported before the fork, so the workers share it
            # The collector would touch every inherited object in each worker, copying the pages
            # they share with this process: move them out of its reach before the workers fork.
            gc.freeze()
        return Driver(settings).run()
    except (ModelLoadError, codecs.UnsupportedContentType) as exc:
        message = f"{type(exc).__name__}: {exc}"
    except Fatal as exc:
        message = str(exc)
    print(message, file=sys.stderr, flush=True)
    settings.failure_file.parent.mkdir(parents=True, exist_ok=True)
    settings.failure_file.write_text(message)
    return 1


if __name__ == "__main__":
    code = main()
    # Everything is written and closed: skip the teardown of the model's libraries (a fraction of a
    # second the job would wait for).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
