"""Data capture in SageMaker's JSON-lines format, written off the request path.

A request appends a small tuple to a list; a thread turns them into lines and writes one object per
endpoint, variant and hour every ``STUDIO_CAPTURE_FLUSH_SECONDS``, under
``<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<MM>-<SS>-<mmm>-<uuid>.jsonl``. A failed write is
logged and retried with the next batch; it never fails a request.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import NamedTuple

from django.conf import settings

from endpoints.gateway.flushing import Flushing
from endpoints.inference import codecs
from studio.artifacts import join_uri, store_for

logger = logging.getLogger(__name__)
# While the store is down, at most this much waits in memory; beyond it the oldest records are dropped.
MAX_BUFFERED_BYTES = 256 * 1024 * 1024


class CaptureRecord(NamedTuple):
    """What a request leaves for the capture thread: a tuple, cheap to make on the request path."""

    destination: str
    endpoint: str
    variant: str
    capture: dict
    request_body: bytes
    request_type: str
    response_body: bytes
    response_type: str
    event_id: str  # empty: the capture thread makes one
    inference_id: str
    at: float


def _encoding(content_type: str, capture: dict) -> str:
    kind = codecs.media_type(content_type)
    if kind in capture.get("csv_content_types", ()):
        return "CSV"
    if kind in capture.get("json_content_types", ()):
        return "JSON"
    return "BASE64"


def _part(body: bytes, content_type: str, mode: str, capture: dict) -> str:
    """One ``endpointInput``/``endpointOutput`` object as JSON: text as it is, else base64, labelled
    as what it finally is."""
    encoding = _encoding(content_type, capture)
    data = None
    if encoding != "BASE64":
        try:
            data = body.decode()
        except UnicodeDecodeError:
            encoding = "BASE64"
    if data is None:
        data = base64.b64encode(body).decode()
    return (
        f'{{"observedContentType":{json.dumps(content_type)},"mode":"{mode}",'
        f'"data":{json.dumps(data)},"encoding":"{encoding}"}}'
    )


def _inference_time(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def capture_line(record: CaptureRecord, inference_time: str | None = None) -> str:
    """One line of SageMaker's capture format (no newline). Built from pieces, with ``json.dumps``
    only on the strings: the capture thread makes thousands a second beside the requests."""
    parts = []
    if record.capture.get("capture_input", True):
        parts.append(
            '"endpointInput":' + _part(record.request_body, record.request_type, "INPUT", record.capture)
        )
    if record.capture.get("capture_output", True):
        parts.append(
            '"endpointOutput":' + _part(record.response_body, record.response_type, "OUTPUT", record.capture)
        )
    when = inference_time or _inference_time(record.at)
    metadata = f'"eventId":"{record.event_id or uuid.uuid4()}","inferenceTime":"{when}"'
    if record.inference_id:
        metadata += f',"inferenceId":{json.dumps(record.inference_id)}'
    return f'{{"captureData":{{{",".join(parts)}}},"eventMetadata":{{{metadata}}},"eventVersion":"0"}}'


def capture_uri(destination: str, endpoint: str, variant: str, at: float) -> str:
    moment = datetime.fromtimestamp(at, tz=UTC)
    name = f"{moment:%M-%S}-{moment.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
    return join_uri(destination, endpoint, variant, f"{moment:%Y/%m/%d/%H}", name)


class CaptureWriter(Flushing):
    thread_name = "gateway-capture"

    def __init__(self, interval: float | None = None) -> None:
        super().__init__(settings.STUDIO_CAPTURE_FLUSH_SECONDS if interval is None else interval)
        self.pending: list[CaptureRecord] = []

    def add(self, record: CaptureRecord) -> None:
        with self._lock:
            self.pending.append(record)

    def flush(self) -> None:
        with self._lock:
            batch, self.pending = self.pending, []
        if not batch:
            return
        groups: dict[tuple[str, str, str, int], list[CaptureRecord]] = {}
        for record in batch:
            groups.setdefault(
                (record.destination, record.endpoint, record.variant, int(record.at // 3600)), []
            ).append(record)
        failed: list[CaptureRecord] = []
        times: dict[int, str] = {}  # inferenceTime has whole seconds: format each second once
        for (destination, endpoint, variant, _), records in groups.items():
            chunks = []
            for record in records:
                second = int(record.at)
                if second not in times:
                    times[second] = _inference_time(record.at)
                chunks.append(capture_line(record, times[second]) + "\n")
            lines = "".join(chunks)
            uri = capture_uri(destination, endpoint, variant, records[0].at)
            try:
                store_for(uri).put(uri, io.BytesIO(lines.encode()))
            except Exception:
                logger.exception(
                    "could not write captured data; keeping it for the next flush", extra={"uri": uri}
                )
                failed.extend(records)
        if failed:
            kept, size = [], 0
            for record in reversed(failed):
                size += len(record.request_body) + len(record.response_body)
                if size > MAX_BUFFERED_BYTES:
                    logger.error(
                        "dropping %d captured records: the store has been failing", len(failed) - len(kept)
                    )
                    break
                kept.append(record)
            with self._lock:
                self.pending[:0] = kept[::-1]
