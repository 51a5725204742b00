"""Shared fixtures: personas (owner/admin, editor, viewer, outsider, anonymous), a project, API clients."""

from __future__ import annotations

import io
import shutil

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from studio.roles import Role
from studio.services import api_key_create, artifact_upload, membership_set, project_create
from tests.aws_support import aws_project, sagemaker  # noqa: F401 (fixtures: a project on the moto server)
from tests.serving_support import serving  # noqa: F401 (a fixture: real serving processes and gateway)

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _isolated_artifacts(tmp_path, settings):
    """Each test writes artifacts and job directories of its own (file:// mode)."""
    if settings.STUDIO_ARTIFACT_URI.startswith("file://"):
        settings.STUDIO_ARTIFACT_URI = f"file://{tmp_path / 'artifacts'}"
    settings.STUDIO_WORK_DIR = tmp_path / "work"
    yield
    shutil.rmtree(tmp_path / "work", ignore_errors=True)


def make_user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)


@pytest.fixture
def admin_user(db):
    return make_user("alice")


@pytest.fixture
def project(admin_user):
    return project_create(name="vision", user=admin_user, description="Test project")


@pytest.fixture
def editor_user(project, admin_user):
    user = make_user("erin")
    membership_set(project=project, user=user, role=Role.EDITOR, actor=admin_user)
    return user


@pytest.fixture
def viewer_user(project, admin_user):
    user = make_user("victor")
    membership_set(project=project, user=user, role=Role.VIEWER, actor=admin_user)
    return user


@pytest.fixture
def outsider_user(db, admin_user):
    """Admin of another project, member of nothing in ``project``."""
    user = make_user("oscar")
    project_create(name="other", user=user)
    return user


@pytest.fixture
def personas(admin_user, editor_user, viewer_user, outsider_user):
    return {"admin": admin_user, "editor": editor_user, "viewer": viewer_user, "outsider": outsider_user}


def api_client_for(user) -> APIClient:
    """A client that authenticates the way programs do: with a Bearer API key."""
    client = APIClient()
    if user is not None:
        _, key = api_key_create(user=user, name="tests")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def api(admin_user):
    return api_client_for(admin_user)


@pytest.fixture
def csv_artifact(project, admin_user):
    rows = "\n".join(f"{i},{i * 2},{i % 3}" for i in range(300))
    return artifact_upload(
        project=project,
        user=admin_user,
        path="data/train.csv",
        stream=io.BytesIO(f"a,b,c\n{rows}\n".encode()),
    )


# (status, secondary status) of a processing job that ran to completion, in order.
COMPLETED_HISTORY = [
    ("Pending", "Starting"),
    ("InProgress", "Starting"),
    ("InProgress", "Downloading"),
    ("InProgress", "Processing"),
    ("InProgress", "Uploading"),
    ("Completed", "Completed"),
]

SCRIPT_OK = b"""import os, sys
print("arguments", sys.argv[1:])
for step in range(3):
    print(f"epoch={step} loss={1.0 / (step + 1):.4f}")
os.makedirs("processing/output/result", exist_ok=True)
with open("processing/output/result/summary.txt", "w") as handle:
    handle.write("rows=" + str(sum(1 for _ in open("processing/input/data/train.csv")) - 1))
"""

SCRIPT_FAIL = b"""print("starting")
raise ValueError("the data has no label column")
"""

SCRIPT_SLEEP = b"""import time
print("sleeping", flush=True)
time.sleep(120)
"""


def processing_request(name: str = "prep-1", script: bytes = SCRIPT_OK, **extra) -> dict:
    """A multipart body for POST processing-jobs/."""
    import json

    body = {
        "name": name,
        "script": _upload("prep.py", script),
        "instance_type": "ml.m5.large",
        "metric_definitions": json.dumps([{"name": "loss", "regex": r"loss=([0-9.]+)"}]),
    }
    body.update(extra)
    return body


def _upload(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="text/x-python")


@pytest.fixture
def uses_s3() -> bool:
    return settings.STUDIO_ARTIFACT_URI.startswith("s3://")


@pytest.fixture(scope="session")
def moto_server():
    """A real S3-compatible server (moto's) on 127.0.0.1, standing in for AWS."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    yield {"endpoint": endpoint, "client": client}
    server.stop()


@pytest.fixture
def s3_store(moto_server, settings, monkeypatch):
    """Points the artifact store at a fresh bucket on the moto server."""
    import uuid

    from studio.artifacts import _s3_client

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    bucket = f"studio-{uuid.uuid4().hex[:12]}"
    moto_server["client"].create_bucket(Bucket=bucket)
    settings.AWS_ENDPOINT_URL = moto_server["endpoint"]
    settings.STUDIO_ARTIFACT_URI = f"s3://{bucket}/studio"
    _s3_client.cache_clear()
    yield {"bucket": bucket, "root": settings.STUDIO_ARTIFACT_URI, **moto_server}
    _s3_client.cache_clear()
