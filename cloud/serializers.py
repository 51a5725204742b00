"""The AWS settings in JSON: what a member reads (never the secret) and what an admin may send."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from cloud.models import AwsSettings
from cloud.selectors import masked_access_key
from cloud.services import PLAIN_FIELDS

CHECK_SERVICES = ["settings", "sts", "s3", "sagemaker"]


class AwsCheckItemSerializer(serializers.Serializer):
    service = serializers.ChoiceField(choices=CHECK_SERVICES)
    ok = serializers.BooleanField()
    detail = serializers.CharField(help_text="What worked, or why not, in words")


class AwsSettingsSerializer(serializers.Serializer):
    """Read-only. ``access_key_id`` is masked (AKIA…WXYZ), and shown to project admins only."""

    project = serializers.CharField(source="project.name", read_only=True)
    configured = serializers.SerializerMethodField(help_text="False until the settings are first saved")
    ready = serializers.BooleanField(
        source="is_ready", read_only=True, help_text="Has an execution role and a bucket"
    )
    region = serializers.CharField(read_only=True)
    role_arn = serializers.CharField(read_only=True)
    bucket = serializers.CharField(read_only=True)
    prefix = serializers.CharField(read_only=True)
    s3_root = serializers.SerializerMethodField(help_text="Where the project's files go in S3")
    endpoint_url = serializers.CharField(read_only=True)
    s3_endpoint_url = serializers.CharField(read_only=True)
    vpc_subnets = serializers.ListField(child=serializers.CharField(), read_only=True)
    vpc_security_group_ids = serializers.ListField(child=serializers.CharField(), read_only=True)
    kms_key_id = serializers.CharField(read_only=True)
    access_key_id = serializers.SerializerMethodField()
    has_stored_keys = serializers.BooleanField(read_only=True)
    credentials = serializers.SerializerMethodField(
        help_text="'project-keys': the stored access key; 'default-chain': boto3's (env, profile, role)"
    )
    last_check = AwsCheckItemSerializer(many=True, read_only=True)
    checked_at = serializers.DateTimeField(read_only=True)
    updated_by = serializers.SerializerMethodField(help_text="Who saved the settings last")
    updated_at = serializers.SerializerMethodField()

    def get_configured(self, aws: AwsSettings) -> bool:
        return aws.pk is not None

    def get_s3_root(self, aws: AwsSettings) -> str:
        return aws.s3_root if aws.bucket else ""

    def get_access_key_id(self, aws: AwsSettings) -> str | None:
        if not self.context.get("can_manage") or not aws.has_stored_keys:
            return None
        return masked_access_key(aws.access_key_id)

    def get_credentials(self, aws: AwsSettings) -> str:
        return "project-keys" if aws.has_stored_keys else "default-chain"

    def get_updated_by(self, aws: AwsSettings) -> str | None:
        return aws.updated_by.get_username() if aws.updated_by else None

    def get_updated_at(self, aws: AwsSettings) -> str | None:
        return serializers.DateTimeField().to_representation(aws.updated_at) if aws.pk else None


class AwsSettingsInputSerializer(serializers.Serializer):
    """What an admin sends. The service checks the values; this only checks their types.

    PUT: omitted settings go back to their defaults; PATCH: omitted settings keep their values. Either
    way an empty or omitted access key keeps the stored one; ``clear_keys`` removes it.
    """

    region = serializers.CharField(required=False, allow_blank=True, help_text="e.g. us-east-1")
    role_arn = serializers.CharField(
        required=False, allow_blank=True, help_text="The SageMaker execution role's ARN"
    )
    bucket = serializers.CharField(required=False, allow_blank=True)
    prefix = serializers.CharField(required=False, allow_blank=True, help_text="A path inside the bucket")
    endpoint_url = serializers.CharField(
        required=False, allow_blank=True, help_text="Every AWS service at this URL (moto, LocalStack)"
    )
    s3_endpoint_url = serializers.CharField(
        required=False, allow_blank=True, help_text="S3 alone at this URL (an S3-compatible store)"
    )
    vpc_subnets = serializers.ListField(child=serializers.CharField(), required=False, allow_empty=True)
    vpc_security_group_ids = serializers.ListField(
        child=serializers.CharField(), required=False, allow_empty=True
    )
    kms_key_id = serializers.CharField(required=False, allow_blank=True)
    access_key_id = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Empty, null, omitted or the masked value GET answers: keep the stored key",
    )
    secret_access_key = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        write_only=True,
        style={"input_type": "password"},
        help_text="Stored encrypted and never shown again; empty or omitted: keep the stored one",
    )
    clear_keys = serializers.BooleanField(
        required=False, help_text="Remove the stored access key (boto3's default chain is used then)"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A misspelt setting would otherwise be dropped without a word. The fields of the answer are
        # let through, so a client may send back what it read.
        sent = set(getattr(self.initial_data, "keys", lambda: [])())
        unknown = sent - set(self.fields) - set(AwsSettingsSerializer().fields) - {"csrfmiddlewaretoken"}
        if unknown:
            raise serializers.ValidationError({name: ["Unknown setting."] for name in sorted(unknown)})
        return attrs

    def service_arguments(self, *, replace: bool) -> dict[str, Any]:
        """``replace`` (PUT): settings left out take their defaults."""
        arguments = {
            name: value
            for name, value in self.validated_data.items()
            if value is not None  # only the key pair may be null: "keep the stored one"
        }
        if replace:
            for name in PLAIN_FIELDS:
                arguments.setdefault(name, AwsSettings._meta.get_field(name).get_default())
        return arguments
