"""Recipes end to end: the API (save, preview, run, export), the recipe job and its versions, the
exported script run beside the job, failures that leave nothing behind, permissions and pages."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest
from django.test import Client
from django.urls import reverse

from datasets import recipe_services
from datasets.models import DatasetVersion, Recipe
from datasets.readers import iter_frames
from datasets.schema import infer_schema
from datasets.services import dataset_get_or_create, version_create
from jobs.models import Job, JobStatus
from jobs.runner import job_execute
from studio.artifacts import join_uri, project_prefix, store_for
from studio.models import AuditEvent
from tests.conftest import api_client_for

# Also run on PostgreSQL in the full-stack pass: version numbering and uploads are concurrent writes.
pytestmark = [pytest.mark.django_db, pytest.mark.fullstack]

BASE = "/api/v1/projects/vision/datasets/customers/recipes/"

STEPS = [
    {"op": "impute", "columns": ["age"], "strategy": "median"},
    {"op": "impute", "columns": ["city"], "strategy": "constant", "value": "unknown"},
    {"op": "one_hot", "columns": ["city"]},
    {"op": "datetime_parts", "column": "joined", "parts": ["month", "weekday"], "drop_original": True},
    {"op": "standard_scale", "columns": ["income"]},
    {"op": "filter_rows", "column": "age", "operator": ">=", "value": 20},
]
SPLIT = {
    "op": "split",
    "fractions": {"train": 0.6, "validation": 0.2, "test": 0.2},
    "method": "stratified",
    "column": "label",
    "seed": 7,
}


def customers_csv(rows: int = 240) -> bytes:
    rng = np.random.default_rng(5)
    df = pd.DataFrame(
        {
            "age": rng.integers(15, 80, rows).astype(float),
            "income": rng.normal(50_000, 12_000, rows).round(2),
            "city": rng.choice(["Paris", "Lyon", "Nice"], rows),
            "joined": pd.date_range("2023-01-01", periods=rows, freq="17h").strftime("%Y-%m-%d %H:%M"),
            "label": rng.choice([0, 1], rows, p=[0.7, 0.3]),
        }
    )
    df.loc[::9, "age"] = np.nan
    df.loc[::13, "city"] = None
    return df.to_csv(index=False).encode()


def make_version(project, user, content: bytes, *, name: str = "customers") -> DatasetVersion:
    """A dataset version as an upload would leave it: the file in the store, its schema inferred."""
    dataset = dataset_get_or_create(project=project, name=name, user=user)
    uri = join_uri(project_prefix(project.name), "datasets", name, "uploads", "customers.csv")
    stored = store_for(uri).put(uri, io.BytesIO(content))
    frame = pd.read_csv(io.BytesIO(content))
    return version_create(
        dataset=dataset,
        uri=stored.uri,
        fmt="csv",
        read_options={"delimiter": ",", "header": True, "encoding": "utf-8"},
        schema=infer_schema(frame),
        origin="upload",
        size_bytes=stored.size,
        content_sha256=stored.sha256,
        row_count=len(frame),
        column_count=len(frame.columns),
        user=user,
    )


@pytest.fixture
def version(project, admin_user):
    return make_version(project, admin_user, customers_csv())


@pytest.fixture
def recipe(version, admin_user):
    return recipe_services.recipe_create(
        dataset=version.dataset,
        name="clean-split",
        steps=[*STEPS, SPLIT],
        output={"format": "csv-label-first", "label": "label"},
        user=admin_user,
    )


def local_path(uri: str) -> Path:
    return Path(urlparse(uri).path)


# --- Saving -----------------------------------------------------------------------------------------------


def test_a_recipe_is_created_with_its_defaults_filled_in(api, version):
    response = api.post(
        BASE,
        {"name": "clean", "steps": [{"op": "clip_outliers", "columns": ["income"]}], "output": {}},
        format="json",
    )

    assert response.status_code == 201, response.json()
    recipe = Recipe.objects.get(name="clean")
    assert recipe.steps == [{"op": "clip_outliers", "columns": ["income"], "method": "iqr", "factor": 1.5}]
    assert recipe.output == {"format": "csv"}
    assert response.json()["steps"] == recipe.steps
    assert AuditEvent.objects.filter(action="create", target_name="customers/clean").exists()


def test_a_step_naming_a_missing_column_is_a_400_naming_the_step_and_the_column(api, version):
    response = api.post(
        BASE,
        {"name": "bad", "steps": [STEPS[0], {"op": "drop_columns", "columns": ["salary"]}]},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["steps[1]"]
    assert "Step 2 (drop_columns): column 'salary' is not in the data" in response.json()["steps[1]"][0]
    assert not Recipe.objects.exists()


def test_imputing_a_text_column_with_a_mean_is_a_400(api, version):
    response = api.post(
        BASE,
        {"name": "bad", "steps": [{"op": "impute", "columns": ["city"], "strategy": "mean"}]},
        format="json",
    )

    assert response.status_code == 400
    assert (
        "column 'city' is categorical; the mean is defined for numbers only" in response.json()["steps[0]"][0]
    )


@pytest.mark.parametrize(
    ("steps", "key", "message"),
    [
        ([SPLIT, STEPS[0]], "steps[0]", "the split must be the last step"),
        ([{**SPLIT, "fractions": {"train": 0.5, "validation": 0.1, "test": 0.1}}], "steps[0]", "add up to 1"),
        (
            [{"op": "filter_rows", "column": "age", "operator": "like", "value": 3}],
            "steps[0]",
            "unknown operator",
        ),
        ([{"op": "explode"}], "steps[0]", "unknown operation 'explode'"),
        ({"op": "impute"}, "steps", "Expected a JSON list"),
    ],
)
def test_bad_recipes_are_refused_with_the_reason(api, version, steps, key, message):
    response = api.post(BASE, {"name": "bad", "steps": steps}, format="json")

    assert response.status_code == 400
    assert message in " ".join(response.json()[key]), response.json()


@pytest.mark.parametrize(
    ("name", "message"), [("new", "reserved"), ("preview", "reserved"), ("a b", "Use 1-63")]
)
def test_reserved_and_invalid_names_are_refused(api, version, name, message):
    response = api.post(BASE, {"name": name, "steps": []}, format="json")

    assert response.status_code == 400
    assert message in response.json()["name"][0]


def test_a_second_recipe_with_the_same_name_is_refused(api, recipe):
    response = api.post(BASE, {"name": "clean-split", "steps": []}, format="json")

    assert response.status_code == 400
    assert response.json()["name"] == ["customers already has a recipe named 'clean-split'."]


def test_a_recipe_is_read_updated_renamed_and_deleted(api, recipe):
    assert api.get(f"{BASE}clean-split/").json()["output"] == {"format": "csv-label-first", "label": "label"}

    response = api.put(
        f"{BASE}clean-split/",
        {"name": "renamed", "steps": [STEPS[0]], "output": {"format": "parquet"}},
        format="json",
    )

    assert response.status_code == 200, response.json()
    recipe.refresh_from_db()
    assert (recipe.name, recipe.steps, recipe.output) == ("renamed", [STEPS[0]], {"format": "parquet"})
    assert api.get(f"{BASE}clean-split/").status_code == 404

    assert api.delete(f"{BASE}renamed/").status_code == 204
    assert not Recipe.objects.exists()


def test_an_update_that_does_not_check_changes_nothing(api, recipe):
    response = api.put(
        f"{BASE}clean-split/", {"steps": [{"op": "log_transform", "columns": ["city"]}]}, format="json"
    )

    assert response.status_code == 400
    recipe.refresh_from_db()
    assert recipe.steps[-1]["op"] == "split"


def test_the_recipe_list_is_paginated_and_its_queries_are_bounded(
    api, version, admin_user, django_assert_num_queries
):
    for number in range(5):
        recipe_services.recipe_create(
            dataset=version.dataset, name=f"r{number}", steps=[STEPS[0]], output={}, user=admin_user
        )

    # API key with its user, its last-used update, project, role, dataset, count, page.
    with django_assert_num_queries(7):
        response = api.get(BASE)

    assert response.json()["count"] == 5
    assert [item["name"] for item in response.json()["results"]] == [f"r{n}" for n in range(5)]


# --- Preview ----------------------------------------------------------------------------------------------


def test_the_preview_runs_the_steps_on_a_sample_and_saves_nothing(api, version):
    response = api.post(
        f"{BASE}preview/", {"version": 1, "steps": [*STEPS, SPLIT], "sample_rows": 100}, format="json"
    )

    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["sample_rows"] == 100
    assert [count["op"] for count in data["steps"]] == [step["op"] for step in [*STEPS, SPLIT]]
    assert data["steps"][0] == {"index": 0, "op": "impute", "rows": 100, "columns": 5}
    assert data["steps"][-1]["parts"] == data["parts"]
    assert sum(data["parts"].values()) == data["row_count"] == data["steps"][-2]["rows"]
    assert "city_Paris" in data["columns"]
    assert "joined" not in data["columns"]
    assert {"name": "joined_month", "type": "integer"} in data["schema"]
    assert len(data["rows"]) == min(50, data["row_count"])
    assert len(data["rows"][0]) == len(data["columns"])
    assert data["schemas_before"][3][-2] == {"name": "joined", "type": "datetime"}
    assert data["outputs"] == ["train", "validation", "test"]
    assert not Recipe.objects.exists()
    assert not Job.objects.exists()


def test_a_step_that_fails_on_the_sample_is_a_400_on_that_step(api, version):
    response = api.post(
        f"{BASE}preview/",
        {"version": 1, "steps": [STEPS[4], {"op": "log_transform", "columns": ["income"]}]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["steps[1]"][0].startswith("Step 2 (log_transform): column 'income' has")
    assert "negative value(s)" in response.json()["steps[1]"][0]


def test_a_preview_of_a_version_that_does_not_exist_is_a_400(api, version):
    response = api.post(f"{BASE}preview/", {"version": 9, "steps": []}, format="json")

    assert response.status_code == 400
    assert response.json() == {"version": ["customers has no version 9."]}


# --- Running ----------------------------------------------------------------------------------------------


def run_recipe(api, version, recipe_name="clean-split"):
    response = api.post(f"{BASE}{recipe_name}/run/", {"version": version.number}, format="json")
    assert response.status_code == 201, response.json()
    job = Job.objects.get(name=response.json()["job"]["name"])
    job_execute(job_id=job.pk)
    job.refresh_from_db()
    return response.json(), job


def test_running_a_recipe_with_a_split_makes_three_versions_in_the_built_in_format(api, version, recipe):
    answer, job = run_recipe(api, version)

    assert answer["outputs"] == ["train", "validation", "test"]
    assert answer["job"]["page"] == reverse("jobs:processing-detail", args=["vision", job.name])
    assert job.status == JobStatus.COMPLETED, job.failure_reason
    made = list(DatasetVersion.objects.filter(job=job).order_by("number"))
    assert [(v.number, v.role, v.origin) for v in made] == [
        (2, "train", "split"),
        (3, "validation", "split"),
        (4, "test", "split"),
    ]
    for made_version in made:
        assert made_version.parent == version
        assert made_version.recipe == recipe
        assert made_version.format == "csv"
        assert made_version.read_options["header"] is False
        content = local_path(made_version.uri).read_bytes()
        assert made_version.content_sha256 == hashlib.sha256(content).hexdigest()
        assert made_version.size_bytes == len(content)
        frame = pd.read_csv(io.BytesIO(content), header=None)
        assert len(frame) == made_version.row_count
        assert len(frame.columns) == made_version.column_count
        # The built-in algorithms' layout: the label first, no header row.
        assert set(frame[0]) <= {0, 1}
        assert made_version.schema[0] == {"name": "label", "type": "integer"}
        assert made_version.read_options["columns"][0] == "label"
        assert not content.startswith(b"label")
    sizes = [v.row_count for v in made]
    kept = len(pd.read_csv(io.BytesIO(customers_csv())).query("age >= 20 or age != age"))
    # The filter kept ages from 20 up, and the missing ones (imputed with the median, above 20).
    assert sum(sizes) == kept < 240
    assert sizes[0] > sizes[1] > 0
    # Written through datasets.readers, the new versions read back as their schema says.
    frames = list(iter_frames(local_path(made[0].uri), "csv", made[0].read_options))
    assert list(frames[0].columns) == made[0].read_options["columns"]


def test_a_recipe_without_a_split_writes_one_parquet_version(api, version, admin_user):
    recipe_services.recipe_create(
        dataset=version.dataset,
        name="to-parquet",
        steps=STEPS[:3],
        output={"format": "parquet"},
        user=admin_user,
    )

    _, job = run_recipe(api, version, "to-parquet")

    assert job.status == JobStatus.COMPLETED, job.failure_reason
    made = DatasetVersion.objects.get(job=job)
    assert (made.role, made.origin, made.format, made.parent_id) == (
        "output",
        "recipe",
        "parquet",
        version.pk,
    )
    frame = pd.read_parquet(local_path(made.uri))
    assert len(frame) == made.row_count == version.row_count
    assert frame["age"].isna().sum() == 0
    assert "city_unknown" in frame.columns


def test_the_exported_script_reproduces_the_job_outputs_exactly(api, version, recipe, tmp_path):
    _, job = run_recipe(api, version)
    assert job.status == JobStatus.COMPLETED, job.failure_reason

    response = api.get(f"{BASE}clean-split/export/?version=1")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/x-python; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="customers-clean-split.py"'
    script = tmp_path / "recipe.py"
    script.write_bytes(response.content)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(script), str(local_path(version.uri)), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # nothing of Studio is importable from here: the script stands alone
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for made in DatasetVersion.objects.filter(job=job):
        theirs = (out / made.role / f"{made.role}.csv").read_bytes()
        assert theirs == local_path(made.uri).read_bytes(), made.role


def test_the_exported_script_matches_a_parquet_run_without_a_split(api, version, admin_user, tmp_path):
    recipe_services.recipe_create(
        dataset=version.dataset,
        name="pq",
        steps=[*STEPS, {"op": "drop_duplicates", "subset": ["label", "age"]}],
        output={"format": "parquet"},
        user=admin_user,
    )
    _, job = run_recipe(api, version, "pq")
    script = tmp_path / "pq.py"
    script.write_bytes(api.get(f"{BASE}pq/export/").content)

    subprocess.run(
        [sys.executable, str(script), str(local_path(version.uri)), str(tmp_path / "out")],
        check=True,
        capture_output=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )

    made = DatasetVersion.objects.get(job=job)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "out/output/output.parquet"), pd.read_parquet(local_path(made.uri))
    )


def test_new_recipes_are_checked_against_the_data_not_a_recipe_output(api, version, recipe):
    run_recipe(api, version)
    assert DatasetVersion.objects.order_by("-number").first().role == "test"  # the latest has no 'city'

    response = api.post(
        BASE, {"name": "again", "steps": [{"op": "one_hot", "columns": ["city"]}]}, format="json"
    )

    assert response.status_code == 201, response.json()
    assert api.get(f"{BASE}clean-split/export/").status_code == 200  # for the version it last ran on


def test_versions_are_recorded_even_if_the_recipe_was_deleted_during_the_run(api, version, recipe):
    response = api.post(f"{BASE}clean-split/run/", {"version": 1}, format="json")
    job = Job.objects.get(name=response.json()["job"]["name"])
    recipe.delete()

    job_execute(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.failure_reason
    made = DatasetVersion.objects.filter(job=job)
    assert made.count() == 3
    assert {v.recipe_id for v in made} == {None}
    assert {v.parent_id for v in made} == {version.pk}


def test_a_recipe_whose_input_vanished_fails_and_leaves_no_version(api, version, recipe):
    response = api.post(f"{BASE}clean-split/run/", {"version": 1}, format="json")
    job = Job.objects.get(name=response.json()["job"]["name"])
    local_path(version.uri).unlink()

    job_execute(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "Input 'data'" in job.failure_reason
    assert DatasetVersion.objects.count() == 1


def test_a_step_that_fails_on_the_data_fails_the_job_with_its_reason(api, version, admin_user):
    recipe_services.recipe_create(
        dataset=version.dataset,
        name="neg",
        steps=[STEPS[4], {"op": "log_transform", "columns": ["income"]}],
        output={},
        user=admin_user,
    )

    _, job = run_recipe(api, version, "neg")

    assert job.status == JobStatus.FAILED
    assert job.failure_reason.startswith("Step 2 (log_transform): column 'income' has")
    assert DatasetVersion.objects.count() == 1


def test_versions_appear_whole_or_not_at_all_when_recording_fails(api, version, recipe, monkeypatch):
    calls = []
    real = recipe_services.version_create

    def fail_on_the_third(**kwargs):
        calls.append(kwargs["role"])
        if len(calls) == 3:
            raise ValueError("the store went away")
        return real(**kwargs)

    monkeypatch.setattr(recipe_services, "version_create", fail_on_the_third)

    _, job = run_recipe(api, version)

    assert calls == ["train", "validation", "test"]
    assert job.status == JobStatus.FAILED
    assert job.failure_reason == "Could not record the results: the store went away"
    assert DatasetVersion.objects.count() == 1


def test_a_recipe_that_no_longer_fits_the_version_is_not_run(api, version, admin_user):
    other = make_version(version.dataset.project, admin_user, b"x,y\n1,2\n")
    assert other.number == 2

    response = api.post(f"{BASE}preview/", {"version": 2, "steps": STEPS[:1]}, format="json")
    assert response.status_code == 400
    recipe_services.recipe_create(dataset=version.dataset, name="r", steps=[], output={}, user=admin_user)
    Recipe.objects.filter(name="r").update(steps=STEPS[:1])

    response = api.post(f"{BASE}r/run/", {"version": 2}, format="json")

    assert response.status_code == 400
    assert "column 'age' is not in the data" in response.json()["steps[0]"][0]
    assert not Job.objects.exists()


# --- Permissions ------------------------------------------------------------------------------------------


def test_a_viewer_may_read_preview_and_export_but_not_create_change_or_run(recipe, viewer_user):
    client = api_client_for(viewer_user)

    assert client.get(BASE).status_code == 200
    assert client.get(f"{BASE}clean-split/").status_code == 200
    assert client.post(f"{BASE}preview/", {"version": 1, "steps": STEPS}, format="json").status_code == 200
    assert client.get(f"{BASE}clean-split/export/").status_code == 200
    assert client.post(BASE, {"name": "mine", "steps": []}, format="json").status_code == 403
    assert client.put(f"{BASE}clean-split/", {"steps": []}, format="json").status_code == 403
    assert client.delete(f"{BASE}clean-split/").status_code == 403
    assert client.post(f"{BASE}clean-split/run/", {"version": 1}, format="json").status_code == 403
    assert not Job.objects.exists()
    assert Recipe.objects.get().steps[-1] == SPLIT


def test_an_editor_may_create_and_run_but_not_delete(recipe, editor_user):
    client = api_client_for(editor_user)

    assert client.post(BASE, {"name": "mine", "steps": []}, format="json").status_code == 201
    assert client.post(f"{BASE}clean-split/run/", {"version": 1}, format="json").status_code == 201
    assert client.delete(f"{BASE}clean-split/").status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", ""), ("post", "preview/"), ("get", "clean-split/"), ("get", "clean-split/export/")],
)
def test_an_outsider_gets_404_everywhere(recipe, outsider_user, method, path):
    client = api_client_for(outsider_user)

    response = getattr(client, method)(f"{BASE}{path}", {"version": 1, "steps": []}, format="json")

    assert response.status_code == 404


def test_an_unknown_dataset_or_recipe_is_a_404(api, recipe):
    assert api.get("/api/v1/projects/vision/datasets/nope/recipes/").status_code == 404
    assert api.get(f"{BASE}nope/").status_code == 404
    assert api.get(f"{BASE}nope/export/").status_code == 404


# --- Pages ------------------------------------------------------------------------------------------------


def page(user, name: str, **kwargs):
    client = Client()
    client.force_login(user)
    return client.get(
        reverse(f"datasets:{name}", kwargs={"project": "vision", "dataset": "customers", **kwargs})
    )


def test_the_recipe_pages_render(recipe, admin_user):
    listing = page(admin_user, "recipe-list")
    builder = page(admin_user, "recipe-new")
    detail = page(admin_user, "recipe-detail", recipe="clean-split")

    assert listing.status_code == builder.status_code == detail.status_code == 200
    assert b"clean-split" in listing.content
    assert b"New recipe" in listing.content
    assert b'id="recipe-config"' in builder.content
    assert b"datasets/recipe.js" in builder.content
    config = detail.context["config"]
    assert config["recipe"]["steps"][-1] == SPLIT
    assert config["versions"][0]["number"] == 1
    assert config["urls"]["preview"] == f"{BASE}preview/"
    assert {item["op"] for item in config["catalogue"]} >= {"impute", "split"}


def test_a_viewer_sees_a_recipe_read_only_but_cannot_open_a_new_one(recipe, viewer_user):
    detail = page(viewer_user, "recipe-detail", recipe="clean-split")

    assert detail.status_code == 200
    assert detail.context["can_edit"] is False
    assert b'id="recipe-save"' not in detail.content
    assert page(viewer_user, "recipe-new").status_code == 403
    assert page(viewer_user, "recipe-list").status_code == 200


def test_an_outsider_gets_404_on_the_pages(recipe, outsider_user):
    assert page(outsider_user, "recipe-list").status_code == 404
    assert page(outsider_user, "recipe-detail", recipe="clean-split").status_code == 404


def test_the_recipe_list_page_queries_are_bounded(version, admin_user, django_assert_max_num_queries):
    for number in range(8):
        recipe_services.recipe_create(
            dataset=version.dataset, name=f"r{number}", steps=[STEPS[0]], output={}, user=admin_user
        )
    client = Client()
    client.force_login(admin_user)
    url = reverse("datasets:recipe-list", kwargs={"project": "vision", "dataset": "customers"})

    # Session and user, project and role, dataset, recipes (with creators and counts), navigation.
    with django_assert_max_num_queries(10):
        response = client.get(url)

    assert response.status_code == 200
    assert response.content.count(b"<tr>") == 9


def test_the_recipe_page_lists_its_runs(api, version, recipe, admin_user):
    _, job = run_recipe(api, version)

    detail = page(admin_user, "recipe-detail", recipe="clean-split")

    assert [run.name for run in detail.context["runs"]] == [job.name]
    assert job.name.encode() in detail.content
