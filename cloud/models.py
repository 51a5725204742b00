"""A project's AWS settings: where its `sagemaker` jobs, models and endpoints run.

Credentials come from boto3's standard chain (environment, profile, instance role) unless the
project stores an access key; the secret half is kept encrypted (see ``cloud.crypto``) and is
never shown again.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from studio.models import Project


class AwsSettings(models.Model):
    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="aws_settings")
    region = models.CharField(max_length=32, default="us-east-1")
    role_arn = models.CharField(max_length=2048, blank=True, help_text="SageMaker execution role")
    bucket = models.CharField(max_length=63, blank=True, help_text="S3 bucket for data, code and models")
    prefix = models.CharField(max_length=512, blank=True, default="studio")
    # One URL for every AWS service (moto, LocalStack), and/or one for S3 alone (an S3-compatible store).
    endpoint_url = models.CharField(max_length=512, blank=True)
    s3_endpoint_url = models.CharField(max_length=512, blank=True)
    vpc_subnets = models.JSONField(default=list, blank=True)
    vpc_security_group_ids = models.JSONField(default=list, blank=True)
    kms_key_id = models.CharField(max_length=2048, blank=True)
    access_key_id = models.CharField(max_length=128, blank=True)
    secret_access_key_encrypted = models.TextField(blank=True)
    # What the last "check connection" found: [{"service", "ok", "detail"}].
    last_check = models.JSONField(default=list, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "AWS settings"
        verbose_name_plural = "AWS settings"

    def __str__(self) -> str:
        return f"AWS settings of {self.project}"

    @property
    def has_stored_keys(self) -> bool:
        return bool(self.access_key_id and self.secret_access_key_encrypted)

    @property
    def is_ready(self) -> bool:
        """Enough to send jobs: a role for SageMaker to assume and a bucket for their files."""
        return bool(self.role_arn and self.bucket)

    @property
    def s3_root(self) -> str:
        """``s3://bucket/prefix/<project>``: everything Studio puts in S3 for this project."""
        parts = [self.bucket, self.prefix.strip("/"), self.project.name]
        return "s3://" + "/".join(part for part in parts if part)
