"""Monitoring executions: one per schedule and capture window, each a built-in processing job over
the captured records of its window, checked against the schedule's baseline (data quality) or
merged with ground-truth labels (model quality).

Windows: ``hourly`` runs over the last whole hour, ``daily`` over the last whole day (UTC), a cron
expression over the time since the previous execution's window ended (or one period back). A window
runs once: the execution row is unique per schedule and window end, so beat firing twice, a retry,
or "run now" beside beat all land on the same execution.

The job's inputs are the capture folders ``<destination>/<endpoint>/<variant>/yyyy/mm/dd[/hh]``
that contain the window (the smallest such folder; the runtime filters records by time), the
baseline's folder (statistics.json + constraints.json), and a config.json with the schedule's tests
and thresholds. A window without captured data completes at once with a message and no job.

Failures: a job calls its completion hook only when it succeeds. An execution whose job failed or
was stopped is marked Failed with the job's reason by ``executions_reconcile``, which beat runs
every minute (``monitoring.reconcile``) and which reads of executions run on the rows they show.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.models import Job, JobStatus
from jobs.services import builtin_job_create
from monitoring.models import (
    ExecutionStatus,
    GroundTruth,
    MonitoringExecution,
    MonitoringSchedule,
    MonitoringType,
)
from monitoring.services.baselines import baseline_folder
from monitoring.services.common import (
    CONFIG_PATH,
    ReportError,
    compact,
    iso,
    job_name,
    json_put,
    json_read,
    monitoring_prefix,
    output_uri,
)
from monitoring.services.schedules import cron_parse, cron_previous
from studio.artifacts import join_uri, store_for

logger = logging.getLogger(__name__)

EXECUTE_MODULE = "monitoring.runtime.execute"
QUALITY_MODULE = "monitoring.runtime.quality"
COMPLETION_HOOK = "monitoring.services.executions.execution_job_completed"
REPORT_OUTPUT = "report"
ACTIVE = (ExecutionStatus.PENDING, ExecutionStatus.IN_PROGRESS, ExecutionStatus.STOPPING)
JOB_ENDED_BADLY = (JobStatus.FAILED, JobStatus.STOPPED)
# Jobs take at most 10 inputs; one goes to the baseline (or labels), one to the config.
MAX_CAPTURE_INPUTS = 8
NO_DATA = "No captured data in the window {start} to {end}: nothing to check."
NO_LABELS = "No ground-truth labels have arrived for the window {start} to {end} yet."


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def window_for(schedule: MonitoringSchedule, now: datetime | None = None) -> Window:
    """The capture window a run at ``now`` covers (see the module docstring)."""
    now = (now or timezone.now()).astimezone(UTC)
    expression = schedule.schedule_expression.strip().lower()
    if expression == "hourly":
        end = now.replace(minute=0, second=0, microsecond=0)
        return Window(end - timedelta(hours=1), end)
    if expression == "daily":
        end = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return Window(end - timedelta(days=1), end)
    cron = cron_parse(schedule.schedule_expression)
    end = cron_previous(cron, now)
    last_end = (
        MonitoringExecution.objects.filter(schedule=schedule, window_end__lt=end)
        .order_by("-window_end")
        .values_list("window_end", flat=True)
        .first()
    )
    start = last_end if last_end is not None else cron_previous(cron, end - timedelta(minutes=1))
    return Window(start, end)


def capture_folder(destination: str, endpoint: str, variant: str, window: Window) -> str:
    """The smallest ``yyyy/mm/dd/hh`` folder of the capture layout that holds the whole window."""
    first, last = window.start.astimezone(UTC), (window.end - timedelta(microseconds=1)).astimezone(UTC)
    parts: list[str] = []
    for depth, fmt in enumerate(("%Y", "%m", "%d", "%H")):
        if not _nested_equal(first, last, depth):
            break
        parts.append(first.strftime(fmt))
    return join_uri(destination, endpoint, variant, *parts)


def _nested_equal(first: datetime, last: datetime, depth: int) -> bool:
    return first.strftime("%Y%m%d%H"[: 2 + 2 * depth]) == last.strftime("%Y%m%d%H"[: 2 + 2 * depth])


def capture_sources(schedule: MonitoringSchedule, window: Window) -> list[tuple[str, str]]:
    """``(variant, folder)`` for each variant of the endpoint that captured something in the
    window's folder (the live config's variants, and the incoming config's during an update)."""
    endpoint = schedule.endpoint
    seen: set[tuple[str, str]] = set()
    found: list[tuple[str, str]] = []
    configs = [endpoint.config] + ([endpoint.pending_config] if endpoint.pending_config_id else [])
    for config in configs:
        capture = config.data_capture or {}
        destination = capture.get("destination_uri")
        if not destination:
            continue
        for variant in config.variants.all():
            folder = capture_folder(destination, endpoint.name, variant.name, window)
            if (destination, variant.name) in seen:
                continue
            seen.add((destination, variant.name))
            if next(iter(store_for(folder).list(folder)), None) is not None:
                found.append((variant.name, folder))
    return found


def _labels_put(schedule: MonitoringSchedule, execution: MonitoringExecution, window: Window) -> str | None:
    """The endpoint's labels that may belong to the window, as JSON lines in the store. A label
    arrives after its prediction, so every label of the window was received after it began."""
    rows = (
        GroundTruth.objects.filter(endpoint=schedule.endpoint, received_at__gte=window.start)
        .order_by()
        .values_list("inference_id", "label")
    )
    buffer = io.BytesIO()
    count = 0
    for inference_id, label in rows.iterator(chunk_size=5000):
        buffer.write((compact({"inference_id": inference_id, "label": label}) + "\n").encode())
        count += 1
    if not count:
        return None
    folder = monitoring_prefix(
        schedule.project, "schedules", schedule.name, "executions", str(execution.uuid), "ground_truth"
    )
    buffer.seek(0)
    store_for(folder).put(join_uri(folder, "labels.jsonl"), buffer)
    return folder


def _complete_empty(execution: MonitoringExecution, message: str) -> MonitoringExecution:
    MonitoringExecution.objects.filter(pk=execution.pk, status=ExecutionStatus.PENDING).update(
        status=ExecutionStatus.COMPLETED, record_count=0, message=message[:1024], ended_at=timezone.now()
    )
    execution.refresh_from_db()
    return execution


def execution_run(schedule: MonitoringSchedule, *, now: datetime | None = None) -> MonitoringExecution:
    """Run ``schedule`` over the window that ended last before ``now``; the execution of that window
    if there already is one."""
    window = window_for(schedule, now)
    existing = MonitoringExecution.objects.filter(schedule=schedule, window_end=window.end).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            execution = MonitoringExecution.objects.create(
                schedule=schedule, window_start=window.start, window_end=window.end
            )
    except IntegrityError:
        return MonitoringExecution.objects.get(schedule=schedule, window_end=window.end)
    try:
        return _start(schedule, execution, window)
    except Exception as exc:
        reason = f"Could not start the execution: {exc}"[:1024]
        logger.exception("monitoring execution failed to start", extra={"schedule": schedule.name})
        MonitoringExecution.objects.filter(pk=execution.pk).update(
            status=ExecutionStatus.FAILED, failure_reason=reason, ended_at=timezone.now()
        )
        execution.refresh_from_db()
        return execution


def _start(
    schedule: MonitoringSchedule, execution: MonitoringExecution, window: Window
) -> MonitoringExecution:
    shown = {"start": iso(window.start), "end": iso(window.end)}
    sources = capture_sources(schedule, window)
    if not sources:
        return _complete_empty(execution, NO_DATA.format(**shown))
    inputs = [
        {"name": "capture" if index == 0 else f"capture-{variant}", "source_uri": folder}
        for index, (variant, folder) in enumerate(sources[:MAX_CAPTURE_INPUTS])
    ]
    arguments = ["--start", shown["start"], "--end", shown["end"]]
    quality = schedule.monitoring_type == MonitoringType.MODEL_QUALITY
    if quality:
        labels = _labels_put(schedule, execution, window)
        if labels is None:
            return _complete_empty(execution, NO_LABELS.format(**shown))
        inputs.append({"name": "ground_truth", "source_uri": labels})
        arguments += ["--problem-type", schedule.problem_type]
    if schedule.baseline_id and schedule.baseline.constraints_uri:
        inputs.append({"name": "baseline", "source_uri": baseline_folder(schedule.baseline)})
    config_uri = json_put(
        monitoring_prefix(
            schedule.project,
            "schedules",
            schedule.name,
            "executions",
            str(execution.uuid),
            "config",
            "config.json",
        ),
        {
            **(schedule.config or {}),
            "monitoring_type": schedule.monitoring_type,
            "problem_type": schedule.problem_type,
            "target_column": schedule.baseline.target_column if schedule.baseline_id else "",
            "endpoint": schedule.endpoint.name,
        },
    )
    inputs.append({"name": "config", "source_uri": config_uri.rsplit("/", 1)[0]})
    arguments += ["--config", CONFIG_PATH]
    with transaction.atomic():
        job = builtin_job_create(
            project=schedule.project,
            user=schedule.created_by,
            name=job_name("monitor", f"{schedule.name}-{window.end:%Y%m%d%H%M}", execution.uuid),
            module=QUALITY_MODULE if quality else EXECUTE_MODULE,
            inputs=inputs,
            outputs=[{"name": REPORT_OUTPUT}],
            arguments=arguments,
            on_complete=COMPLETION_HOOK,
            context={"execution": str(execution.uuid)},
        )
        MonitoringExecution.objects.filter(pk=execution.pk).update(
            job=job, status=ExecutionStatus.IN_PROGRESS
        )
    execution.refresh_from_db()
    return execution


def _violations_of(document: object) -> list:
    if isinstance(document, dict):
        violations = document.get("violations", [])
        return violations if isinstance(violations, list) else []
    return []


def execution_job_completed(job: Job) -> None:
    """The execution job's completion hook: record the report, then let alerts look at it.

    Raising fails the job (with the message as its reason); ``executions_reconcile`` then fails the
    execution with it.
    """
    execution = (
        MonitoringExecution.objects.filter(uuid=job.spec.get("context", {}).get("execution"), job=job)
        .select_related("schedule__project", "schedule__endpoint")
        .first()
    )
    if execution is None:
        raise ReportError("the execution this job was running no longer exists")
    folder = output_uri(job, REPORT_OUTPUT)
    violations = _violations_of(json_read(join_uri(folder, "constraint_violations.json")))
    fields: dict = {"violations": violations, "report_uri": folder}
    if execution.schedule.monitoring_type == MonitoringType.MODEL_QUALITY:
        metrics = json_read(join_uri(folder, "metrics.json"))
        fields["metrics"] = metrics
        fields["record_count"] = _record_count(metrics)
        fields["message"] = str(metrics.get("message", ""))[:1024]
    else:
        drift = json_read(join_uri(folder, "drift.json"))
        fields["drift"] = drift.get("drift", {}) if isinstance(drift.get("drift"), dict) else {}
        fields["record_count"] = int(drift.get("record_count") or 0)
        fields["message"] = str(drift.get("message", ""))[:1024]
        if fields["record_count"]:
            fields["statistics"] = json_read(join_uri(folder, "statistics.json"))
    fields["status"] = ExecutionStatus.COMPLETED_WITH_VIOLATIONS if violations else ExecutionStatus.COMPLETED
    fields["ended_at"] = timezone.now()
    updated = MonitoringExecution.objects.filter(pk=execution.pk, status__in=ACTIVE).update(**fields)
    if not updated:
        return
    execution.refresh_from_db()
    _alerts_evaluate(execution)


def _record_count(metrics: dict) -> int:
    for key in ("record_count", "item_count", "count"):
        value = metrics.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return max(value, 0)
    return 0


def _alerts_evaluate(execution: MonitoringExecution) -> None:
    """Raise, count or clear the schedule's alerts. An alert that cannot be recorded is logged, not
    fatal: the execution's findings are already recorded and shown."""
    try:
        from monitoring.alerts import alerts_evaluate

        alerts_evaluate(execution)
    except Exception:
        logger.exception("alerts could not be evaluated", extra={"execution": str(execution.uuid)})


def executions_reconcile(executions: list[MonitoringExecution] | None = None) -> int:
    """Mark executions whose job failed or was stopped as Failed (Stopped) with the job's reason.
    ``executions``: only these (rows being shown, with their job loaded); None: all active ones."""
    if executions is None:
        candidates = list(
            MonitoringExecution.objects.filter(
                status__in=ACTIVE, job__status__in=JOB_ENDED_BADLY
            ).select_related("job")[:500]
        )
    else:
        candidates = [
            item
            for item in executions
            if item.status in ACTIVE and item.job_id and item.job.status in JOB_ENDED_BADLY
        ]
    changed = 0
    for execution in candidates:
        job = execution.job
        status = ExecutionStatus.STOPPED if job.status == JobStatus.STOPPED else ExecutionStatus.FAILED
        reason = (job.failure_reason or f"The monitoring job {job.name} ended {job.status}.")[:1024]
        if MonitoringExecution.objects.filter(pk=execution.pk, status__in=ACTIVE).update(
            status=status, failure_reason=reason, ended_at=job.ended_at or timezone.now()
        ):
            execution.status, execution.failure_reason = status, reason
            changed += 1
    return changed


def schedule_run_now(*, schedule: MonitoringSchedule) -> MonitoringExecution:
    """ "Run now": the window that ended last (the same execution beat would make for it)."""
    return execution_run(schedule)
