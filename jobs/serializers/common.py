"""What the job API shapes share: JSON values that also come as strings in multipart forms, the
fields every job's description has, the status history, the log, and the service arguments of a
create request.

The base classes here have comments, not docstrings: drf-spectacular would describe every
subclass with a base class's docstring.
"""

from __future__ import annotations

import json

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobs.models import Backend, Job, JobStatusEvent
from jobs.selectors import job_sagemaker_of

# Fields of the descriptions of every job kind, in the order they list them.
JOB_IDENTITY_FIELDS = ["name", "uuid", "project"]
JOB_STATUS_FIELDS = ["status", "secondary_status", "failure_reason"]
JOB_TIME_FIELDS = ["created_at", "started_at", "ended_at", "duration_seconds"]


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


def optional_json(expect: type, **kwargs) -> JSONValueField:
    """An optional JSON list or object (``expect``), empty when left out."""
    return JSONValueField(expect=expect, required=False, default=expect, **kwargs)


class ListOfObjects(JSONValueField):
    def __init__(self, **kwargs) -> None:
        super().__init__(expect=list, **kwargs)

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        if any(not isinstance(item, dict) for item in data):
            raise serializers.ValidationError("Each item must be a JSON object.")
        return data


def backend_field() -> serializers.ChoiceField:
    """The compute backend of a create request: empty for the install's default."""
    return serializers.ChoiceField(
        choices=Backend.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text=(
            "local (this machine) or sagemaker (the project's AWS account; needs its AWS settings). "
            "Empty: the install's default."
        ),
    )


class JobCreateSerializer(serializers.Serializer):
    # A create request whose code may come as a multipart upload in ``upload_field``. Each subclass
    # declares its own ``client_token`` field: a base class's fields would come first in the schema.
    upload_field = "source"

    def service_arguments(self) -> dict:
        """The validated request as keyword arguments of the job kind's create service."""
        data = dict(self.validated_data)
        upload = data.pop(self.upload_field, None)
        if upload is not None:
            data[f"{self.upload_field}_file"] = upload
            data[f"{self.upload_field}_filename"] = upload.name
        data["client_token"] = data["client_token"] or None
        return data


class JobEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobStatusEvent
        fields = ["status", "secondary_status", "message", "created_at"]


class JobLogSerializer(serializers.Serializer):
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField()
    text = serializers.CharField()
    complete = serializers.BooleanField()


class JobModelSerializer(serializers.ModelSerializer):
    # A job's project and creator by name, and how long it ran; each subclass lists its fields.
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    project = serializers.SlugRelatedField(slug_field="name", read_only=True)
    duration_seconds = serializers.FloatField(read_only=True)


class JobHistorySerializer(serializers.Serializer):
    # A detail serializer's status history, and the final metrics the view puts in the context.
    status_history = JobEventSerializer(source="events", many=True, read_only=True)
    final_metrics = serializers.SerializerMethodField()

    def get_final_metrics(self, job: Job) -> list[dict]:
        return self.context.get("final_metrics", [])


class SageMakerJobSerializer(serializers.Serializer):
    """Where a job runs on SageMaker: its name there, its ARN and region once sent."""

    name = serializers.CharField(allow_null=True)
    arn = serializers.CharField(allow_null=True)
    region = serializers.CharField(allow_null=True)
    sent_at = serializers.DateTimeField(allow_null=True)


class SageMakerFieldMixin(serializers.Serializer):
    # A detail serializer's ``sagemaker``: null for a job on this machine.
    sagemaker = serializers.SerializerMethodField()

    @extend_schema_field(SageMakerJobSerializer(allow_null=True))
    def get_sagemaker(self, job: Job) -> dict | None:
        return job_sagemaker_of(job)


class JobCloneSerializer(serializers.Serializer):
    """Run a job again under a new name, on this machine or on SageMaker; nothing else changes."""

    name = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=63,
        help_text="The new job's name. Empty: <name>-<backend>.",
    )
    backend = serializers.ChoiceField(
        choices=Backend.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="local or sagemaker (needs the project's AWS settings). Empty: the job's own backend.",
    )


class SageMakerRequestSerializer(serializers.Serializer):
    """The SageMaker request of a job: the one sent (``sent``), or a dry run that uploads nothing."""

    operation = serializers.CharField(help_text="CreateTrainingJob, CreateProcessingJob, ...")
    request = serializers.JSONField(allow_null=True, help_text="The request's JSON, as boto3 sends it.")
    prerequisites = serializers.ListField(
        child=serializers.JSONField(), help_text='Calls made first: [{"operation": "CreateModel", ...}].'
    )
    sent = serializers.BooleanField()
    error = serializers.CharField(help_text="Why no request could be built (e.g. no AWS settings).")
