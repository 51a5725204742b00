"""Batch transform in a real browser: launched from the job list with the form, followed to the
end, its failed lines and output files read on its page. Debian's Chromium driven by Playwright;
the job run by a background worker thread."""

from __future__ import annotations

import io
import re

import pytest

from endpoints.services.models import model_create
from jobs.models import Job, JobStatus
from studio.artifacts import project_prefix
from studio.services import artifact_upload
from tests.serving_support import model_archive
from tests.test_browser import background_worker, browser, log_in, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

# User code, no pickle: the answer to a row is the sum of its values.
SUM_CODE = b"""
def model_fn(model_dir):
    return None

def predict_fn(data, model):
    return data.sum(axis=1)
"""


def test_a_transform_job_from_the_form_to_its_outputs_and_failed_lines(
    page,  # noqa: F811 (the fixture)
    live_server,
    project,
    admin_user,
    editor_user,
    background_worker,  # noqa: F811 (the fixture)
):
    model_create(
        project=project,
        user=admin_user,
        name="summer",
        model_file=model_archive({"code/inference.py": SUM_CODE}),
    )
    good = "".join(f"{i},{i + 1}\n" for i in range(50)).encode()
    bad = b"1,2\n3,x\n5,6\n"
    for name, content in (("good.csv", good), ("bad.csv", bad)):
        artifact_upload(project=project, user=admin_user, path=f"scoring/{name}", stream=io.BytesIO(content))
    folder = f"{project_prefix(project.name)}/scoring/"

    log_in(page, live_server, "erin")
    page.goto(f"{live_server.url}/projects/vision/jobs/")
    page.get_by_role("link", name="Batch transform", exact=True).click()
    page.wait_for_url(re.compile(r"/projects/vision/jobs/new/transform/$"))
    page.get_by_label("Name", exact=True).fill("score-files")
    page.locator("#id_model").select_option("summer")
    page.get_by_label("Input", exact=True).fill(folder)
    page.locator("#id_split_type").select_option("Line")
    page.locator("#id_accept").select_option("text/csv")
    page.locator("#id_assemble_with").select_option("Line")
    page.locator("form button[type='submit']").last.click()

    page.wait_for_url(re.compile(r"/projects/vision/jobs/transform/score-files/$"))
    page.locator("#job-live[data-terminal='true']").wait_for(timeout=120_000)
    job = Job.objects.get(name="score-files")
    assert job.status == JobStatus.FAILED  # bad.csv line 2 cannot be read
    page.reload()
    failed = page.locator("#failed-records .failed-file[data-input='bad.csv']")
    failed.wait_for()
    assert "1 of 3" in failed.inner_text()
    assert failed.locator("tbody tr td").first.inner_text().strip() == "2"
    assert page.locator("#outputs tr[data-output='good.csv.out']").is_visible()
    with page.expect_download() as download:
        page.locator("#outputs tr[data-output='good.csv.out'] a", has_text="Download").click()
    lines = download.value.path().read_text().split()
    assert [float(value) for value in lines[:3]] == [1.0, 3.0, 5.0]
    assert len(lines) == 50
