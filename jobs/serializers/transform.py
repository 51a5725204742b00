"""Batch transform job API shapes: the create request, and a job in a list and in detail."""

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
    SageMakerFieldMixin,
    backend_field,
    optional_json,
)


def _optional_text(help_text: str, default: str = "") -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_blank=True, allow_null=True, default=default, help_text=help_text
    )


class TransformJobCreateSerializer(JobCreateSerializer):
    name = serializers.CharField(
        max_length=63, help_text="1-63 letters, digits or hyphens; unique in the project."
    )
    model = serializers.CharField(max_length=63, help_text="The name of a model of this project.")
    input_uri = serializers.CharField(
        help_text="A dataset version (dataset://name/3, dataset://name for the latest), or an artifact URI "
        "of a file or a prefix of files: each <path> gives <output_uri>/<path>.out."
    )
    content_type = _optional_text("The input's media type, sent to the model (text/csv, application/json…).")
    split_type = _optional_text("None (a file is one record) or Line.", "None")
    compression = _optional_text("None or Gzip.", "None")
    batch_strategy = _optional_text(
        "SingleRecord or MultiRecord (several lines per payload; needs split_type Line). "
        "Default: MultiRecord with split_type Line, else SingleRecord."
    )
    max_payload_mb = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="1-100 MB per payload (default 6)."
    )
    max_concurrent_transforms = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Worker processes (default: the instance type's CPUs); x max_payload_mb ≤ 100.",
    )
    accept = _optional_text("The media type of the model's answers (default: the model's own).")
    assemble_with = _optional_text("None (answers concatenated) or Line (one line per record).", "None")
    output_uri = _optional_text(
        "Where the .out files go (default <project>/transform-jobs/<name>/output), in this project."
    )
    input_filter = _optional_text("A JSONPath ($, $[1:], $.features…) applied to each record.", "$")
    output_filter = _optional_text("A JSONPath applied to each (joined) output record.", "$")
    join_source = _optional_text("None or Input (join each input record with its output).", "None")
    instance_type = serializers.CharField(required=False, default="ml.m5.large")
    instance_count = serializers.IntegerField(required=False, default=1)
    max_runtime_seconds = serializers.IntegerField(required=False, allow_null=True, default=None)
    environment = optional_json(dict)
    tags = optional_json(dict)
    backend = backend_field()
    client_token = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")

    def service_arguments(self) -> dict:
        data = dict(self.validated_data)
        for key in ("input_filter", "output_filter"):
            data[key] = data[key] or "$"
        for key in ("content_type", "accept", "output_uri"):
            data[key] = data[key] or ""
        data["client_token"] = data["client_token"] or None
        return data


class TransformJobSerializer(JobModelSerializer):
    model_name = serializers.CharField(source="spec.model.name")
    transform_input = serializers.SerializerMethodField()
    transform_output = serializers.SerializerMethodField()
    batch_strategy = serializers.CharField(source="spec.batch_strategy")
    max_payload_mb = serializers.IntegerField(source="spec.max_payload_mb")
    max_concurrent_transforms = serializers.IntegerField(
        source="spec.max_concurrent_transforms", allow_null=True
    )
    data_processing = serializers.JSONField(source="spec.data_processing")
    environment = serializers.JSONField(source="spec.environment")

    class Meta:
        model = Job
        fields = [
            *JOB_IDENTITY_FIELDS,
            *JOB_STATUS_FIELDS,
            "exit_code",
            "model_name",
            "transform_input",
            "transform_output",
            "batch_strategy",
            "max_payload_mb",
            "max_concurrent_transforms",
            "data_processing",
            "environment",
            "instance_type",
            "instance_count",
            "max_runtime_seconds",
            "tags",
            "backend",
            "created_by",
            *JOB_TIME_FIELDS,
            "outputs",
            "log_size",
        ]

    def get_transform_input(self, job: Job) -> dict:
        """SageMaker's TransformInput: the data, its content type, split and compression."""
        data = job.spec["input"]
        return {
            "source_uri": data["source_uri"],
            "dataset": data.get("dataset"),
            "version": data.get("version"),
            "content_type": data["content_type"],
            "split_type": data["split_type"],
            "compression_type": data["compression"],
        }

    def get_transform_output(self, job: Job) -> dict:
        """SageMaker's TransformOutput: where the .out files go, their Accept and AssembleWith."""
        output = job.spec["output"]
        return {
            "output_uri": output["uri"],
            "accept": output["accept"],
            "assemble_with": output["assemble_with"],
        }


class TransformJobDetailSerializer(TransformJobSerializer, JobHistorySerializer, SageMakerFieldMixin):
    model = serializers.JSONField(source="spec.model")

    class Meta(TransformJobSerializer.Meta):
        fields = [
            *TransformJobSerializer.Meta.fields,
            "model",
            "sagemaker",
            "heartbeat_at",
            "worker",
            "status_history",
            "final_metrics",
        ]
