"""Inference: models, endpoint configs, endpoints and the serving processes behind them.

The control plane writes what should run (an endpoint's config, a pending config while it updates);
the serving supervisor (``manage.py serve_models``) starts, checks, restarts and drains the serving
processes and moves endpoints through SageMaker's statuses; the invocation gateway reads the ready
instances of each endpoint's current config and routes requests to them.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from jobs.models import Backend
from studio.models import Project, name_validator

MAX_VARIANTS = 10


class ModelSource(models.TextChoices):
    TRAINING_JOB = "TrainingJob"
    UPLOAD = "Upload"


class Model(models.Model):
    """An artifact (``model.tar.gz``, SHA-256 recorded) and the code that answers requests with it."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=63, validators=[name_validator])
    source = models.CharField(max_length=16, choices=ModelSource.choices)
    training_job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="models"
    )
    algorithm = models.CharField(max_length=64, blank=True, help_text="The built-in whose handler serves it")
    artifact_uri = models.CharField(max_length=1024)
    artifact_sha256 = models.CharField(max_length=64)
    artifact_size = models.BigIntegerField()
    # Inference code added beside the artifact (a .py, or an archive unpacked into code/).
    code = models.JSONField(default=dict, blank=True)
    environment = models.JSONField(default=dict, blank=True)
    pickle_files = models.JSONField(
        default=list, blank=True, help_text="Pickled files in an uploaded artifact: loading them runs code"
    )
    trusted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trusted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    client_token = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    request_sha256 = models.CharField(
        max_length=64, blank=True, help_text="What a client_token retry must match"
    )
    tags = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="model_unique_name"),
            models.UniqueConstraint(
                fields=["project", "client_token"],
                condition=models.Q(client_token__isnull=False),
                name="model_unique_client_token",
            ),
        ]
        indexes = [models.Index(fields=["project", "-created_at"], name="model_project_created")]

    def __str__(self) -> str:
        return self.name

    @property
    def needs_trust(self) -> bool:
        """An uploaded pickle runs code when loaded: a project admin must trust it first."""
        return bool(self.pickle_files) and self.trusted_at is None


class EndpointConfig(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="endpoint_configs")
    name = models.CharField(max_length=63, validators=[name_validator])
    # {"enabled", "sampling_percentage", "destination_uri", "capture_input", "capture_output",
    #  "csv_content_types", "json_content_types"}; {} = no capture.
    data_capture = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    client_token = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    request_sha256 = models.CharField(
        max_length=64, blank=True, help_text="What a client_token retry must match"
    )
    tags = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="endpoint_config_unique_name"),
            models.UniqueConstraint(
                fields=["project", "client_token"],
                condition=models.Q(client_token__isnull=False),
                name="endpoint_config_unique_client_token",
            ),
        ]
        indexes = [models.Index(fields=["project", "-created_at"], name="endpoint_config_created")]

    def __str__(self) -> str:
        return self.name

    @property
    def capture_enabled(self) -> bool:
        return bool(self.data_capture.get("enabled"))


class ProductionVariant(models.Model):
    config = models.ForeignKey(EndpointConfig, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=63, validators=[name_validator])
    model = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="variants")
    instance_type = models.CharField(max_length=32)
    instance_count = models.PositiveSmallIntegerField(default=1)
    initial_weight = models.FloatField(default=1.0)
    is_shadow = models.BooleanField(default=False)

    class Meta:
        ordering = ["is_shadow", "id"]
        constraints = [models.UniqueConstraint(fields=["config", "name"], name="variant_unique_name")]

    def __str__(self) -> str:
        return f"{self.config}/{self.name}"


class EndpointStatus(models.TextChoices):
    CREATING = "Creating"
    IN_SERVICE = "InService"
    UPDATING = "Updating"
    DELETING = "Deleting"
    FAILED = "Failed"


class Endpoint(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="endpoints")
    name = models.CharField(max_length=63, validators=[name_validator])
    config = models.ForeignKey(EndpointConfig, on_delete=models.PROTECT, related_name="endpoints")
    pending_config = models.ForeignKey(
        EndpointConfig, null=True, blank=True, on_delete=models.PROTECT, related_name="pending_endpoints"
    )
    status = models.CharField(max_length=16, choices=EndpointStatus.choices, default=EndpointStatus.CREATING)
    failure_reason = models.CharField(max_length=2048, blank=True)
    # The current traffic weight of each production variant of ``config`` (changed without redeploying).
    weights = models.JSONField(default=dict, blank=True)
    # "local": Studio's serving processes; "sagemaker": a SageMaker endpoint in the project's account.
    backend = models.CharField(max_length=32, choices=Backend.choices, default=Backend.LOCAL)
    # The sagemaker backend's side: the names and requests of what was created there, and polling state.
    remote = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    client_token = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    request_sha256 = models.CharField(
        max_length=64, blank=True, help_text="What a client_token retry must match"
    )
    tags = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="endpoint_unique_name"),
            models.UniqueConstraint(
                fields=["project", "client_token"],
                condition=models.Q(client_token__isnull=False),
                name="endpoint_unique_client_token",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="endpoint_project_created"),
            models.Index(fields=["status"], name="endpoint_status"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_serving(self) -> bool:
        return self.status in (EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING)


class EndpointEvent(models.Model):
    """The endpoint's status history, with what happened."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=16, choices=EndpointStatus.choices)
    message = models.CharField(max_length=2048, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.status}"


class InstanceStatus(models.TextChoices):
    STARTING = "Starting"
    READY = "Ready"
    DRAINING = "Draining"


class ServingInstance(models.Model):
    """One serving process of a variant: what the gateway routes to once it is Ready."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="instances")
    config = models.ForeignKey(EndpointConfig, on_delete=models.CASCADE, related_name="+")
    variant = models.CharField(max_length=63)
    index = models.PositiveSmallIntegerField()
    is_shadow = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=InstanceStatus.choices, default=InstanceStatus.STARTING)
    address = models.CharField(max_length=255, blank=True)
    host = models.CharField(max_length=255, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    restarts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["endpoint", "config", "is_shadow", "variant", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "config", "variant", "index"], name="serving_instance_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.endpoint}/{self.variant}#{self.index} ({self.status})"


class ServingHost(models.Model):
    """A running serving supervisor; its heartbeat says endpoints are being looked after."""

    name = models.CharField(max_length=255, unique=True)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class EndpointMetric(models.Model):
    """Per minute, variant and gateway process: what the charts and the metrics API sum up."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="metrics")
    variant = models.CharField(max_length=63)
    minute = models.DateTimeField()
    source = models.CharField(max_length=255, help_text="host:pid of the gateway process that counted")
    invocations = models.PositiveIntegerField(default=0)
    errors_4xx = models.PositiveIntegerField(default=0)
    errors_5xx = models.PositiveIntegerField(default=0)
    model_latency_ms_sum = models.FloatField(default=0)
    model_latency_ms_max = models.FloatField(default=0)
    overhead_latency_ms_sum = models.FloatField(default=0)
    overhead_latency_ms_max = models.FloatField(default=0)
    # Shadow testing, counted on the shadow variant's rows: answers compared with production's.
    shadow_compared = models.PositiveIntegerField(default=0)
    shadow_agreed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["minute"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "variant", "minute", "source"], name="endpoint_metric_unique"
            )
        ]
        indexes = [models.Index(fields=["endpoint", "minute"], name="endpoint_metric_minute")]

    def __str__(self) -> str:
        return f"{self.endpoint}/{self.variant} {self.minute:%Y-%m-%d %H:%M}"
