"""Profiles end to end: the service, the real profiling job, the API, the pages, and who may do what."""

from __future__ import annotations

import io
import json
import uuid

import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.test import Client

from datasets.models import DatasetVersion, Profile
from datasets.profiles import ReportError, profile_job_completed, profile_start
from datasets.schema import infer_schema
from datasets.services import dataset_get_or_create, version_create
from jobs.models import Job, JobMetric, JobStatus
from jobs.runner import job_execute
from studio.artifacts import join_uri, project_prefix, store_for
from tests.conftest import api_client_for

# Also run on PostgreSQL in the full-stack pass: version numbering and uploads are concurrent writes.
pytestmark = [pytest.mark.django_db, pytest.mark.fullstack]

DATASET = "customers"


def customers(rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    tenure = rng.integers(1, 60, rows)
    churn = np.where(tenure + rng.normal(0, 12, rows) < 20, "yes", "no")
    frame = pd.DataFrame(
        {
            "tenure": tenure,
            "spend": rng.normal(50, 15, rows).round(2),
            "plan": rng.choice(["basic", "pro", "team"], rows),
            "churned": churn,
            "churn_flag": churn,  # leaks the target
        }
    )
    frame.loc[::9, "spend"] = np.nan
    return frame


def make_version(
    project,
    user,
    frame: pd.DataFrame | None = None,
    *,
    fmt: str = "csv",
    content: bytes | None = None,
    name: str = DATASET,
) -> DatasetVersion:
    """A version whose data is in the store, as an upload leaves it."""
    frame = customers() if frame is None else frame
    if content is None:
        content = frame.to_csv(index=False).encode()
    dataset = dataset_get_or_create(project=project, name=name, user=user)
    uri = join_uri(project_prefix(project.name), "datasets", name, uuid.uuid4().hex, f"data.{fmt}")
    stored = store_for(uri).put(uri, io.BytesIO(content))
    return version_create(
        dataset=dataset,
        uri=stored.uri,
        fmt=fmt,
        read_options={"delimiter": ",", "header": True, "encoding": "utf-8"} if fmt == "csv" else {},
        schema=infer_schema(frame),
        origin="upload",
        size_bytes=stored.size,
        content_sha256=stored.sha256,
        row_count=len(frame),
        column_count=frame.shape[1],
        user=user,
    )


def versions_url(version: DatasetVersion) -> str:
    return f"/api/v1/projects/vision/datasets/{version.dataset.name}/versions/{version.number}/profiles/"


def run(profile: Profile) -> Profile:
    job_execute(job_id=profile.job_id)
    profile.refresh_from_db()
    profile.job.refresh_from_db()
    return profile


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def version(project, admin_user):
    return make_version(project, admin_user)


@pytest.fixture
def completed(version, admin_user):
    """A profile of ``version`` with target ``churned``, run to completion by the real job."""
    profile = run(profile_start(version=version, user=admin_user, target_column="churned"))
    assert profile.status == JobStatus.COMPLETED, profile.job.failure_reason
    return profile


# --- the service --------------------------------------------------------------------------------------


def test_starting_a_profile_creates_its_job_and_row_together(version, admin_user, project):
    profile = profile_start(version=version, user=admin_user, target_column="churned")

    job = profile.job
    assert profile.status == JobStatus.PENDING
    assert profile.target_column == "churned"
    assert job.spec["entrypoint"] == {"module": "datasets.runtime.profile"}
    assert job.spec["inputs"] == [{"name": "data", "source_uri": version.uri}]
    assert [item["name"] for item in job.spec["outputs"]] == ["report"]
    assert job.spec["on_complete"] == "datasets.profiles.profile_job_completed"
    assert job.spec["context"] == {"profile": str(profile.uuid)}
    arguments = job.spec["arguments"]
    assert arguments[:2] == ["--format", "csv"]
    assert arguments[arguments.index("--target") + 1] == "churned"
    assert json.loads(arguments[arguments.index("--schema") + 1])["tenure"] == "integer"
    assert job.metric_definitions == [{"name": "rows", "regex": r"rows=(\d+)"}]
    assert project.audit_events.filter(target_type="profile", action="create").count() == 1


def test_the_job_profiles_the_data_and_the_hook_records_the_report(completed, version):
    profile = completed
    assert profile.report_uri.endswith("/output/report/report.json")
    assert profile.summary["rows"] == 300
    assert profile.summary["leaking_columns"] == ["churn_flag"]
    assert profile.summary["baseline_metric"] == "accuracy"
    with store_for(profile.report_uri).open(profile.report_uri) as handle:
        report = json.load(handle)
    assert [column["name"] for column in report["columns"]] == list(customers().columns)
    assert report["target"]["column"] == "churned"
    # Progress lines became the job's "rows" metric.
    assert JobMetric.objects.filter(job=profile.job, name="rows").latest("step").value == 300


def test_an_unknown_target_column_is_refused_naming_the_field(version, admin_user):
    with pytest.raises(ValidationError) as caught:
        profile_start(version=version, user=admin_user, target_column="nope")

    assert "target_column" in caught.value.message_dict
    assert "'nope' is not a column of customers v1" in caught.value.message_dict["target_column"][0]
    assert not Profile.objects.exists()
    assert not Job.objects.exists()


def test_an_archive_version_cannot_be_profiled(project, admin_user):
    archive = make_version(project, admin_user, fmt="archive", content=b"PK\x03\x04 not really")

    with pytest.raises(ValidationError) as caught:
        profile_start(version=archive, user=admin_user)

    assert "archive" in caught.value.message_dict["version"][0]
    assert not Job.objects.exists()


def test_a_wide_schema_goes_to_the_job_in_a_config_file(project, admin_user):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({f"measurement_number_{i:02d}": rng.normal(size=50) for i in range(30)})
    version = make_version(project, admin_user, frame, name="wide")

    profile = profile_start(version=version, user=admin_user)

    arguments = profile.job.spec["arguments"]
    assert "--schema" not in arguments
    assert arguments[arguments.index("--config") + 1] == "/opt/ml/processing/input/config/config.json"
    assert [item["name"] for item in profile.job.spec["inputs"]] == ["data", "config"]
    profile = run(profile)
    assert profile.status == JobStatus.COMPLETED, profile.job.failure_reason
    assert profile.summary["columns"] == 30


@pytest.mark.parametrize(
    ("fmt", "content", "reason"),
    [
        ("parquet", b"this is not parquet at all", "does not read as its format says"),
        ("csv", b"a,b\n1,2\n3,4,5\n", "Expected 2 fields in line 3, saw 3"),
    ],
    ids=["parquet-garbage", "csv-ragged"],
)
def test_a_corrupt_data_file_fails_the_job_with_a_readable_reason(project, admin_user, fmt, content, reason):
    version = make_version(project, admin_user, pd.DataFrame({"a": [1], "b": [2]}), fmt=fmt, content=content)

    profile = run(profile_start(version=version, user=admin_user))

    assert profile.status == JobStatus.FAILED
    assert reason in profile.job.failure_reason
    assert "Traceback" not in profile.job.failure_reason
    assert profile.report_uri == ""


def test_a_report_that_does_not_parse_fails_the_hook(version, admin_user):
    profile = profile_start(version=version, user=admin_user)
    job = profile.job
    output = join_uri(project_prefix("vision"), "processing-jobs", job.name, "output", "report")
    store_for(output).put(join_uri(output, "report.json"), io.BytesIO(b'{"truncated": '))
    job.outputs = [{"name": "report", "uri": output, "files": 1, "bytes": 14}]

    with pytest.raises(ReportError, match="not valid JSON"):
        profile_job_completed(job)

    profile.refresh_from_db()
    assert profile.report_uri == ""


# --- the API ----------------------------------------------------------------------------------------


def test_post_starts_a_profile_and_get_returns_the_report_once_completed(version, admin_user):
    api = api_client_for(admin_user)

    created = api.post(versions_url(version), {"target_column": "churned"}, format="json")

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "Pending"
    assert (body["dataset"], body["version"], body["target_column"]) == (DATASET, 1, "churned")
    detail_url = f"/api/v1/projects/vision/profiles/{body['uuid']}/"
    pending = api.get(detail_url).json()
    assert (pending["status"], pending["report"]) == ("Pending", None)

    run(Profile.objects.get(uuid=body["uuid"]))
    detail = api.get(detail_url).json()

    assert detail["status"] == "Completed"
    report = detail["report"]
    assert report["dataset"]["rows"] == 300
    assert {column["name"] for column in report["columns"]} == set(customers().columns)
    assert report["target"]["baseline"]["score"] is not None
    assert any(w["type"] == "target_leakage" and w["column"] == "churn_flag" for w in report["warnings"])
    listed = api.get(versions_url(version)).json()
    assert [item["uuid"] for item in listed["results"]] == [body["uuid"]]
    assert listed["results"][0]["summary"]["rows"] == 300


def test_an_unknown_target_column_is_a_400(version, admin_user):
    response = api_client_for(admin_user).post(
        versions_url(version), {"target_column": "nope"}, format="json"
    )

    assert response.status_code == 400
    assert "target_column" in response.json()
    assert not Profile.objects.exists()


def test_a_failed_profile_reads_as_failed_with_its_reason(project, admin_user):
    version = make_version(project, admin_user, fmt="parquet", content=b"garbage")
    profile = run(profile_start(version=version, user=admin_user))

    detail = api_client_for(admin_user).get(f"/api/v1/projects/vision/profiles/{profile.uuid}/").json()

    assert detail["status"] == "Failed"
    assert "does not read" in detail["failure_reason"]
    assert detail["report"] is None


def test_a_viewer_reads_profiles_but_cannot_start_one(version, completed, viewer_user):
    api = api_client_for(viewer_user)

    assert api.get(versions_url(version)).status_code == 200
    assert api.get(f"/api/v1/projects/vision/profiles/{completed.uuid}/").status_code == 200
    refused = api.post(versions_url(version), {}, format="json")

    assert refused.status_code == 403
    assert Profile.objects.count() == 1


def test_an_outsider_gets_404_everywhere(version, completed, outsider_user):
    api = api_client_for(outsider_user)

    assert api.get(versions_url(version)).status_code == 404
    assert api.get(f"/api/v1/projects/vision/profiles/{completed.uuid}/").status_code == 404
    assert api.post(versions_url(version), {}, format="json").status_code == 404
    assert client_for(outsider_user).get(f"/projects/vision/profiles/{completed.uuid}/").status_code == 404


def test_a_profile_of_another_project_is_not_found_here(version, completed, outsider_user):
    """The outsider's own project does not see profiles of vision under its name."""
    response = api_client_for(outsider_user).get(f"/api/v1/projects/other/profiles/{completed.uuid}/")

    assert response.status_code == 404


def test_the_list_takes_the_same_queries_for_one_profile_or_many(
    version, admin_user, django_assert_num_queries
):
    api = api_client_for(admin_user)
    api.get(versions_url(version))  # the key's first use records last_used_at: not counted below
    profile_start(version=version, user=admin_user)

    def list_profiles(expected: int) -> None:
        # The API key (with its user), project, role, dataset, version, count, and the page
        # (jobs, versions, datasets and creators joined in).
        with django_assert_num_queries(7):
            response = api.get(versions_url(version))
        assert response.json()["count"] == expected

    list_profiles(1)
    for _ in range(3):
        profile_start(version=version, user=admin_user)
    list_profiles(4)


# --- pages ---------------------------------------------------------------------------------------


def test_the_page_of_a_running_profile_polls_its_header(version, admin_user):
    profile = profile_start(version=version, user=admin_user)

    response = client_for(admin_user).get(f"/projects/vision/profiles/{profile.uuid}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-terminal="false"' in html
    assert f"/projects/vision/profiles/{profile.uuid}/fragment/" in html
    assert profile.job.name in html
    assert 'id="profile-figures"' not in html
    fragment = client_for(admin_user).get(f"/projects/vision/profiles/{profile.uuid}/fragment/")
    assert fragment.status_code == 200
    assert 'data-status="Pending"' in fragment.content.decode()


def test_the_page_of_a_completed_profile_draws_the_report(completed, viewer_user):
    response = client_for(viewer_user).get(f"/projects/vision/profiles/{completed.uuid}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-terminal="true"' in html
    assert "vendor/plotly/plotly.min.js" in html
    for chart in (
        "chart-correlations",
        "chart-classes",
        "chart-leakage",
        "chart-importances",
        "chart-column-0",
    ):
        assert f'id="{chart}"' in html, chart
    figures = json.loads(html.split('id="profile-figures" type="application/json">')[1].split("</script>")[0])
    assert {"correlations", "classes", "leakage", "importances", "column-0", "column-2"} <= set(figures)
    assert 'id="leakage-alert"' in html
    assert "churn_flag" in html


def test_the_page_of_a_failed_profile_shows_the_reason(project, admin_user):
    version = make_version(project, admin_user, fmt="parquet", content=b"garbage")
    profile = run(profile_start(version=version, user=admin_user))

    html = client_for(admin_user).get(f"/projects/vision/profiles/{profile.uuid}/").content.decode()

    assert "The profile failed" in html
    assert "does not read as its format says" in html


def test_the_version_profiles_page_offers_the_form_to_editors_only(
    version, completed, editor_user, viewer_user
):
    url = f"/projects/vision/datasets/{DATASET}/versions/1/profiles/"

    as_editor = client_for(editor_user).get(url).content.decode()
    as_viewer = client_for(viewer_user).get(url)

    assert 'id="start-profile"' in as_editor
    assert '<option value="churned">churned</option>' in as_editor
    assert f"/projects/vision/profiles/{completed.uuid}/" in as_editor
    assert as_viewer.status_code == 200
    assert 'id="start-profile"' not in as_viewer.content.decode()
    assert client_for(viewer_user).post(url, {"target_column": ""}).status_code == 403


def test_the_form_starts_a_profile_and_opens_its_page(version, editor_user):
    url = f"/projects/vision/datasets/{DATASET}/versions/1/profiles/"

    response = client_for(editor_user).post(url, {"target_column": "plan", "instance_type": "ml.m5.large"})

    profile = Profile.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/projects/vision/profiles/{profile.uuid}/"
    assert profile.target_column == "plan"
    assert profile.created_by == editor_user


def test_the_version_action_links_to_the_profiles(version, project):
    html = render_to_string("datasets/_version_actions.html", {"version": version, "project": project})

    assert f'href="/projects/vision/datasets/{DATASET}/versions/1/profiles/"' in html


def test_the_profiles_page_takes_the_same_queries_for_one_profile_or_many(version, admin_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(admin_user)
    url = f"/projects/vision/datasets/{DATASET}/versions/1/profiles/"
    client.get(url)  # the session's first use may write to it: not counted
    profile_start(version=version, user=admin_user)

    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert client.get(url).status_code == 200
        return len(context)

    one = queries()
    for _ in range(3):
        profile_start(version=version, user=admin_user)
    assert queries() == one
