"""boto3 clients for a project's AWS account, with botocore's retries and the project's endpoints."""

from __future__ import annotations

import copy

import boto3
from botocore.config import Config
from django.conf import settings

from cloud.crypto import secret_decrypt
from cloud.models import AwsSettings
from studio.models import Project


class AwsNotConfigured(Exception):
    """The project has no AWS settings, or lacks what the call needs (a role, a bucket)."""


def aws_settings_of(project: Project, *, require_ready: bool = True) -> AwsSettings:
    found = AwsSettings.objects.filter(project=project).select_related("project").first()
    if found is None:
        raise AwsNotConfigured(
            f"Project {project.name} has no AWS settings: set a region, an execution role and an S3 "
            "bucket under Settings → AWS before running on SageMaker."
        )
    if require_ready and not found.is_ready:
        missing = [
            label
            for label, value in (("execution role ARN", found.role_arn), ("S3 bucket", found.bucket))
            if not value
        ]
        raise AwsNotConfigured(f"Project {project.name}'s AWS settings lack the {' and the '.join(missing)}.")
    return found


def in_region(aws: AwsSettings, region: str) -> AwsSettings:
    """``aws`` pointed at ``region`` (where a job or endpoint was sent; the settings may name another
    since), for building clients only: never saved."""
    if not region or region == aws.region:
        return aws
    moved = copy.copy(aws)
    moved.region = region
    return moved


def retry_config(**extra: object) -> Config:
    # "standard" retries throttling (ThrottlingException, 429s) and transient 5xx with jittered back-off.
    return Config(
        retries={"mode": "standard", "max_attempts": settings.STUDIO_AWS_MAX_ATTEMPTS},
        user_agent_extra="studio",
        # AWS_ENDPOINT_URL in the environment points Studio's own artifact store somewhere (MinIO
        # under docker-compose); a project's AWS calls go only where its settings say.
        ignore_configured_endpoint_urls=True,
        **extra,
    )


def aws_session(aws: AwsSettings) -> boto3.session.Session:
    """The project's stored key when it has one, else boto3's standard chain (env, profile, role)."""
    if aws.has_stored_keys:
        return boto3.session.Session(
            aws_access_key_id=aws.access_key_id,
            aws_secret_access_key=secret_decrypt(aws.secret_access_key_encrypted),
            region_name=aws.region,
        )
    return boto3.session.Session(region_name=aws.region)


def aws_client(aws: AwsSettings, service: str, *, config: Config | None = None):
    """A client for ``service`` ("sagemaker", "sagemaker-runtime", "s3", "sts", "logs")."""
    endpoint = (aws.s3_endpoint_url if service == "s3" else "") or aws.endpoint_url or None
    return aws_session(aws).client(service, endpoint_url=endpoint, config=config or retry_config())
