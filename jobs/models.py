"""Jobs: every long-running thing is a row with SageMaker's status names and a guarded lifecycle.

The row is the truth; the broker only carries the job's id to a worker. Status changes are
compare-and-swap updates (see ``Job.transition``), so two workers, or a worker and a user's stop,
can never both win.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from studio.models import Project, name_validator


class JobStatus(models.TextChoices):
    PENDING = "Pending"  # queued, no worker has claimed it yet
    IN_PROGRESS = "InProgress"
    STOPPING = "Stopping"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"


ACTIVE_STATUSES = frozenset({JobStatus.PENDING, JobStatus.IN_PROGRESS, JobStatus.STOPPING})
TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED})

# The legal moves. Anything else raises IllegalTransition.
TRANSITIONS: dict[str, frozenset[str]] = {
    JobStatus.PENDING: frozenset({JobStatus.IN_PROGRESS, JobStatus.STOPPED, JobStatus.FAILED}),
    JobStatus.IN_PROGRESS: frozenset(
        {JobStatus.STOPPING, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED}
    ),
    JobStatus.STOPPING: frozenset({JobStatus.STOPPED, JobStatus.FAILED, JobStatus.COMPLETED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.STOPPED: frozenset(),
}


def predecessors(status: str) -> frozenset[str]:
    return frozenset(src for src, targets in TRANSITIONS.items() if status in targets)


class SecondaryStatus(models.TextChoices):
    STARTING = "Starting"
    DOWNLOADING = "Downloading"
    PROCESSING = "Processing"
    TRAINING = "Training"
    TRANSFORMING = "Transforming"
    UPLOADING = "Uploading"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"


class JobKind(models.TextChoices):
    PROCESSING = "processing", "Processing job"
    TRAINING = "training", "Training job"
    TUNING = "tuning", "Tuning job"
    TRANSFORM = "transform", "Batch transform job"


class Backend(models.TextChoices):
    LOCAL = "local", "This machine (local)"
    SAGEMAKER = "sagemaker", "Amazon SageMaker"


class IllegalTransition(Exception):
    def __init__(self, job: Job, current: str, target: str) -> None:
        super().__init__(f"Job {job.name} is {current}; it cannot move to {target}.")
        self.current = current
        self.target = target


class Job(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=32, choices=JobKind.choices)
    name = models.CharField(max_length=63, validators=[name_validator])
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
    secondary_status = models.CharField(
        max_length=32, choices=SecondaryStatus.choices, default=SecondaryStatus.STARTING
    )
    failure_reason = models.CharField(max_length=1024, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    backend = models.CharField(max_length=32, choices=Backend.choices, default=Backend.LOCAL)
    # NULL, not "", for "no token": the unique constraint on tokens must ignore jobs without one.
    client_token = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    instance_type = models.CharField(max_length=32)
    instance_count = models.PositiveSmallIntegerField(default=1)
    max_runtime_seconds = models.PositiveIntegerField()
    # The kind-specific request (script, inputs, outputs, arguments, environment), validated by its service.
    spec = models.JSONField(default=dict)
    metric_definitions = models.JSONField(default=list, blank=True)
    # What the job produced: [{"name", "uri", "files", "bytes"}] (training: model and output archives
    # with their "sha256").
    outputs = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    # A training job started by a tuning job is one of its trials.
    tuning_job = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="trials"
    )
    exit_code = models.IntegerField(null=True, blank=True)
    # The sagemaker backend's side: the request sent, the job's ARN, and how far polling has read.
    remote = models.JSONField(default=dict, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="host:pid of the worker running it")
    log_size = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    queued_at = models.DateTimeField(default=timezone.now, help_text="When it was last sent to the workers")
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "kind", "name"], name="job_unique_name"),
            models.UniqueConstraint(
                fields=["project", "kind", "client_token"],
                condition=models.Q(client_token__isnull=False),
                name="job_unique_client_token",
            ),
        ]
        indexes = [
            # The job list of one kind, newest first, stays an index scan at 10,000s of jobs.
            models.Index(fields=["project", "kind", "-created_at"], name="job_project_kind_created"),
            models.Index(fields=["project", "-created_at"], name="job_project_created"),
            # The reaper's scan: active jobs by heartbeat.
            models.Index(
                fields=["status", "heartbeat_at"],
                name="job_active_heartbeat",
                condition=models.Q(status__in=["Pending", "InProgress", "Stopping"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        end = self.ended_at or timezone.now()
        return (end - self.started_at).total_seconds()

    def transition(
        self,
        target: str,
        *,
        secondary: str,
        message: str = "",
        failure_reason: str = "",
        extra: dict | None = None,
    ) -> None:
        """Move to ``target`` if the row's current status allows it, atomically.

        The WHERE clause carries the legal predecessors, so the database decides races; a
        losing caller gets IllegalTransition with the status that beat it.
        """
        now = timezone.now()
        fields: dict = {"status": target, "secondary_status": secondary, "updated_at": now}
        if target == JobStatus.IN_PROGRESS:
            fields["started_at"] = now
            fields["heartbeat_at"] = now
        if target in TERMINAL_STATUSES:
            fields["ended_at"] = now
        if failure_reason:
            fields["failure_reason"] = failure_reason[:1024]
        fields.update(extra or {})
        # One transaction: a reader never sees the new status without its status_history event.
        with transaction.atomic():
            updated = Job.objects.filter(pk=self.pk, status__in=predecessors(target)).update(**fields)
            if not updated:
                current = Job.objects.filter(pk=self.pk).values_list("status", flat=True).first()
                raise IllegalTransition(self, current or "deleted", target)
            JobStatusEvent.objects.create(
                job=self, status=target, secondary_status=secondary, message=message, created_at=now
            )
        for key, value in fields.items():
            setattr(self, key, value)

    def set_secondary(self, secondary: str, message: str = "", *, at: datetime | None = None) -> None:
        """Record a step inside InProgress (Downloading, Processing, Uploading, ...), by default as
        of now; ``at`` when the step happened elsewhere earlier (SageMaker's transition times).

        A job that meanwhile moved on (a stop request set Stopping) keeps the secondary status
        that move gave it.
        """
        now = at or timezone.now()
        with transaction.atomic():
            updated = Job.objects.filter(pk=self.pk, status=JobStatus.IN_PROGRESS).update(
                secondary_status=secondary, updated_at=now
            )
            if not updated:
                return
            JobStatusEvent.objects.create(
                job=self,
                status=JobStatus.IN_PROGRESS,
                secondary_status=secondary,
                message=message,
                created_at=now,
            )
        self.secondary_status = secondary


class JobStatusEvent(models.Model):
    """One row per status or secondary-status change: the job's timeline."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=16, choices=JobStatus.choices)
    secondary_status = models.CharField(max_length=32, choices=SecondaryStatus.choices)
    message = models.CharField(max_length=1024, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.job}: {self.status}/{self.secondary_status}"


class JobLogChunk(models.Model):
    """A batch of log lines. ``start`` is the character offset of its first character in the job's log."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="log_chunks")
    start = models.BigIntegerField()
    end = models.BigIntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["start"]
        constraints = [models.UniqueConstraint(fields=["job", "start"], name="log_chunk_unique_start")]
        indexes = [models.Index(fields=["job", "end"], name="log_chunk_job_end")]

    def __str__(self) -> str:
        return f"{self.job} log [{self.start}:{self.end}]"


class JobMetric(models.Model):
    """One point of a metric's time series."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="metrics")
    name = models.CharField(max_length=255)
    value = models.FloatField()
    step = models.IntegerField()
    timestamp = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "step", "id"]
        indexes = [models.Index(fields=["job", "name", "step"], name="metric_job_name_step")]

    def __str__(self) -> str:
        return f"{self.job} {self.name}[{self.step}]={self.value}"


class JobEvaluation(models.Model):
    """What a built-in algorithm measured on the test (or validation) channel after training.

    ``report`` is the algorithm's ``evaluation.json``: metrics, confusion matrix, ROC and PR
    curves, residuals, feature importances (see jobs.algorithms.evaluation).
    """

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="evaluation")
    problem = models.CharField(max_length=64)
    channel = models.CharField(max_length=64)
    metrics = models.JSONField(default=dict)
    report = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.job} evaluation ({self.problem})"
