"""A data scientist's first hour, in one browser session: upload a CSV in chunks with the progress
bar, profile it, build a two-step recipe with a split, run it, and find the new versions."""

from __future__ import annotations

import re

import pytest

from datasets.models import DatasetVersion
from tests.test_browser import browser, eager_celery, log_in, page  # noqa: F401  (fixtures)
from tests.test_datasets_formats_data import isolated_data_dir  # noqa: F401  (autouse fixture)
from tests.test_datasets_recipe_browser import step
from tests.test_datasets_recipes import customers_csv

pytestmark = pytest.mark.browser


def test_upload_profile_prepare_and_split_a_dataset(page, live_server, editor_user, eager_celery, settings):  # noqa: F811
    settings.STUDIO_UPLOAD_CHUNK_BYTES = 4 * 1024  # several chunks, so the bar moves
    data = customers_csv()
    log_in(page, live_server, "erin")

    # Upload: chunks with a progress bar, then the review of the inferred schema.
    page.get_by_role("link", name="Data", exact=True).first.click()
    page.get_by_role("link", name="Upload data").click()
    page.locator("#upload-page[data-ready='true']").wait_for()
    progress: list[str] = []
    page.on("request", lambda request: request.method == "PUT" and progress.append(request.url))
    page.set_input_files(
        "#id_file", files=[{"name": "customers.csv", "mimeType": "text/csv", "buffer": data}]
    )
    page.wait_for_url(re.compile(r"/datasets/uploads/[0-9a-f-]+/$"))
    assert len(progress) == -(-len(data) // (4 * 1024))
    page.get_by_label("Dataset").fill("customers")
    page.get_by_role("button", name="Save version").click()
    page.wait_for_url(re.compile(r"/projects/vision/datasets/customers/\?version=1$"))

    # Profile with a target column; the job runs in the request (eager Celery).
    page.locator("[data-action='profile']").first.click()
    page.get_by_label("Target column").select_option("label")
    page.get_by_role("button", name="Start profile").click()
    page.wait_for_url(re.compile(r"/projects/vision/profiles/[0-9a-f-]+/$"))
    page.locator("#overview").wait_for(timeout=60_000)
    assert page.locator("#profile-live h1 .badge").inner_text() == "Completed"

    # A two-step recipe with a split, started from the dataset page.
    page.goto(f"{live_server.url}/projects/vision/datasets/customers/")
    page.get_by_role("link", name="New recipe").click()
    page.locator("#preview-state", has_text="Up to date").wait_for()
    page.select_option("#recipe-add-op", "impute")
    page.get_by_role("button", name="Add step").click()
    step(page, 1).get_by_label("age").check()
    page.select_option("#recipe-add-op", "one_hot")
    page.get_by_role("button", name="Add step").click()
    step(page, 2).get_by_label("city").check()
    page.get_by_label("Split into train / validation / test").check()
    page.select_option("#split-method", "stratified")
    page.select_option("#split-column", "label")
    page.locator("#split-result", has_text="train 168 · validation 36 · test 36").wait_for()
    page.fill("#recipe-name", "prepare")
    page.get_by_role("button", name="Save recipe").click()
    page.wait_for_url(re.compile(r"/recipes/prepare/$"))
    page.get_by_role("button", name="Run on this version").click()
    page.locator("#recipe-status a").wait_for()

    # The new versions, on the dataset page, with their lineage.
    page.goto(f"{live_server.url}/projects/vision/datasets/customers/")
    versions = page.locator("#versions tbody tr")
    assert versions.count() == 4
    text = page.locator("#versions").inner_text()
    for role in ("train", "validation", "test"):
        assert role in text
    assert page.locator("#lineage svg circle").count() == 4
    made = DatasetVersion.objects.filter(parent__number=1).order_by("number")
    assert [(v.role, v.row_count) for v in made] == [("train", 168), ("validation", 36), ("test", 36)]
