"""Processing jobs through the API: create, validation, retries, stop, list, logs, metrics, a real run."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Job, JobKind, JobLogChunk, JobStatus
from jobs.runner import JobRecorder, job_execute
from studio.artifacts import join_uri, project_prefix, store_for
from studio.models import Artifact, AuditEvent
from studio.services import artifact_upload
from tests.conftest import COMPLETED_HISTORY, SCRIPT_FAIL, SCRIPT_OK, api_client_for, processing_request

# Also run on PostgreSQL in the full-stack pass: constraints and conditional updates differ by engine.
pytestmark = pytest.mark.fullstack

JOBS_URL = "/api/v1/projects/vision/processing-jobs/"


def job_url(name: str, action: str = "") -> str:
    return f"{JOBS_URL}{name}/" + (f"{action}/" if action else "")


def stored_files() -> set[str]:
    """Every object in the artifact store, so a test can tell that a refused request stored nothing."""
    root = settings.STUDIO_ARTIFACT_URI
    return {info.uri for info in store_for(root).list(root)}


def data_inputs(csv_artifact) -> str:
    return json.dumps([{"name": "data", "source_uri": csv_artifact.uri}])


@pytest.fixture
def editor_api(editor_user):
    return api_client_for(editor_user)


# --- create ------------------------------------------------------------------------------------------


def test_it_creates_a_pending_job_from_an_uploaded_script(editor_api, editor_user, project, csv_artifact):
    response = editor_api.post(
        JOBS_URL, processing_request(inputs=data_inputs(csv_artifact)), format="multipart"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "prep-1"
    assert body["status"] == JobStatus.PENDING
    assert body["created_by"] == "erin"
    assert body["instance_type"] == "ml.m5.large"
    assert body["inputs"] == [{"name": "data", "source_uri": csv_artifact.uri}]
    assert body["metric_definitions"] == [{"name": "loss", "regex": r"loss=([0-9.]+)"}]
    assert [event["status"] for event in body["status_history"]] == ["Pending"]

    sha = hashlib.sha256(SCRIPT_OK).hexdigest()
    assert body["script"]["sha256"] == sha
    assert body["script"]["filename"] == "prep.py"
    assert body["script"]["uri"].startswith(project_prefix("vision") + "/processing-jobs/prep-1/")
    with store_for(body["script"]["uri"]).open(body["script"]["uri"]) as handle:
        assert handle.read() == SCRIPT_OK
    artifact = Artifact.objects.get(uri=body["script"]["uri"])
    assert (artifact.sha256, artifact.size, artifact.origin) == (sha, len(SCRIPT_OK), "processing-job/prep-1")

    job = Job.objects.get(project=project, name="prep-1")
    assert job.created_by == editor_user
    assert job.kind == JobKind.PROCESSING
    event = AuditEvent.objects.get(project=project, target_type="processing-job")
    assert (event.action, event.target_name, event.actor) == ("create", "prep-1", editor_user)


def test_it_creates_a_job_from_a_json_body_naming_an_uploaded_script(editor_api, project, admin_user):
    script = artifact_upload(
        project=project, user=admin_user, path="code/prep.py", stream=io.BytesIO(SCRIPT_OK)
    )

    response = editor_api.post(
        JOBS_URL,
        {
            "name": "from-uri",
            "script_uri": script.uri,
            "environment": {"MODE": "fast"},
            "arguments": ["--x", "1"],
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == JobStatus.PENDING
    assert body["script"]["sha256"] == script.sha256 == hashlib.sha256(SCRIPT_OK).hexdigest()
    # The job keeps its own copy, so a later upload over code/prep.py cannot change what it runs.
    assert body["script"]["uri"] != script.uri
    assert store_for(body["script"]["uri"]).exists(body["script"]["uri"])
    assert body["environment"] == {"MODE": "fast"}
    assert body["arguments"] == ["--x", "1"]
    assert AuditEvent.objects.filter(action="create", target_name="from-uri").count() == 1


def test_a_retry_with_the_same_client_token_returns_the_same_job(editor_api, project):
    first = editor_api.post(JOBS_URL, processing_request(client_token="tok-1"), format="multipart")
    files_after_first = stored_files()

    retry = editor_api.post(JOBS_URL, processing_request(client_token="tok-1"), format="multipart")

    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json()["uuid"] == first.json()["uuid"]
    assert Job.objects.filter(project=project).count() == 1
    assert stored_files() == files_after_first
    assert AuditEvent.objects.filter(target_type="processing-job").count() == 1


def test_a_client_token_reused_for_a_different_request_is_refused(editor_api, project):
    editor_api.post(JOBS_URL, processing_request(client_token="tok-1"), format="multipart")

    response = editor_api.post(
        JOBS_URL, processing_request("another-name", client_token="tok-1"), format="multipart"
    )

    assert response.status_code == 400
    assert "different request" in response.json()["client_token"][0]
    assert list(Job.objects.values_list("name", flat=True)) == ["prep-1"]


def test_a_different_client_token_with_the_same_name_is_a_duplicate(editor_api, project):
    editor_api.post(JOBS_URL, processing_request(client_token="tok-1"), format="multipart")

    response = editor_api.post(JOBS_URL, processing_request(client_token="tok-2"), format="multipart")

    assert response.status_code == 400
    assert "name" in response.json()
    assert Job.objects.filter(project=project).count() == 1


def _refused(api, body, *, multipart: bool = True):
    """POST ``body`` and return the response, checking that nothing at all was stored."""
    jobs, artifacts, files = Job.objects.count(), Artifact.objects.count(), stored_files()
    audits = AuditEvent.objects.filter(target_type="processing-job").count()
    response = api.post(JOBS_URL, body, format="multipart" if multipart else "json")
    assert response.status_code == 400, response.content
    assert Job.objects.count() == jobs
    assert Artifact.objects.count() == artifacts
    assert stored_files() == files
    assert AuditEvent.objects.filter(target_type="processing-job").count() == audits
    return response


def _upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/x-python")


BAD_REQUESTS = {
    # id: (fields of the multipart body, the field the error names, a word in its message)
    "name-with-bad-characters": ({"name": "bad_name!"}, "name", "letters"),
    "name-of-64-characters": ({"name": "a" * 64}, "name", "63"),
    "unknown-instance-type": ({"instance_type": "ml.x9.huge"}, "instance_type", "ml.x9.huge"),
    "hosting-only-instance-type": ({"instance_type": "ml.inf2.xlarge"}, "instance_type", "processing"),
    "two-instances": ({"instance_count": "2"}, "instance_count", "one instance"),
    "missing-script": ({"script": None}, "script", "script"),
    "txt-script": ({"script": ("notes.txt", b"print(1)\n")}, "script", "notes.txt"),
    "script-with-syntax-error": ({"script": ("prep.py", b"def broken(:\n")}, "script", "line 1"),
    "non-utf8-script": ({"script": ("prep.py", b"print('\xff\xfe')\n")}, "script", "UTF-8"),
    "input-of-another-project": (
        {"inputs": "other-project"},
        "inputs",
        "outside this project",
    ),
    "input-from-etc-passwd": (
        {"inputs": json.dumps([{"name": "data", "source_uri": "file:///etc/passwd"}])},
        "inputs",
        "outside",
    ),
    "input-in-another-bucket": (
        {"inputs": json.dumps([{"name": "data", "source_uri": "s3://other-bucket/x"}])},
        "inputs",
        "outside",
    ),
    "input-with-traversal": (
        {"inputs": "traversal"},
        "inputs",
        "outside",
    ),
    "input-that-does-not-exist": ({"inputs": "missing"}, "inputs", "nothing found"),
    "input-named-code": ({"inputs": "code-channel"}, "inputs", "reserved"),
    "output-outside-the-project": (
        {"outputs": json.dumps([{"name": "result", "destination_uri": "file:///tmp/elsewhere"}])},
        "outputs",
        "outside",
    ),
    "output-to-another-project": ({"outputs": "other-project-output"}, "outputs", "outside"),
    "malformed-json-field": ({"environment": "{not json"}, "environment", "Not valid JSON"),
    "json-of-the-wrong-shape": ({"inputs": '{"name": "data"}'}, "inputs", "list"),
    "environment-with-a-bad-key": ({"environment": json.dumps({"1-BAD": "x"})}, "environment", "1-BAD"),
    "environment-with-a-non-string-value": ({"environment": json.dumps({"OK": 3})}, "environment", "strings"),
    "metric-regex-that-does-not-compile": (
        {"metric_definitions": json.dumps([{"name": "loss", "regex": "loss=([0-9"}])},
        "metric_definitions",
        "does not compile",
    ),
    "negative-max-runtime": ({"max_runtime_seconds": "-5"}, "max_runtime_seconds", "between"),
    "max-runtime-over-28-days": (
        {"max_runtime_seconds": str(28 * 24 * 3600 + 1)},
        "max_runtime_seconds",
        "28",
    ),
}


def _resolve(fields: dict, csv_artifact) -> dict:
    """Fill in inputs and outputs that need the test's project layout."""
    prefix, other = project_prefix("vision"), project_prefix("other")
    named = {
        "other-project": [{"name": "data", "source_uri": join_uri(other, "data/train.csv")}],
        "traversal": [
            {"name": "data", "source_uri": join_uri(prefix, "data") + "/../../other/data/train.csv"}
        ],
        "missing": [{"name": "data", "source_uri": join_uri(prefix, "data/nope.csv")}],
        "code-channel": [{"name": "code", "source_uri": csv_artifact.uri}],
        "other-project-output": [{"name": "result", "destination_uri": join_uri(other, "out")}],
    }
    resolved = dict(fields)
    for key in ("inputs", "outputs"):
        if resolved.get(key) in named:
            resolved[key] = json.dumps(named[resolved[key]])
    return resolved


@pytest.mark.parametrize(("fields", "field", "words"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_a_bad_request_is_a_400_naming_the_field_and_stores_nothing(
    editor_api, project, csv_artifact, outsider_user, fields, field, words
):
    # The other project has a real file, so "outside" is about the prefix, not about existence.
    other = project.__class__.objects.get(name="other")
    artifact_upload(project=other, user=outsider_user, path="data/train.csv", stream=io.BytesIO(b"a\n1\n"))
    body = processing_request("job-1")
    body.update(_resolve(fields, csv_artifact))
    if isinstance(body["script"], tuple):
        body["script"] = _upload(*body["script"])
    body = {key: value for key, value in body.items() if value is not None}

    response = _refused(editor_api, body)

    errors = response.json()
    assert field in errors, errors
    assert words in " ".join(errors[field]), errors


def test_a_duplicate_name_is_a_400_and_the_first_job_is_untouched(editor_api, project):
    first = editor_api.post(JOBS_URL, processing_request("prep-1"), format="multipart").json()

    response = _refused(editor_api, processing_request("prep-1", instance_type="ml.m5.xlarge"))

    assert "already exists" in response.json()["name"][0]
    job = Job.objects.get(project=project, name="prep-1")
    assert str(job.uuid) == first["uuid"]
    assert job.instance_type == "ml.m5.large"


def test_every_problem_of_a_request_is_reported_at_once(editor_api):
    response = _refused(
        editor_api,
        processing_request(
            "bad_name!", instance_type="ml.x9.huge", instance_count="3", environment=json.dumps({"9": "x"})
        ),
    )

    assert set(response.json()) == {"name", "instance_type", "instance_count", "environment"}


def test_a_script_uri_outside_the_project_is_refused(editor_api):
    response = _refused(editor_api, {"name": "job-1", "script_uri": "file:///etc/passwd"}, multipart=False)

    assert "outside" in response.json()["script_uri"][0]


def test_a_script_uri_that_is_not_an_existing_python_file_is_refused(editor_api, csv_artifact):
    response = _refused(editor_api, {"name": "job-1", "script_uri": csv_artifact.uri}, multipart=False)

    assert "script_uri" in response.json()


def test_both_a_script_file_and_a_script_uri_is_refused(editor_api, csv_artifact):
    response = _refused(editor_api, processing_request(script_uri=csv_artifact.uri))

    assert "script" in response.json()


def test_a_max_runtime_of_zero_is_a_400(editor_api):
    response = _refused(editor_api, processing_request(max_runtime_seconds="0"))

    assert "max_runtime_seconds" in response.json()


def test_a_script_file_name_cannot_write_outside_the_job(editor_api, project, outsider_user):
    other = project.__class__.objects.get(name="other")
    theirs = artifact_upload(
        project=other, user=outsider_user, path="code/prep.py", stream=io.BytesIO(b"print('theirs')\n")
    )
    body = processing_request("sneaky")
    body["script"] = _upload("..%2f" * 5 + "other%2fcode%2fprep.py", b"print('replaced')\n")

    response = editor_api.post(JOBS_URL, body, format="multipart")

    with store_for(theirs.uri).open(theirs.uri) as handle:
        assert handle.read() == b"print('theirs')\n"
    assert response.status_code == 400
    assert "script" in response.json()
    assert not Job.objects.filter(name="sneaky").exists()


def test_a_script_uri_naming_a_broken_script_is_refused(editor_api, project, admin_user):
    broken = artifact_upload(
        project=project, user=admin_user, path="code/broken.py", stream=io.BytesIO(b"def broken(:\n")
    )

    response = _refused(editor_api, {"name": "job-1", "script_uri": broken.uri}, multipart=False)

    assert "line 1" in response.json()["script_uri"][0]


def test_a_text_plain_body_is_a_415_with_a_json_error(editor_api):
    response = editor_api.post(JOBS_URL, data="name=prep-1", content_type="text/plain")

    assert response.status_code == 415
    assert "text/plain" in response.json()["detail"]
    assert not Job.objects.exists()


# --- stop ----------------------------------------------------------------------------------------


def test_stopping_a_pending_job_ends_it_stopped(editor_api, editor_user, project):
    editor_api.post(JOBS_URL, processing_request(), format="multipart")

    response = editor_api.post(job_url("prep-1", "stop"))

    assert response.status_code == 202
    assert response.json()["status"] == JobStatus.STOPPED
    job = Job.objects.get(name="prep-1")
    assert job.status == JobStatus.STOPPED
    assert job.ended_at is not None
    assert list(job.events.values_list("status", flat=True)) == ["Pending", "Stopped"]
    event = AuditEvent.objects.get(action="stop")
    assert (event.target_name, event.actor, event.project) == ("prep-1", editor_user, project)


def test_stopping_a_completed_job_is_a_400_naming_status(editor_api):
    editor_api.post(JOBS_URL, processing_request(), format="multipart")
    Job.objects.filter(name="prep-1").update(status=JobStatus.COMPLETED)

    response = editor_api.post(job_url("prep-1", "stop"))

    assert response.status_code == 400
    assert "Completed" in response.json()["status"][0]
    assert Job.objects.get(name="prep-1").status == JobStatus.COMPLETED
    assert not AuditEvent.objects.filter(action="stop").exists()


def test_stopping_an_unknown_job_is_a_404(editor_api, project):
    assert editor_api.post(job_url("nope", "stop")).status_code == 404


# --- list and detail -----------------------------------------------------------------------------


def _bulk_jobs(project, users, count: int) -> None:
    statuses = [JobStatus.PENDING, JobStatus.COMPLETED, JobStatus.FAILED]
    spec = {
        "script": {"uri": "", "filename": "x.py", "sha256": ""},
        "inputs": [],
        "outputs": [],
        "arguments": [],
        "environment": {},
    }
    Job.objects.bulk_create(
        Job(
            project=project,
            kind=JobKind.PROCESSING,
            name=f"job-{i:03d}",
            status=statuses[i % 3],
            created_by=users[i % len(users)],
            instance_type="ml.m5.large",
            max_runtime_seconds=60,
            spec=spec,
        )
        for i in range(count)
    )


def test_the_job_list_filters_by_status_name_and_creator(editor_api, project, admin_user, editor_user):
    _bulk_jobs(project, [admin_user, editor_user], 12)

    def names(**params) -> list[str]:
        response = editor_api.get(JOBS_URL, params)
        assert response.status_code == 200
        return sorted(item["name"] for item in response.json()["results"])

    assert len(names()) == 12
    assert names(status="Failed") == ["job-002", "job-005", "job-008", "job-011"]
    assert names(name="-01") == ["job-010", "job-011"]
    assert names(created_by="erin") == [f"job-{i:03d}" for i in range(1, 12, 2)]
    assert names(status="Completed", created_by="alice") == ["job-004", "job-010"]


def test_an_unknown_status_filter_is_a_400_naming_status(editor_api, project, admin_user):
    _bulk_jobs(project, [admin_user], 3)

    response = editor_api.get(JOBS_URL, {"status": "completed"})

    assert response.status_code == 400
    assert "Completed" in response.json()["status"][0]


def test_the_job_list_shows_only_this_projects_jobs(editor_api, project, outsider_user):
    other = project.__class__.objects.get(name="other")
    _bulk_jobs(other, [outsider_user], 3)

    response = editor_api.get(JOBS_URL)

    assert response.json()["count"] == 0


def test_listing_200_jobs_runs_a_fixed_number_of_queries(
    editor_api, project, admin_user, editor_user, django_assert_max_num_queries
):
    _bulk_jobs(project, [admin_user, editor_user], 200)
    editor_api.get(JOBS_URL)  # the first call also stamps the key's last_used_at

    # 1 the API key with its user, 2 the project, 3 the caller's membership,
    # 4 the count for the paginator, 5 the page of jobs with creator and project joined in.
    with django_assert_max_num_queries(5):
        response = editor_api.get(JOBS_URL, {"page_size": 200})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 200
    assert response.json()["results"][0]["created_by"] in {"alice", "erin"}


def test_an_unknown_job_is_a_404(editor_api, project):
    response = editor_api.get(job_url("nope"))

    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


def test_logs_with_a_non_integer_offset_are_a_400_naming_offset(editor_api):
    editor_api.post(JOBS_URL, processing_request(), format="multipart")

    response = editor_api.get(job_url("prep-1", "logs"), {"offset": "abc"})

    assert response.status_code == 400
    assert "offset" in response.json()


# --- a real run ----------------------------------------------------------------------------------


def _run(api, csv_artifact, name: str = "prep-1", script: bytes = SCRIPT_OK) -> Job:
    """Create the job through the API, then drive it to the end in this process, as a worker would."""
    response = api.post(
        JOBS_URL,
        processing_request(
            name,
            script,
            inputs=data_inputs(csv_artifact),
            outputs=json.dumps([{"name": "result"}]),
            arguments=json.dumps(["--rows", "all"]),
        ),
        format="multipart",
    )
    assert response.status_code == 201, response.content
    job = Job.objects.get(name=name)
    job_execute(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_a_job_run_to_completion_shows_its_history_outputs_and_final_metrics(
    editor_api, project, csv_artifact
):
    job = _run(editor_api, csv_artifact)

    response = editor_api.get(job_url("prep-1"))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == JobStatus.COMPLETED, body["failure_reason"]
    assert body["secondary_status"] == "Completed"
    assert body["exit_code"] == 0
    assert body["failure_reason"] == ""
    history = [(event["status"], event["secondary_status"]) for event in body["status_history"]]
    assert history == COMPLETED_HISTORY
    times = [event["created_at"] for event in body["status_history"]]
    assert times == sorted(times)
    assert [(m["metric_name"], m["value"]) for m in body["final_metrics"]] == [("loss", 0.3333)]
    [output] = body["outputs"]
    assert output["name"] == "result"
    assert output["files"] == 1
    summary = join_uri(output["uri"], "summary.txt")
    with store_for(summary).open(summary) as handle:
        assert handle.read() == b"rows=300"
    assert Artifact.objects.filter(uri=summary, origin="processing-job/prep-1").exists()
    assert job.ended_at >= job.started_at


def test_the_metrics_endpoint_returns_the_series_in_step_order(editor_api, csv_artifact):
    _run(editor_api, csv_artifact)

    response = editor_api.get(job_url("prep-1", "metrics"))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == JobStatus.COMPLETED
    assert list(body["metrics"]) == ["loss"]
    assert [(p["step"], p["value"]) for p in body["metrics"]["loss"]] == [(0, 1.0), (1, 0.5), (2, 0.3333)]
    assert body["final_metrics"][0]["value"] == 0.3333


def test_logs_read_from_an_offset_return_only_the_text_after_it(editor_api, csv_artifact):
    job = _run(editor_api, csv_artifact)

    whole = editor_api.get(job_url("prep-1", "logs")).json()
    assert whole["offset"] == 0
    assert whole["next_offset"] == len(whole["text"]) == job.log_size
    assert "arguments ['--rows', 'all']" in whole["text"]
    assert "epoch=2 loss=0.3333" in whole["text"]
    assert whole["complete"] is True

    middle = whole["text"].index("epoch=1")
    part = editor_api.get(job_url("prep-1", "logs"), {"offset": middle}).json()
    assert part["text"] == whole["text"][middle:]
    assert part["next_offset"] == whole["next_offset"]

    caught_up = editor_api.get(job_url("prep-1", "logs"), {"offset": whole["next_offset"]}).json()
    assert (caught_up["text"], caught_up["next_offset"]) == ("", whole["next_offset"])

    # More output arrives (as it does while a job runs): reading on from next_offset gives only that.
    recorder = JobRecorder(job)
    recorder.write("late line one\nlate line two\n")
    recorder.flush()
    tail = editor_api.get(job_url("prep-1", "logs"), {"offset": whole["next_offset"]}).json()
    assert tail["text"] == "late line one\nlate line two\n"
    assert tail["next_offset"] == whole["next_offset"] + len(tail["text"])
    assert JobLogChunk.objects.filter(job=job).count() >= 2


def test_a_failing_script_ends_failed_with_its_error_in_the_reason(editor_api, csv_artifact):
    job = _run(editor_api, csv_artifact, "prep-fail", SCRIPT_FAIL)

    body = editor_api.get(job_url("prep-fail")).json()

    assert job.status == JobStatus.FAILED
    assert body["status"] == JobStatus.FAILED
    assert body["exit_code"] == 1
    assert "ValueError: the data has no label column" in body["failure_reason"]
    assert body["status_history"][-1]["status"] == "Failed"
    assert body["outputs"] == []
