"""The demo `make run` seeds: an admin, a project, a small dataset, a processing job that profiled it,
a built-in XGBoost training job that learned from it (with its evaluation), and an endpoint serving
that model (brought up by the serving supervisor once `make run` starts it)."""

from __future__ import annotations

import io
import random
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from endpoints.models import Endpoint, EndpointConfig, Model
from endpoints.services.configs import endpoint_config_create
from endpoints.services.endpoints import endpoint_create
from endpoints.services.models import model_create
from jobs.models import Job, JobKind, JobStatus
from jobs.runner import job_execute
from jobs.services import processing_job_create, training_job_create
from studio.models import Artifact, Project
from studio.services import api_key_create, artifact_upload, project_create

DEMO_USER = "admin"
DEMO_PROJECT = "demo"
DEMO_DATASET_PATH = "datasets/iris-like/train.csv"
DEMO_JOB = "demo-profile-dataset"
DEMO_TRAINING_JOB = "demo-xgboost"
DEMO_ENDPOINT = "demo-xgboost"
# The built-in algorithms' CSV: no header, label first.
DEMO_CHANNELS = {
    "train": "datasets/iris-like-sagemaker/train.csv",
    "validation": "datasets/iris-like-sagemaker/validation.csv",
}

DEMO_SCRIPT = b'''"""Profiles a CSV: row count and per-column mean, as a report and as metrics."""
import csv
import json
import os
import statistics

source = "processing/input/dataset/train.csv"
with open(source, newline="") as handle:
    rows = list(csv.DictReader(handle))
print(f"rows={len(rows)}")
report = {"rows": len(rows), "columns": {}}
for column in rows[0]:
    values = [float(row[column]) for row in rows]
    report["columns"][column] = {"mean": statistics.fmean(values), "stdev": statistics.pstdev(values)}
    print(f"column={column} mean={report['columns'][column]['mean']:.4f}")
os.makedirs("processing/output/report", exist_ok=True)
with open("processing/output/report/profile.json", "w") as handle:
    json.dump(report, handle, indent=2)
print("profile written")
'''


@dataclass
class DemoResult:
    password: str | None
    api_key: str | None
    project: Project
    job: Job
    training_job: Job
    endpoint: Endpoint | None


def _demo_rows(rows: int, seed: int = 7) -> list[tuple[list[str], int]]:
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    drawn = []
    for _ in range(rows):
        label = rng.randrange(3)
        drawn.append(([f"{rng.gauss(4.5 + label, 0.4):.2f}" for _ in range(4)], label))
    return drawn


def _demo_csv(rows: int = 300) -> bytes:
    lines = ["sepal_length,sepal_width,petal_length,petal_width,label"]
    lines += [",".join(features) + f",{label}" for features, label in _demo_rows(rows)]
    return ("\n".join(lines) + "\n").encode()


def _demo_label_first_csv(rows: int, seed: int) -> bytes:
    return (
        "\n".join(f"{label}," + ",".join(features) for features, label in _demo_rows(rows, seed)) + "\n"
    ).encode()


def _demo_training_job(project: Project, user) -> Job:
    job = Job.objects.filter(project=project, kind=JobKind.TRAINING, name=DEMO_TRAINING_JOB).first()
    if job is not None:
        return job
    channels = []
    for seed, (channel, path) in enumerate(DEMO_CHANNELS.items(), start=11):
        stored = Artifact.objects.filter(project=project, uri__endswith=path).first() or artifact_upload(
            project=project,
            user=user,
            path=path,
            stream=io.BytesIO(_demo_label_first_csv(300 if channel == "train" else 100, seed)),
            origin="demo",
        )
        channels.append({"name": channel, "source_uri": stored.uri, "content_type": "text/csv"})
    job, _ = training_job_create(
        project=project,
        user=user,
        name=DEMO_TRAINING_JOB,
        algorithm="xgboost",
        channels=channels,
        hyperparameters={"num_round": 30, "objective": "multi:softprob", "num_class": 3, "max_depth": 3},
        instance_type="ml.m5.large",
    )
    return job


def _demo_endpoint(project: Project, user, training_job: Job) -> Endpoint | None:
    """The trained model deployed, every request captured (the supervisor makes it InService)."""
    endpoint = Endpoint.objects.filter(project=project, name=DEMO_ENDPOINT).first()
    if endpoint is not None or training_job.status != JobStatus.COMPLETED:
        return endpoint
    if not Model.objects.filter(project=project, name=DEMO_ENDPOINT).exists():
        model_create(project=project, user=user, name=DEMO_ENDPOINT, training_job=training_job.name)
    if not EndpointConfig.objects.filter(project=project, name=DEMO_ENDPOINT).exists():
        endpoint_config_create(
            project=project,
            user=user,
            name=DEMO_ENDPOINT,
            variants=[{"name": "main", "model": DEMO_ENDPOINT, "instance_type": "ml.m5.large"}],
            data_capture={"sampling_percentage": 100},
        )
    endpoint, _ = endpoint_create(
        project=project, user=user, name=DEMO_ENDPOINT, endpoint_config=DEMO_ENDPOINT
    )
    return endpoint


def demo_seed() -> DemoResult:
    """Create what is missing; running it again reuses what exists and prints no secrets twice."""
    users = get_user_model().objects
    password = api_key = None
    user = users.filter(username=DEMO_USER).first()
    if user is None:
        password = secrets.token_urlsafe(12)
        user = users.create_superuser(DEMO_USER, email="admin@example.com", password=password)
        _, api_key = api_key_create(user=user, name="demo")
    project = Project.objects.filter(name=DEMO_PROJECT).first() or project_create(
        name=DEMO_PROJECT, user=user, description="A small dataset and a processing job that profiled it."
    )
    dataset = Artifact.objects.filter(project=project, uri__endswith=DEMO_DATASET_PATH).first()
    if dataset is None:
        dataset = artifact_upload(
            project=project, user=user, path=DEMO_DATASET_PATH, stream=io.BytesIO(_demo_csv()), origin="demo"
        )
    job = Job.objects.filter(project=project, kind=JobKind.PROCESSING, name=DEMO_JOB).first()
    if job is None:
        job, _ = processing_job_create(
            project=project,
            user=user,
            name=DEMO_JOB,
            script_file=io.BytesIO(DEMO_SCRIPT),
            script_filename="profile.py",
            inputs=[{"name": "dataset", "source_uri": dataset.uri.rsplit("/", 1)[0]}],
            outputs=[{"name": "report"}],
            instance_type="ml.t3.medium",
            metric_definitions=[{"name": "rows", "regex": r"rows=(\d+)"}],
        )
    training_job = _demo_training_job(project, user)
    for pending in (job, training_job):
        if pending.status == JobStatus.PENDING:
            # Run it here, before the worker starts, so the demo has finished jobs to show.
            job_execute(job_id=pending.pk)
            pending.refresh_from_db()
    return DemoResult(
        password=password,
        api_key=api_key,
        project=project,
        job=job,
        training_job=training_job,
        endpoint=_demo_endpoint(project, user, training_job),
    )
