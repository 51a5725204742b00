"""A tuning job in a real browser: launch it from the form with your own script, follow it to the
end, read its charts and trials, and open the best training job. Debian's Chromium via Playwright."""

from __future__ import annotations

import io
import time

import pytest

from jobs.models import Job, JobKind
from jobs.tuning import tuning_advance
from studio.services import artifact_upload
from tests.test_browser import background_worker, browser, log_in, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

# A SageMaker-style script whose objective peaks at shift = 3.
SCRIPT = b"""import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--shift", type=float, default=0.0)
args = parser.parse_args()
print(f"objective={-(args.shift - 3) ** 2:.5f}", flush=True)
"""


def test_a_data_scientist_tunes_a_script_and_opens_the_best_training_job(
    live_server,
    page,  # noqa: F811
    background_worker,  # noqa: F811
    project,
    admin_user,
    tmp_path,
):
    data = artifact_upload(
        project=project, user=admin_user, path="data/points.csv", stream=io.BytesIO(b"1,2\n3,4\n")
    )
    script = tmp_path / "search.py"
    script.write_bytes(SCRIPT)
    log_in(page, live_server, "alice")

    page.goto(f"{live_server.url}/projects/vision/jobs/")
    page.get_by_role("link", name="New tuning job").click()
    page.fill("input[name=name]", "search-x")
    page.select_option("select[name=algorithm]", "")
    page.set_input_files("input[name=source]", str(script))
    page.fill("textarea[name=channels]", f"train={data.uri}")
    page.fill("textarea[name=metric_definitions]", "objective=objective=([-0-9.eE]+)")
    page.fill("textarea[name=parameter_ranges]", "shift=continuous:0:6:Linear")
    page.fill("input[name=objective_metric]", "objective")
    page.select_option("select[name=objective_type]", "Maximize")
    page.select_option("select[name=strategy]", "Random")
    page.fill("input[name=max_training_jobs]", "3")
    page.fill("input[name=max_parallel_training_jobs]", "1")
    page.get_by_role("button", name="Create tuning job").click()
    page.wait_for_url(f"{live_server.url}/projects/vision/jobs/tuning/search-x/")

    # The worker threads run the tuning job and its trials; a trial's end reaches the tuning job
    # through the broker in production, here through the same service the task calls.
    tuning = Job.objects.get(kind=JobKind.TUNING, name="search-x")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        tuning.refresh_from_db()
        if tuning.is_terminal:
            break
        tuning_advance(tuning.pk)
        time.sleep(0.3)
    assert tuning.status == "Completed", tuning.failure_reason

    page.reload()
    page.wait_for_selector("#chart-history .main-svg")
    page.wait_for_selector("#chart-parallel .main-svg")
    page.wait_for_selector("#chart-importance .main-svg")
    assert page.locator("#trials-table tbody tr").count() == 3
    assert "Completed" in page.inner_text("#tuning-counters")
    best = page.locator("#best-training-job a").first
    best_name = best.inner_text().strip()
    assert best_name.startswith("search-x-")
    best.click()
    page.wait_for_url(f"**/jobs/training/{best_name}/")
    assert page.inner_text("#tuning-job-link") == "search-x"
