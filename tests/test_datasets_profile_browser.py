"""The profile pages in a real browser: start a profile, follow it live, read the drawn report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from datasets.models import Profile
from jobs.models import JobStatus
from tests.test_browser import background_worker, browser, log_in, page  # noqa: F401  (fixtures)
from tests.test_datasets_profile import DATASET, make_version

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/studio-profile.png")


def test_a_data_scientist_profiles_a_version_and_reads_the_report(
    page,  # noqa: F811
    live_server,
    project,
    admin_user,
    editor_user,
    background_worker,  # noqa: F811
):
    make_version(project, admin_user)
    log_in(page, live_server, "erin")

    page.goto(f"{live_server.url}/projects/vision/datasets/{DATASET}/versions/1/profiles/")
    page.get_by_label("Target column").select_option("churned")
    page.get_by_role("button", name="Start profile").click()

    # The page arrives while the job is queued or running, follows it, then reloads with the report.
    page.wait_for_url(re.compile(r"/projects/vision/profiles/[0-9a-f-]+/$"))
    page.locator("#overview").wait_for(timeout=60_000)
    assert page.locator("#profile-live h1 .badge").inner_text() == "Completed"
    # Charts are drawn as they scroll into view.
    for chart in ("leakage", "importances", "classes", "correlations"):
        page.locator(f"#chart-{chart}").scroll_into_view_if_needed()
        page.locator(f"#chart-{chart}[data-rendered='true'] .main-svg").first.wait_for()
    assert "churn_flag" in page.locator("#leakage-alert").inner_text()
    assert page.locator("[data-warning='target_leakage']").count() == 1
    assert page.locator(".profile-columns > section").count() == 5
    page.locator("#column-4").scroll_into_view_if_needed()
    page.locator("#chart-column-4[data-rendered='true'] .main-svg").first.wait_for()
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    profile = Profile.objects.get()
    assert profile.job.status == JobStatus.COMPLETED
    assert profile.created_by == editor_user
