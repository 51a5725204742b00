"""Jobs through the whole stack: the API, the broker, a real Celery worker process, the store.

`make test` runs this file twice: on the embedded default (SQLite, filesystem broker, file://
store) and on the full stack (PostgreSQL, Redis, S3 on moto's server).
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import time

import numpy as np
import pytest

from jobs.models import Job, JobStatus
from jobs.runner import jobs_reap
from jobs.tasks import execute_job
from studio.artifacts import store_for
from studio.services import artifact_upload
from tests.conftest import (
    COMPLETED_HISTORY,
    SCRIPT_FAIL,
    SCRIPT_OK,
    SCRIPT_SLEEP,
    api_client_for,
    processing_request,
)
from tests.workers import WorkerProcess, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def store(request, settings):
    """The S3 store on the full-stack pass, a file:// directory otherwise."""
    if os.environ.get("STUDIO_TEST_S3"):
        return request.getfixturevalue("s3_store")["root"]
    return settings.STUDIO_ARTIFACT_URI


@pytest.fixture
def worker(store):
    from studio.celery import app

    # Jobs must travel through the broker here; an earlier test that left Celery eager would run
    # them inside the request instead.
    assert not app.conf.task_always_eager
    process = WorkerProcess(worker_env())
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def wait_for(job_name: str, statuses: set[str], timeout: float = 60) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(name=job_name)
        if job.status in statuses:
            return job
        time.sleep(0.1)
    history = list(job.events.values_list("status", "secondary_status", "message"))
    raise AssertionError(f"{job_name} is {job.status}/{job.secondary_status}, not {statuses}: {history}")


@pytest.fixture
def client(admin_user):
    return api_client_for(admin_user)


def submit(client, project, body) -> dict:
    response = client.post(f"/api/v1/projects/{project.name}/processing-jobs/", body, format="multipart")
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_submitted_job_runs_on_a_worker_with_logs_metrics_and_outputs(
    worker, client, project, csv_artifact, store
):
    import json

    body = processing_request(
        "prep-ok",
        SCRIPT_OK,
        arguments=json.dumps(["--rows", "all"]),
        inputs=json.dumps([{"name": "data", "source_uri": csv_artifact.uri}]),
        outputs=json.dumps([{"name": "result"}]),
    )
    submit(client, project, body)

    job = wait_for("prep-ok", {JobStatus.COMPLETED, JobStatus.FAILED})
    assert job.status == JobStatus.COMPLETED, (job.failure_reason, worker.output())
    detail = client.get(f"/api/v1/projects/{project.name}/processing-jobs/prep-ok/").json()
    history = [(event["status"], event["secondary_status"]) for event in detail["status_history"]]
    assert history == COMPLETED_HISTORY
    logs = client.get(f"/api/v1/projects/{project.name}/processing-jobs/prep-ok/logs/?offset=0").json()
    assert "arguments ['--rows', 'all']" in logs["text"]
    assert logs["complete"] is True
    metrics = client.get(f"/api/v1/projects/{project.name}/processing-jobs/prep-ok/metrics/").json()
    assert [point["value"] for point in metrics["metrics"]["loss"]] == [1.0, 0.5, 0.3333]
    output = detail["outputs"][0]
    assert output["files"] == 1
    summary_uri = output["uri"] + "/summary.txt"
    assert summary_uri.startswith(store)
    with store_for(summary_uri).open(summary_uri) as handle:
        assert handle.read() == b"rows=300"


def test_a_failing_script_ends_failed_with_its_error(worker, client, project):
    submit(client, project, processing_request("prep-fail", SCRIPT_FAIL))

    job = wait_for("prep-fail", {JobStatus.COMPLETED, JobStatus.FAILED})
    assert job.status == JobStatus.FAILED
    assert job.exit_code == 1
    assert "ValueError: the data has no label column" in job.failure_reason


def test_a_stopped_job_ends_stopped(worker, client, project):
    submit(client, project, processing_request("prep-stop", SCRIPT_SLEEP))
    wait_for("prep-stop", {JobStatus.IN_PROGRESS})
    deadline = time.monotonic() + 30
    while (
        "sleeping"
        not in client.get(f"/api/v1/projects/{project.name}/processing-jobs/prep-stop/logs/").json()["text"]
    ):
        assert time.monotonic() < deadline, worker.output()
        time.sleep(0.1)

    response = client.post(f"/api/v1/projects/{project.name}/processing-jobs/prep-stop/stop/")
    assert response.status_code == 202
    assert response.json()["status"] == "Stopping"

    job = wait_for("prep-stop", {JobStatus.STOPPED, JobStatus.FAILED, JobStatus.COMPLETED}, timeout=30)
    assert job.status == JobStatus.STOPPED
    assert job.secondary_status == "Stopped"
    assert job.exit_code == -signal.SIGTERM


def test_a_job_delivered_twice_runs_once(worker, client, project):
    body = submit(
        client,
        project,
        processing_request("prep-twice", SCRIPT_OK.replace(b"processing/input/data/train.csv", b"/dev/null")),
    )
    job = Job.objects.get(name=body["name"])
    execute_job.apply_async(args=[job.pk])  # a second delivery, as after a broker redelivery

    job = wait_for("prep-twice", {JobStatus.COMPLETED, JobStatus.FAILED})
    time.sleep(1)  # give the duplicate time to be consumed
    assert job.status == JobStatus.COMPLETED, job.failure_reason
    claims = job.events.filter(status=JobStatus.IN_PROGRESS, secondary_status="Starting")
    assert claims.count() == 1


def test_a_job_whose_worker_was_killed_is_failed_by_the_reaper(worker, client, project, settings):
    submit(client, project, processing_request("prep-killed", SCRIPT_SLEEP))
    job = wait_for("prep-killed", {JobStatus.IN_PROGRESS})
    time.sleep(1)
    pid = int(job.worker.rsplit(":", 1)[1])

    os.kill(pid, signal.SIGKILL)  # the pool process running the job dies mid-job

    settings.STUDIO_HEARTBEAT_TIMEOUT_SECONDS = 2
    deadline = time.monotonic() + 30
    while Job.objects.get(pk=job.pk).status == JobStatus.IN_PROGRESS:
        assert time.monotonic() < deadline
        time.sleep(0.5)
        jobs_reap()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "stopped sending heartbeats" in job.failure_reason
    assert str(pid) in job.failure_reason


def test_a_builtin_training_job_runs_on_a_worker_and_is_evaluated(worker, client, project, admin_user, store):
    rng = np.random.default_rng(7)
    uris = {}
    for channel, rows in (("train", 300), ("validation", 120)):
        features = rng.normal(size=(rows, 4))
        labels = (features[:, 0] + features[:, 1] > 0).astype(int)
        text = "\n".join(
            f"{label}," + ",".join(f"{v:.4f}" for v in row)
            for label, row in zip(labels, features, strict=True)
        )
        uris[channel] = artifact_upload(
            project=project, user=admin_user, path=f"data/{channel}.csv", stream=io.BytesIO(text.encode())
        ).uri
    response = client.post(
        f"/api/v1/projects/{project.name}/training-jobs/",
        {
            "name": "xgb-worker",
            "algorithm": "xgboost",
            "channels": [
                {"name": name, "source_uri": uri, "content_type": "text/csv"} for name, uri in uris.items()
            ],
            "hyperparameters": {"num_round": 15, "objective": "binary:logistic", "max_depth": 3},
            "instance_type": "ml.m5.large",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    job = wait_for("xgb-worker", {JobStatus.COMPLETED, JobStatus.FAILED}, timeout=120)
    assert job.status == JobStatus.COMPLETED, job.failure_reason
    assert [event.secondary_status for event in job.events.all()][-4:] == [
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    metrics = client.get(f"/api/v1/projects/{project.name}/training-jobs/xgb-worker/metrics/").json()
    # Each round prints the objective's metric; the final line (the saved model) prints them all.
    assert len(metrics["metrics"]["validation:logloss"]) == 16
    assert metrics["metrics"]["validation:auc"][-1]["value"] > 0.85
    evaluation = client.get(f"/api/v1/projects/{project.name}/training-jobs/xgb-worker/evaluation/").json()
    assert evaluation["problem"] == "binary_classification"
    assert evaluation["metrics"]["accuracy"] > 0.85
    assert evaluation["roc_curve"]["fpr"]
    detail = client.get(f"/api/v1/projects/{project.name}/training-jobs/xgb-worker/").json()
    assert detail["model_artifact"]["uri"].startswith(store)
    with store_for(detail["model_artifact"]["uri"]).open(detail["model_artifact"]["uri"]) as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == detail["model_artifact"]["sha256"]
