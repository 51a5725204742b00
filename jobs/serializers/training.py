"""Training-job API shapes: the create request with its channels, and a job in a list and in detail."""

from __future__ import annotations

from rest_framework import serializers

from jobs.backends.sagemaker.images import FRAMEWORKS, definition_framework
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

FRAMEWORK_HELP = (
    "Your code on the sagemaker backend: the framework container it runs in, "
    f"{', '.join(FRAMEWORKS)} (default sklearn). The local backend runs your code in Studio's own "
    "Python environment and ignores it; a built-in takes none."
)
FRAMEWORK_VERSION_HELP = (
    "The framework's version; empty: the newest offered ("
    + "; ".join(f"{name} {framework.offered()}" for name, framework in FRAMEWORKS.items())
    + ")."
)


class ChannelSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="train, validation, test, or any name (A-Z a-z 0-9 . _ -).")
    source_uri = serializers.CharField(
        help_text="A dataset version (dataset://name/3, dataset://name for the latest) or an artifact URI."
    )
    content_type = serializers.CharField(required=False, allow_blank=True, default="")
    input_mode = serializers.CharField(required=False, default="File", help_text="File, FastFile or Pipe")


class TrainingJobCreateSerializer(JobCreateSerializer):
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
    framework = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=32, help_text=FRAMEWORK_HELP
    )
    framework_version = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=32, help_text=FRAMEWORK_VERSION_HELP
    )
    channels = ListOfObjects(
        required=False, default=list, help_text='[{"name": "train", "source_uri": "dataset://iris/1"}]'
    )
    hyperparameters = optional_json(dict)
    instance_type = serializers.CharField(required=False, default="ml.m5.large")
    instance_count = serializers.IntegerField(required=False, default=1)
    max_runtime_seconds = serializers.IntegerField(required=False, allow_null=True, default=None)
    metric_definitions = ListOfObjects(
        required=False, default=list, help_text='[{"name": "...", "regex": "..."}] (your code only)'
    )
    checkpoint_uri = serializers.CharField(required=False, allow_blank=True, default="")
    environment = optional_json(dict)
    tags = optional_json(dict)
    backend = backend_field()
    managed_spot = serializers.BooleanField(
        required=False, default=False, help_text="SageMaker only: train on spare (spot) capacity."
    )
    max_wait_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        help_text="With managed_spot: how long to wait for spot capacity and run (≥ max_runtime_seconds).",
    )
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


class TrainingJobSerializer(JobModelSerializer):
    algorithm = serializers.SerializerMethodField()
    code = serializers.SerializerMethodField()
    framework = serializers.SerializerMethodField()
    framework_version = serializers.SerializerMethodField()
    channels = serializers.JSONField(source="spec.channels")
    hyperparameters = serializers.JSONField(source="spec.hyperparameters")
    environment = serializers.JSONField(source="spec.environment")
    checkpoint_uri = serializers.SerializerMethodField()
    managed_spot = serializers.SerializerMethodField()
    max_wait_seconds = serializers.SerializerMethodField()
    model_artifact = serializers.SerializerMethodField()
    tuning_job = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = Job
        fields = [
            *JOB_IDENTITY_FIELDS,
            *JOB_STATUS_FIELDS,
            "exit_code",
            "algorithm",
            "code",
            "framework",
            "framework_version",
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
            "managed_spot",
            "max_wait_seconds",
            "tuning_job",
            "created_by",
            *JOB_TIME_FIELDS,
            "model_artifact",
            "outputs",
            "log_size",
        ]

    def get_algorithm(self, job: Job) -> str | None:
        return (job.spec.get("algorithm") or {}).get("name")

    def get_code(self, job: Job) -> dict | None:
        return job.spec.get("code")

    def get_framework(self, job: Job) -> str | None:
        return definition_framework(job.spec)[0]

    def get_framework_version(self, job: Job) -> str | None:
        return definition_framework(job.spec)[1]

    def get_checkpoint_uri(self, job: Job) -> str:
        return job.spec.get("checkpoint_uri", "")

    def get_managed_spot(self, job: Job) -> bool:
        return bool(job.spec.get("managed_spot", False))

    def get_max_wait_seconds(self, job: Job) -> int | None:
        return job.spec.get("max_wait_seconds")

    def get_model_artifact(self, job: Job) -> dict | None:
        """SageMaker's ModelArtifacts: the model.tar.gz and its SHA-256, once the job completed."""
        return next((item for item in job.outputs if item.get("name") == "model"), None)


class TrainingJobDetailSerializer(TrainingJobSerializer, JobHistorySerializer, SageMakerFieldMixin):
    has_evaluation = serializers.SerializerMethodField()

    class Meta(TrainingJobSerializer.Meta):
        fields = [
            *TrainingJobSerializer.Meta.fields,
            "sagemaker",
            "heartbeat_at",
            "worker",
            "status_history",
            "final_metrics",
            "has_evaluation",
        ]

    def get_has_evaluation(self, job: Job) -> bool:
        return hasattr(job, "evaluation")
