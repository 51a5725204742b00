"""Datasets: immutable versions with their schema and lineage, uploads in progress, profiles, recipes."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from studio.models import Project, name_validator


class DataFormat(models.TextChoices):
    CSV = "csv", "CSV"
    TSV = "tsv", "TSV"
    PARQUET = "parquet", "Parquet"
    JSONL = "jsonl", "JSON Lines"
    XLSX = "xlsx", "Excel"
    ARCHIVE = "archive", "Archive of files"  # images or text files, for labeling and image training


class ColumnType(models.TextChoices):
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    CATEGORICAL = "categorical"
    TEXT = "text"


class Dataset(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=63, validators=[name_validator])
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="dataset_unique_name")]

    def __str__(self) -> str:
        return self.name


class VersionOrigin(models.TextChoices):
    UPLOAD = "upload", "Uploaded"
    REGISTERED = "registered", "Registered URI (not copied)"
    RECIPE = "recipe", "Recipe output"
    SPLIT = "split", "Split"


class DatasetVersion(models.Model):
    """One immutable version. It is created only once its data is completely stored (whole or not at all)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # The data: one file, or a prefix holding the files (archives, registered prefixes).
    uri = models.CharField(max_length=1024)
    format = models.CharField(max_length=16, choices=DataFormat.choices)
    # Reading options found when sniffing (delimiter, header, encoding, sheet, ...).
    read_options = models.JSONField(default=dict, blank=True)
    content_sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    file_count = models.PositiveIntegerField(default=1)
    row_count = models.BigIntegerField(null=True, blank=True)
    column_count = models.PositiveIntegerField(null=True, blank=True)
    # [{"name": ..., "type": ColumnType}], as inferred and possibly edited by the user.
    schema = models.JSONField(default=list, blank=True)
    origin = models.CharField(max_length=16, choices=VersionOrigin.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    # What produced it: a recipe run or split is a processing job; "role" names the output
    # ("train", "validation", "test", "output").
    job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="dataset_versions"
    )
    recipe = models.ForeignKey(
        "datasets.Recipe", null=True, blank=True, on_delete=models.SET_NULL, related_name="versions"
    )
    role = models.CharField(max_length=32, blank=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="dataset_version_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.number}"


class UploadStatus(models.TextChoices):
    RECEIVING = "receiving"  # chunks arriving; resumable
    INSPECTING = "inspecting"  # complete: being checked, sniffed and copied to the store
    STAGED = "staged"  # complete, sniffed, schema inferred: waiting for the user to confirm
    COMMITTED = "committed"  # became a version
    FAILED = "failed"  # the data did not read (see error); nothing of it is kept
    ABORTED = "aborted"  # cancelled or expired; nothing of it is kept


class Upload(models.Model):
    """A file on its way in: received in chunks (resumable), then sniffed and staged for review."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="uploads")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, blank=True)
    # Reading options the client asked for (encoding, delimiter, header, sheet); sniffing finds the rest.
    options = models.JSONField(default=dict, blank=True)
    total_size = models.BigIntegerField(null=True, blank=True, help_text="Declared by the client, if known")
    received_bytes = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=UploadStatus.choices, default=UploadStatus.RECEIVING)
    # Where the bytes are: a local staging file while receiving; the store URI once staged.
    staging_path = models.CharField(max_length=1024, blank=True)
    staged_uri = models.CharField(max_length=1024, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    # What sniffing found: {"format", "read_options", "schema", "row_count", "column_count", "preview"}.
    inspection = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The version it became, once committed.
    version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="uploads"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "updated_at"], name="upload_status_updated")]

    def __str__(self) -> str:
        return f"{self.filename} ({self.status})"


class Profile(models.Model):
    """A data-quality report of one version, computed by a processing job; its status is the job's."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="profiles")
    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="profile")
    target_column = models.CharField(max_length=255, blank=True)
    # The report (JSON) in the store, written by the job; set by its completion hook.
    report_uri = models.CharField(max_length=1024, blank=True)
    # A few headline figures of the report (rows, columns, warnings, baseline score), for lists
    # that should not open every report: set by the completion hook with report_uri.
    summary = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"profile of {self.version}"

    @property
    def status(self) -> str:
        """The job's status: a profile is Completed once its job completed (and the report was recorded)."""
        return self.job.status

    @property
    def is_terminal(self) -> bool:
        return self.job.is_terminal


class Recipe(models.Model):
    """An ordered list of declarative preparation steps, applied to a dataset's versions."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="recipes")
    name = models.CharField(max_length=63, validators=[name_validator])
    # [{"op": "impute", "columns": [...], "strategy": "mean"}, ..., {"op": "split", ...}]
    steps = models.JSONField(default=list)
    # How outputs are written: {"format": "csv-label-first" | "parquet", "label": "<column>"}.
    output = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="recipe_unique_name")]

    def __str__(self) -> str:
        return f"{self.dataset.name}/{self.name}"
