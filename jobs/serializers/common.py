"""What the job API shapes share: JSON values that also come as strings in multipart forms, the
fields every job's description has, the status history, the log, and the service arguments of a
create request.

The base classes here have comments, not docstrings: drf-spectacular would describe every
subclass with a base class's docstring.
"""

from __future__ import annotations

import json

from rest_framework import serializers

from jobs.models import Job, JobStatusEvent

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
