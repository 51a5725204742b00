"""Processing-job API shapes: the create request, and a job in a list and in detail."""

from __future__ import annotations

from rest_framework import serializers

from jobs.models import Job
from jobs.serializers.common import (
    JOB_IDENTITY_FIELDS,
    JOB_STATUS_FIELDS,
    JOB_TIME_FIELDS,
    JobCreateSerializer,
    JobHistorySerializer,
    JobModelSerializer,
    ListOfObjects,
    SageMakerFieldMixin,
    backend_field,
    optional_json,
)


class ProcessingJobCreateSerializer(JobCreateSerializer):
    upload_field = "script"  # or script_uri: a .py already stored

    name = serializers.CharField(
        max_length=63, help_text="1-63 letters, digits or hyphens; unique in the project."
    )
    script = serializers.FileField(required=False, help_text="The Python script to run (multipart upload).")
    script_uri = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Or an artifact URI of a .py file in this project.",
    )
    inputs = ListOfObjects(required=False, default=list, help_text='[{"name": "data", "source_uri": "..."}]')
    outputs = ListOfObjects(
        required=False, default=list, help_text='[{"name": "result", "destination_uri": "(optional)"}]'
    )
    arguments = optional_json(list)
    environment = optional_json(dict)
    metric_definitions = ListOfObjects(
        required=False, default=list, help_text='[{"name": "...", "regex": "..."}]'
    )
    instance_type = serializers.CharField(required=False, default="ml.m5.large")
    instance_count = serializers.IntegerField(required=False, default=1)
    max_runtime_seconds = serializers.IntegerField(required=False, allow_null=True, default=None)
    backend = backend_field()
    client_token = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")


class JobSerializer(JobModelSerializer):
    script = serializers.SerializerMethodField()
    entrypoint = serializers.SerializerMethodField()
    inputs = serializers.JSONField(source="spec.inputs")
    output_config = serializers.JSONField(source="spec.outputs")
    arguments = serializers.JSONField(source="spec.arguments")
    environment = serializers.JSONField(source="spec.environment")

    class Meta:
        model = Job
        fields = [
            *JOB_IDENTITY_FIELDS,
            "kind",
            *JOB_STATUS_FIELDS,
            "exit_code",
            "instance_type",
            "instance_count",
            "max_runtime_seconds",
            "backend",
            "created_by",
            *JOB_TIME_FIELDS,
            "script",
            "entrypoint",
            "inputs",
            "output_config",
            "arguments",
            "environment",
            "metric_definitions",
            "outputs",
            "log_size",
        ]

    def get_script(self, job: Job) -> dict | None:
        """The user's script; None for Studio's own jobs, which name an ``entrypoint`` instead."""
        return job.spec.get("script")

    def get_entrypoint(self, job: Job) -> dict | None:
        return job.spec.get("entrypoint")


class JobDetailSerializer(JobSerializer, JobHistorySerializer, SageMakerFieldMixin):
    class Meta(JobSerializer.Meta):
        fields = [
            *JobSerializer.Meta.fields,
            "sagemaker",
            "heartbeat_at",
            "worker",
            "status_history",
            "final_metrics",
        ]
