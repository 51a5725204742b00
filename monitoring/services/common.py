"""What the monitor's services share: JSON in the artifact store, job names, the reports' outputs."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Sequence
from datetime import datetime

from django.db.models import Model
from django.utils import timezone

from jobs.models import JobStatus
from studio.artifacts import ArtifactError, join_uri, project_prefix, store_for
from studio.models import Project

# Job arguments are at most 256 characters each (jobs.services); longer options go in a file.
MAX_ARGUMENT_CHARS = 256
CONFIG_PATH = "/opt/ml/processing/input/config/config.json"
MAX_REPORT_BYTES = 64 * 1024 * 1024
JOB_ENDED_BADLY = (JobStatus.FAILED, JobStatus.STOPPED)
# How many rows one reconcile pass looks at (beat runs it every minute).
RECONCILE_BATCH = 500


class ReportError(Exception):
    """A job's report that is missing, too large, or not JSON of the expected shape."""


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def monitoring_prefix(project: Project, *parts: str) -> str:
    """Where the monitor keeps what it writes itself (edited constraints, configs, label files)."""
    return join_uri(project_prefix(project.name), "monitoring", *parts)


def json_put(uri: str, value: object) -> str:
    return store_for(uri).put(uri, io.BytesIO(compact(value).encode())).uri


def json_read(uri: str, *, expect: type = dict) -> object:
    """The JSON document at ``uri`` (at most ``MAX_REPORT_BYTES``), of type ``expect``."""
    try:
        with contextlib.closing(store_for(uri).open(uri)) as handle:
            data = handle.read(MAX_REPORT_BYTES + 1)
    except ArtifactError as exc:
        raise ReportError(f"{uri.rsplit('/', 1)[-1]} could not be read: {exc}") from exc
    if len(data) > MAX_REPORT_BYTES:
        raise ReportError(f"{uri.rsplit('/', 1)[-1]} is larger than {MAX_REPORT_BYTES // 1024**2} MiB")
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{uri.rsplit('/', 1)[-1]} is not valid JSON: {exc}") from exc
    if not isinstance(value, expect):
        raise ReportError(f"{uri.rsplit('/', 1)[-1]} is not a JSON {expect.__name__}")
    return value


def output_uri(job, name: str) -> str:
    """Where the job uploaded its output ``name``."""
    output = next((item for item in job.outputs or [] if item.get("name") == name), None)
    if output is None:
        raise ReportError(f"the job produced no '{name}' output")
    return output["uri"]


def job_name(prefix: str, label: str, token: uuid.UUID | None = None) -> str:
    """``<prefix>-<label>-<8 hex>``: unique, readable, at most 63 characters."""
    base = f"{prefix}-{label}"[:50].rstrip("-")
    return f"{base}-{(token or uuid.uuid4()).hex[:8]}"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def failed_jobs_reconcile(
    model: type[Model],
    rows: Sequence[Model] | None,
    *,
    active: Sequence[str],
    failed: str,
    label: str,
    stopped: str | None = None,
    ended_at: bool = False,
) -> int:
    """Mark ``model`` rows (baselines, executions, drift reports) still ``active`` whose job failed
    or was stopped as ``failed`` (``stopped`` for a stopped job, when given), with the job's reason.

    ``rows``: only these (a page being read, their job loaded); None: the active ones in the
    database. A conditional update, so a concurrent completion hook always wins. Returns how many
    changed.
    """
    if rows is None:
        candidates = list(
            model.objects.filter(status__in=active, job__status__in=JOB_ENDED_BADLY).select_related("job")[
                :RECONCILE_BATCH
            ]
        )
    else:
        candidates = [
            row for row in rows if row.status in active and row.job_id and row.job.status in JOB_ENDED_BADLY
        ]
    changed = 0
    for row in candidates:
        job = row.job
        status = stopped if stopped and job.status == JobStatus.STOPPED else failed
        reason = (job.failure_reason or f"The {label} job {job.name} ended {job.status}.")[:1024]
        fields: dict[str, object] = {"status": status, "failure_reason": reason}
        if ended_at:
            fields["ended_at"] = job.ended_at or timezone.now()
        if model.objects.filter(pk=row.pk, status__in=active).update(**fields):
            row.status, row.failure_reason = status, reason
            changed += 1
    return changed
