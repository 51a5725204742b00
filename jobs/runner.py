"""The job driver: claims a job, runs it on its backend, and keeps the row up to date.

It is the only code that moves a job through InProgress to a terminal status. Logs go to the
database in batches (a row per flush, not per line), metrics are parsed from each line by the
job's MetricDefinitions, and a heartbeat tells the reaper the worker is alive.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import signal
import socket
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from jobs.backends import BackendError, StopRequested, get_backend
from jobs.models import (
    Backend,
    IllegalTransition,
    Job,
    JobKind,
    JobLogChunk,
    JobMetric,
    JobStatus,
    JobStatusEvent,
    SecondaryStatus,
)
from studio.instance_types import instance_type_get

logger = logging.getLogger(__name__)

REFRESH_WAIT_SECONDS = 0.1
FAILURE_TAIL_CHARS = 900


class MetricParser:
    """Applies ``[{"name", "regex"}]`` to log lines; the first capture group (or the match) is the value."""

    def __init__(self, definitions: list[dict]) -> None:
        self.patterns = [(item["name"], re.compile(item["regex"])) for item in definitions]
        self.steps: dict[str, int] = {}

    def parse(self, line: str) -> list[tuple[str, float, int]]:
        points = []
        for name, pattern in self.patterns:
            match = pattern.search(line)
            if not match:
                continue
            raw = match.group(1) if pattern.groups else match.group(0)
            try:
                value = float(raw)
            except (TypeError, ValueError):
                continue
            if math.isnan(value) or math.isinf(value):
                continue
            step = self.steps.get(name, 0)
            self.steps[name] = step + 1
            points.append((name, value, step))
        return points


class JobRecorder:
    """Buffers a job's log lines and metric points and writes them in batches."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.offset = job.log_size
        self.pending: list[str] = []
        self.points: list[JobMetric] = []
        self.metrics = MetricParser(job.metric_definitions)
        self.tail = ""
        self._partial = ""

    def write(self, text: str) -> None:
        if not text:
            return
        text = self._partial + text
        lines = text.splitlines(keepends=True)
        self._partial = lines.pop() if lines and not lines[-1].endswith(("\n", "\r")) else ""
        now = timezone.now()
        for line in lines:
            self.pending.append(line)
            for name, value, step in self.metrics.parse(line):
                self.points.append(JobMetric(job=self.job, name=name, value=value, step=step, timestamp=now))
        self.tail = (self.tail + "".join(lines))[-4 * FAILURE_TAIL_CHARS :]

    def system(self, message: str) -> None:
        """A line from Studio itself, marked so users can tell it from their script's output."""
        self.write(f"[studio] {message}\n")

    def set_secondary(self, secondary: str, message: str, *, at: datetime | None = None) -> None:
        self.system(message)
        self.flush()
        self.job.set_secondary(secondary, message, at=at)

    def flush(self, *, final: bool = False) -> int:
        """Write what is buffered; returns how many metric points it wrote."""
        if final and self._partial:
            self.write("\n")
        if self.pending:
            text = "".join(self.pending)
            self.pending = []
            # The offset is the row's, read under its lock: two writers (a SageMaker job's chain and
            # one that took over from it) never claim the same place in the log.
            with transaction.atomic():
                start = (
                    Job.objects.select_for_update()
                    .filter(pk=self.job.pk)
                    .values_list("log_size", flat=True)
                    .first()
                )
                if start is None:
                    return 0  # the job is gone
                self.offset = start + len(text)
                JobLogChunk.objects.create(job=self.job, start=start, end=self.offset, text=text)
                Job.objects.filter(pk=self.job.pk).update(log_size=self.offset)
            self.job.log_size = self.offset
        written = len(self.points)
        if self.points:
            JobMetric.objects.bulk_create(self.points)
            self.points = []
        return written

    def failure_tail(self) -> str:
        lines = [line for line in self.tail.splitlines() if line.strip() and not line.startswith("[studio]")]
        return "\n".join(lines)[-FAILURE_TAIL_CHARS:]


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def job_execute(*, job_id: int) -> None:
    """Run one job to a terminal status.

    A job another worker claimed, or one already stopped, is left alone.
    """
    job = Job.objects.select_related("project").filter(pk=job_id).first()
    if job is None:
        logger.info("job vanished before it ran", extra={"job_id": job_id})
        return
    try:
        job.transition(
            JobStatus.IN_PROGRESS,
            secondary=SecondaryStatus.STARTING,
            message=f"Claimed by worker {worker_id()}",
            extra={"worker": worker_id()},
        )
    except IllegalTransition as exc:
        logger.info("job not claimed", extra={"job": job.name, "reason": str(exc)})
        return
    if job.backend == Backend.SAGEMAKER:
        # SageMaker runs it; a chain of short tasks follows it, so no worker waits for it.
        from jobs.backends.sagemaker.driver import sagemaker_follow

        sagemaker_follow(job)
        return
    if job.kind == JobKind.TUNING:
        # A tuning job runs no process of its own: it launches trials and follows them.
        from jobs.tuning import tuning_advance

        tuning_advance(job.pk)
        return
    recorder = JobRecorder(job)
    backend = get_backend(job.backend)
    handle = None
    try:
        handle = backend.submit(job, recorder)
        _supervise(job, backend, handle, recorder)
    except StopRequested as exc:
        recorder.system(str(exc))
        recorder.flush(final=True)
        _finish(job, JobStatus.STOPPED, SecondaryStatus.STOPPED, message=str(exc))
    except (BackendError, OSError) as exc:
        recorder.flush(final=True)
        _finish(job, JobStatus.FAILED, SecondaryStatus.FAILED, failure_reason=str(exc))
    except Exception as exc:
        logger.exception("job driver crashed", extra={"job": job.name})
        recorder.flush(final=True)
        _finish(
            job,
            JobStatus.FAILED,
            SecondaryStatus.FAILED,
            failure_reason=f"Internal error in Studio's job driver: {type(exc).__name__}: {exc}",
        )
        raise
    finally:
        if handle is not None:
            backend.cleanup(handle)
        if job.tuning_job_id:
            _tell_tuning_job(job)


def _tell_tuning_job(job: Job) -> None:
    """A trial ended: its tuning job may launch the next one (the reaper's pass is the safety net)."""
    from jobs.tasks import advance_tuning_job

    try:
        advance_tuning_job.apply_async(args=[job.tuning_job_id])
    except Exception:
        logger.exception("could not reach the broker", extra={"job": job.name})


def _supervise(job: Job, backend, handle, recorder: JobRecorder) -> None:
    deadline = job.started_at + timedelta(seconds=job.max_runtime_seconds)
    stop_cause = ""  # "user", "max-runtime", "early-stop" or "reaped"
    early_stop_reason = ""
    progress_hook = import_string(job.spec["on_progress"]) if job.spec.get("on_progress") else None
    last_check = last_beat = time.monotonic()
    while True:
        state = backend.refresh(handle, wait_seconds=REFRESH_WAIT_SECONDS)
        recorder.write(state.log_text)
        now = time.monotonic()
        if now - last_check >= settings.STUDIO_LOG_FLUSH_SECONDS or state.finished:
            last_check = now
            new_points = recorder.flush(final=state.finished)
            status = Job.objects.filter(pk=job.pk).values_list("status", flat=True).first()
            if status in (JobStatus.FAILED, JobStatus.STOPPED, None) and not state.finished:
                # Someone else ended the job (the reaper, an operator): stop doing work for it.
                backend.stop(handle, grace_seconds=0)
                stop_cause = "reaped"
            elif status == JobStatus.STOPPING and not stop_cause:
                stop_cause = "user"
                recorder.system("Stop requested: sending SIGTERM")
                backend.stop(handle, grace_seconds=settings.STUDIO_STOP_GRACE_SECONDS)
            elif progress_hook is not None and new_points and not stop_cause and not state.finished:
                # e.g. a tuning job's early stopping: the hook names why this run should end now. Its
                # verdict can only change when the job has reported new metric points.
                early_stop_reason = progress_hook(job)
                if early_stop_reason:
                    stop_cause = "early-stop"
                    recorder.system(f"{early_stop_reason}: sending SIGTERM")
                    with contextlib.suppress(IllegalTransition):
                        job.transition(
                            JobStatus.STOPPING, secondary=SecondaryStatus.STOPPING, message=early_stop_reason
                        )
                    backend.stop(handle, grace_seconds=settings.STUDIO_STOP_GRACE_SECONDS)
        if not stop_cause and timezone.now() >= deadline and not state.finished:
            stop_cause = "max-runtime"
            message = f"MaxRuntimeInSeconds ({job.max_runtime_seconds}) reached: sending SIGTERM"
            recorder.system(message)
            # A user's stop may have got there first; the outcome is the same.
            with contextlib.suppress(IllegalTransition):
                job.transition(JobStatus.STOPPING, secondary=SecondaryStatus.STOPPING, message=message)
            backend.stop(handle, grace_seconds=settings.STUDIO_STOP_GRACE_SECONDS)
        if now - last_beat >= settings.STUDIO_HEARTBEAT_SECONDS:
            last_beat = now
            Job.objects.filter(pk=job.pk, status__in=[JobStatus.IN_PROGRESS, JobStatus.STOPPING]).update(
                heartbeat_at=timezone.now()
            )
        if state.finished:
            break
    recorder.flush(final=True)
    job.exit_code = state.exit_code
    if stop_cause == "reaped":
        return
    stopped_outputs = _collect_stopped(job, backend, handle, recorder) if stop_cause else {}
    if stop_cause == "max-runtime":
        _finish(
            job,
            JobStatus.STOPPED,
            SecondaryStatus.MAX_RUNTIME_EXCEEDED,
            message=f"Stopped after MaxRuntimeInSeconds ({job.max_runtime_seconds})",
            failure_reason=(
                f"MaxRuntimeExceeded: the job ran longer than its MaxRuntimeInSeconds "
                f"({job.max_runtime_seconds} s) and was stopped."
            ),
            extra=stopped_outputs,
        )
    elif stop_cause == "early-stop":
        _finish(
            job,
            JobStatus.STOPPED,
            SecondaryStatus.STOPPED,
            message=early_stop_reason,
            failure_reason=early_stop_reason,
            extra=stopped_outputs,
        )
    elif stop_cause == "user":
        _finish(
            job,
            JobStatus.STOPPED,
            SecondaryStatus.STOPPED,
            message="Stopped on request",
            extra=stopped_outputs,
        )
    elif state.exit_code == 0:
        outputs = backend.collect(handle, recorder)
        job.outputs = outputs
        _run_completion_hook(job, recorder)
        recorder.flush(final=True)
        _finish(
            job,
            JobStatus.COMPLETED,
            SecondaryStatus.COMPLETED,
            message="Job completed",
            extra={"outputs": outputs},
        )
    else:
        reason = state.failure_reason or _exit_reason(job, state.exit_code, recorder.failure_tail())
        _finish(job, JobStatus.FAILED, SecondaryStatus.FAILED, failure_reason=reason)


def _collect_stopped(job: Job, backend, handle, recorder: JobRecorder) -> dict:
    """A stopped training job keeps what it saved, as on SageMaker (model.tar.gz after SIGTERM)."""
    if job.kind != JobKind.TRAINING:
        return {}
    try:
        outputs = backend.collect(handle, recorder)
    except (BackendError, OSError) as exc:
        recorder.system(f"Could not keep the stopped job's model: {exc}")
        return {}
    finally:
        recorder.flush(final=True)
    job.outputs = outputs
    return {"outputs": outputs}


OUT_OF_MEMORY_SIGNS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")


def _exit_reason(job: Job, exit_code: int | None, tail: str) -> str:
    """Why a process failed, in a user's words: out of memory, or the exit code and its last output."""
    last_output = f". Last output:\n{tail}" if tail else ""
    if exit_code == -signal.SIGKILL or any(sign in tail for sign in OUT_OF_MEMORY_SIGNS):
        memory = instance_type_get(job.instance_type).memory_gib
        return (
            f"OutOfMemory: the process ran out of memory ({job.instance_type} allows {memory} GiB); "
            f"use a larger instance type or less data per batch{last_output}"
        )[:1024]
    return f"AlgorithmError: the script exited with code {exit_code}{last_output}"


def _run_completion_hook(job: Job, recorder: JobRecorder) -> None:
    """Let the app that asked for a built-in job record what it made, before the job is Completed.

    A hook that fails fails the job, with its error as the reason: what the job made is recorded
    whole or not at all.
    """
    hook = job.spec.get("on_complete")
    if not hook:
        return
    recorder.system("Recording the results")
    try:
        import_string(hook)(job)
    except Exception as exc:
        logger.exception("completion hook failed", extra={"job": job.name, "hook": hook})
        raise BackendError(f"Could not record the results: {exc}") from exc


def _finish(
    job: Job,
    status: str,
    secondary: str,
    *,
    message: str = "",
    failure_reason: str = "",
    extra: dict | None = None,
) -> None:
    fields = {"exit_code": job.exit_code, **(extra or {})}
    try:
        job.transition(
            status,
            secondary=secondary,
            message=message or failure_reason[:200],
            failure_reason=failure_reason,
            extra=fields,
        )
    except IllegalTransition as exc:
        # The row moved on without us (reaped, or stopped before it started); it stays as it is.
        logger.warning(
            "job finished after it was ended elsewhere", extra={"job": job.name, "reason": str(exc)}
        )


def jobs_reap() -> dict[str, int]:
    """Fail jobs whose worker stopped sending heartbeats; re-queue jobs no worker has picked up.

    Re-queueing is safe because a worker claims a job with a conditional update: a job delivered
    twice runs once.
    """
    from jobs.services import job_enqueue  # services imports this module

    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.STUDIO_HEARTBEAT_TIMEOUT_SECONDS)
    failed = 0
    # Tuning jobs hold no worker, so they send no heartbeat; they are advanced below instead. Jobs
    # on SageMaker keep running there whatever happens to a worker: they are followed again below.
    stale = (
        Job.objects.filter(
            status__in=[JobStatus.IN_PROGRESS, JobStatus.STOPPING], heartbeat_at__lt=stale_before
        )
        .exclude(kind=JobKind.TUNING)
        .exclude(backend=Backend.SAGEMAKER)
    )
    for job in stale[:500]:
        seconds = int((now - job.heartbeat_at).total_seconds())
        reason = (
            f"The worker running this job ({job.worker or 'unknown'}) stopped sending heartbeats "
            f"{seconds} s ago; it was probably killed or lost its machine."
        )
        try:
            job.transition(
                JobStatus.FAILED, secondary=SecondaryStatus.FAILED, message=reason, failure_reason=reason
            )
            failed += 1
        except IllegalTransition:
            continue
    requeued = 0
    waiting_since = now - timedelta(seconds=settings.STUDIO_PENDING_REQUEUE_SECONDS)
    for job in Job.objects.filter(status=JobStatus.PENDING, queued_at__lt=waiting_since)[:500]:
        if not Job.objects.filter(pk=job.pk, queued_at=job.queued_at).update(queued_at=now):
            continue  # another reaper run re-queued it
        JobStatusEvent.objects.create(
            job=job,
            status=job.status,
            secondary_status=job.secondary_status,
            message="No worker picked the job up yet; queued again",
        )
        job_enqueue(job)
        requeued += 1
    from jobs.backends.sagemaker.driver import sagemaker_jobs_revive
    from jobs.tuning import tuning_advance

    # A step of a SageMaker job's chain waits at most STUDIO_SAGEMAKER_POLL_MAX_SECONDS for the next.
    quiet_before = stale_before - timedelta(seconds=settings.STUDIO_SAGEMAKER_POLL_MAX_SECONDS)
    revived = sagemaker_jobs_revive(quiet_before)
    active_tuning = list(
        Job.objects.filter(kind=JobKind.TUNING, status__in=[JobStatus.IN_PROGRESS, JobStatus.STOPPING])
        .exclude(backend=Backend.SAGEMAKER)
        .values_list("pk", flat=True)[:500]
    )
    for tuning_id in active_tuning:
        try:
            tuning_advance(tuning_id)
        except DatabaseError:
            # One tuning job's trouble must not keep the others waiting; the next pass tries again.
            logger.exception("tuning job could not advance", extra={"job_id": tuning_id})
    return {
        "failed": failed,
        "requeued": requeued,
        "tuning_advanced": len(active_tuning),
        "sagemaker_revived": revived,
    }
