"""Request and response bodies: the content types SageMaker's containers speak (Django-free).

Decoding turns a body into a 2-D float matrix (rows x features); encoding turns predictions back
into bytes for the ``Accept`` type. Errors carry the parser's own message, for the caller's 400.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence

import numpy as np

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
NPY = "application/x-npy"
CONTENT_TYPES = (CSV, JSON, JSONLINES, NPY)
ANY = ("", "*/*")


class PayloadError(ValueError):
    """The body cannot be read as its content type says (the client's mistake: HTTP 400)."""


class UnsupportedContentType(PayloadError):
    """A content type or Accept this model does not speak (HTTP 415 / 406)."""


def media_type(header: str) -> str:
    """``text/csv; charset=utf-8`` -> ``text/csv``; ``application/json-lines`` spellings unified."""
    value = header.split(";", 1)[0].strip().lower()
    return {"application/x-jsonlines": JSONLINES, "application/json-lines": JSONLINES}.get(value, value)


def pick_accept(accept: str, default: str) -> str:
    """The first type of an ``Accept`` header this codec can write (``*/*`` or none: ``default``)."""
    for candidate in accept.split(","):
        kind = media_type(candidate)
        if kind in ANY:
            return default
        if kind in CONTENT_TYPES:
            return kind
    if not accept.strip():
        return default
    raise UnsupportedContentType(f"cannot answer in {accept!r}; ask for one of {', '.join(CONTENT_TYPES)}")


def _rows_from_json(value: object) -> list:
    """SageMaker's JSON request shapes: ``{"instances": [...]}``, ``{"features": [...]}``, lists."""
    if isinstance(value, Mapping):
        if "instances" in value:
            return [_row_from_json(item) for item in value["instances"]]
        if "features" in value or "data" in value:
            return [_row_from_json(value)]
        raise PayloadError('a JSON object needs "instances" (a list of rows) or "features" (one row)')
    if isinstance(value, Sequence) and not isinstance(value, str):
        if value and all(isinstance(item, (int, float)) or item is None for item in value):
            return [list(value)]
        return [_row_from_json(item) for item in value]
    raise PayloadError('JSON must be a list of rows, a row, or an object with "instances"')


def _row_from_json(item: object) -> list:
    if isinstance(item, Mapping):
        for key in ("features", "data"):
            if key in item:
                features = item[key]
                # {"data": {"features": {"values": [...]}}} is SageMaker's dense JSON record.
                if isinstance(features, Mapping):
                    features = features.get("features", features).get("values", [])
                return list(features)
        raise PayloadError('a JSON row object needs "features": [numbers]')
    if isinstance(item, Sequence) and not isinstance(item, str):
        return list(item)
    raise PayloadError(f"a row must be a list of numbers, not {type(item).__name__}")


def _matrix(rows: list) -> np.ndarray:
    if not rows:
        raise PayloadError("the request has no rows")
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise PayloadError(f"rows have different numbers of values: {sorted(widths)}")
    try:
        return np.array(rows, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"every value must be a number: {exc}") from None


def decode_csv(body: bytes) -> np.ndarray:
    text = body.strip()
    if not text:
        raise PayloadError("the request body is empty")
    if b"\n" not in text:
        # One row, the hot path: splitting is several times faster than a CSV reader.
        try:
            return np.array(text.split(b","), dtype=np.float64).reshape(1, -1)
        except ValueError:
            pass  # the reader below names the row and column that failed
    try:
        return np.loadtxt(io.BytesIO(text), delimiter=",", ndmin=2, dtype=np.float64, encoding="utf-8")
    except ValueError as exc:
        raise PayloadError(f"could not read the CSV: {exc}") from None


def decode_json(body: bytes) -> np.ndarray:
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PayloadError(f"invalid JSON: {exc}") from None
    return _matrix(_rows_from_json(value))


def decode_jsonlines(body: bytes) -> np.ndarray:
    rows = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PayloadError(f"line {number} is not valid JSON: {exc}") from None
        rows.extend(_rows_from_json(value))
    return _matrix(rows)


def decode_npy(body: bytes) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise PayloadError(f"not a NumPy .npy array: {exc}") from None
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise PayloadError(f"expected a 1-D or 2-D array, got {array.ndim} dimensions")
    try:
        return array.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"the array must hold numbers: {exc}") from None


DECODERS = {CSV: decode_csv, JSON: decode_json, JSONLINES: decode_jsonlines, NPY: decode_npy}


def decode(body: bytes, content_type: str) -> np.ndarray:
    """The rows of ``body`` as a float matrix."""
    decoder = DECODERS.get(media_type(content_type) or CSV)
    if decoder is None:
        raise UnsupportedContentType(
            f"cannot read Content-Type {content_type!r}; send one of {', '.join(CONTENT_TYPES)}"
        )
    return decoder(body)


def _plain(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _csv_cell(value: object) -> str:
    if isinstance(value, (list, tuple, np.ndarray)):
        return ",".join(_csv_cell(item) for item in value)
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(_plain(value))


def encode_records(records: list[dict], primary: Sequence[str], accept: str) -> bytes:
    """Per-row output records: CSV and NPY carry the ``primary`` keys, JSON and JSON lines all keys."""
    if accept == JSON:
        return json.dumps({"predictions": [{k: _plain(v) for k, v in r.items()} for r in records]}).encode()
    if accept == JSONLINES:
        return "".join(json.dumps({k: _plain(v) for k, v in r.items()}) + "\n" for r in records).encode()
    if accept == CSV:
        return "".join(",".join(_csv_cell(r[key]) for key in primary) + "\n" for r in records).encode()
    if accept == NPY:
        values = [[_plain(r[key]) for key in primary] for r in records]
        array = np.array([row[0] if len(row) == 1 else np.hstack(row) for row in values])
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()
    raise UnsupportedContentType(f"cannot answer in {accept!r}")


def encode_array(prediction: object, accept: str) -> bytes:
    """The inference toolkit's default ``output_fn``: an array-like to JSON, CSV or NPY."""
    array = np.asarray(prediction)
    if accept in (JSON, JSONLINES):
        if accept == JSONLINES and array.ndim >= 1:
            return "".join(json.dumps(_plain(row)) + "\n" for row in array).encode()
        return json.dumps(_plain(array)).encode()
    if accept == CSV:
        rows = array.reshape(-1, 1) if array.ndim <= 1 else array
        return "".join(",".join(_csv_cell(cell) for cell in row) + "\n" for row in rows).encode()
    if accept == NPY:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()
    raise UnsupportedContentType(f"cannot answer in {accept!r}")
