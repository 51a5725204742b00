"""A project wired to the moto server: its own bucket, an execution role, a stored access key.

Nothing here reaches AWS: every client the project's settings make points at moto on 127.0.0.1.
"""

from __future__ import annotations

import uuid

import boto3
import pytest

from cloud.crypto import secret_encrypt
from cloud.models import AwsSettings

ROLE_ARN = "arn:aws:iam::123456789012:role/studio-sagemaker"


def moto_client(moto_server: dict, service: str):
    return boto3.client(
        service,
        endpoint_url=moto_server["endpoint"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def aws_project(project, moto_server, monkeypatch):
    """``project`` with AWS settings pointing at moto: returns the settings row."""
    bucket = f"sm-{uuid.uuid4().hex[:12]}"
    moto_server["client"].create_bucket(Bucket=bucket)
    return AwsSettings.objects.create(
        project=project,
        region="us-east-1",
        role_arn=ROLE_ARN,
        bucket=bucket,
        prefix="studio",
        endpoint_url=moto_server["endpoint"],
        access_key_id="testing",
        secret_access_key_encrypted=secret_encrypt("testing"),
    )


@pytest.fixture
def sagemaker(moto_server):
    """A SageMaker client on the moto server, to read back what Studio sent."""
    return moto_client(moto_server, "sagemaker")
