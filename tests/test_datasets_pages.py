"""Dataset pages: list, upload (and its no-JavaScript form), review with editable types, detail
with schema, preview, versions and lineage; who may open which; the queries each costs."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from datasets.models import Dataset, DatasetVersion, Upload, UploadStatus
from datasets.uploads import upload_complete, upload_create, upload_from_stream, upload_receive
from tests.conftest import PASSWORD
from tests.test_datasets_formats_data import CSV, images_zip, isolated_data_dir, numbered_csv  # noqa: F401


def login(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def add_version(project, user, name: str, data: bytes = CSV, filename: str = "data.csv") -> DatasetVersion:
    return upload_from_stream(
        project=project,
        user=user,
        dataset_name=name,
        filename=filename,
        stream=io.BytesIO(data),
        length=len(data),
    )


def staged_upload(project, user, data: bytes = CSV, filename: str = "people.csv") -> Upload:
    upload = upload_create(project=project, user=user, filename=filename, total_size=len(data))
    upload_receive(upload=upload, stream=io.BytesIO(data), offset=0, length=len(data))
    return upload_complete(upload=upload, user=user)


# --- list ----------------------------------------------------------------------------------------


def test_the_dataset_list_shows_each_dataset_and_links_to_files(project, admin_user):
    add_version(project, admin_user, "people")
    client = login(admin_user)

    response = client.get("/projects/vision/datasets/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="/projects/vision/datasets/people/"' in html
    assert 'href="/projects/vision/data/"' in html  # the project's files stay one click away
    assert 'href="/projects/vision/datasets/upload/"' in html


def test_the_main_navigation_data_link_opens_the_datasets(project, admin_user):
    response = login(admin_user).get("/projects/vision/")

    nav = re.search(r'<nav class="mainnav".*?</nav>', response.content.decode(), re.S).group(0)
    assert 'href="/projects/vision/datasets/"' in nav


def test_a_staged_upload_waits_on_the_list(project, admin_user):
    upload = staged_upload(project, admin_user)

    html = login(admin_user).get("/projects/vision/datasets/").content.decode()

    assert f"/projects/vision/datasets/uploads/{upload.uuid}/" in html


def test_the_list_is_paginated_with_the_same_queries_per_page(
    project, admin_user, django_assert_max_num_queries
):
    for index in range(3):
        add_version(project, admin_user, f"set-{index}")
    client = login(admin_user)
    client.get("/projects/vision/datasets/")
    with CaptureQueriesContext(connection) as few:
        client.get("/projects/vision/datasets/")
    for index in range(3, 30):
        add_version(project, admin_user, f"set-{index}")

    with django_assert_max_num_queries(len(few)):
        response = client.get("/projects/vision/datasets/?page=2")

    assert response.status_code == 200
    assert "Page 2 of 2" in response.content.decode()


def test_a_viewer_sees_the_list_without_upload_buttons(project, admin_user, viewer_user):
    add_version(project, admin_user, "people")

    html = login(viewer_user).get("/projects/vision/datasets/").content.decode()

    assert "people" in html
    assert "/datasets/upload/" not in html


def test_an_outsider_gets_404_on_every_page(project, admin_user, outsider_user):
    upload = staged_upload(project, admin_user)
    add_version(project, admin_user, "people")
    client = login(outsider_user)

    for url in (
        "/projects/vision/datasets/",
        "/projects/vision/datasets/upload/",
        "/projects/vision/datasets/people/",
        f"/projects/vision/datasets/uploads/{upload.uuid}/",
    ):
        assert client.get(url).status_code == 404, url


def test_pages_need_a_login(project):
    response = Client().get("/projects/vision/datasets/")

    assert response.status_code == 302
    assert "/login" in response["Location"]


# --- upload ------------------------------------------------------------------------------------------


def test_the_upload_page_has_the_dropzone_the_progress_bar_and_the_script(project, editor_user):
    response = login(editor_user).get("/projects/vision/datasets/upload/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="dropzone"' in html
    assert "<progress" in html
    assert 'data-uploads-url="/api/v1/projects/vision/uploads/"' in html
    assert 'data-chunk-bytes="8388608"' in html
    assert "datasets/upload.js" in html
    assert "csrfmiddlewaretoken" in html


def test_a_viewer_may_not_open_the_upload_page(project, viewer_user):
    assert login(viewer_user).get("/projects/vision/datasets/upload/").status_code == 403


def test_the_form_without_javascript_stages_the_file_and_opens_the_review(project, editor_user):
    client = login(editor_user)

    response = client.post(
        "/projects/vision/datasets/upload/", {"file": SimpleUploadedFile("people.csv", CSV)}
    )

    upload = Upload.objects.get()
    assert upload.status == UploadStatus.STAGED
    assert response.status_code == 302
    assert response["Location"] == f"/projects/vision/datasets/uploads/{upload.uuid}/"


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"a,b\n1,2\n3\n", "Line 3 has 1 field, expected 2"), (b"\x00\x01\x02" * 100, "binary data")],
)
def test_a_bad_file_on_the_form_shows_the_reason(project, editor_user, data, message):
    response = login(editor_user).post(
        "/projects/vision/datasets/upload/", {"file": SimpleUploadedFile("bad.csv", data)}
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not DatasetVersion.objects.exists()


def test_the_form_without_a_file_shows_the_field_error(project, editor_user):
    response = login(editor_user).post("/projects/vision/datasets/upload/", {})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()


# --- review and commit ------------------------------------------------------------------------------


def test_the_review_shows_the_inspection_and_a_type_select_per_column(project, editor_user):
    upload = staged_upload(project, editor_user)

    response = login(editor_user).get(f"/projects/vision/datasets/uploads/{upload.uuid}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "first row is the header" in html
    assert html.count('<select name="type_') == 5
    assert re.search(r'<select name="type_4"[^>]*>.*?<option value="categorical" selected>', html, re.S)
    assert 'value="people"' in html  # the dataset name suggested from the file name
    assert "Oslo" in html  # the preview


def test_committing_on_the_review_saves_the_version_with_the_edited_types(project, editor_user):
    upload = staged_upload(project, editor_user)
    form = {
        "dataset": "people",
        "description": "",
        **{f"type_{i}": t for i, t in enumerate(["text", "float", "boolean", "datetime", "text"])},
    }

    response = login(editor_user).post(f"/projects/vision/datasets/uploads/{upload.uuid}/", form)

    assert response.status_code == 302
    assert response["Location"] == "/projects/vision/datasets/people/?version=1"
    version = DatasetVersion.objects.get()
    assert [c["type"] for c in version.schema] == ["text", "float", "boolean", "datetime", "text"]


def test_a_type_that_does_not_fit_is_shown_on_the_review_and_nothing_is_saved(project, editor_user):
    upload = staged_upload(project, editor_user)
    form = {
        "dataset": "people",
        **{f"type_{i}": t for i, t in enumerate(["integer", "float", "boolean", "datetime", "integer"])},
    }

    response = login(editor_user).post(f"/projects/vision/datasets/uploads/{upload.uuid}/", form)

    assert response.status_code == 400
    assert "column &#x27;city&#x27;: &#x27;Oslo&#x27; is not an integer" in response.content.decode()
    assert not DatasetVersion.objects.exists()


def test_a_bad_dataset_name_is_shown_on_its_field(project, editor_user):
    upload = staged_upload(project, editor_user)
    form = {
        "dataset": "no spaces please",
        **{f"type_{i}": t for i, t in enumerate(["integer", "float", "boolean", "datetime", "categorical"])},
    }

    response = login(editor_user).post(f"/projects/vision/datasets/uploads/{upload.uuid}/", form)

    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="field-dataset"' in html
    assert "not a valid dataset name" in html
    assert not Dataset.objects.exists()


def test_a_committed_upload_sends_you_to_its_version(project, editor_user):
    upload = staged_upload(project, editor_user)
    client = login(editor_user)
    client.post(
        f"/projects/vision/datasets/uploads/{upload.uuid}/",
        {
            "dataset": "people",
            **{
                f"type_{i}": t
                for i, t in enumerate(["integer", "float", "boolean", "datetime", "categorical"])
            },
        },
    )

    response = client.get(f"/projects/vision/datasets/uploads/{upload.uuid}/")

    assert response.status_code == 302
    assert response["Location"].endswith("/datasets/people/?version=1")


def test_a_failed_upload_shows_its_error(project, editor_user):
    upload = upload_create(project=project, user=editor_user, filename="bad.csv")
    upload_receive(upload=upload, stream=io.BytesIO(b"a,b\n1\n"), offset=0, length=6)
    with pytest.raises(Exception, match="Line 2"):
        upload_complete(upload=upload)

    html = login(editor_user).get(f"/projects/vision/datasets/uploads/{upload.uuid}/").content.decode()

    assert "Line 2 has 1 field" in html
    assert "Nothing of this upload was kept" in html


def test_an_upload_can_be_discarded_from_the_review(project, editor_user):
    upload = staged_upload(project, editor_user)

    response = login(editor_user).post(f"/projects/vision/datasets/uploads/{upload.uuid}/cancel/")

    assert response.status_code == 302
    upload.refresh_from_db()
    assert upload.status == UploadStatus.ABORTED


def test_an_archive_review_lists_its_files(project, editor_user):
    upload = staged_upload(project, editor_user, images_zip(), "pets.zip")

    html = login(editor_user).get(f"/projects/vision/datasets/uploads/{upload.uuid}/").content.decode()

    assert "images/cat.png" in html
    assert '<select name="type_' not in html


# --- detail ------------------------------------------------------------------------------------------


def test_the_detail_page_shows_schema_preview_versions_and_lineage(project, admin_user):
    add_version(project, admin_user, "people")
    add_version(project, admin_user, "people", numbered_csv(60))

    response = login(admin_user).get("/projects/vision/datasets/people/")

    assert response.status_code == 200
    html = response.content.decode()
    assert ">v2<" in html
    assert ">v1<" in html
    assert '<td class="mono">square</td>' in html  # the schema of the latest version
    assert 'rel="next"' in html  # 60 rows: the preview has a next page
    assert '<svg role="img" aria-label="Lineage of people"' in html
    assert html.count("<circle") == 2


def test_an_older_version_and_a_preview_page_can_be_chosen(project, admin_user):
    add_version(project, admin_user, "people")
    add_version(project, admin_user, "people", numbered_csv(60))

    html = login(admin_user).get("/projects/vision/datasets/people/?version=2&page=3").content.decode()

    assert '<td class="nowrap">50</td>' in html
    html = login(admin_user).get("/projects/vision/datasets/people/?version=1").content.decode()
    assert "Oslo" in html


def test_a_missing_version_is_a_404(project, admin_user):
    add_version(project, admin_user, "people")

    assert login(admin_user).get("/projects/vision/datasets/people/?version=7").status_code == 404
    assert login(admin_user).get("/projects/vision/datasets/ghost/").status_code == 404


def test_an_archive_version_lists_its_files(project, admin_user):
    add_version(project, admin_user, "pets", images_zip(), "pets.zip")

    html = login(admin_user).get("/projects/vision/datasets/pets/").content.decode()

    assert "images/dog.png" in html
    assert "A collection of files" in html


def test_a_dataset_without_versions_renders(project, admin_user):
    from datasets.services import dataset_get_or_create

    dataset_get_or_create(project=project, name="empty", user=admin_user)

    response = login(admin_user).get("/projects/vision/datasets/empty/")

    assert response.status_code == 200
    assert "no versions yet" in response.content.decode()


def test_data_that_cannot_be_read_still_shows_the_page(project, admin_user):
    from pathlib import Path
    from urllib.parse import urlparse

    version = add_version(project, admin_user, "people")
    Path(urlparse(version.uri).path).write_bytes(b"a,b\n\xff\xfe,1\n")  # damaged behind Studio's back

    response = login(admin_user).get("/projects/vision/datasets/people/")

    assert response.status_code == 200
    assert "The data could not be read" in response.content.decode()


def test_version_action_blocks_are_included_when_they_exist(project, admin_user, settings, tmp_path):
    add_version(project, admin_user, "people")
    hooks = tmp_path / "hooks" / "datasets"
    hooks.mkdir(parents=True)
    (hooks / "_version_actions.html").write_text('<a class="hook" href="#">profile v{{ version.number }}</a>')
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path / "hooks")]}]

    html = login(admin_user).get("/projects/vision/datasets/people/").content.decode()

    assert html.count("profile v1") == 2  # the selected version's head and its row in the table


def test_the_detail_page_costs_the_same_queries_for_2_or_10_versions(project, admin_user):
    first = add_version(project, admin_user, "people")
    add_version(project, admin_user, "people")
    client = login(admin_user)
    client.get("/projects/vision/datasets/people/")
    with CaptureQueriesContext(connection) as few:
        client.get("/projects/vision/datasets/people/")
    for _ in range(8):
        add_version(project, admin_user, "people", first and CSV)

    with CaptureQueriesContext(connection) as many:
        assert client.get("/projects/vision/datasets/people/").status_code == 200

    assert len(many) == len(few)


# --- admin ----------------------------------------------------------------------------------------


@pytest.fixture
def root_client(django_user_model):
    client = Client()
    client.force_login(
        django_user_model.objects.create_superuser(username="root", password="root-password-1")
    )
    return client


def test_the_admin_lists_and_shows_datasets_versions_and_uploads_read_only(project, admin_user, root_client):
    version = add_version(project, admin_user, "people")
    upload = staged_upload(project, admin_user)

    for url in (
        "/admin/datasets/dataset/",
        f"/admin/datasets/dataset/{version.dataset.pk}/change/",
        "/admin/datasets/datasetversion/",
        f"/admin/datasets/datasetversion/{version.pk}/change/",
        "/admin/datasets/upload/",
        f"/admin/datasets/upload/{upload.pk}/change/",
    ):
        response = root_client.get(url)
        assert response.status_code == 200, url
        assert b'name="_save"' not in response.content, url  # nothing here edits a version or an upload
    assert root_client.get("/admin/datasets/datasetversion/add/").status_code == 403


def test_the_admin_cancels_uploads_through_the_service(project, admin_user, root_client):
    upload = staged_upload(project, admin_user)

    response = root_client.post(
        "/admin/datasets/upload/", {"action": "cancel_uploads", "_selected_action": [upload.pk]}, follow=True
    )

    assert response.status_code == 200
    assert "1 upload cancelled" in response.content.decode()
    upload.refresh_from_db()
    assert upload.status == UploadStatus.ABORTED
