"""Model Monitor: baselines, schedules on endpoints, their executions, ground truth, drift reports
and alerts. Statuses and file formats are SageMaker Model Monitor's (statistics.json,
constraints.json, constraint_violations.json)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from datasets.models import DatasetVersion
from endpoints.models import Endpoint
from jobs.models import Job
from studio.models import Project, name_validator


class BaselineStatus(models.TextChoices):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"


class Baseline(models.Model):
    """``statistics.json`` and ``constraints.json`` of a dataset version; editing the constraints
    saves a new version of the same name (``parent`` is the one it was edited from)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="baselines")
    name = models.CharField(max_length=63, validators=[name_validator])
    version = models.PositiveIntegerField(default=1)
    dataset_version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="baselines"
    )
    source_uri = models.CharField(max_length=1024, help_text="The data the baseline was computed on")
    # Optional: the column the model predicts (left out of data-quality statistics, used by quality).
    target_column = models.CharField(max_length=255, blank=True)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(
        max_length=16, choices=BaselineStatus.choices, default=BaselineStatus.IN_PROGRESS
    )
    failure_reason = models.CharField(max_length=1024, blank=True)
    statistics = models.JSONField(default=dict, blank=True)
    constraints = models.JSONField(default=dict, blank=True)
    statistics_uri = models.CharField(max_length=1024, blank=True)
    constraints_uri = models.CharField(max_length=1024, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name", "version"], name="baseline_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class MonitoringType(models.TextChoices):
    DATA_QUALITY = "DataQuality"
    MODEL_QUALITY = "ModelQuality"


class ProblemType(models.TextChoices):
    BINARY = "BinaryClassification"
    MULTICLASS = "MulticlassClassification"
    REGRESSION = "Regression"


class ScheduleStatus(models.TextChoices):
    PENDING = "Pending"
    SCHEDULED = "Scheduled"
    STOPPED = "Stopped"
    FAILED = "Failed"


class MonitoringSchedule(models.Model):
    """Runs an execution over the endpoint's captured traffic on a cron schedule."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="monitoring_schedules")
    name = models.CharField(max_length=63, validators=[name_validator])
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="monitoring_schedules")
    monitoring_type = models.CharField(
        max_length=16, choices=MonitoringType.choices, default=MonitoringType.DATA_QUALITY
    )
    baseline = models.ForeignKey(
        Baseline, null=True, blank=True, on_delete=models.PROTECT, related_name="schedules"
    )
    # "hourly", "daily", or a cron expression (five fields, UTC), as the schedule's page shows it.
    schedule_expression = models.CharField(max_length=128, default="hourly")
    status = models.CharField(max_length=16, choices=ScheduleStatus.choices, default=ScheduleStatus.SCHEDULED)
    # Drift tests and their thresholds, per-check switches (data quality); metric thresholds (quality).
    config = models.JSONField(default=dict, blank=True)
    # Model quality: what the captured output holds and how to read it.
    problem_type = models.CharField(max_length=32, choices=ProblemType.choices, blank=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="schedule_unique_name")]

    def __str__(self) -> str:
        return self.name


class ExecutionStatus(models.TextChoices):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    COMPLETED_WITH_VIOLATIONS = "CompletedWithViolations"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


class MonitoringExecution(models.Model):
    """One run of a schedule over the capture window ``[window_start, window_end)``."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    schedule = models.ForeignKey(MonitoringSchedule, on_delete=models.CASCADE, related_name="executions")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=32, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING)
    failure_reason = models.CharField(max_length=1024, blank=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    record_count = models.PositiveIntegerField(default=0)
    # What it found: constraint_violations.json's list, drift scores per feature and test, and for
    # model quality the metrics ({"name": {"value", "standard_deviation"}}).
    violations = models.JSONField(default=list, blank=True)
    drift = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    statistics = models.JSONField(default=dict, blank=True)
    report_uri = models.CharField(max_length=1024, blank=True)
    message = models.CharField(max_length=1024, blank=True, help_text="e.g. no captured data in the window")
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-window_end", "-id"]
        indexes = [models.Index(fields=["schedule", "-window_end"], name="execution_schedule_window")]
        constraints = [
            # A schedule's window runs once, however often beat or a retry asks for it.
            models.UniqueConstraint(fields=["schedule", "window_end"], name="execution_unique_window")
        ]

    def __str__(self) -> str:
        return f"{self.schedule} @ {self.window_end:%Y-%m-%d %H:%M}"


class GroundTruth(models.Model):
    """A label that arrived after the prediction, keyed by the request's inference id (or the
    capture's event id)."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="ground_truth")
    inference_id = models.CharField(max_length=64)
    label = models.CharField(max_length=255)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "inference_id"], name="ground_truth_unique_id")
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.inference_id}={self.label}"


class DriftReport(models.Model):
    """An ad-hoc comparison of two datasets (versions, or a version and a capture window)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="drift_reports")
    reference_uri = models.CharField(max_length=1024)
    reference_label = models.CharField(max_length=255)
    current_uri = models.CharField(max_length=1024)
    current_label = models.CharField(max_length=255)
    config = models.JSONField(default=dict, blank=True)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=32, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING)
    failure_reason = models.CharField(max_length=1024, blank=True)
    drift = models.JSONField(default=dict, blank=True)
    violations = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.reference_label} → {self.current_label}"


class ChannelKind(models.TextChoices):
    EMAIL = "email"
    WEBHOOK = "webhook"


class NotificationChannel(models.Model):
    """Where a project's alerts go: an email address, or a URL that gets a JSON POST (Slack's
    incoming-webhook body: ``{"text": ...}`` plus Studio's fields)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="notification_channels")
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    target = models.CharField(max_length=1024)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "target"]
        constraints = [
            models.UniqueConstraint(fields=["project", "kind", "target"], name="channel_unique_target")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


class AlertStatus(models.TextChoices):
    OPEN = "Open"
    ACKNOWLEDGED = "Acknowledged"
    CLEARED = "Cleared"


class Alert(models.Model):
    """One per schedule, check and feature until it clears: later executions that find the same
    violation count on it instead of raising another."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alerts")
    schedule = models.ForeignKey(MonitoringSchedule, on_delete=models.CASCADE, related_name="alerts")
    check_type = models.CharField(max_length=64)
    feature_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    description = models.CharField(max_length=2048)
    occurrences = models.PositiveIntegerField(default=1)
    first_execution = models.ForeignKey(
        MonitoringExecution, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_execution = models.ForeignKey(
        MonitoringExecution, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "check_type", "feature_name"],
                condition=~models.Q(status="Cleared"),
                name="alert_one_open_per_check",
            )
        ]
        indexes = [models.Index(fields=["project", "status", "-last_seen"], name="alert_project_status")]

    def __str__(self) -> str:
        return f"{self.schedule}: {self.check_type} {self.feature_name}".strip()


class DeliveryStatus(models.TextChoices):
    PENDING = "Pending"
    DELIVERED = "Delivered"
    FAILED = "Failed"


class AlertDelivery(models.Model):
    """One alert sent to one channel: retried with back-off, then recorded as failed."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    payload = models.JSONField(default=dict)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=1024, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.alert} → {self.channel} ({self.status})"
