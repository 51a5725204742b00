"""Datasets API: datasets, versions, previews, lineage, registering data in place, permissions, and
the number of queries each list costs."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from datasets.models import Dataset, DatasetVersion, Recipe
from datasets.services import dataset_get_or_create, version_create
from datasets.uploads import upload_from_stream
from jobs.models import Job, JobKind
from studio.artifacts import project_prefix, store_for
from tests.conftest import api_client_for
from tests.test_datasets_formats_data import (  # noqa: F401 - isolated_data_dir is an autouse fixture
    CSV,
    PNG,
    isolated_data_dir,
    numbered_csv,
    parquet_bytes,
    write,
)

# Also run on PostgreSQL in the full-stack pass: version numbering and uploads are concurrent writes.
pytestmark = pytest.mark.fullstack

DATASETS = "/api/v1/projects/vision/datasets/"


def add_version(project, user, name: str, data: bytes = CSV, filename: str = "data.csv") -> DatasetVersion:
    return upload_from_stream(
        project=project,
        user=user,
        dataset_name=name,
        filename=filename,
        stream=io.BytesIO(data),
        length=len(data),
    )


def derived(
    parent: DatasetVersion, *, dataset: Dataset | None = None, recipe=None, job=None, role: str = ""
) -> DatasetVersion:
    """A version made from ``parent`` (as a recipe run records one), pointing at the parent's data."""
    return version_create(
        dataset=dataset or parent.dataset,
        uri=parent.uri,
        fmt=parent.format,
        read_options=parent.read_options,
        schema=parent.schema,
        origin="recipe",
        size_bytes=parent.size_bytes,
        content_sha256=parent.content_sha256,
        row_count=parent.row_count,
        column_count=parent.column_count,
        parent=parent,
        recipe=recipe,
        job=job,
        role=role,
    )


# --- datasets -----------------------------------------------------------------------------------------


def test_datasets_are_listed_with_their_latest_version(api, project, admin_user):
    add_version(project, admin_user, "people")
    add_version(project, admin_user, "people", numbered_csv(7))
    dataset_get_or_create(project=project, name="empty", user=admin_user)

    response = api.get(DATASETS)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    people, empty = body["results"][1], body["results"][0]
    assert (
        people["name"],
        people["version_count"],
        people["latest_version"],
        people["latest_row_count"],
    ) == (
        "people",
        2,
        2,
        7,
    )
    assert (empty["name"], empty["version_count"], empty["latest_version"]) == ("empty", 0, None)


def test_a_dataset_is_created_described_and_read(api, project):
    created = api.post(DATASETS, {"name": "churn", "description": "Customers who left"}, format="json")
    assert created.status_code == 201
    assert created.json()["created_by"] == "alice"

    changed = api.patch(f"{DATASETS}churn/", {"description": "Customers who left, 2024"}, format="json")

    assert changed.status_code == 200
    assert api.get(f"{DATASETS}churn/").json()["description"] == "Customers who left, 2024"


@pytest.mark.parametrize(
    ("name", "message"),
    [("churn", "already exists"), ("has space", "not a valid dataset name"), ("uploads", "reserved")],
)
def test_a_bad_or_taken_dataset_name_is_a_400_on_the_name(api, project, name, message):
    api.post(DATASETS, {"name": "churn"}, format="json")

    response = api.post(DATASETS, {"name": name}, format="json")

    assert response.status_code == 400
    assert message in response.json()["name"][0]


def test_a_missing_dataset_or_version_is_a_404(api, project, admin_user):
    add_version(project, admin_user, "people")

    assert api.get(f"{DATASETS}ghost/").status_code == 404
    assert api.get(f"{DATASETS}ghost/versions/").status_code == 404
    assert api.get(f"{DATASETS}people/versions/9/").status_code == 404
    assert api.get(f"{DATASETS}people/versions/9/preview/").status_code == 404


# --- versions ---------------------------------------------------------------------------------------


def test_a_version_describes_its_data_and_lineage(api, project, admin_user):
    add_version(project, admin_user, "people")

    body = api.get(f"{DATASETS}people/versions/1/").json()

    assert body["number"] == 1
    assert body["format"] == "csv"
    assert body["content_sha256"] == hashlib.sha256(CSV).hexdigest()
    assert body["size_bytes"] == len(CSV)
    assert (body["row_count"], body["column_count"], body["file_count"]) == (40, 5, 1)
    assert body["schema"][0] == {"name": "id", "type": "integer"}
    assert (body["origin"], body["parent"], body["job"], body["recipe"], body["role"]) == (
        "upload",
        None,
        None,
        None,
        "",
    )
    assert body["read_options"] == {"delimiter": ",", "header": True, "encoding": "utf-8"}


def test_versions_are_numbered_per_dataset_and_listed_newest_first(api, project, admin_user):
    for _ in range(3):
        add_version(project, admin_user, "a")
    add_version(project, admin_user, "b")

    numbers = [v["number"] for v in api.get(f"{DATASETS}a/versions/").json()["results"]]

    assert numbers == [3, 2, 1]
    assert [v["number"] for v in api.get(f"{DATASETS}b/versions/").json()["results"]] == [1]


def test_a_versions_parent_recipe_and_job_are_shown(api, project, admin_user):
    first = add_version(project, admin_user, "people")
    recipe = Recipe.objects.create(dataset=first.dataset, name="clean", steps=[])
    job = Job.objects.create(
        project=project,
        kind=JobKind.PROCESSING,
        name="clean-run-1",
        instance_type="ml.m5.large",
        max_runtime_seconds=60,
    )
    derived(first, recipe=recipe, job=job, role="train")

    body = api.get(f"{DATASETS}people/versions/2/").json()

    assert (body["origin"], body["parent"], body["recipe"], body["job"], body["role"]) == (
        "recipe",
        {"dataset": "people", "number": 1},
        "clean",
        "clean-run-1",
        "train",
    )


# --- preview ----------------------------------------------------------------------------------------


def test_the_preview_is_paginated_from_the_data(api, project, admin_user):
    add_version(project, admin_user, "n", numbered_csv(120))

    first = api.get(f"{DATASETS}n/versions/1/preview/?page_size=50").json()
    last = api.get(f"{DATASETS}n/versions/1/preview/?page=3&page_size=50").json()
    beyond = api.get(f"{DATASETS}n/versions/1/preview/?page=9&page_size=50").json()

    assert first["columns"] == ["n", "square", "word"]
    assert [row[0] for row in first["rows"]] == list(range(50))
    assert (first["page"], first["page_size"], first["total_rows"], first["has_next"]) == (1, 50, 120, True)
    assert [row[0] for row in last["rows"]] == list(range(100, 120))
    assert last["has_next"] is False
    assert last["rows"][-1] == [119, 119 * 119, "w0"]
    assert beyond["rows"] == []


def test_a_preview_page_that_spans_read_chunks_is_whole(api, project, admin_user, monkeypatch):
    monkeypatch.setattr("datasets.services.PREVIEW_CHUNK_ROWS", 7)
    add_version(project, admin_user, "n", numbered_csv(60))

    page = api.get(f"{DATASETS}n/versions/1/preview/?page=2&page_size=20").json()

    assert [row[0] for row in page["rows"]] == list(range(20, 40))


@pytest.mark.parametrize("query", ["page=0", "page=x", "page_size=-1"])
def test_a_bad_preview_page_is_a_400(api, project, admin_user, query):
    add_version(project, admin_user, "n", numbered_csv(5))

    assert api.get(f"{DATASETS}n/versions/1/preview/?{query}").status_code == 400


def test_the_page_size_is_capped(api, project, admin_user):
    add_version(project, admin_user, "n", numbered_csv(700))

    page = api.get(f"{DATASETS}n/versions/1/preview/?page_size=100000").json()

    assert page["page_size"] == 500
    assert len(page["rows"]) == 500


def test_a_parquet_preview_has_nulls_as_null(api, project, admin_user):
    add_version(project, admin_user, "p", parquet_bytes(), filename="p.parquet")

    page = api.get(f"{DATASETS}p/versions/1/preview/").json()

    assert page["rows"] == [[1, 0.5, "a"], [2, 1.5, "b"], [3, None, "c"]]


# --- lineage ----------------------------------------------------------------------------------------


def test_lineage_has_a_node_per_version_and_an_edge_per_parent(api, project, admin_user):
    v1 = add_version(project, admin_user, "raw")
    recipe = Recipe.objects.create(dataset=v1.dataset, name="clean", steps=[])
    v2 = derived(v1, recipe=recipe)
    v3 = add_version(project, admin_user, "raw")  # a fresh upload: no parent
    train = dataset_get_or_create(project=project, name="raw-train", user=admin_user)
    split = derived(v2, dataset=train, recipe=recipe, role="train")

    body = api.get(f"{DATASETS}raw/lineage/").json()

    nodes = {node["id"]: node for node in body["nodes"]}
    assert set(nodes) == {str(v.uuid) for v in (v1, v2, v3, split)}
    assert nodes[str(split.uuid)]["dataset"] == "raw-train"
    assert sorted((e["source"], e["target"], e["recipe"], e["role"]) for e in body["edges"]) == sorted(
        [(str(v1.uuid), str(v2.uuid), "clean", ""), (str(v2.uuid), str(split.uuid), "clean", "train")]
    )
    # From the split's side, its parent in the other dataset is a node too.
    other = api.get(f"{DATASETS}raw-train/lineage/").json()
    assert {n["dataset"] for n in other["nodes"]} == {"raw", "raw-train"}
    assert len(other["edges"]) == 1


def test_lineage_costs_the_same_queries_however_many_versions(api, project, admin_user):
    v1 = add_version(project, admin_user, "raw")
    derived(v1)

    few = queries_for(api, f"{DATASETS}raw/lineage/")
    parent = v1
    for _ in range(6):
        parent = derived(parent)
    assert queries_for(api, f"{DATASETS}raw/lineage/") == few


# --- registering data that is already stored ---------------------------------------------------------


@pytest.fixture
def import_root(settings, tmp_path):
    root = tmp_path / "imports"
    root.mkdir()
    settings.STUDIO_IMPORT_ROOTS = [f"file://{root}"]
    return root


def register(api, name: str, uri: str):
    return api.post(f"{DATASETS}{name}/versions/", {"source_uri": uri}, format="json")


def test_a_file_under_an_import_root_is_registered_without_copying(api, project, import_root):
    path = write(import_root / "shared" / "people.csv", CSV)

    response = register(api, "shared-people", f"file://{path}")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["origin"], body["uri"], body["row_count"], body["format"]) == (
        "registered",
        f"file://{path}",
        40,
        "csv",
    )
    assert body["content_sha256"] == hashlib.sha256(CSV).hexdigest()
    prefix = f"{project_prefix('vision')}/datasets"
    assert list(store_for(prefix).list(prefix)) == []  # nothing copied
    assert api.get(f"{DATASETS}shared-people/versions/1/preview/?page_size=3").json()["rows"][0][0] == 0


def test_a_folder_of_csv_parts_is_one_table(api, project, import_root):
    write(import_root / "parts" / "part-0.csv", numbered_csv(10))
    write(import_root / "parts" / "part-1.csv", numbered_csv(5))
    write(import_root / "parts" / ".hidden", b"not data")

    response = register(api, "parts", f"file://{import_root / 'parts'}")

    assert response.status_code == 201, response.content
    assert (response.json()["row_count"], response.json()["file_count"]) == (15, 2)
    page = api.get(f"{DATASETS}parts/versions/1/preview/?page_size=100").json()
    assert len(page["rows"]) == 15


def test_a_folder_of_parts_with_different_columns_is_refused(api, project, import_root):
    write(import_root / "parts" / "a.csv", numbered_csv(3))
    write(import_root / "parts" / "b.csv", numbered_csv(3, header="x,y,z"))

    response = register(api, "parts", f"file://{import_root / 'parts'}")

    assert response.status_code == 400
    assert "unlike the first file" in response.json()["source_uri"][0]
    assert not DatasetVersion.objects.exists()


def test_a_folder_of_images_is_a_collection_of_files(api, project, import_root):
    write(import_root / "pets" / "cat.png", PNG)
    write(import_root / "pets" / "dog.png", PNG)

    response = register(api, "pets", f"file://{import_root / 'pets'}")

    assert response.status_code == 201
    assert (response.json()["format"], response.json()["file_count"], response.json()["row_count"]) == (
        "archive",
        2,
        2,
    )


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc/hostname",
        "file://{root}/../outside.csv",
        "file://{root}/sub/../../outside.csv",
        "file://{root}-sibling/people.csv",
        "http://example.com/data.csv",
        "relative/path.csv",
    ],
)
def test_paths_outside_the_import_roots_are_refused(api, project, import_root, uri):
    write(import_root.parent / "outside.csv", CSV)
    write(Path(f"{import_root}-sibling") / "people.csv", CSV)

    response = register(api, "sneaky", uri.format(root=import_root))

    assert response.status_code == 400
    assert "source_uri" in response.json()
    assert not Dataset.objects.exists()


def test_a_link_inside_a_root_that_leads_out_is_refused(api, project, import_root, tmp_path):
    secret = write(tmp_path / "secret" / "passwords.csv", b"user,password\nroot,hunter2\n")
    os.symlink(secret, import_root / "innocent.csv")
    os.symlink(secret.parent, import_root / "folder")

    for uri in (f"file://{import_root / 'innocent.csv'}", f"file://{import_root / 'folder'}"):
        response = register(api, "sneaky", uri)
        assert response.status_code == 400, uri
        assert "outside" in response.json()["source_uri"][0]
    assert not Dataset.objects.exists()


def test_a_folder_holding_a_link_that_leads_out_is_refused(api, project, import_root, tmp_path):
    secret = write(tmp_path / "secret" / "passwords.csv", b"user,password\nroot,hunter2\n")
    write(import_root / "mixed" / "ok.csv", CSV)
    os.symlink(secret, import_root / "mixed" / "zz.csv")

    response = register(api, "sneaky", f"file://{import_root / 'mixed'}")

    assert response.status_code == 400
    assert "links outside" in response.json()["source_uri"][0]


def test_nothing_at_the_uri_is_a_400(api, project, import_root):
    response = register(api, "ghost", f"file://{import_root / 'nothing.csv'}")

    assert response.status_code == 400
    assert "Nothing found" in response.json()["source_uri"][0]


def test_bad_data_at_a_registered_uri_is_a_400_and_records_nothing(api, project, import_root):
    path = write(import_root / "bad.csv", b"a,b\n1,2\n3\n")

    response = register(api, "bad", f"file://{path}")

    assert response.status_code == 400
    assert "Line 3 has 1 field" in response.json()["source_uri"][0]
    assert not Dataset.objects.exists()


def test_an_s3_object_in_the_projects_prefix_is_registered(s3_store, api, project):
    key = "studio/projects/vision/landing/people.csv"
    s3_store["client"].put_object(Bucket=s3_store["bucket"], Key=key, Body=CSV)

    response = register(api, "landed", f"s3://{s3_store['bucket']}/{key}")

    assert response.status_code == 201, response.content
    assert response.json()["row_count"] == 40
    assert api.get(f"{DATASETS}landed/versions/1/preview/?page_size=2").json()["rows"][1][0] == 1


def test_an_s3_uri_outside_the_project_and_roots_is_refused(s3_store, api, project):
    s3_store["client"].put_object(Bucket=s3_store["bucket"], Key="elsewhere/x.csv", Body=CSV)

    response = register(api, "x", f"s3://{s3_store['bucket']}/elsewhere/x.csv")

    assert response.status_code == 400


# --- permissions --------------------------------------------------------------------------------------


def test_a_viewer_reads_but_cannot_upload_or_create(project, admin_user, viewer_user):
    add_version(project, admin_user, "people")
    client = api_client_for(viewer_user)

    assert client.get(DATASETS).status_code == 200
    assert client.get(f"{DATASETS}people/versions/1/preview/").status_code == 200
    assert client.get(f"{DATASETS}people/lineage/").status_code == 200
    assert client.post(DATASETS, {"name": "mine"}, format="json").status_code == 403
    assert (
        client.generic(
            "POST", f"{DATASETS}people/versions/?filename=a.csv", CSV, content_type="text/csv"
        ).status_code
        == 403
    )
    assert (
        client.post("/api/v1/projects/vision/uploads/", {"filename": "a.csv"}, format="json").status_code
        == 403
    )
    assert DatasetVersion.objects.count() == 1


def test_an_editor_uploads(project, editor_user):
    client = api_client_for(editor_user)

    response = client.generic(
        "POST", f"{DATASETS}people/versions/?filename=a.csv", CSV, content_type="text/csv"
    )

    assert response.status_code == 201
    assert response.json()["created_by"] == "erin"


def test_an_outsider_sees_no_datasets_at_all(project, admin_user, outsider_user):
    add_version(project, admin_user, "people")
    client = api_client_for(outsider_user)

    assert client.get(DATASETS).status_code == 404
    assert client.get(f"{DATASETS}people/").status_code == 404
    assert client.get(f"{DATASETS}people/versions/1/preview/").status_code == 404
    assert (
        client.generic(
            "POST", f"{DATASETS}people/versions/?filename=a.csv", CSV, content_type="text/csv"
        ).status_code
        == 404
    )


def test_uploads_of_another_project_are_not_found(project, admin_user, outsider_user):
    other = api_client_for(outsider_user)
    theirs = other.post("/api/v1/projects/other/uploads/", {"filename": "a.csv"}, format="json").json()

    response = api_client_for(admin_user).get(f"/api/v1/projects/vision/uploads/{theirs['uuid']}/")

    assert response.status_code == 404


# --- query counts -------------------------------------------------------------------------------------


def queries_for(client, url: str) -> int:
    client.get(url)  # the API key's last-used time is written on the first call of the minute only
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_dataset_list_costs_the_same_queries_for_2_or_12_datasets(project, admin_user):
    client = api_client_for(admin_user)
    for name in ("a", "b"):
        add_version(project, admin_user, name)
    few = queries_for(client, DATASETS)
    for index in range(10):
        add_version(project, admin_user, f"more-{index}")

    # api key, project, role, count, the page (versions annotated in the same query)
    assert queries_for(client, DATASETS) == few
    assert few <= 5


def test_the_version_list_costs_the_same_queries_for_1_or_8_versions(project, admin_user):
    client = api_client_for(admin_user)
    first = add_version(project, admin_user, "a")
    few = queries_for(client, f"{DATASETS}a/versions/")
    parent = first
    for _ in range(7):
        parent = derived(parent)

    # api key, project, role, dataset, count, the page (parent, job, recipe and creator joined)
    assert queries_for(client, f"{DATASETS}a/versions/") == few
    assert few <= 6


def test_the_upload_list_costs_the_same_queries_however_many(project, admin_user):
    client = api_client_for(admin_user)
    add_version(project, admin_user, "a")
    few = queries_for(client, "/api/v1/projects/vision/uploads/")
    for index in range(5):
        add_version(project, admin_user, f"b{index}")

    assert queries_for(client, "/api/v1/projects/vision/uploads/") == few
