"""Reading SageMaker data capture files (``*.jsonl``, one request per line).

``capture_records`` yields one dict per request (a plain reader, for small jobs and tests).
``capture_frames`` yields the requests' input rows as DataFrames, in bulk: a block of lines is
parsed by Arrow's JSON reader, the CSV bodies of the block are joined and read once by pandas'
C parser, so a million captured requests cost seconds, not minutes. A line that does not parse
is counted (``CaptureStats.bad_lines``) and skipped, never fatal: one torn write must not fail a
monitoring run.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

CSV, JSON, JSONLINES, NPY = "text/csv", "application/json", "application/jsonlines", "application/x-npy"
PREDICTION_KEYS = ("predicted_label", "score", "prediction", "predictions", "label")

_PART = pa.struct(
    [
        ("observedContentType", pa.string()),
        ("mode", pa.string()),
        ("data", pa.string()),
        ("encoding", pa.string()),
    ]
)
_SCHEMA = pa.schema(
    [
        ("captureData", pa.struct([("endpointInput", _PART), ("endpointOutput", _PART)])),
        (
            "eventMetadata",
            pa.struct(
                [("eventId", pa.string()), ("inferenceId", pa.string()), ("inferenceTime", pa.string())]
            ),
        ),
    ]
)


@dataclass
class CaptureStats:
    """What a read saw: requests used, lines outside the window, lines that did not parse."""

    records: int = 0
    rows: int = 0
    outside_window: int = 0
    bad_lines: int = 0


def capture_files(root: Path) -> list[Path]:
    """The capture files under ``root`` (``*.jsonl``, recursively, in path order = time order)."""
    if root.is_file():
        return [root]
    return sorted(path for path in root.rglob("*.jsonl") if path.is_file())


def capture_inputs(base: Path) -> list[Path]:
    """The capture files of every variant: ``base`` (the first production variant's input) and its
    siblings ``<base>-<variant>`` (a job input per variant, as the execution lays them out)."""
    folders = [base, *sorted(base.parent.glob(f"{base.name}-*"))] if base.parent.exists() else [base]
    return [path for folder in folders if folder.exists() for path in capture_files(folder)]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return _utc(moment)  # type: ignore[return-value]


def media_type(header: str | None) -> str:
    value = (header or "").split(";", 1)[0].strip().lower()
    return {"application/x-jsonlines": JSONLINES, "application/json-lines": JSONLINES}.get(value, value)


def _decode(data: str | None, encoding: str | None) -> str | bytes | None:
    """A captured body as text (bytes only when a BASE64 body is not UTF-8, e.g. NPY)."""
    if data is None:
        return None
    if (encoding or "").upper() != "BASE64":
        return data
    raw = base64.b64decode(data, validate=True)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _part(part: dict | None) -> tuple | None:
    if not part:
        return None
    return (
        _decode(part.get("data"), part.get("encoding")),
        part.get("observedContentType"),
        part.get("encoding"),
    )


def capture_records(
    paths: Iterable[Path],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    stats: CaptureStats | None = None,
) -> Iterator[dict]:
    """Each captured request with ``start <= inferenceTime < end``: ``{"event_id",
    "inference_id", "inference_time", "input": (data, content type, encoding), "output": ...}``."""
    stats = stats if stats is not None else CaptureStats()
    start, end = _utc(start), _utc(end)
    for path in paths:
        with open(path, "rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                    metadata = value["eventMetadata"]
                    moment = parse_time(metadata["inferenceTime"])
                    if (start is not None and moment < start) or (end is not None and moment >= end):
                        stats.outside_window += 1
                        continue
                    capture = value.get("captureData") or {}
                    record = {
                        "event_id": metadata.get("eventId"),
                        "inference_id": metadata.get("inferenceId"),
                        "inference_time": moment,
                        "input": _part(capture.get("endpointInput")),
                        "output": _part(capture.get("endpointOutput")),
                    }
                except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
                    stats.bad_lines += 1
                    continue
                stats.records += 1
                yield record


# -- bulk frames -------------------------------------------------------------------------------


def _byte_blocks(paths: Iterable[Path], block_bytes: int) -> Iterator[bytes]:
    """Whole lines of all files in blocks of about ``block_bytes``. Files are small and many, so
    blocks span files; reading bytes (not a list of lines) keeps Python out of the hot path."""
    pieces: list[bytes] = []
    size = 0
    for path in paths:
        with open(path, "rb") as handle:
            while True:
                piece = handle.read(max(1, block_bytes - size))
                if not piece:
                    break
                if not piece.endswith(b"\n"):
                    piece += handle.readline()  # finish the line the read cut
                    if not piece.endswith(b"\n"):
                        piece += b"\n"
                pieces.append(piece)
                size += len(piece)
                if size >= block_bytes:
                    yield b"".join(pieces)
                    pieces, size = [], 0
    if pieces:
        yield b"".join(pieces)


_COLUMNS = {
    "event_id": "eventMetadata.eventId",
    "inference_id": "eventMetadata.inferenceId",
    "time": "eventMetadata.inferenceTime",
    "in_data": "captureData.endpointInput.data",
    "in_type": "captureData.endpointInput.observedContentType",
    "in_enc": "captureData.endpointInput.encoding",
    "out_data": "captureData.endpointOutput.data",
    "out_type": "captureData.endpointOutput.observedContentType",
    "out_enc": "captureData.endpointOutput.encoding",
}


def _block_arrow(buffer: bytes) -> pa.Table | None:
    """The block parsed by Arrow's JSON reader (C++, threaded), or None when some line does not
    fit the schema or is not JSON (then the block is read line by line)."""
    try:
        table = pa_json.read_json(
            io.BytesIO(buffer),
            read_options=pa_json.ReadOptions(block_size=4 << 20),
            parse_options=pa_json.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowException, ValueError):
        return None
    flat = table.flatten().flatten()
    return pa.table({name: flat.column(path) for name, path in _COLUMNS.items()})


def _block_python(buffer: bytes, stats: CaptureStats) -> pa.Table:
    block: dict[str, list] = {name: [] for name in _COLUMNS}
    for line in buffer.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
            metadata = value["eventMetadata"]
            capture = value.get("captureData") or {}
            given = capture.get("endpointInput") or {}
            answer = capture.get("endpointOutput") or {}
            row = (
                metadata.get("eventId"),
                metadata.get("inferenceId"),
                metadata["inferenceTime"],
                given.get("data"),
                given.get("observedContentType"),
                given.get("encoding"),
                answer.get("data"),
                answer.get("observedContentType"),
                answer.get("encoding"),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            stats.bad_lines += 1
            continue
        for name, item in zip(_COLUMNS, row, strict=True):
            block[name].append(None if item is None else str(item))
    return pa.table({name: pa.array(values, pa.string()) for name, values in block.items()})


def _rows_from_json(value: object) -> list:
    """SageMaker's JSON request shapes: ``{"instances": [...]}``, ``{"features": [...]}``, a list
    of rows (lists or objects), or one row."""
    if isinstance(value, dict):
        if "instances" in value:
            return [_row(item) for item in value["instances"]]
        return [_row(value)]
    if isinstance(value, list):
        if value and all(not isinstance(item, (list, dict)) for item in value):
            return [list(value)]
        return [_row(item) for item in value]
    raise ValueError("not a JSON request")


def _row(item: object) -> list | dict:
    if isinstance(item, dict):
        for key in ("features", "data"):
            if key in item:
                features = item[key]
                if isinstance(features, dict):  # SageMaker's dense record {"features": {"values": [...]}}
                    features = features.get("features", features).get("values", [])
                return list(features)
        return item  # named features: {"age": 31, ...}
    if isinstance(item, list):
        return item
    return [item]


def _input_rows(data: str | bytes, content_type: str | None, encoding: str | None) -> list:
    kind = media_type(content_type)
    if isinstance(data, bytes):
        if kind == NPY or data[:6] == b"\x93NUMPY":
            array = np.load(io.BytesIO(data), allow_pickle=False)
            return np.atleast_2d(array).tolist()
        data = data.decode("utf-8")
    if kind == JSONLINES:
        rows: list = []
        for line in data.splitlines():
            if line.strip():
                rows.extend(_rows_from_json(json.loads(line)))
        return rows
    if kind == JSON or (encoding or "").upper() == "JSON":
        return _rows_from_json(json.loads(data))
    return [list(row) for row in csv.reader(io.StringIO(data.strip())) if row]


def _first(item: object) -> tuple[object, object]:
    """(prediction, score) of one output row."""
    if isinstance(item, dict):
        score = item.get("score")
        for key in PREDICTION_KEYS:
            if key in item:
                value = item[key]
                prediction, _ = _first(value)
                return prediction, score if not isinstance(score, list) else None
        values = list(item.values())
        return (_first(values[0])[0] if values else None), score
    if isinstance(item, list):
        return (_first(item[0])[0] if item else None), None
    return item, None


def _output_rows(data: str | bytes | None, content_type: str | None, encoding: str | None) -> list[tuple]:
    if data is None:
        return []
    if isinstance(data, bytes):
        array = np.load(io.BytesIO(data), allow_pickle=False)
        return [_first(row) for row in np.atleast_1d(array).tolist()]
    kind = media_type(content_type)
    text = data.strip()
    if kind in (JSON, JSONLINES) or (encoding or "").upper() == "JSON" or text[:1] in ("{", "["):
        if kind == JSONLINES:
            return [_first(json.loads(line)) for line in text.splitlines() if line.strip()]
        value = json.loads(text)
        if isinstance(value, dict) and "predictions" in value and isinstance(value["predictions"], list):
            return [_first(item) for item in value["predictions"]]
        if isinstance(value, list):
            return [_first(item) for item in value]
        return [_first(value)]
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    return [(_number(row[0]), None) for row in rows]


def _number(text: object) -> object:
    if not isinstance(text, str):
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def _name_columns(frame: pd.DataFrame, columns: Sequence[str] | None) -> pd.DataFrame:
    names = list(columns or [])
    frame.columns = [names[i] if i < len(names) else f"_c{i}" for i in range(frame.shape[1])]
    return frame


def _frame_from_rows(rows: list, columns: Sequence[str] | None) -> pd.DataFrame:
    """Rows from JSON/NPY bodies: lists are positional, objects carry their names."""
    positional = [row for row in rows if isinstance(row, list)]
    named = [row for row in rows if isinstance(row, dict)]
    frames = []
    if positional:
        width = max(len(row) for row in positional)
        frame = pd.DataFrame([row + [None] * (width - len(row)) for row in positional])
        frames.append(_name_columns(frame, columns).infer_objects())
    if named:
        frames.append(pd.DataFrame.from_records(named))
    if not frames:
        return pd.DataFrame()
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _numeric_objects(frame: pd.DataFrame) -> pd.DataFrame:
    # csv.reader rows are strings: numbers should read as numbers, as the C parser's do.
    for name in frame.columns:
        if frame[name].dtype == object:
            with contextlib.suppress(ValueError, TypeError):
                frame[name] = pd.to_numeric(frame[name])
    return frame


def _times(column: pa.ChunkedArray) -> pa.Array:
    try:
        return pc.cast(column, pa.timestamp("us", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Unusual spellings: pandas' ISO 8601 parser, one bad value a null (a bad line).
        parsed = pd.to_datetime(
            pd.Series(column.to_pylist(), dtype=object), utc=True, format="ISO8601", errors="coerce"
        )
        return pa.array(parsed, pa.timestamp("us", tz="UTC"))


def _block_frame(
    table: pa.Table,
    start: datetime | None,
    end: datetime | None,
    columns: Sequence[str] | None,
    with_output: bool,
    stats: CaptureStats,
) -> pd.DataFrame | None:
    if not table.num_rows:
        return None
    times = _times(table.column("time"))
    valid = pc.and_(pc.is_valid(times), pc.is_valid(table.column("in_data")))
    stats.bad_lines += table.num_rows - pc.sum(pc.cast(valid, pa.int64())).as_py()
    keep = valid
    if start is not None:
        keep = pc.and_(keep, pc.greater_equal(times, pa.scalar(start, pa.timestamp("us", tz="UTC"))))
    if end is not None:
        keep = pc.and_(keep, pc.less(times, pa.scalar(end, pa.timestamp("us", tz="UTC"))))
    kept = table.filter(keep)
    stats.outside_window += int(pc.sum(pc.cast(valid, pa.int64())).as_py() or 0) - kept.num_rows
    if not kept.num_rows:
        return None

    # CSV bodies (the usual case) are trimmed, joined and parsed at once, all in C.
    encoding = pc.fill_null(kept.column("in_enc"), "CSV")
    kind = pc.utf8_lower(pc.fill_null(kept.column("in_type"), ""))
    is_csv = pc.and_(
        pc.equal(encoding, "CSV"),
        pc.or_(pc.starts_with(kind, CSV), pc.equal(pc.utf8_trim_whitespace(kind), "")),
    )
    is_csv_np = is_csv.to_numpy(zero_copy_only=False)
    csv_part = kept.filter(is_csv)
    texts = pc.utf8_trim(csv_part.column("in_data"), characters="\r\n").combine_chunks()
    non_empty = pc.greater(pc.utf8_length(texts), 0)
    record_index = np.flatnonzero(is_csv_np)[non_empty.to_numpy(zero_copy_only=False)]
    texts = texts.filter(non_empty)
    stats.records += csv_part.num_rows

    frames = []
    row_records: list[int] = []
    if len(texts):
        frame = _read_csv_texts(texts, columns)
        frames.append(frame)
        if with_output:
            counts = pc.add(pc.count_substring(texts, "\n"), 1).to_numpy(zero_copy_only=False)
            per_row = np.repeat(record_index, counts).tolist()
            if len(per_row) != len(frame):  # blank lines inside bodies: rows cannot be aligned
                per_row = (per_row + [-1] * len(frame))[: len(frame)]
            row_records.extend(per_row)

    other_index = np.flatnonzero(~is_csv_np)
    if other_index.size:
        other = kept.take(pa.array(other_index))
        other_rows: list = []
        for i, data, kind_i, enc_i in zip(
            other_index.tolist(),
            other.column("in_data").to_pylist(),
            other.column("in_type").to_pylist(),
            other.column("in_enc").to_pylist(),
            strict=True,
        ):
            try:
                rows = _input_rows(_decode(data, enc_i), kind_i, enc_i)
            except (ValueError, TypeError, KeyError, AttributeError, binascii.Error, OSError):
                stats.bad_lines += 1
                continue
            stats.records += 1
            other_rows.extend(rows)
            row_records.extend([i] * len(rows))
        if other_rows:
            frames.append(_frame_from_rows(other_rows, columns))
    if not frames:
        return None
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    stats.rows += len(frame)
    if with_output:
        _add_outputs(frame, kept, row_records)
    return frame


def _read_csv_texts(texts: pa.Array, columns: Sequence[str] | None) -> pd.DataFrame:
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(texts)], pa.int32()), texts), "\n")
    buffer = joined[0].as_buffer()
    try:
        try:
            frame = pd.read_csv(pa.BufferReader(buffer), header=None, low_memory=False)
        except pd.errors.ParserError:
            # Rows of different widths: name as many columns as the widest row has.
            lines = pc.list_flatten(pc.split_pattern(texts, "\n"))
            width = int(pc.max(pc.count_substring(lines, ",")).as_py() or 0) + 1
            frame = pd.read_csv(pa.BufferReader(buffer), header=None, names=range(width), low_memory=False)
    except (pd.errors.ParserError, ValueError):
        rows = [list(r) for text in texts.to_pylist() for r in csv.reader(io.StringIO(text)) if r]
        return _numeric_objects(_frame_from_rows(rows, columns))
    return _name_columns(frame, columns)


def _add_outputs(frame: pd.DataFrame, kept: pa.Table, row_records: list[int]) -> None:
    out_data = kept.column("out_data").to_pylist()
    out_type = kept.column("out_type").to_pylist()
    out_enc = kept.column("out_enc").to_pylist()
    inference_ids = kept.column("inference_id").to_pylist()
    event_ids = kept.column("event_id").to_pylist()
    predictions: list = []
    scores: list = []
    parsed: dict[int, list[tuple]] = {}
    position: dict[int, int] = {}
    for record in row_records:
        if record < 0:
            predictions.append(None)
            scores.append(None)
            continue
        if record not in parsed:
            try:
                parsed[record] = _output_rows(
                    _decode(out_data[record], out_enc[record]), out_type[record], out_enc[record]
                )
            except (ValueError, TypeError, KeyError, AttributeError, binascii.Error, OSError):
                parsed[record] = []
        offset = position.get(record, 0)
        position[record] = offset + 1
        outputs = parsed[record]
        prediction, score = outputs[offset] if offset < len(outputs) else (None, None)
        predictions.append(prediction)
        scores.append(score)
    frame["__inference_id"] = [inference_ids[r] if r >= 0 else None for r in row_records]
    frame["__event_id"] = [event_ids[r] if r >= 0 else None for r in row_records]
    frame["__prediction"] = pd.Series(predictions, dtype=object).infer_objects()
    frame["__score"] = pd.to_numeric(pd.Series(scores, dtype=object), errors="coerce")


def capture_frames(
    paths: Iterable[Path],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    columns: Sequence[str] | None = None,
    chunk_rows: int = 100_000,
    with_output: bool = False,
    stats: CaptureStats | None = None,
) -> Iterator[pd.DataFrame]:
    """The input rows of the captured requests in ``[start, end)`` as DataFrames of at most
    ``chunk_rows`` rows. CSV columns are named from ``columns`` (the baseline's feature order;
    extra ones ``_c<N>``); JSON objects keep their names. ``with_output`` adds
    ``__inference_id``, ``__event_id``, ``__prediction`` and ``__score`` per input row."""
    stats = stats if stats is not None else CaptureStats()
    start, end = _utc(start), _utc(end)
    # About 200 bytes a captured line: a block of lines makes about one chunk of rows.
    block_bytes = min(64 << 20, max(64 << 10, chunk_rows * 200))
    for buffer in _byte_blocks(paths, block_bytes):
        table = _block_arrow(buffer)
        if table is None:
            table = _block_python(buffer, stats)
        frame = _block_frame(table, start, end, columns, with_output, stats)
        if frame is None or frame.empty:
            continue
        for offset in range(0, len(frame), chunk_rows):
            yield frame.iloc[offset : offset + chunk_rows].reset_index(drop=True)
