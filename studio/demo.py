"""The demo `make run` seeds: an admin, a project, a small dataset and one processing job that ran."""

from __future__ import annotations

import io
import random
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from jobs.models import Job, JobKind, JobStatus
from jobs.runner import job_execute
from jobs.services import processing_job_create
from studio.models import Artifact, Project
from studio.services import api_key_create, artifact_upload, project_create

DEMO_USER = "admin"
DEMO_PROJECT = "demo"
DEMO_DATASET_PATH = "datasets/iris-like/train.csv"
DEMO_JOB = "demo-profile-dataset"

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


def _demo_csv(rows: int = 300) -> bytes:
    rng = random.Random(7)  # noqa: S311 - demo data, not security
    lines = ["sepal_length,sepal_width,petal_length,petal_width,label"]
    for _ in range(rows):
        label = rng.randrange(3)
        lines.append(",".join(f"{rng.gauss(4.5 + label, 0.4):.2f}" for _ in range(4)) + f",{label}")
    return ("\n".join(lines) + "\n").encode()


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
    if job.status == JobStatus.PENDING:
        # Run it here, before the worker starts, so the demo has a finished job to show.
        job_execute(job_id=job.pk)
        job.refresh_from_db()
    return DemoResult(password=password, api_key=api_key, project=project, job=job)
