"""Monitoring executions: one per schedule and capture window, each a built-in processing job over
the captured records of its window, checked against the schedule's baseline (data quality) or
merged with ground-truth labels (model quality).

Windows: ``hourly`` (beat at minute 5) runs over the last whole hour, ``daily`` (00:05) over the
last whole day (UTC), a cron expression over the time since the previous execution's window ended
(or one period back). A window runs once: the execution row is unique per schedule and window end,
so beat firing twice, a retry, or "run now" beside beat all land on the same execution. Model
quality evaluates the captures of its window moved back by ``ground_truth_offset_hours`` (24 by
default), with every label received up to the run, so labels that arrive late are used.

The job's inputs are the capture folders ``<destination>/<endpoint>/<variant>/yyyy/mm/dd[/hh]``
of the window, one input each (``capture-<n>``, ``capture-<variant>-<n>``; hour folders for a
window inside one day, day folders otherwise; empty ones left out; the runtime filters records by
time), the baseline's folder (statistics.json + constraints.json), and a config.json with the
schedule's tests and thresholds. A window whose folders do not fit the job's input limit is clamped
to its most recent part, and the execution's message says so. A window without captured data
completes at once with a message and no job.

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

from endpoints.models import Endpoint
from jobs.models import Job
from jobs.services import builtin_job_create
from jobs.services.common import MAX_IO
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
    RECONCILE_BATCH,
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
from monitoring.services.schedules import cron_parse, cron_previous, ground_truth_offset
from studio.artifacts import join_uri, store_for

logger = logging.getLogger(__name__)

EXECUTE_MODULE = "monitoring.runtime.execute"
QUALITY_MODULE = "monitoring.runtime.quality"
COMPLETION_HOOK = "monitoring.services.executions.execution_job_completed"
REPORT_OUTPUT = "report"
ACTIVE = (ExecutionStatus.PENDING, ExecutionStatus.IN_PROGRESS, ExecutionStatus.STOPPING)
# A run this soon after the hour (day) covers the one before: its captures may still be flushing.
CAPTURE_FLUSH = timedelta(minutes=1)
# A Pending execution with no job this old lost its worker between the row and the job.
STUCK_PENDING = timedelta(minutes=5)
# How far back capture folders are listed for one window (a cron window after a long stop).
MAX_CAPTURE_PERIODS = 400
CLAMPED = (
    "Only {start} to {end} was checked: the window's capture folders do not fit the job's "
    "{limit} capture inputs."
)
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
        end = (now - CAPTURE_FLUSH).replace(minute=0, second=0, microsecond=0)
        return Window(end - timedelta(hours=1), end)
    if expression == "daily":
        end = (now - CAPTURE_FLUSH).replace(hour=0, minute=0, second=0, microsecond=0)
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


def capture_periods(window: Window) -> list[tuple[Window, str]]:
    """The capture layout's folders that hold the window, newest first, as ``(the part of the
    window in it, "yyyy/mm/dd[/hh]")``: hours for a window inside one day, whole days otherwise."""
    first, last = window.start.astimezone(UTC), (window.end - timedelta(microseconds=1)).astimezone(UTC)
    hourly = first.date() == last.date()
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    cursor = (
        last.replace(minute=0, second=0, microsecond=0)
        if hourly
        else last.replace(hour=0, minute=0, second=0, microsecond=0)
    )
    periods: list[tuple[Window, str]] = []
    while cursor + step > first and len(periods) < MAX_CAPTURE_PERIODS:
        part = Window(max(cursor, first), min(cursor + step, window.end.astimezone(UTC)))
        periods.append((part, cursor.strftime("%Y/%m/%d/%H" if hourly else "%Y/%m/%d")))
        cursor -= step
    return periods


def capture_folders(destination: str, endpoint: str, variant: str, window: Window) -> list[str]:
    """The capture folders of one variant that hold the window, oldest first."""
    return [
        join_uri(destination, endpoint, variant, *path.split("/"))
        for _, path in reversed(capture_periods(window))
    ]


@dataclass(frozen=True)
class CaptureInputs:
    """A job's capture inputs for a window, and the window they cover (``window`` clamped to its
    most recent part when its folders do not fit ``limit`` inputs)."""

    inputs: list[dict]
    window: Window
    clamped: bool


def _capture_sources(endpoint: Endpoint) -> list[tuple[str, str]]:
    """``(destination, variant)`` of the live config, and of the incoming config during an update."""
    found: list[tuple[str, str]] = []
    configs = [endpoint.config] + ([endpoint.pending_config] if endpoint.pending_config_id else [])
    for config in configs:
        destination = (config.data_capture or {}).get("destination_uri")
        if not destination:
            continue
        for variant in config.variants.all():
            if (destination, variant.name) not in found:
                found.append((destination, variant.name))
    return found


def capture_inputs(endpoint: Endpoint, window: Window, *, name: str, limit: int) -> CaptureInputs:
    """One input per capture folder of the window that holds something: ``<name>-<n>`` for the
    first variant, ``<name>-<variant>-<n>`` for the others (the runtimes read every
    ``<name>*`` folder). Folders are taken newest first; when the next period's would pass
    ``limit``, the window starts after it."""
    sources = _capture_sources(endpoint)
    kept: list[list[tuple[str, str]]] = []  # each period's (variant, folder), newest period first
    start = window.end
    clamped = False
    periods = capture_periods(window)
    for part, path in periods:
        found = [
            (variant, folder)
            for destination, variant in sources
            if _has_objects(folder := join_uri(destination, endpoint.name, variant, *path.split("/")))
        ]
        if sum(map(len, kept)) + len(found) > limit:
            clamped = True
            break
        kept.append(found)
        start = part.start
    else:
        clamped = bool(periods) and periods[-1][0].start > window.start
    if not clamped:
        start = window.start
    first_variant = sources[0][1] if sources else ""
    counters: dict[str, int] = {}
    inputs = []
    for variant, folder in (item for found in reversed(kept) for item in found):
        counters[variant] = counters.get(variant, 0) + 1
        label = name if variant == first_variant else f"{name}-{variant}"
        inputs.append({"name": f"{label}-{counters[variant]}", "source_uri": folder})
    return CaptureInputs(inputs, Window(start, window.end), clamped)


def _has_objects(folder: str) -> bool:
    return next(iter(store_for(folder).list(folder)), None) is not None


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
    return _start_or_fail(schedule, execution, window)


def _start_or_fail(
    schedule: MonitoringSchedule, execution: MonitoringExecution, window: Window
) -> MonitoringExecution:
    try:
        return _start(schedule, execution, window)
    except Exception as exc:
        reason = f"Could not start the execution: {exc}"[:1024]
        logger.exception("monitoring execution failed to start", extra={"schedule": schedule.name})
        MonitoringExecution.objects.filter(pk=execution.pk, status=ExecutionStatus.PENDING).update(
            status=ExecutionStatus.FAILED, failure_reason=reason, ended_at=timezone.now()
        )
        execution.refresh_from_db()
        return execution


def _start(
    schedule: MonitoringSchedule, execution: MonitoringExecution, window: Window
) -> MonitoringExecution:
    quality = schedule.monitoring_type == MonitoringType.MODEL_QUALITY
    offset = ground_truth_offset(schedule)
    captured = Window(window.start - offset, window.end - offset)
    # The job's other inputs: the config, the labels (quality), the baseline's folder.
    with_baseline = bool(schedule.baseline_id and schedule.baseline.constraints_uri)
    limit = MAX_IO - 1 - int(quality) - int(with_baseline)
    found = capture_inputs(schedule.endpoint, captured, name="capture", limit=limit)
    captured = found.window
    shown = {"start": iso(captured.start), "end": iso(captured.end)}
    if not found.inputs:
        return _complete_empty(execution, NO_DATA.format(**shown))
    note = CLAMPED.format(**shown, limit=limit) if found.clamped else ""
    inputs = list(found.inputs)
    arguments = ["--start", shown["start"], "--end", shown["end"]]
    if quality:
        labels = _labels_put(schedule, execution, captured)
        if labels is None:
            return _complete_empty(execution, NO_LABELS.format(**shown))
        inputs.append({"name": "ground_truth", "source_uri": labels})
        arguments += ["--problem-type", schedule.problem_type]
    if with_baseline:
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
        # Conditional: the reaper may have restarted (or failed) a row that waited too long; the
        # loser's job is rolled back with this transaction.
        if not MonitoringExecution.objects.filter(
            pk=execution.pk, status=ExecutionStatus.PENDING, job__isnull=True
        ).update(job=job, status=ExecutionStatus.IN_PROGRESS, message=note[:1024]):
            transaction.set_rollback(True)
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
        # The labelled records: with none matched, alerts must see "no data", not "all good".
        fields["record_count"] = _record_count(metrics)
        fields["message"] = _joined(execution.message, metrics.get("message"))
    else:
        drift = json_read(join_uri(folder, "drift.json"))
        fields["drift"] = drift.get("drift", {}) if isinstance(drift.get("drift"), dict) else {}
        fields["record_count"] = int(drift.get("record_count") or 0)
        fields["message"] = _joined(execution.message, drift.get("message"))
        if fields["record_count"]:
            fields["statistics"] = json_read(join_uri(folder, "statistics.json"))
    fields["status"] = ExecutionStatus.COMPLETED_WITH_VIOLATIONS if violations else ExecutionStatus.COMPLETED
    fields["ended_at"] = timezone.now()
    updated = MonitoringExecution.objects.filter(pk=execution.pk, status__in=ACTIVE).update(**fields)
    if not updated:
        return
    execution.refresh_from_db()
    _alerts_evaluate(execution)


def _joined(note: str, message: object) -> str:
    """The note made at the start (a clamped window) and the runtime's message."""
    return " ".join(part for part in (note, str(message or "")) if part)[:1024]


def _record_count(metrics: dict) -> int:
    """How many records were measured: the ones that matched a label (``matched``)."""
    for key in ("matched", "record_count", "item_count", "count"):
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
    return failed_jobs_reconcile(
        MonitoringExecution,
        executions,
        active=ACTIVE,
        failed=ExecutionStatus.FAILED,
        stopped=ExecutionStatus.STOPPED,
        label="monitoring",
        ended_at=True,
    )


def executions_restart_stuck(*, now: datetime | None = None) -> int:
    """Start the job of each execution left Pending without one for ``STUCK_PENDING`` (its worker
    died between committing the row and creating the job), or fail it with the reason. The row is
    claimed first (a compare-and-swap on ``created_at``), so two reapers do not both start it."""
    now = now or timezone.now()
    stuck = list(
        MonitoringExecution.objects.filter(
            status=ExecutionStatus.PENDING, job__isnull=True, created_at__lt=now - STUCK_PENDING
        ).values_list("pk", "created_at")[:RECONCILE_BATCH]
    )
    restarted = 0
    for pk, created_at in stuck:
        if not MonitoringExecution.objects.filter(
            pk=pk, status=ExecutionStatus.PENDING, job__isnull=True, created_at=created_at
        ).update(created_at=now):
            continue
        execution = MonitoringExecution.objects.select_related(
            "schedule__project", "schedule__endpoint", "schedule__baseline", "schedule__created_by"
        ).get(pk=pk)
        _start_or_fail(execution.schedule, execution, Window(execution.window_start, execution.window_end))
        restarted += 1
    return restarted


def schedule_run_now(*, schedule: MonitoringSchedule) -> MonitoringExecution:
    """ "Run now": the window that ended last (the same execution beat would make for it)."""
    return execution_run(schedule)
