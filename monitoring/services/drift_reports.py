"""Ad-hoc drift reports: compare two dataset versions, or a version and an endpoint's captured
traffic over a window, without a schedule. A built-in job (``monitoring.runtime.drift_report``)
reads ``reference/`` and ``current/`` and writes ``drift.json`` (and constraint violations); its
completion hook records them. Failed jobs are reconciled like executions' (beat, and reads)."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from endpoints.models import Endpoint
from jobs.models import Job
from jobs.services import builtin_job_create
from jobs.services.common import MAX_IO
from monitoring.models import DriftReport, ExecutionStatus, MonitoringType
from monitoring.services.baselines import version_resolve
from monitoring.services.common import (
    CONFIG_PATH,
    MAX_ARGUMENT_CHARS,
    ReportError,
    compact,
    failed_jobs_reconcile,
    iso,
    job_name,
    json_put,
    json_read,
    monitoring_prefix,
    output_uri,
)
from monitoring.services.executions import Window, capture_inputs
from monitoring.services.schedules import config_check
from studio.artifacts import join_uri
from studio.models import Project
from studio.services import audit_record

DRIFT_MODULE = "monitoring.runtime.drift_report"
COMPLETION_HOOK = "monitoring.services.drift_reports.drift_report_job_completed"
REPORT_OUTPUT = "report"
ACTIVE = (ExecutionStatus.PENDING, ExecutionStatus.IN_PROGRESS)


def _capture_inputs(endpoint: Endpoint, window: Window, *, limit: int) -> list[dict]:
    """The window's capture folders, ``current-<n>`` (``current-<variant>-<n>``), as the
    executions lay them out; the runtime reads every ``current*`` folder."""
    if not (endpoint.config.data_capture or {}).get("destination_uri"):
        raise ValidationError({"endpoint": f"{endpoint.name} does not capture data."})
    found = capture_inputs(endpoint, window, name="current", limit=limit)
    if not found.inputs:
        raise ValidationError(
            {
                "window_start": f"{endpoint.name} captured nothing from {iso(window.start)} "
                f"to {iso(window.end)}."
            }
        )
    if found.clamped:
        raise ValidationError(
            {
                "window_start": f"The window's capture folders do not fit the job's {limit} inputs; "
                f"start at {iso(found.window.start)} or later."
            }
        )
    return found.inputs


def drift_report_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    reference: str,
    current: str = "",
    endpoint: Endpoint | None = None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    config: dict | None = None,
) -> DriftReport:
    """Compare ``reference`` (``dataset://name/N``) with ``current`` (another version) or with
    ``endpoint``'s captured traffic from ``window_start`` to ``window_end``."""
    errors: dict[str, str] = {}
    try:
        version = version_resolve(project, reference, "reference")
    except ValidationError as exc:
        errors.update({key: value[0] for key, value in exc.message_dict.items()})
        version = None
    config_check(errors, MonitoringType.DATA_QUALITY, "", config)
    inputs: list[dict] = []
    current_arguments: list[str] = []
    current_uri = current_label = ""
    if endpoint is not None:
        if endpoint.project_id != project.pk:
            errors["endpoint"] = f"No endpoint named {endpoint.name!r} in {project.name}."
        elif window_start is None or window_end is None or window_end <= window_start:
            errors["window_end"] = "Give window_start and a later window_end."
        else:
            window = Window(window_start, window_end)
            try:
                # The job's other inputs: the reference, and the config when there is one.
                inputs = _capture_inputs(endpoint, window, limit=MAX_IO - 1 - int(bool(config)))
            except ValidationError as exc:
                errors.update({key: value[0] for key, value in exc.message_dict.items()})
            current_uri = inputs[0]["source_uri"] if inputs else ""
            current_label = f"{endpoint.name} {iso(window_start)} to {iso(window_end)}"
            current_arguments = [
                "--current-format",
                "capture",
                "--start",
                iso(window_start),
                "--end",
                iso(window_end),
            ]
    elif current:
        try:
            other = version_resolve(project, current, "current")
            inputs = [{"name": "current", "source_uri": other.uri}]
            current_arguments = ["--current-format", other.format]
            current_uri, current_label = other.uri, f"{other.dataset.name} v{other.number}"
        except ValidationError as exc:
            errors.update({key: value[0] for key, value in exc.message_dict.items()})
    else:
        errors["current"] = "Name a dataset version (dataset://name/N) or an endpoint and a window."
    if errors:
        raise ValidationError(errors)
    assert version is not None
    token = uuid.uuid4()
    # What the runtime needs to read both sides: their formats (and the capture window's bounds).
    arguments: list[str] = ["--reference-format", version.format, *current_arguments]
    read_options = compact(version.read_options or {})
    if version.read_options and len(read_options) <= MAX_ARGUMENT_CHARS:
        arguments += ["--read-options", read_options]
    inputs = [{"name": "reference", "source_uri": version.uri}, *inputs]
    if config:
        config_uri = json_put(
            monitoring_prefix(project, "drift-reports", str(token), "config", "config.json"), config
        )
        inputs.append({"name": "config", "source_uri": config_uri.rsplit("/", 1)[0]})
        arguments += ["--config", CONFIG_PATH]
    with transaction.atomic():
        job = builtin_job_create(
            project=project,
            user=user,
            name=job_name("drift", version.dataset.name, token),
            module=DRIFT_MODULE,
            inputs=inputs,
            outputs=[{"name": REPORT_OUTPUT}],
            arguments=arguments,
            on_complete=COMPLETION_HOOK,
            context={"drift_report": str(token)},
        )
        report = DriftReport.objects.create(
            uuid=token,
            project=project,
            reference_uri=version.uri,
            reference_label=f"{version.dataset.name} v{version.number}",
            current_uri=current_uri,
            current_label=current_label,
            config=config or {},
            job=job,
            status=ExecutionStatus.IN_PROGRESS,
            created_by=user if user is not None and user.is_authenticated else None,
        )
        audit_record(
            actor=user,
            action="create",
            target_type="drift-report",
            target_name=str(token),
            project=project,
            details={"reference": report.reference_label, "current": current_label, "job": job.name},
        )
    return report


def drift_report_job_completed(job: Job) -> None:
    report = DriftReport.objects.filter(uuid=job.spec.get("context", {}).get("drift_report"), job=job).first()
    if report is None:
        raise ReportError("the drift report this job was making no longer exists")
    folder = output_uri(job, REPORT_OUTPUT)
    drift = json_read(join_uri(folder, "drift.json"))
    violations: list = []
    try:
        document = json_read(join_uri(folder, "constraint_violations.json"))
        violations = document.get("violations", []) if isinstance(document.get("violations"), list) else []
    except ReportError:
        violations = []
    DriftReport.objects.filter(pk=report.pk, status__in=ACTIVE).update(
        drift=drift,
        violations=violations,
        status=ExecutionStatus.COMPLETED_WITH_VIOLATIONS if violations else ExecutionStatus.COMPLETED,
    )


def drift_reports_reconcile(reports: list[DriftReport] | None = None) -> int:
    """Mark drift reports whose job failed or was stopped as Failed, with the job's reason."""
    return failed_jobs_reconcile(
        DriftReport, reports, active=ACTIVE, failed=ExecutionStatus.FAILED, label="drift"
    )
