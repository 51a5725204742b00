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


class ChannelSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="train, validation, test, or any name (A-Z a-z 0-9 . _ -).")
    source_uri = serializers.CharField(
        help_text="A dataset version (dataset://name/3, dataset://name for the latest) or an artifact URI."
    )
    content_type = serializers.CharField(required=False, allow_blank=True, default="")
    input_mode = serializers.CharField(required=False, default="File", help_text="File, FastFile or Pipe")


class TrainingJobCreateSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=63, help_text="1-63 letters, digits or hyphens; unique in the project."
    )
    algorithm = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="A built-in algorithm (see /api/v1/algorithms/).",
    )
    source = serializers.FileField(
        required=False, help_text="Your code: a .py file or a source archive (.tar.gz, .zip) (multipart)."
    )
    source_uri = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Or your code already in the artifact store."
    )
    entry_point = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="The script in the archive to run."
    )
    channels = _ListOfObjects(
        required=False, default=list, help_text='[{"name": "train", "source_uri": "dataset://iris/1"}]'
    )
    hyperparameters = JSONValueField(expect=dict, required=False, default=dict)
    instance_type = serializers.CharField(required=False, default="ml.m5.large")
    instance_count = serializers.IntegerField(required=False, default=1)
    max_runtime_seconds = serializers.IntegerField(required=False, allow_null=True, default=None)
    metric_definitions = _ListOfObjects(
        required=False, default=list, help_text='[{"name": "...", "regex": "..."}] (your code only)'
    )
    checkpoint_uri = serializers.CharField(required=False, allow_blank=True, default="")
    environment = JSONValueField(expect=dict, required=False, default=dict)
    tags = JSONValueField(expect=dict, required=False, default=dict)
    client_token = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")

    def validate_channels(self, channels: list[dict]) -> list[dict]:
        checked = ChannelSerializer(data=channels, many=True)
        if not checked.is_valid():
            problems = [
                f"channel {index + 1}: {field}: {' '.join(map(str, messages))}"
                for index, errors in enumerate(checked.errors)
                for field, messages in errors.items()
            ]
            raise serializers.ValidationError(problems)
        return [dict(item) for item in checked.validated_data]

    def service_arguments(self) -> dict:
        """The validated request as keyword arguments of ``training_job_create``."""
        data = dict(self.validated_data)
        upload = data.pop("source", None)
        if upload is not None:
            data["source_file"] = upload
            data["source_filename"] = upload.name
        data["client_token"] = data["client_token"] or None
        return data


class TrainingJobSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    project = serializers.SlugRelatedField(slug_field="name", read_only=True)
    algorithm = serializers.SerializerMethodField()
    code = serializers.SerializerMethodField()
    channels = serializers.JSONField(source="spec.channels")
    hyperparameters = serializers.JSONField(source="spec.hyperparameters")
    environment = serializers.JSONField(source="spec.environment")
    checkpoint_uri = serializers.SerializerMethodField()
    model_artifact = serializers.SerializerMethodField()
    tuning_job = serializers.SlugRelatedField(slug_field="name", read_only=True)
    duration_seconds = serializers.FloatField(read_only=True)

    class Meta:
        model = Job
        fields = [
            "name",
            "uuid",
            "project",
            "status",
            "secondary_status",
            "failure_reason",
            "exit_code",
            "algorithm",
            "code",
            "channels",
            "hyperparameters",
            "instance_type",
            "instance_count",
            "max_runtime_seconds",
            "metric_definitions",
            "checkpoint_uri",
            "environment",
            "tags",
            "backend",
            "tuning_job",
            "created_by",
            "created_at",
            "started_at",
            "ended_at",
            "duration_seconds",
            "model_artifact",
            "outputs",
            "log_size",
        ]

    def get_algorithm(self, job: Job) -> str | None:
        return (job.spec.get("algorithm") or {}).get("name")

    def get_code(self, job: Job) -> dict | None:
        return job.spec.get("code")

    def get_checkpoint_uri(self, job: Job) -> str:
        return job.spec.get("checkpoint_uri", "")

    def get_model_artifact(self, job: Job) -> dict | None:
        """SageMaker's ModelArtifacts: the model.tar.gz and its SHA-256, once the job completed."""
        return next((item for item in job.outputs if item.get("name") == "model"), None)


class TrainingJobDetailSerializer(TrainingJobSerializer):
    status_history = JobEventSerializer(source="events", many=True, read_only=True)
    final_metrics = serializers.SerializerMethodField()
    has_evaluation = serializers.SerializerMethodField()

    class Meta(TrainingJobSerializer.Meta):
        fields = [
            *TrainingJobSerializer.Meta.fields,
            "heartbeat_at",
            "worker",
            "status_history",
            "final_metrics",
            "has_evaluation",
        ]

    def get_final_metrics(self, job: Job) -> list[dict]:
        return self.context.get("final_metrics", [])

    def get_has_evaluation(self, job: Job) -> bool:
        return hasattr(job, "evaluation")
