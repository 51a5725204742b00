"""Either backend in a real browser: a training job that completed on this machine, its dry run on
SageMaker read from its page, then "Run on SageMaker" and the new job followed to Completed.

Debian's Chromium driven by Playwright against pytest-django's live server; the jobs run on a real
Celery worker process (the local one as a subprocess, the SageMaker one as a chain of polling tasks);
"SageMaker" is moto's server on 127.0.0.1, which the worker reaches through the project's AWS
settings, and which completes a training job as soon as it is created.
"""

from __future__ import annotations

import io
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from jobs.backends.sagemaker.images import algorithm_image
from jobs.models import Backend, Job, JobStatus
from jobs.services import training_job_create
from studio.services import artifact_upload
from tests.test_browser import browser, log_in, page  # noqa: F401 (fixtures)
from tests.workers import WorkerProcess, worker_env

pytestmark = pytest.mark.browser

JOB_TIMEOUT_MS = 90_000
SCREENSHOTS = Path("/tmp")


def churn_csv(rows: int, seed: int) -> bytes:
    """Label first, no header (SageMaker's CSV convention): a noisy threshold on two of three features."""
    rnd = random.Random(seed)
    lines = []
    for _ in range(rows):
        x1, x2, x3 = rnd.random(), rnd.random(), rnd.random()
        label = int(x1 + 0.5 * x2 + 0.3 * rnd.random() > 0.95)
        lines.append(f"{label},{x1:.4f},{x2:.4f},{x3:.4f}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def worker(aws_project) -> Iterator[WorkerProcess]:
    """A Celery worker process that polls SageMaker (moto) as often as the test settings say."""
    from studio.celery import app

    # Jobs must travel through the broker: an earlier test that left Celery eager would run them
    # inside the request instead.
    assert not app.conf.task_always_eager
    process = WorkerProcess(
        worker_env(
            STUDIO_SAGEMAKER_POLL_SECONDS=str(settings.STUDIO_SAGEMAKER_POLL_SECONDS),
            STUDIO_SAGEMAKER_POLL_MAX_SECONDS=str(settings.STUDIO_SAGEMAKER_POLL_MAX_SECONDS),
            STUDIO_AWS_MAX_ATTEMPTS=str(settings.STUDIO_AWS_MAX_ATTEMPTS),
        )
    )
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def wait_for_job(name: str, worker: WorkerProcess, timeout: float = JOB_TIMEOUT_MS / 1000) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(name=name)
        if job.is_terminal:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {name} did not finish within {timeout} s:\n{worker.output()}")


@pytest.fixture
def completed_local_job(project, admin_user, aws_project, worker) -> Job:
    """XGBoost trained on this machine by the worker, on a small generated churn table."""
    channels = []
    for channel, rows, seed in (("train", 400, 1), ("validation", 150, 2)):
        stored = artifact_upload(
            project=project,
            user=admin_user,
            path=f"data/churn-{channel}.csv",
            stream=io.BytesIO(churn_csv(rows, seed)),
        )
        channels.append({"name": channel, "source_uri": stored.uri, "content_type": "text/csv"})
    job, _ = training_job_create(
        project=project,
        user=admin_user,
        name="churn-xgb",
        algorithm="xgboost",
        channels=channels,
        hyperparameters={"num_round": "10", "objective": "binary:logistic", "max_depth": "3"},
        backend=Backend.LOCAL,
    )
    job = wait_for_job(job.name, worker)
    assert job.status == JobStatus.COMPLETED, (job.failure_reason, worker.output())
    return job


def test_a_completed_local_job_shows_its_dry_run_then_runs_on_sagemaker_to_completion(
    page,  # noqa: F811 (the fixture)
    live_server,
    admin_user,
    aws_project,
    moto_server,
    sagemaker,
    completed_local_job,
    worker,
):
    image = algorithm_image("xgboost", aws_project.region)
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/vision/jobs/training/churn-xgb/")
    page.locator("#job-live h1 .badge", has_text="Completed").wait_for()
    card = page.locator("#sagemaker")
    assert card.get_attribute("data-backend") == "local"
    assert page.locator("#job-backend").inner_text() == "This machine (local)"

    # The dry run: the request that would be sent, folded until asked for, built only then (the
    # card fetches it when opened); nothing uploaded.
    dry_run = page.locator("#sagemaker-dry-run")
    request_json = page.locator("#sagemaker-dry-run #sagemaker-request-json")
    assert request_json.count() == 0
    assert dry_run.get_attribute("data-state") is None  # not fetched with the page
    page.locator("#sagemaker-dry-run summary").click()
    page.locator("#sagemaker-dry-run[data-state='loaded']").wait_for()
    request_json.wait_for(state="visible")
    assert "CreateTrainingJob" in page.locator("#sagemaker-dry-run summary").inner_text()
    shown = request_json.inner_text()
    assert image in shown
    assert '"TrainingJobName": "vision-churn-xgb"' in shown
    assert aws_project.role_arn in shown
    assert moto_server["client"].list_objects_v2(Bucket=aws_project.bucket)["KeyCount"] == 0
    page.screenshot(path=str(SCREENSHOTS / "studio-sagemaker-dry-run.png"), full_page=True)

    # Run on SageMaker: the same job under a new name, on the other backend.
    name_field = card.get_by_label("New job's name")
    assert name_field.input_value() == "churn-xgb-sagemaker"
    card.get_by_role("button", name="Run on SageMaker").click()
    page.wait_for_url(re.compile(r"/projects/vision/jobs/training/churn-xgb-sagemaker/$"))
    assert page.locator("#job-backend").first.inner_text() == "Amazon SageMaker"
    assert page.locator("#sagemaker").get_attribute("data-backend") == "sagemaker"

    # moto completes it at once; the worker's chain follows it, and the page reloads when it ends,
    # showing the request that was sent.
    page.locator("#training-page[data-terminal='true'] #job-live h1 .badge", has_text="Completed").wait_for(
        timeout=JOB_TIMEOUT_MS
    )
    clone = Job.objects.get(name="churn-xgb-sagemaker")
    assert clone.backend == Backend.SAGEMAKER
    assert clone.status == JobStatus.COMPLETED, (clone.failure_reason, worker.output())
    sent = page.locator("#sagemaker-request[data-sent='true'] #sagemaker-request-json")
    sent.wait_for()
    assert image in sent.inner_text()
    assert '"TrainingJobName": "vision-churn-xgb-sagemaker"' in sent.inner_text()
    described = sagemaker.describe_training_job(TrainingJobName="vision-churn-xgb-sagemaker")
    assert described["TrainingJobStatus"] == "Completed"
    assert page.locator("#sagemaker-arn").inner_text() == described["TrainingJobArn"]
    page.screenshot(path=str(SCREENSHOTS / "studio-sagemaker-job.png"), full_page=True)

    # The job list marks the SageMaker job.
    page.goto(f"{live_server.url}/projects/vision/jobs/?kind=training")
    row = page.locator("tr[data-kind='training']", has_text="churn-xgb-sagemaker")
    assert row.locator(".backend-pill").inner_text() == "SageMaker"
