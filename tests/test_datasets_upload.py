"""Uploads over the API: chunked and resumable, multipart and raw, every format, every bad input.

Each bad input must give a 400 that names the problem and leave nothing behind: no version, no
dataset, no stored object, no staging file.
"""

from __future__ import annotations

import hashlib
import io
import threading
import tracemalloc
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.db import connection
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import force_authenticate

from datasets.api_data import UploadDetailApi
from datasets.models import Dataset, DatasetVersion, Upload, UploadStatus
from datasets.services import dataset_get_or_create, version_create
from datasets.uploads import upload_create, upload_receive, uploads_expire
from studio.artifacts import project_prefix, store_for
from tests.test_datasets_formats_data import (  # noqa: F401 - isolated_data_dir is an autouse fixture
    CSV,
    PNG,
    images_zip,
    isolated_data_dir,
    numbered_csv,
    parquet_bytes,
    tar_bytes,
    xlsx_bytes,
    zip_bomb,
    zip_bytes,
)

# Also run on PostgreSQL in the full-stack pass: version numbering and uploads are concurrent writes.
pytestmark = pytest.mark.fullstack

UPLOADS = "/api/v1/projects/vision/uploads/"


@pytest.fixture
def data_dir(settings) -> Path:
    """This test's data directory (isolated_data_dir made it)."""
    return Path(settings.DATA_DIR)


DATASETS = "/api/v1/projects/vision/datasets/"


def create(client, filename: str, data: bytes | None = None, **extra):
    body = {"filename": filename, **extra}
    if data is not None:
        body.setdefault("total_size", len(data))
    response = client.post(UPLOADS, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def put_chunk(client, uuid: str, data: bytes, start: int, total: int | str):
    return client.generic(
        "PUT",
        f"{UPLOADS}{uuid}/",
        data,
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes {start}-{start + len(data) - 1}/{total}",
    )


def send_all(client, filename: str, data: bytes, *, chunk: int = 64 * 1024) -> str:
    upload = create(client, filename, data)
    for start in range(0, len(data), chunk):
        response = put_chunk(client, upload["uuid"], data[start : start + chunk], start, len(data))
        assert response.status_code == 200, response.content
    return upload["uuid"]


def staged(client, filename: str, data: bytes, **kwargs) -> dict:
    uuid = send_all(client, filename, data, **kwargs)
    response = client.post(f"{UPLOADS}{uuid}/complete/")
    assert response.status_code == 200, response.content
    return response.json()


def stored_objects(project_name: str = "vision") -> list[str]:
    """Everything in the project's datasets area of the store."""
    prefix = f"{project_prefix(project_name)}/datasets"
    return [info.uri for info in store_for(prefix).list(prefix)]


def staging_files(data_dir: Path) -> list[Path]:
    folder = data_dir / "uploads"
    return sorted(folder.glob("*")) if folder.exists() else []


def assert_nothing_left(data_dir: Path) -> None:
    assert DatasetVersion.objects.count() == 0
    assert stored_objects() == []
    assert staging_files(data_dir) == []


# --- the chunked upload ---------------------------------------------------------------------------


def test_a_chunked_upload_is_staged_with_its_inspection_then_committed(api, project, data_dir):
    upload = create(api, "people.csv", CSV)
    assert upload["status"] == "receiving"
    assert upload["received_bytes"] == 0

    for start in range(0, len(CSV), 500):
        piece = CSV[start : start + 500]
        response = put_chunk(api, upload["uuid"], piece, start, len(CSV))
        assert response.status_code == 200
        assert response.json()["received_bytes"] == start + len(piece)
    assert api.get(f"{UPLOADS}{upload['uuid']}/").json()["received_bytes"] == len(CSV)

    response = api.post(f"{UPLOADS}{upload['uuid']}/complete/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "staged"
    assert body["sha256"] == hashlib.sha256(CSV).hexdigest()
    inspection = body["inspection"]
    assert inspection["format"] == "csv"
    assert inspection["row_count"] == 40
    assert inspection["column_count"] == 5
    assert [c["type"] for c in inspection["schema"]] == [
        "integer",
        "float",
        "boolean",
        "datetime",
        "categorical",
    ]
    assert len(inspection["preview"]["rows"]) == 20
    assert DatasetVersion.objects.count() == 0  # staged: nothing is a version until the user commits

    response = api.post(f"{UPLOADS}{upload['uuid']}/commit/", {"dataset": "people"}, format="json")

    assert response.status_code == 201, response.content
    version = response.json()
    assert (version["dataset"], version["number"], version["origin"]) == ("people", 1, "upload")
    assert version["row_count"] == 40
    assert version["content_sha256"] == hashlib.sha256(CSV).hexdigest()
    with store_for(version["uri"]).open(version["uri"]) as handle:
        assert handle.read() == CSV
    assert Upload.objects.get(uuid=upload["uuid"]).status == UploadStatus.COMMITTED
    assert staging_files(data_dir) == []  # the staging copy goes once the data is stored


def test_a_chunk_at_the_wrong_offset_gets_409_with_the_offset_to_resume_from(api, project):
    data = numbered_csv(2000)
    upload = create(api, "n.csv", data)
    assert put_chunk(api, upload["uuid"], data[:1000], 0, len(data)).status_code == 200

    skipped = put_chunk(api, upload["uuid"], data[2000:3000], 2000, len(data))

    assert skipped.status_code == 409
    assert skipped.json()["received_bytes"] == 1000
    assert skipped.json()["status"] == "receiving"
    # The client resumes from what the server says, and the file arrives whole.
    resume_at = api.get(f"{UPLOADS}{upload['uuid']}/").json()["received_bytes"]
    assert put_chunk(api, upload["uuid"], data[resume_at:], resume_at, len(data)).status_code == 200
    assert api.post(f"{UPLOADS}{upload['uuid']}/complete/").json()["inspection"]["row_count"] == 2000


def test_a_retried_chunk_that_already_arrived_is_refused_not_appended_twice(api, project):
    data = numbered_csv(500)
    upload = create(api, "n.csv", data)
    first = data[: len(data) // 2]
    assert put_chunk(api, upload["uuid"], first, 0, len(data)).status_code == 200

    again = put_chunk(api, upload["uuid"], first, 0, len(data))

    assert again.status_code == 409
    assert again.json()["received_bytes"] == len(first)
    assert put_chunk(api, upload["uuid"], data[len(first) :], len(first), len(data)).status_code == 200
    staged_upload = api.post(f"{UPLOADS}{upload['uuid']}/complete/").json()
    assert staged_upload["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_chunk_cut_short_is_dropped_whole_and_the_offset_stays(project, admin_user):
    """A connection drops mid-chunk: the partial bytes are not kept; the client resends from the offset."""
    upload = upload_create(project=project, user=admin_user, filename="a.csv", total_size=20)
    upload_receive(upload=upload, stream=io.BytesIO(b"a,b\n"), offset=0, length=4)

    with pytest.raises(Exception, match="ended after 3 of 10 bytes"):
        upload_receive(upload=upload, stream=io.BytesIO(b"1,2"), offset=4, length=10)

    upload.refresh_from_db()
    assert upload.received_bytes == 4
    assert Path(upload.staging_path).stat().st_size == 4


def test_chunks_may_give_their_offset_as_a_query_parameter(api, project):
    upload = create(api, "a.csv")
    url = f"{UPLOADS}{upload['uuid']}/"

    assert api.generic("PUT", f"{url}?offset=0", b"a,b\n", content_type="text/csv").status_code == 200
    assert api.generic("PUT", f"{url}?offset=4", b"1,2\n", content_type="text/csv").status_code == 200
    assert api.generic("PUT", f"{url}?offset=4", b"3,4\n", content_type="text/csv").status_code == 409
    response = api.post(f"{url}complete/")

    assert response.json()["inspection"]["row_count"] == 1


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("bytes 0-9/5", "not a valid range"),
        ("bytes 5-2/10", "not a valid range"),
        ("items 0-3/4", "Content-Range"),
        ("bytes 0-99/200", "range is 100 bytes but the body is 4"),
    ],
)
def test_a_malformed_content_range_is_a_400(api, project, header, message):
    upload = create(api, "a.csv")

    response = api.generic(
        "PUT", f"{UPLOADS}{upload['uuid']}/", b"a,b\n", content_type="text/csv", HTTP_CONTENT_RANGE=header
    )

    assert response.status_code == 400
    assert message in str(response.json())


def test_a_chunk_past_the_declared_size_is_refused(api, project):
    upload = create(api, "a.csv", b"a,b\n")

    response = put_chunk(api, upload["uuid"], b"a,b\n1,2\n", 0, 8)

    assert response.status_code == 400
    assert "differs from the declared 4" in str(response.json())


def test_an_upload_larger_than_the_limit_is_refused_up_front(api, project, settings):
    settings.STUDIO_UPLOAD_MAX_BYTES = 1000

    response = api.post(UPLOADS, {"filename": "big.csv", "total_size": 5000}, format="json")

    assert response.status_code == 400
    assert "upload limit" in response.json()["total_size"][0]


def test_complete_before_every_byte_arrived_is_a_400(api, project):
    upload = create(api, "a.csv", CSV)
    put_chunk(api, upload["uuid"], CSV[:100], 0, len(CSV))

    response = api.post(f"{UPLOADS}{upload['uuid']}/complete/")

    assert response.status_code == 400
    assert f"Only 100 of {len(CSV)} bytes" in response.json()["upload"][0]
    assert api.get(f"{UPLOADS}{upload['uuid']}/").json()["status"] == "receiving"  # still resumable


def test_commit_of_an_upload_not_yet_complete_is_a_400(api, project):
    uuid = send_all(api, "a.csv", CSV)

    response = api.post(f"{UPLOADS}{uuid}/commit/", {"dataset": "people"}, format="json")

    assert response.status_code == 400
    assert "complete it before committing" in response.json()["upload"][0]
    assert not Dataset.objects.exists()


def test_a_second_commit_is_refused(api, project):
    uuid = staged(api, "a.csv", CSV)["uuid"]
    assert api.post(f"{UPLOADS}{uuid}/commit/", {"dataset": "people"}, format="json").status_code == 201

    again = api.post(f"{UPLOADS}{uuid}/commit/", {"dataset": "people"}, format="json")

    assert again.status_code == 400
    assert "already committed" in again.json()["upload"][0]
    assert DatasetVersion.objects.count() == 1


def test_a_chunk_after_complete_gets_409(api, project):
    uuid = staged(api, "a.csv", CSV)["uuid"]

    response = put_chunk(api, uuid, b"more", len(CSV), len(CSV) + 4)

    assert response.status_code == 409
    assert response.json()["status"] == "staged"


def test_an_upload_can_be_cancelled_and_leaves_nothing(api, project, data_dir):
    uuid = staged(api, "a.csv", CSV)["uuid"]
    assert stored_objects()

    response = api.delete(f"{UPLOADS}{uuid}/")

    assert response.status_code == 204
    assert Upload.objects.get(uuid=uuid).status == UploadStatus.ABORTED
    assert_nothing_left(data_dir)


def test_uploads_left_unfinished_expire(api, project, data_dir):
    receiving = send_all(api, "a.csv", CSV)
    staged_uuid = staged(api, "b.csv", CSV)["uuid"]
    Upload.objects.update(updated_at=timezone.now() - timedelta(days=3))

    assert uploads_expire(older_than=timedelta(days=2)) == 2

    assert set(Upload.objects.values_list("status", flat=True)) == {UploadStatus.ABORTED}
    assert {str(u) for u in Upload.objects.values_list("uuid", flat=True)} == {receiving, staged_uuid}
    assert_nothing_left(data_dir)


def test_the_upload_list_shows_the_projects_uploads(api, project):
    create(api, "a.csv")
    create(api, "b.csv")

    response = api.get(UPLOADS)

    assert response.status_code == 200
    assert sorted(item["filename"] for item in response.json()["results"]) == ["a.csv", "b.csv"]


# --- the schema at commit -------------------------------------------------------------------------


def schema_of(upload: dict) -> list[dict]:
    return [dict(column) for column in upload["inspection"]["schema"]]


def test_an_edited_schema_that_fits_is_saved(api, project):
    upload = staged(api, "a.csv", CSV)
    schema = schema_of(upload)
    schema[0]["type"] = "text"  # ids as labels
    schema[4]["type"] = "text"

    response = api.post(
        f"{UPLOADS}{upload['uuid']}/commit/", {"dataset": "people", "schema": schema}, format="json"
    )

    assert response.status_code == 201
    assert [c["type"] for c in response.json()["schema"]] == ["text", "float", "boolean", "datetime", "text"]


def test_a_type_that_does_not_fit_is_a_400_naming_the_column_and_the_upload_stays_staged(api, project):
    upload = staged(api, "a.csv", CSV)
    schema = schema_of(upload)
    schema[4]["type"] = "integer"  # city names are not integers

    response = api.post(
        f"{UPLOADS}{upload['uuid']}/commit/", {"dataset": "people", "schema": schema}, format="json"
    )

    assert response.status_code == 400
    assert "column 'city': 'Oslo' is not an integer" in response.json()["schema"][0]
    assert not DatasetVersion.objects.exists()
    assert api.get(f"{UPLOADS}{upload['uuid']}/").json()["status"] == "staged"
    schema[4]["type"] = "categorical"
    assert (
        api.post(
            f"{UPLOADS}{upload['uuid']}/commit/", {"dataset": "people", "schema": schema}, format="json"
        ).status_code
        == 201
    )


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ([{"name": "id", "type": "integer"}], "must list the file's columns in order"),
        ("nonsense", "must be a list"),
        ([{"name": "id", "type": "number"}], "unknown type 'number'"),
    ],
)
def test_a_malformed_schema_at_commit_is_a_400(api, project, schema, message):
    upload = staged(api, "a.csv", CSV)

    response = api.post(
        f"{UPLOADS}{upload['uuid']}/commit/", {"dataset": "people", "schema": schema}, format="json"
    )

    assert response.status_code == 400
    assert message in response.json()["schema"][0]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad name!", "not a valid dataset name"),
        ("-edge", "not a valid dataset name"),
        ("upload", "reserved"),
        ("x" * 64, "63"),
    ],
)
def test_a_bad_dataset_name_at_commit_is_a_400(api, project, name, message):
    upload = staged(api, "a.csv", CSV)

    response = api.post(f"{UPLOADS}{upload['uuid']}/commit/", {"dataset": name}, format="json")

    assert response.status_code == 400
    assert message in str(response.json())
    assert not Dataset.objects.exists()


# --- every format through the upload ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "data", "fmt", "rows", "columns"),
    [
        ("people.csv", CSV, "csv", 40, 5),
        ("t.tsv", b"a\tb\n1\t2\n3\t4\n", "tsv", 2, 2),
        ("raw.txt", b"1;2.5;x\n3;4.5;y\n", "csv", 2, 3),
        ("bom.csv", b"\xef\xbb\xbfname,age\nann,3\n", "csv", 1, 2),
        ("latin.csv", "name,city\nJosé,Zürich\nRené,Genève\n".encode("latin-1"), "csv", 2, 2),
        ("frame.parquet", parquet_bytes(), "parquet", 3, 3),
        ("rows.jsonl", b'{"a": 1}\n{"a": 2}\n{"a": 3}\n', "jsonl", 3, 1),
        ("book.xlsx", xlsx_bytes(), "xlsx", 3, 3),
    ],
)
def test_every_tabular_format_uploads_in_chunks(api, project, filename, data, fmt, rows, columns):
    upload = staged(api, filename, data, chunk=max(7, len(data) // 8))  # chunks cut rows and characters

    assert upload["inspection"]["format"] == fmt
    assert (upload["inspection"]["row_count"], upload["inspection"]["column_count"]) == (rows, columns)
    version = api.post(f"{UPLOADS}{upload['uuid']}/commit/", {"dataset": "d"}, format="json").json()
    assert version["format"] == fmt
    preview = api.get(f"{DATASETS}d/versions/1/preview/").json()
    assert len(preview["rows"]) == rows


@pytest.mark.parametrize(("filename", "data"), [("pets.zip", images_zip()), ("pets.tar.gz", None)])
def test_an_archive_is_extracted_into_the_versions_prefix(api, project, filename, data):
    data = data or tar_bytes(
        {"images/cat.png": PNG, "images/dog.png": PNG, "notes/readme.txt": b"two pets\n"}
    )
    upload = staged(api, filename, data)

    inspection = upload["inspection"]
    assert inspection["format"] == "archive"
    assert inspection["row_count"] == inspection["file_count"] == 3
    assert inspection["schema"] == []
    assert inspection["read_options"]["kinds"] == {".png": 2, ".txt": 1}
    version = api.post(f"{UPLOADS}{upload['uuid']}/commit/", {"dataset": "pets"}, format="json").json()
    assert (version["format"], version["file_count"], version["row_count"]) == ("archive", 3, 3)
    assert version["content_sha256"] == hashlib.sha256(data).hexdigest()
    names = sorted(uri[len(version["uri"]) + 1 :] for uri in stored_objects())
    assert names == ["images/cat.png", "images/dog.png", "notes/readme.txt"]
    with store_for(version["uri"]).open(version["uri"] + "/images/cat.png") as handle:
        assert handle.read() == PNG
    files = api.get(f"{DATASETS}pets/versions/1/preview/").json()
    assert files["columns"] == ["path", "size_bytes"]
    assert [row[0] for row in files["rows"]] == names


# --- bad input through the upload: a 400 naming the problem, nothing left behind -----------------------


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("noise.csv", bytes(range(256)) * 40, "binary data"),
        ("short.csv", b"a,b,c\n1,2,3\n4,5\n", "Line 3 has 2 fields, expected 3"),
        ("long.csv", b"a,b\n1,2\n3,4,5\n", "Line 3 has 3 fields, expected 2"),
        ("blank.csv", b"\n\n\n", "empty"),
        ("evil.zip", zip_bytes({"ok.txt": b"x", "../../etc/evil": b"x"}), "outside the archive"),
        ("evil.tar.gz", tar_bytes({"../evil.txt": b"x"}), "outside the archive"),
        ("bomb.zip", zip_bomb(), "zip bomb"),
        ("photo.csv", PNG, "PNG image"),
    ],
)
def test_bad_files_are_a_400_that_names_the_problem_and_leave_nothing(
    api, project, data_dir, filename, data, message
):
    uuid = send_all(api, filename, data)

    response = api.post(f"{UPLOADS}{uuid}/complete/")

    assert response.status_code == 400
    assert message in response.json()["file"][0]
    upload = api.get(f"{UPLOADS}{uuid}/").json()
    assert upload["status"] == "failed"
    assert message in upload["error"]
    assert_nothing_left(data_dir)


def test_an_enormous_line_is_a_400_naming_it(api, project, data_dir, settings):
    settings.STUDIO_UPLOAD_MAX_LINE_BYTES = 256 * 1024
    data = b"a,b\n1,2\n" + b"9" * (600 * 1024) + b",3\n"

    uuid = send_all(api, "wide.csv", data, chunk=256 * 1024)
    response = api.post(f"{UPLOADS}{uuid}/complete/")

    assert response.status_code == 400
    assert "Line 3 is longer than" in response.json()["file"][0]
    assert_nothing_left(data_dir)


def test_an_unknown_encoding_is_a_400(api, project):
    response = api.post(UPLOADS, {"filename": "a.csv", "options": {"encoding": "klingon"}}, format="json")

    assert response.status_code == 400
    assert "Unknown encoding 'klingon'" in response.json()["encoding"][0]


def test_an_empty_file_is_refused(api, project, data_dir):
    assert api.post(UPLOADS, {"filename": "a.csv", "total_size": 0}, format="json").status_code == 400
    upload = create(api, "a.csv")

    response = api.post(f"{UPLOADS}{upload['uuid']}/complete/")

    assert response.status_code == 400
    assert "empty" in response.json()["file"][0]
    assert_nothing_left(data_dir)


# --- one-shot uploads: multipart and raw bodies ----------------------------------------------------


def test_a_multipart_upload_makes_a_version_in_one_request(api, project):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api.post(
        f"{DATASETS}people/versions/",
        {"file": SimpleUploadedFile("people.csv", CSV, content_type="text/csv"), "description": "first cut"},
        format="multipart",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["dataset"], body["number"], body["row_count"], body["description"]) == (
        "people",
        1,
        40,
        "first cut",
    )
    assert Upload.objects.get().status == UploadStatus.COMMITTED


def test_a_raw_body_upload_takes_its_name_from_the_query(api, project):
    response = api.generic(
        "POST",
        f"{DATASETS}scores/versions/?filename=scores.tsv",
        b"a\tb\n1\t2\n",
        content_type="text/tab-separated-values",
    )

    assert response.status_code == 201, response.content
    assert (response.json()["format"], response.json()["row_count"]) == ("tsv", 1)
    assert response.json()["uri"].endswith("/scores.tsv")


def test_a_raw_parquet_body_without_a_name(api, project):
    response = api.generic(
        "POST", f"{DATASETS}frame/versions/", parquet_bytes(), content_type="application/vnd.apache.parquet"
    )

    assert response.status_code == 201, response.content
    assert response.json()["format"] == "parquet"


def test_a_bad_one_shot_upload_leaves_nothing_behind(api, project, data_dir):
    response = api.generic(
        "POST", f"{DATASETS}broken/versions/?filename=b.csv", b"a,b\n1\n2,3,4\n", content_type="text/csv"
    )

    assert response.status_code == 400
    assert "Line 2 has 1 field, expected 2" in response.json()["file"][0]
    assert not Dataset.objects.exists()
    assert_nothing_left(data_dir)


def test_a_one_shot_upload_to_a_bad_name_is_refused_before_reading(api, project, data_dir):
    response = api.generic(
        "POST", f"{DATASETS}no_underscores/versions/?filename=a.csv", CSV, content_type="text/csv"
    )

    assert response.status_code == 400
    assert "not a valid dataset name" in response.json()["dataset"][0]
    assert not Upload.objects.exists()
    assert_nothing_left(data_dir)


def test_a_one_shot_upload_with_an_empty_body_is_refused(api, project, data_dir):
    response = api.generic("POST", f"{DATASETS}d/versions/?filename=a.csv", b"", content_type="text/csv")

    assert response.status_code == 400
    assert "empty" in str(response.json())
    assert_nothing_left(data_dir)


# --- versions are numbered safely ---------------------------------------------------------------------


def test_each_upload_is_the_next_version(api, project):
    for expected in (1, 2, 3):
        response = api.generic("POST", f"{DATASETS}d/versions/?filename=a.csv", CSV, content_type="text/csv")
        assert response.json()["number"] == expected

    assert list(DatasetVersion.objects.order_by("number").values_list("number", flat=True)) == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_get_distinct_version_numbers(project, admin_user):
    dataset = dataset_get_or_create(project=project, name="busy", user=admin_user)
    errors: list[BaseException] = []

    def write_versions() -> None:
        try:
            for _ in range(5):
                version_create(
                    dataset=dataset,
                    uri="file:///tmp/x.csv",
                    fmt="csv",
                    read_options={},
                    schema=[],
                    origin="upload",
                    size_bytes=1,
                    content_sha256="0" * 64,
                    row_count=1,
                    column_count=1,
                )
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write_versions) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(DatasetVersion.objects.values_list("number", flat=True)) == list(range(1, 21))


# --- on S3 -----------------------------------------------------------------------------------------------


def test_a_chunked_upload_to_s3_is_stored_previewed_and_cleaned_on_failure(s3_store, api, project):
    upload = staged(api, "people.csv", CSV, chunk=300)
    version = api.post(f"{UPLOADS}{upload['uuid']}/commit/", {"dataset": "people"}, format="json").json()

    assert version["uri"].startswith(s3_store["root"])
    key = urlparse(version["uri"]).path.lstrip("/")
    assert s3_store["client"].get_object(Bucket=s3_store["bucket"], Key=key)["Body"].read() == CSV
    preview = api.get(f"{DATASETS}people/versions/1/preview/?page=2&page_size=15").json()
    assert preview["rows"][0][0] == 15
    # A bad archive stores nothing in the bucket.
    before = s3_store["client"].list_objects_v2(Bucket=s3_store["bucket"]).get("KeyCount", 0)
    bad = send_all(api, "evil.zip", zip_bytes({"a.txt": b"x", "../b.txt": b"y"}))
    assert api.post(f"{UPLOADS}{bad}/complete/").status_code == 400
    assert s3_store["client"].list_objects_v2(Bucket=s3_store["bucket"]).get("KeyCount", 0) == before


def test_an_archive_upload_to_s3(s3_store, api, project):
    upload = staged(api, "pets.zip", images_zip())
    version = api.post(f"{UPLOADS}{upload['uuid']}/commit/", {"dataset": "pets"}, format="json").json()

    listed = s3_store["client"].list_objects_v2(
        Bucket=s3_store["bucket"], Prefix=urlparse(version["uri"]).path.lstrip("/")
    )
    assert listed["KeyCount"] == 3


# --- large files are read in a child process ------------------------------------------------------


def test_large_files_are_inspected_in_a_child_process_with_the_same_result(api, project, settings):
    in_process = staged(api, "people.csv", CSV)["inspection"]
    settings.STUDIO_UPLOAD_INSPECT_IN_PROCESS_BYTES = 0  # every file counts as large

    in_child = staged(api, "people.csv", CSV)["inspection"]

    assert in_child == in_process


def test_a_child_process_reports_bad_data_and_misfit_types(api, project, settings, data_dir):
    settings.STUDIO_UPLOAD_INSPECT_IN_PROCESS_BYTES = 0
    bad = send_all(api, "short.csv", b"a,b\n1,2\n3\n")
    response = api.post(f"{UPLOADS}{bad}/complete/")
    assert response.status_code == 400
    assert "Line 3 has 1 field, expected 2" in response.json()["file"][0]

    upload = staged(api, "people.csv", CSV)
    schema = schema_of(upload)
    schema[4]["type"] = "float"
    response = api.post(
        f"{UPLOADS}{upload['uuid']}/commit/", {"dataset": "p", "schema": schema}, format="json"
    )

    assert response.status_code == 400
    assert "column 'city': 'Oslo' is not a number" in response.json()["schema"][0]


# --- memory ----------------------------------------------------------------------------------------------


def streamed_put(user, uuid: str, handle, start: int, length: int, total: int):
    """A PUT whose body is read from an open file, as a WSGI server hands it over: the test client
    would copy each chunk into memory twice, which is the client's cost, not the server's."""
    environ = RequestFactory()._base_environ(
        PATH_INFO=f"{UPLOADS}{uuid}/",
        REQUEST_METHOD="PUT",
        CONTENT_TYPE="application/octet-stream",
        CONTENT_LENGTH=str(length),
        HTTP_CONTENT_RANGE=f"bytes {start}-{start + length - 1}/{total}",
        **{"wsgi.input": handle},
    )
    request = WSGIRequest(environ)
    force_authenticate(request, user=user)
    return UploadDetailApi.as_view()(request, project="vision", upload_uuid=uuid)


def test_a_50_mb_chunked_upload_keeps_memory_far_below_the_file_size(api, project, admin_user, tmp_path):
    """The server never holds the file: Python's peak allocation over the whole upload (8 MB chunks,
    complete, inspection of every row) stays a fraction of 50 MB."""
    chunk = 8 * 1024 * 1024
    row = b"12345,0.123456789,some words here,2024-01-01\n"
    source = tmp_path / "big.csv"
    with open(source, "wb") as handle:
        handle.write(b"a,b,c,d\n")
        for _ in range(50):
            handle.write(row * (1024 * 1024 // len(row)))
    size = source.stat().st_size
    upload = create(api, "big.csv", total_size=size)

    tracemalloc.start()
    try:
        with open(source, "rb") as handle:
            for start in range(0, size, chunk):
                handle.seek(start)
                length = min(chunk, size - start)
                response = streamed_put(admin_user, upload["uuid"], handle, start, length, size)
                assert response.status_code == 200, response.data
        _, upload_peak = tracemalloc.get_traced_memory()
        response = api.post(f"{UPLOADS}{upload['uuid']}/complete/")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 200, response.content
    assert response.json()["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert response.json()["inspection"]["row_count"] == 50 * (1024 * 1024 // len(row))
    assert upload_peak < 4 * 1024 * 1024, f"receiving: peak {upload_peak / 2**20:.1f} MB"
    assert peak < 25 * 1024 * 1024, f"peak {peak / 2**20:.1f} MB for a {size / 2**20:.0f} MB file"


def test_a_chunk_while_another_is_being_written_gets_409_instead_of_waiting(api, project, admin_user):
    """A retry must not hang behind its original whose connection hangs: it hears "come back"."""
    from datasets.uploads import UploadConflict, _staging_lock

    upload = upload_create(project=project, user=admin_user, filename="a.csv", total_size=8)

    # The original request holds the lock, still writing.
    with _staging_lock(upload), pytest.raises(UploadConflict, match="Another request is writing") as raised:
        upload_receive(upload=upload, stream=io.BytesIO(b"a,b\n"), offset=0, length=4)
    assert raised.value.received_bytes == 0
    assert upload_receive(upload=upload, stream=io.BytesIO(b"a,b\n"), offset=0, length=4).received_bytes == 4


def test_a_committed_upload_cannot_be_cancelled(api, project):
    uuid = staged(api, "a.csv", CSV)["uuid"]
    api.post(f"{UPLOADS}{uuid}/commit/", {"dataset": "people"}, format="json")

    response = api.delete(f"{UPLOADS}{uuid}/")

    assert response.status_code == 400
    assert "committed" in response.json()["upload"][0]
    assert stored_objects()  # the version's data stays


def test_chunks_to_a_cancelled_upload_get_409(api, project):
    upload = create(api, "a.csv", CSV)
    api.delete(f"{UPLOADS}{upload['uuid']}/")

    response = put_chunk(api, upload["uuid"], CSV[:10], 0, len(CSV))

    assert response.status_code == 409
    assert response.json()["status"] == "aborted"
