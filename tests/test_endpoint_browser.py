"""Inference in a real browser: deploy a completed built-in training job from its page and send a
request from the endpoint's test console. Debian's Chromium driven by Playwright, the training job
run by a background worker thread and the endpoint by the serving supervisor in a thread."""

from __future__ import annotations

import io
import random
import re
import time
from pathlib import Path

import pytest

from endpoints.models import Endpoint, EndpointStatus, Model
from jobs.models import Job, JobStatus
from jobs.services import training_job_create
from studio.services import artifact_upload
from tests.test_browser import background_worker, browser, log_in, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

SERVING_TIMEOUT_MS = 90_000
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


def wait_for_job(name: str, timeout: float = 120.0) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(name=name)
        if job.is_terminal:
            return job
        time.sleep(0.2)
    raise AssertionError(f"training job {name} did not finish within {timeout} s")


@pytest.fixture
def completed_xgboost_job(project, admin_user, background_worker) -> Job:  # noqa: F811 (the fixture)
    """XGBoost trained on a small churn table by the background worker, as the job list would run it."""
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
    )
    job = wait_for_job(job.name)
    assert job.status == JobStatus.COMPLETED, job.failure_reason
    return job


def test_deploy_from_the_job_page_and_send_a_request_from_the_test_console(
    page,  # noqa: F811 (the fixture)
    live_server,
    editor_user,
    completed_xgboost_job,
    serving,
):
    log_in(page, live_server, "erin")
    page.goto(f"{live_server.url}/projects/vision/jobs/training/churn-xgb/")
    page.locator("#job-live h1 .badge", has_text="Completed").wait_for()
    page.get_by_role("link", name="Deploy", exact=True).click()

    # The deploy form: the job preselected, the new model's and the endpoint's names filled in.
    page.wait_for_url(re.compile(r"/projects/vision/new/endpoint/\?training_job=churn-xgb$"))
    assert page.locator("#from-training-job").get_by_role("link", name="churn-xgb").is_visible()
    assert page.get_by_label("Model name").input_value() == "churn-xgb"
    assert page.get_by_label("Endpoint name").input_value() == "churn-xgb"
    assert page.locator("#id_instance_type").input_value() == "ml.m5.large"
    assert page.locator("#serving-notice").count() == 0  # the supervisor is running
    page.screenshot(path=str(SCREENSHOTS / "studio-deploy-form.png"), full_page=True)
    page.get_by_role("button", name="Deploy").click()

    # The endpoint page follows it from Creating to InService, then reloads once with the console.
    page.wait_for_url(re.compile(r"/projects/vision/endpoints/churn-xgb/$"))
    page.locator("#endpoint-page[data-loaded-status='InService']").wait_for(timeout=SERVING_TIMEOUT_MS)
    assert page.locator("#endpoint-live h1 .badge").inner_text() == "InService"
    assert page.locator("#instances [data-instance-status='Ready']").count() == 1
    assert page.locator("#endpoint-timeline li").count() >= 2
    model = Model.objects.get(name="churn-xgb")
    assert model.training_job == completed_xgboost_job
    assert Endpoint.objects.get(name="churn-xgb").status == EndpointStatus.IN_SERVICE

    # The test console: a CSV row in, the model's score and the variant that answered out.
    page.get_by_label("Body").fill("0.9,0.8,0.1")
    page.get_by_label("Content type").select_option("text/csv")
    page.get_by_role("button", name="Send request").click()
    answer = page.locator("#console-answer[data-state='answered']")
    answer.wait_for()
    assert page.locator("#console-status").inner_text() == "200"
    assert page.locator("#console-variant").inner_text() == "AllTraffic"
    assert page.locator("#console-content-type").inner_text() == "text/csv"
    score = float(page.locator("#console-body").inner_text().strip())
    assert 0.5 < score <= 1.0  # x1 + 0.5 * x2 is well above the threshold: churn
    page.locator("#chart-invocations[data-rendered='true'] .main-svg").first.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "studio-endpoint.png"), full_page=True)

    # A row of the wrong width: the model's own 400, shown as its answer.
    page.get_by_label("Body").fill("1,2")
    page.get_by_role("button", name="Send request").click()
    page.locator("#console-status", has_text="400").wait_for()
    assert "ValidationError" in page.locator("#console-body").inner_text()
