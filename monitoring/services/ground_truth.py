"""Ground truth: labels that arrive after the predictions, keyed by the request's inference id (or
the capture's event id). Adding a label for an id that has one replaces it (an upsert)."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable
from typing import BinaryIO

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from endpoints.models import Endpoint
from monitoring.models import GroundTruth
from studio.services import audit_record

MAX_RECORDS = 100_000
MAX_ERRORS_SHOWN = 20
MAX_ID_CHARS = 64
MAX_LABEL_CHARS = 255
BATCH = 2000


def _checked(records: object) -> dict[str, str]:
    """``{inference_id: label}`` (the last label of an id wins), or a ValidationError on
    ``records`` naming each bad row (counting from 0)."""
    if not isinstance(records, list):
        raise ValidationError({"records": 'Send a list of {"inference_id", "label"} objects.'})
    if not records:
        raise ValidationError({"records": "Send at least one label."})
    if len(records) > MAX_RECORDS:
        raise ValidationError({"records": f"At most {MAX_RECORDS} labels at a time."})
    problems: list[str] = []
    labels: dict[str, str] = {}
    for index, row in enumerate(records):
        if not isinstance(row, dict):
            problems.append(f"row {index}: an object with inference_id and label")
            continue
        inference_id, label = row.get("inference_id"), row.get("label")
        if isinstance(inference_id, (int, float)) and not isinstance(inference_id, bool):
            inference_id = str(inference_id)
        if not isinstance(inference_id, str) or not inference_id.strip() or len(inference_id) > MAX_ID_CHARS:
            problems.append(f"row {index}: inference_id must be 1-{MAX_ID_CHARS} characters")
            continue
        if isinstance(label, bool) or not isinstance(label, (str, int, float)) or str(label) == "":
            problems.append(f"row {index}: label must be a string or a number")
            continue
        label = str(label)
        if len(label) > MAX_LABEL_CHARS:
            problems.append(f"row {index}: label is longer than {MAX_LABEL_CHARS} characters")
            continue
        labels[inference_id.strip()] = label
    if problems:
        shown = problems[:MAX_ERRORS_SHOWN]
        if len(problems) > MAX_ERRORS_SHOWN:
            shown.append(f"... and {len(problems) - MAX_ERRORS_SHOWN} more")
        raise ValidationError({"records": shown})
    return labels


def ground_truth_add(*, endpoint: Endpoint, user: AbstractBaseUser | None, records: list[dict]) -> int:
    """Record labels for ``endpoint``'s predictions; returns how many were written. Nothing is
    written if any row is bad."""
    labels = _checked(records)
    now = timezone.now()
    rows = [
        GroundTruth(endpoint=endpoint, inference_id=key, label=value, received_at=now)
        for key, value in labels.items()
    ]
    with transaction.atomic():
        for start in range(0, len(rows), BATCH):
            GroundTruth.objects.bulk_create(
                rows[start : start + BATCH],
                update_conflicts=True,
                unique_fields=["endpoint", "inference_id"],
                update_fields=["label", "received_at"],
            )
        audit_record(
            actor=user,
            action="create",
            target_type="ground-truth",
            target_name=endpoint.name,
            project=endpoint.project,
            details={"labels": len(rows)},
        )
    return len(rows)


def ground_truth_rows_from_csv(stream: BinaryIO | Iterable[bytes]) -> list[dict]:
    """Rows of a CSV with an ``inference_id,label`` header (UTF-8); a ValidationError on ``file``."""
    reader = csv.reader(codecs.iterdecode(stream, "utf-8-sig"))
    try:
        header = [cell.strip().lower() for cell in next(reader, [])]
        if "inference_id" not in header or "label" not in header:
            raise ValidationError({"file": "The first line must be the header inference_id,label."})
        id_at, label_at = header.index("inference_id"), header.index("label")
        rows: list[dict] = []
        for line in reader:
            if not line or not any(cell.strip() for cell in line):
                continue
            if len(rows) >= MAX_RECORDS:
                raise ValidationError({"file": f"At most {MAX_RECORDS} labels at a time."})
            rows.append(
                {
                    "inference_id": line[id_at].strip() if len(line) > id_at else "",
                    "label": line[label_at].strip() if len(line) > label_at else "",
                }
            )
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValidationError({"file": f"Not a UTF-8 CSV file: {exc}"}) from exc
    return rows


def ground_truth_add_csv(*, endpoint: Endpoint, user: AbstractBaseUser | None, stream: BinaryIO) -> int:
    rows = ground_truth_rows_from_csv(stream)
    try:
        return ground_truth_add(endpoint=endpoint, user=user, records=rows)
    except ValidationError as exc:
        # Rows of a file are its lines: row 0 is line 2, after the header.
        messages = exc.message_dict.get("records", exc.messages)
        raise ValidationError({"file": messages}) from exc
