"""The recipe builder in a real browser: steps, live preview, step errors, split, save, run, export."""

from __future__ import annotations

import re

import pytest

from datasets.models import DatasetVersion, Recipe
from jobs.models import Job, JobStatus
from tests.test_browser import browser, eager_celery, log_in, page  # noqa: F401  (fixtures)
from tests.test_datasets_recipes import customers_csv, make_version

pytestmark = pytest.mark.browser


@pytest.fixture
def version(project, admin_user):
    return make_version(project, admin_user, customers_csv())


def step(page, number: int):  # noqa: F811
    return page.locator(f"#recipe-steps .recipe-step[data-index='{number - 1}']")


def test_an_editor_builds_previews_saves_runs_and_exports_a_recipe(
    page,  # noqa: F811
    live_server,
    editor_user,
    eager_celery,  # noqa: F811
    version,
):
    log_in(page, live_server, "erin")
    page.goto(f"{live_server.url}/projects/vision/datasets/customers/recipes/new/")
    page.locator("#preview-state", has_text="Up to date").wait_for()
    assert page.locator("#preview-table thead th").count() == 5

    # A step with no column chosen yet is marked, with the reason next to it.
    page.select_option("#recipe-add-op", "drop_columns")
    page.get_by_role("button", name="Add step").click()
    step(page, 1).locator(".errorlist li", has_text="'columns' must be a non-empty list").wait_for()
    step(page, 1).get_by_role("button", name="Remove step 1").click()

    page.select_option("#recipe-add-op", "impute")
    page.get_by_role("button", name="Add step").click()
    step(page, 1).get_by_label("age").check()
    page.select_option("#recipe-add-op", "one_hot")
    page.get_by_role("button", name="Add step").click()
    step(page, 2).get_by_label("city").check()
    step(page, 2).locator(".recipe-step-result", has_text="→ 240 rows · 7 columns").wait_for()
    page.get_by_label("Split into train / validation / test").check()
    page.select_option("#split-method", "stratified")
    page.select_option("#split-column", "label")
    page.locator("#split-result", has_text="train 168 · validation 36 · test 36").wait_for()
    assert "city_Paris" in page.locator("#preview-table thead").text_content()

    page.fill("#recipe-name", "browser-recipe")
    page.get_by_role("button", name="Save recipe").click()
    page.wait_for_url(re.compile(r"/recipes/browser-recipe/$"))
    recipe = Recipe.objects.get(name="browser-recipe")
    assert [item["op"] for item in recipe.steps] == ["impute", "one_hot", "split"]
    assert page.locator("#recipe-export").get_attribute("href").endswith("/browser-recipe/export/?version=1")

    page.get_by_role("button", name="Run on this version").click()
    page.locator("#recipe-status a").wait_for()
    job = Job.objects.get()
    assert page.locator("#recipe-status a").inner_text() == job.name
    assert job.status == JobStatus.COMPLETED, job.failure_reason
    assert sorted(DatasetVersion.objects.filter(job=job).values_list("role", flat=True)) == [
        "test",
        "train",
        "validation",
    ]


def test_a_viewer_sees_the_recipe_and_its_preview_without_editing_controls(
    page,  # noqa: F811
    live_server,
    viewer_user,
    version,
    admin_user,
):
    from datasets.recipe_services import recipe_create

    recipe_create(
        dataset=version.dataset,
        name="shared",
        steps=[{"op": "drop_columns", "columns": ["joined"]}],
        output={},
        user=admin_user,
    )
    log_in(page, live_server, "victor")
    page.goto(f"{live_server.url}/projects/vision/datasets/customers/recipes/shared/")

    page.locator("#preview-state", has_text="Up to date").wait_for()
    assert page.locator("#preview-table thead th").count() == 4
    assert page.get_by_role("button", name="Save").count() == 0
    assert page.get_by_role("button", name="Add step").count() == 0
    assert step(page, 1).get_by_label("joined").is_disabled()
