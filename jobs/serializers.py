from __future__ import annotations

import json

from rest_framework import serializers

from jobs.models import Job, JobStatusEvent


class JSONValueField(serializers.JSONField):
    """JSON in a JSON body, or a JSON string in a multipart form (where nested values cannot go)."""

    def __init__(self, *, expect: type, **kwargs) -> None:
        self.expect = expect
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = json.loads(data) if data.strip() else self.expect()
            except json.JSONDecodeError as exc:
                raise serializers.ValidationError(f"Not valid JSON: {exc.msg}.") from exc
        if not isinstance(data, self.expect):
            raise serializers.ValidationError(
                f"Expected a JSON {'list' if self.expect is list else 'object'}."
            )
        return data


class _ListOfObjects(JSONValueField):
    def __init__(self, **kwargs) -> None:
        super().__init__(expect=list, **kwargs)

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        if any(not isinstance(item, dict) for item in data):
            raise serializers.ValidationError("Each item must be a JSON object.")
        return data


class ProcessingJobCreateSerializer(serializers.Serializer):
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
    inputs = _ListOfObjects(required=False, default=list, help_text='[{"name": "data", "source_uri": "..."}]')
    outputs = _ListOfObjects(
        required=False, default=list, help_text='[{"name": "result", "destination_uri": "(optional)"}]'
    )
    arguments = JSONValueField(expect=list, required=False, default=list)
    environment = JSONValueField(expect=dict, required=False, default=dict)
    metric_definitions = _ListOfObjects(
        required=False, default=list, help_text='[{"name": "...", "regex": "..."}]'
    )
    instance_type = serializers.CharField(required=False, default="ml.m5.large")
    instance_count = serializers.IntegerField(required=False, default=1)
    max_runtime_seconds = serializers.IntegerField(required=False, allow_null=True, default=None)
    client_token = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")

    def service_arguments(self) -> dict:
        """The validated request as keyword arguments of ``processing_job_create``."""
        data = dict(self.validated_data)
        upload = data.pop("script", None)
        if upload is not None:
            data["script_file"] = upload
            data["script_filename"] = upload.name
        data["client_token"] = data["client_token"] or None
        return data


class JobEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobStatusEvent
        fields = ["status", "secondary_status", "message", "created_at"]


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    project = serializers.SlugRelatedField(slug_field="name", read_only=True)
    script = serializers.SerializerMethodField()
    entrypoint = serializers.SerializerMethodField()
    inputs = serializers.JSONField(source="spec.inputs")
    output_config = serializers.JSONField(source="spec.outputs")
    arguments = serializers.JSONField(source="spec.arguments")
    environment = serializers.JSONField(source="spec.environment")
    duration_seconds = serializers.FloatField(read_only=True)

    class Meta:
        model = Job
        fields = [
            "name",
            "uuid",
            "project",
            "kind",
            "status",
            "secondary_status",
            "failure_reason",
            "exit_code",
            "instance_type",
            "instance_count",
            "max_runtime_seconds",
            "backend",
            "created_by",
            "created_at",
            "started_at",
            "ended_at",
            "duration_seconds",
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


class JobDetailSerializer(JobSerializer):
    status_history = JobEventSerializer(source="events", many=True, read_only=True)
    final_metrics = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "heartbeat_at", "worker", "status_history", "final_metrics"]

    def get_final_metrics(self, job: Job) -> list[dict]:
        return self.context.get("final_metrics", [])


class JobLogSerializer(serializers.Serializer):
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField()
    text = serializers.CharField()
    complete = serializers.BooleanField()
