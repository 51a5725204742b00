"""Either backend, one definition: the same job definition file submitted with backend local and
with backend sagemaker makes the same job; "Run on SageMaker" clones a job with only its backend (and
name) changed; the job page and the API show the request that was, or would be, sent.

Nothing here reaches AWS: the projects' AWS settings point at moto's server on 127.0.0.1, and a dry
run uploads nothing there. Jobs stay Pending: nothing runs them in these tests.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import random
import re

import pytest
from django.test import Client
from django.urls import reverse

from cloud.models import AwsSettings
from datasets.uploads import upload_from_stream
from jobs.models import Backend, Job, JobKind, JobStatus
from jobs.services import processing_job_create, training_job_create, tuning_job_create
from studio.artifacts import store_for
from studio.services import project_create
from tests.aws_support import ROLE_ARN
from tests.conftest import SCRIPT_OK, api_client_for, processing_request
from tests.test_training_pages import form_data

pytestmark = pytest.mark.django_db

# Where the definitions of the two jobs may differ: their identity and time, and the backend itself.
PER_ROW_FIELDS = {"uuid", "created_at", "status_history"}
DEFINITION_FIELDS = (
    "algorithm",
    "code",
    "hyperparameters",
    "channels",
    "instance_type",
    "instance_count",
    "max_runtime_seconds",
    "metric_definitions",
    "environment",
    "checkpoint_uri",
    "managed_spot",
    "max_wait_seconds",
    "tags",
)


@pytest.fixture(autouse=True)
def no_workers(monkeypatch) -> list[Job]:
    """Queued jobs stay Pending: nothing runs them in these tests."""
    queued: list[Job] = []
    monkeypatch.setattr("jobs.services.common.job_enqueue", queued.append)
    return queued


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return settings.DATA_DIR


def churn_csv(rows: int, seed: int) -> bytes:
    """Label first, no header (SageMaker's CSV convention)."""
    rnd = random.Random(seed)
    lines = []
    for _ in range(rows):
        x1, x2, x3 = rnd.random(), rnd.random(), rnd.random()
        lines.append(f"{int(x1 + 0.5 * x2 > 0.8)},{x1:.4f},{x2:.4f},{x3:.4f}")
    return ("\n".join(lines) + "\n").encode()


def churn_datasets(project, user) -> None:
    """``churn`` and ``churn-validation`` version 1, the same bytes in every project."""
    for name, rows, seed in (("churn", 200, 1), ("churn-validation", 80, 2)):
        upload_from_stream(
            project=project,
            user=user,
            dataset_name=name,
            filename=f"{name}.csv",
            stream=io.BytesIO(churn_csv(rows, seed)),
            options={"header": False},
        )


def same_aws_settings(aws: AwsSettings, project) -> AwsSettings:
    """Another project's AWS settings: the same account, bucket and prefix as ``aws``."""
    return AwsSettings.objects.create(
        project=project,
        region=aws.region,
        role_arn=aws.role_arn,
        bucket=aws.bucket,
        prefix=aws.prefix,
        endpoint_url=aws.endpoint_url,
        access_key_id=aws.access_key_id,
        secret_access_key_encrypted=aws.secret_access_key_encrypted,
    )


DEFINITION = {
    "name": "churn-xgb",
    "algorithm": "xgboost",
    "channels": [
        {"name": "train", "source_uri": "dataset://churn/1", "content_type": "text/csv"},
        {"name": "validation", "source_uri": "dataset://churn-validation/1", "content_type": "text/csv"},
    ],
    "hyperparameters": {"num_round": "10", "objective": "binary:logistic", "max_depth": "3"},
    "instance_type": "ml.m5.large",
    "instance_count": 1,
    "max_runtime_seconds": 900,
    "tags": {"team": "retention"},
    "backend": "local",
}


def normalized(value: object, *, projects: tuple[str, ...], uuids: tuple[str, ...] = ()) -> object:
    """``value`` with the names derived from its project and job written the same for both: the
    project's name (in URIs, SageMaker names, tags) and the job's UUID (in a tag)."""
    text = json.dumps(value, sort_keys=True)
    for project in projects:
        text = re.sub(rf"\b{re.escape(project)}\b", "{project}", text)
    for uuid in uuids:
        text = text.replace(uuid, "{uuid}")
    return json.loads(text)


def channel_data(channels: list[dict]) -> list[dict]:
    """Channels with the SHA-256 of the data each reads in place of its URI."""
    data = []
    for channel in channels:
        uri = channel["source_uri"]
        with store_for(uri).open(uri) as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        data.append({**{k: v for k, v in channel.items() if k != "source_uri"}, "sha256": digest})
    return data


@pytest.fixture
def local_project(admin_user, data_dir):
    """Project A: no AWS settings of its own (until a test gives it some)."""
    return project_create(name="forecast", user=admin_user)


# --- One definition file, either backend ----------------------------------------------------------


def test_one_definition_file_submitted_to_either_backend_makes_the_same_job(
    api, admin_user, project, aws_project, local_project, data_dir, tmp_path, moto_server
):
    """The file with backend local and the file with backend sagemaker differ in that field only;
    so do the two jobs, and so do the requests a dry run builds for them (apart from the names
    derived from each job's project and UUID)."""
    for target in (local_project, project):
        churn_datasets(target, admin_user)
    local_file = tmp_path / "churn-xgb.local.json"
    local_file.write_text(json.dumps(DEFINITION, indent=2))
    sagemaker_file = tmp_path / "churn-xgb.sagemaker.json"
    sagemaker_file.write_text(json.dumps({**DEFINITION, "backend": "sagemaker"}, indent=2))
    changed = [
        line
        for line in difflib.ndiff(
            local_file.read_text().splitlines(), sagemaker_file.read_text().splitlines()
        )
        if line.startswith(("- ", "+ "))
    ]
    assert changed == ['-   "backend": "local"', '+   "backend": "sagemaker"']

    answers = {}
    for target, path in ((local_project, local_file), (project, sagemaker_file)):
        response = api.post(
            f"/api/v1/projects/{target.name}/training-jobs/",
            path.read_text(),
            content_type="application/json",
        )
        assert response.status_code == 201, response.json()
        answers[target.name] = response.json()
    assert answers["forecast"]["backend"] == "local"
    assert answers["vision"]["backend"] == "sagemaker"

    local = api.get("/api/v1/projects/forecast/training-jobs/churn-xgb/").json()
    remote = api.get("/api/v1/projects/vision/training-jobs/churn-xgb/").json()
    projects = ("forecast", "vision")
    for job in (local, remote):
        # Each project stores its own copy of the dataset (under an upload's UUID): compare the bytes.
        job["channels"] = channel_data(job["channels"])
    for field in DEFINITION_FIELDS:
        assert normalized(local[field], projects=projects) == normalized(remote[field], projects=projects), (
            field
        )
    assert [(c["name"], c["dataset"], c["version"], c["content_type"]) for c in remote["channels"]] == [
        ("train", "churn", 1, "text/csv"),
        ("validation", "churn-validation", 1, "text/csv"),
    ]
    differing = {
        key
        for key in local
        if key not in PER_ROW_FIELDS
        and normalized(local[key], projects=projects) != normalized(remote[key], projects=projects)
    }
    assert differing == {"backend", "sagemaker"}
    assert local["sagemaker"] is None
    assert remote["sagemaker"] == {"name": None, "arn": None, "region": None, "sent_at": None}  # not sent yet
    assert [e["status"] for e in local["status_history"]] == [e["status"] for e in remote["status_history"]]
    assert local["status"] == remote["status"] == JobStatus.PENDING

    # The request a local job would send, had it run on SageMaker, is the sagemaker job's request.
    same_aws_settings(aws_project, local_project)
    previews = {
        name: api.get(f"/api/v1/projects/{name}/training-jobs/churn-xgb/sagemaker-request/").json()
        for name in projects
    }
    for preview in previews.values():
        assert preview["error"] == ""
        assert preview["sent"] is False
        assert preview["operation"] == "CreateTrainingJob"
    assert previews["forecast"]["request"] != previews["vision"]["request"]  # names do differ...
    uuids = (local["uuid"], remote["uuid"])
    assert normalized(previews["forecast"], projects=projects, uuids=uuids) == normalized(
        previews["vision"], projects=projects, uuids=uuids
    )  # ...and only names do
    request = previews["vision"]["request"]
    assert request["TrainingJobName"] == "vision-churn-xgb"
    assert request["HyperParameters"] == DEFINITION["hyperparameters"]
    assert [channel["ChannelName"] for channel in request["InputDataConfig"]] == ["train", "validation"]
    # A dry run uploads nothing.
    listed = moto_server["client"].list_objects_v2(Bucket=aws_project.bucket)
    assert listed["KeyCount"] == 0


def test_a_sagemaker_definition_in_a_project_without_aws_settings_is_refused_on_backend(
    api, admin_user, local_project
):
    churn_datasets(local_project, admin_user)
    response = api.post(
        "/api/v1/projects/forecast/training-jobs/", {**DEFINITION, "backend": "sagemaker"}, format="json"
    )

    assert response.status_code == 400
    assert "no AWS settings" in " ".join(response.json()["backend"])
    assert not Job.objects.filter(project=local_project).exists()


def test_an_unknown_backend_is_refused_on_its_field(api, admin_user, local_project):
    churn_datasets(local_project, admin_user)
    response = api.post(
        "/api/v1/projects/forecast/training-jobs/", {**DEFINITION, "backend": "lambda"}, format="json"
    )

    assert response.status_code == 400
    assert "backend" in response.json()


def test_managed_spot_goes_with_a_sagemaker_training_job_and_into_its_request(
    api, admin_user, project, aws_project, data_dir
):
    churn_datasets(project, admin_user)
    body = {**DEFINITION, "backend": "sagemaker", "managed_spot": True, "max_wait_seconds": 1800}
    response = api.post("/api/v1/projects/vision/training-jobs/", body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["managed_spot"] is True
    assert response.json()["max_wait_seconds"] == 1800
    request = api.get("/api/v1/projects/vision/training-jobs/churn-xgb/sagemaker-request/").json()["request"]
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 900, "MaxWaitTimeInSeconds": 1800}


# --- Clone: "Run on SageMaker" over the API ----------------------------------------------------------


@pytest.fixture
def local_job(project, admin_user, data_dir) -> Job:
    churn_datasets(project, admin_user)
    job, _ = training_job_create(
        project=project,
        user=admin_user,
        **{key: value for key, value in DEFINITION.items() if key != "backend"},
    )
    assert job.backend == Backend.LOCAL
    return job


def test_cloning_a_local_job_onto_sagemaker_keeps_its_definition_and_moves_its_outputs(
    api, project, aws_project, local_job
):
    response = api.post(
        "/api/v1/projects/vision/training-jobs/churn-xgb/clone/", {"backend": "sagemaker"}, format="json"
    )

    assert response.status_code == 201, response.json()
    clone = response.json()
    assert clone["name"] == "churn-xgb-sagemaker"  # the suggested name, when none is given
    assert clone["backend"] == "sagemaker"
    assert clone["status"] == JobStatus.PENDING
    original = api.get("/api/v1/projects/vision/training-jobs/churn-xgb/").json()
    for field in DEFINITION_FIELDS:
        assert clone[field] == original[field], field
    row = Job.objects.get(project=project, kind=JobKind.TRAINING, name="churn-xgb-sagemaker")
    assert row.spec["output_uri"] == local_job.spec["output_uri"].replace(
        "/training-jobs/churn-xgb/", "/training-jobs/churn-xgb-sagemaker/"
    )
    assert row.spec["output_uri"] != local_job.spec["output_uri"]


def test_a_processing_clone_writes_its_outputs_under_its_own_name(api, project, aws_project, admin_user):
    processing_job_create(
        project=project,
        user=admin_user,
        name="prep-1",
        script_file=io.BytesIO(SCRIPT_OK),
        script_filename="prep.py",
        outputs=[{"name": "result"}],
    )
    response = api.post(
        "/api/v1/projects/vision/processing-jobs/prep-1/clone/",
        {"name": "prep-on-sm", "backend": "sagemaker"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["backend"] == "sagemaker"
    (output,) = response.json()["output_config"]
    assert output["destination_uri"].endswith("/processing-jobs/prep-on-sm/output/result")
    assert (
        response.json()["script"]
        == api.get("/api/v1/projects/vision/processing-jobs/prep-1/").json()["script"]
    )


def test_cloning_onto_sagemaker_without_aws_settings_is_refused_on_backend(api, project, local_job):
    response = api.post(
        "/api/v1/projects/vision/training-jobs/churn-xgb/clone/", {"backend": "sagemaker"}, format="json"
    )

    assert response.status_code == 400
    assert "no AWS settings" in " ".join(response.json()["backend"])
    assert Job.objects.filter(project=project).count() == 1


def test_a_clone_under_a_taken_name_is_refused_on_name(api, project, aws_project, local_job):
    response = api.post(
        "/api/v1/projects/vision/training-jobs/churn-xgb/clone/",
        {"name": "churn-xgb", "backend": "sagemaker"},
        format="json",
    )

    assert response.status_code == 400
    assert "name" in response.json()
    assert Job.objects.filter(project=project).count() == 1


def test_a_viewer_may_read_the_request_but_not_clone(project, aws_project, local_job, viewer_user):
    client = api_client_for(viewer_user)

    response = client.post(
        "/api/v1/projects/vision/training-jobs/churn-xgb/clone/", {"backend": "sagemaker"}, format="json"
    )
    assert response.status_code == 403
    assert Job.objects.filter(project=project).count() == 1
    assert client.get("/api/v1/projects/vision/training-jobs/churn-xgb/sagemaker-request/").status_code == 200


def test_a_clone_without_a_backend_runs_where_the_job_ran(api, project, local_job):
    response = api.post("/api/v1/projects/vision/training-jobs/churn-xgb/clone/", {}, format="json")

    assert response.status_code == 201, response.json()
    assert (response.json()["name"], response.json()["backend"]) == ("churn-xgb-local", "local")


# --- The request: a dry run, or the one sent -------------------------------------------------------------


def test_a_local_jobs_dry_run_is_its_create_training_job_request_and_uploads_nothing(
    api, project, aws_project, local_job, moto_server
):
    response = api.get("/api/v1/projects/vision/training-jobs/churn-xgb/sagemaker-request/")

    assert response.status_code == 200
    preview = response.json()
    assert (preview["operation"], preview["sent"], preview["error"]) == ("CreateTrainingJob", False, "")
    request = preview["request"]
    assert "xgboost" in request["AlgorithmSpecification"]["TrainingImage"]
    assert request["RoleArn"] == ROLE_ARN
    assert request["ResourceConfig"]["InstanceType"] == "ml.m5.large"
    assert request["ResourceConfig"]["InstanceCount"] == 1
    assert request["StoppingCondition"]["MaxRuntimeInSeconds"] == 900
    for channel in request["InputDataConfig"]:
        assert channel["DataSource"]["S3DataSource"]["S3Uri"].startswith(f"s3://{aws_project.bucket}/")
    assert moto_server["client"].list_objects_v2(Bucket=aws_project.bucket)["KeyCount"] == 0
    local_job.refresh_from_db()
    assert local_job.remote == {}


def test_without_aws_settings_the_dry_run_says_what_is_missing(api, project, local_job):
    preview = api.get("/api/v1/projects/vision/training-jobs/churn-xgb/sagemaker-request/").json()

    assert preview["request"] is None
    assert preview["sent"] is False
    assert "no AWS settings" in preview["error"]


def sent(job: Job) -> dict:
    """Mark ``job`` as sent to SageMaker, as the driver records it."""
    remote = {
        "operation": "CreateTrainingJob",
        "request": {"TrainingJobName": f"vision-{job.name}", "RoleArn": ROLE_ARN},
        "prerequisites": [],
        "name": f"vision-{job.name}",
        "arn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/vision-{job.name}",
        "region": "us-east-1",
        "sent": True,
        "sent_at": "2024-05-01T12:00:00+00:00",
        "chain": "secret-ish-token",
    }
    Job.objects.filter(pk=job.pk).update(remote=remote, backend=Backend.SAGEMAKER)
    job.refresh_from_db()
    return remote


def test_a_sent_jobs_request_and_description_come_from_what_was_sent(api, project, aws_project, local_job):
    remote = sent(local_job)

    preview = api.get("/api/v1/projects/vision/training-jobs/churn-xgb/sagemaker-request/").json()
    assert preview == {
        "operation": "CreateTrainingJob",
        "request": remote["request"],
        "prerequisites": [],
        "sent": True,
        "error": "",
    }
    detail = api.get("/api/v1/projects/vision/training-jobs/churn-xgb/").json()
    assert detail["sagemaker"] == {
        "name": "vision-churn-xgb",
        "arn": remote["arn"],
        "region": "us-east-1",
        "sent_at": "2024-05-01T12:00:00+00:00",
    }
    assert "secret-ish-token" not in json.dumps(detail)


def test_every_kinds_create_request_takes_the_backend(api, project, aws_project, csv_artifact):
    from tests.test_api_permissions import tuning_request

    response = api.post(
        "/api/v1/projects/vision/processing-jobs/",
        processing_request("prep-sm", backend="sagemaker"),
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    body = tuning_request("tune-sm")
    body["channels"] = json.dumps([{"name": "train", "source_uri": csv_artifact.uri}])
    response = api.post(
        "/api/v1/projects/vision/tuning-jobs/", {**body, "backend": "sagemaker"}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    tuning = api.get("/api/v1/projects/vision/tuning-jobs/tune-sm/").json()
    assert tuning["backend"] == "sagemaker"
    assert tuning["sagemaker"] == {"name": None, "arn": None, "region": None, "sent_at": None}
    processing = api.get("/api/v1/projects/vision/processing-jobs/prep-sm/").json()
    assert processing["backend"] == "sagemaker"
    assert processing["sagemaker"]["arn"] is None
    listed = api.get("/api/v1/projects/vision/processing-jobs/").json()["results"]
    assert [item["backend"] for item in listed] == ["sagemaker"]


def test_the_training_job_list_costs_the_same_queries_for_either_backend(
    api, project, aws_project, local_job, django_assert_max_num_queries
):
    for number in range(5):
        api.post(
            "/api/v1/projects/vision/training-jobs/churn-xgb/clone/",
            {"name": f"copy-{number}", "backend": "sagemaker" if number % 2 else "local"},
            format="json",
        )
    # The API key and its user, the project and membership, the count and the page.
    with django_assert_max_num_queries(8):
        response = api.get("/api/v1/projects/vision/training-jobs/")
    assert {item["backend"] for item in response.json()["results"]} == {"local", "sagemaker"}


# --- The pages ------------------------------------------------------------------------------------------


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def card_of(html: str) -> str:
    match = re.search(r'<section class="card" id="sagemaker".*?</section>', html, re.DOTALL)
    assert match, "no SageMaker card on the page"
    return match.group(0)


def dry_run_of(client: Client, card: str) -> str:
    """What the card's "Dry run" shows once opened: the fragment its script fetches."""
    match = re.search(r'<details id="sagemaker-dry-run" data-sent="false" data-dry-run-url="([^"]+)"', card)
    assert match, "no dry run on the card"
    response = client.get(match.group(1))
    assert response.status_code == 200
    return response.content.decode()


def test_a_local_jobs_page_offers_run_on_sagemaker_with_its_dry_run(
    project, aws_project, local_job, editor_user
):
    client = client_for(editor_user)
    response = client.get(reverse("jobs:training-detail", args=["vision", "churn-xgb"]))

    assert response.status_code == 200
    card = card_of(response.content.decode())
    assert 'data-backend="local"' in card
    assert 'id="sagemaker-dry-run"' in card
    assert "CreateTrainingJob" in card
    assert "TrainingJobName" not in card  # built when opened, not on every view
    assert (
        f'href="{reverse("api-training-job-sagemaker-request", args=["vision", "churn-xgb"])}"' in card
    )  # and readable as JSON without the script
    dry_run = dry_run_of(client, card)
    assert 'id="sagemaker-request-json"' in dry_run
    assert "&quot;TrainingJobName&quot;: &quot;vision-churn-xgb&quot;" in dry_run
    assert ROLE_ARN in dry_run
    assert 'id="sagemaker-error"' not in dry_run
    assert 'id="run-on-sagemaker"' in card
    assert 'value="churn-xgb-sagemaker"' in card
    assert '<input type="hidden" name="backend" value="sagemaker"' in card
    assert reverse("jobs:training-clone", args=["vision", "churn-xgb"]) in card


def test_without_aws_settings_the_page_says_so_and_links_to_them(project, local_job, editor_user):
    html = client_for(editor_user).get(reverse("jobs:training-detail", args=["vision", "churn-xgb"])).content
    card = card_of(html.decode())

    assert "no AWS settings" in card
    assert f'href="{reverse("cloud:aws-settings", args=["vision"])}"' in card
    assert 'id="sagemaker-dry-run"' not in card


def test_a_viewer_sees_the_dry_run_but_no_run_on_sagemaker(project, aws_project, local_job, viewer_user):
    client = client_for(viewer_user)
    card = card_of(client.get(reverse("jobs:training-detail", args=["vision", "churn-xgb"])).content.decode())

    assert "CreateTrainingJob" in card
    assert "&quot;RoleArn&quot;" in dry_run_of(client, card)
    assert "run-on-sagemaker" not in card
    response = client.post(
        reverse("jobs:training-clone", args=["vision", "churn-xgb"]),
        {"name": "sneaky", "backend": "sagemaker"},
    )
    assert response.status_code == 403
    assert not Job.objects.filter(name="sneaky").exists()


def test_run_on_sagemaker_from_the_page_opens_the_new_jobs_page(project, aws_project, local_job, editor_user):
    client = client_for(editor_user)
    response = client.post(
        reverse("jobs:training-clone", args=["vision", "churn-xgb"]),
        {"name": "churn-xgb-sagemaker", "backend": "sagemaker"},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse(
        "jobs:training-detail", args=["vision", "churn-xgb-sagemaker"]
    )
    html = response.content.decode()
    assert "churn-xgb-sagemaker created, on Amazon SageMaker." in html
    assert '<dd id="job-backend">Amazon SageMaker</dd>' in html
    card = card_of(html)
    assert 'data-backend="sagemaker"' in card
    assert 'id="run-on-local"' in card  # and back again, on this machine
    clone = Job.objects.get(name="churn-xgb-sagemaker")
    assert clone.backend == Backend.SAGEMAKER
    assert clone.spec["hyperparameters"] == local_job.spec["hyperparameters"]


def test_run_on_sagemaker_without_aws_settings_shows_why_on_the_page(project, local_job, editor_user):
    response = client_for(editor_user).post(
        reverse("jobs:training-clone", args=["vision", "churn-xgb"]),
        {"name": "churn-xgb-sagemaker", "backend": "sagemaker"},
    )

    assert response.status_code == 200
    card = card_of(response.content.decode())
    errors = re.search(r'<ul class="errorlist" id="clone-errors">(.*?)</ul>', card, re.DOTALL)
    assert errors
    assert "no AWS settings" in errors.group(1)
    assert not Job.objects.filter(name="churn-xgb-sagemaker").exists()


def test_a_taken_name_is_shown_on_the_name_field(project, aws_project, local_job, editor_user):
    response = client_for(editor_user).post(
        reverse("jobs:training-clone", args=["vision", "churn-xgb"]),
        {"name": "churn-xgb", "backend": "sagemaker"},
    )

    assert response.status_code == 200
    card = card_of(response.content.decode())
    assert 'id="id_name_error"' in card
    assert Job.objects.filter(project=project).count() == 1


def test_a_sent_jobs_page_shows_its_sagemaker_name_arn_and_the_request_sent(
    project, aws_project, local_job, viewer_user
):
    remote = sent(local_job)
    html = client_for(viewer_user).get(reverse("jobs:training-detail", args=["vision", "churn-xgb"])).content
    card = card_of(html.decode())

    assert 'data-backend="sagemaker"' in card
    assert remote["arn"] in card
    assert "vision-churn-xgb" in card
    assert "us-east-1" in card
    assert 'id="sagemaker-request" data-sent="true"' in card
    assert "Request sent" in card
    assert '<time datetime="2024-05-01T12:00:00+00:00">2024-05-01 12:00:00</time>' in card
    assert "secret-ish-token" not in html.decode()


def test_every_kinds_page_has_the_sagemaker_card(project, aws_project, admin_user, editor_user):
    processing_job_create(
        project=project,
        user=admin_user,
        name="prep-1",
        script_file=io.BytesIO(SCRIPT_OK),
        script_filename="prep.py",
    )
    card = card_of(
        client_for(editor_user)
        .get(reverse("jobs:processing-detail", args=["vision", "prep-1"]))
        .content.decode()
    )
    assert "CreateProcessingJob" in card
    assert 'id="run-on-sagemaker"' in card


def test_a_tuning_jobs_page_has_the_sagemaker_card(
    project, aws_project, admin_user, editor_user, csv_artifact
):
    tuning_job_create(
        project=project,
        user=admin_user,
        name="tune-1",
        source_file=io.BytesIO(b"print('objective=1')\n"),
        source_filename="train.py",
        channels=[{"name": "train", "source_uri": csv_artifact.uri}],
        metric_definitions=[{"name": "objective", "regex": "objective=([0-9.]+)"}],
        strategy="Grid",
        parameter_ranges={"CategoricalParameterRanges": [{"Name": "a", "Values": ["1", "2"]}]},
        objective_metric="objective",
        objective_type="Minimize",
    )
    html = (
        client_for(editor_user).get(reverse("jobs:tuning-detail", args=["vision", "tune-1"])).content.decode()
    )

    card = card_of(html)
    assert "CreateHyperParameterTuningJob" in card
    assert 'value="tune-1-sagemaker"' in card
    assert '<dd id="job-backend">This machine (local)</dd>' in html


def test_a_transform_jobs_page_shows_why_its_request_cannot_be_built(
    project, aws_project, admin_user, editor_user
):
    """A model whose artifact is gone: the dry run says so, and the page still renders."""
    from tests.test_api_permissions import transform_world

    upload_from_stream(
        project=project,
        user=admin_user,
        dataset_name="existing-data",
        filename="data.csv",
        stream=io.BytesIO(b"a,b\n1,2\n3,4\n"),
    )
    transform_world(project, admin_user, "score-1")
    client = client_for(editor_user)
    response = client.get(reverse("jobs:transform-detail", args=["vision", "score-1"]))

    assert response.status_code == 200
    card = card_of(response.content.decode())
    assert 'id="run-on-sagemaker"' in card
    assert "CreateTransformJob" in card
    dry_run = dry_run_of(client, card)
    assert 'id="sagemaker-error"' in dry_run
    assert 'id="sagemaker-request-json"' not in dry_run


def refuse_dry_runs(monkeypatch) -> None:
    """From here on, building a dry run, or listing any store (Studio's, or S3), fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the page built a dry run, or listed a store")

    monkeypatch.setattr("jobs.backends.sagemaker.driver.sagemaker_request_preview", refuse)
    monkeypatch.setattr("jobs.backends.sagemaker.staging.Stager.stage_input", refuse)
    monkeypatch.setattr("studio.artifacts.FileStore.list", refuse)
    monkeypatch.setattr("studio.artifacts.S3Store.list", refuse)


def test_a_job_page_builds_no_dry_run_and_lists_nothing(
    project, aws_project, local_job, editor_user, monkeypatch, django_assert_max_num_queries
):
    refuse_dry_runs(monkeypatch)
    client = client_for(editor_user)
    client.get(reverse("jobs:training-detail", args=["vision", "churn-xgb"]))  # the session, warmed
    # The session and user, the project and role, the job, its events, log, metrics and outputs, the
    # AWS settings: none of them grows with the job's inputs.
    with django_assert_max_num_queries(14):
        response = client.get(reverse("jobs:training-detail", args=["vision", "churn-xgb"]))

    assert response.status_code == 200
    card = card_of(response.content.decode())
    assert 'id="sagemaker-dry-run"' in card
    assert "CreateTrainingJob" in card


def test_a_transform_jobs_page_reads_no_model_and_lists_nothing(
    project, aws_project, admin_user, editor_user, monkeypatch, django_assert_max_num_queries
):
    from tests.test_api_permissions import transform_world

    upload_from_stream(
        project=project,
        user=admin_user,
        dataset_name="existing-data",
        filename="data.csv",
        stream=io.BytesIO(b"a,b\n1,2\n3,4\n"),
    )
    transform_world(project, admin_user, "score-1")
    refuse_dry_runs(monkeypatch)
    client = client_for(editor_user)
    client.get(reverse("jobs:transform-detail", args=["vision", "score-1"]))
    with django_assert_max_num_queries(12):
        response = client.get(reverse("jobs:transform-detail", args=["vision", "score-1"]))

    assert response.status_code == 200
    assert 'id="sagemaker-dry-run"' in card_of(response.content.decode())


def test_a_sent_jobs_page_shows_what_it_sent_without_a_dry_run(
    project, aws_project, local_job, viewer_user, monkeypatch
):
    remote = sent(local_job)
    refuse_dry_runs(monkeypatch)
    card = card_of(
        client_for(viewer_user)
        .get(reverse("jobs:training-detail", args=["vision", "churn-xgb"]))
        .content.decode()
    )

    assert 'id="sagemaker-request" data-sent="true"' in card
    assert f"&quot;RoleArn&quot;: &quot;{remote['request']['RoleArn']}&quot;" in card
    assert 'id="sagemaker-dry-run"' not in card


def test_the_dry_run_fragment_needs_a_login_and_the_project(project, aws_project, local_job, admin_user):
    url = reverse("jobs:training-sagemaker-dry-run", args=["vision", "churn-xgb"])

    response = Client().get(url)
    assert response.status_code == 302
    assert "login" in response["Location"]
    assert (
        client_for(admin_user)
        .get(reverse("jobs:training-sagemaker-dry-run", args=["vision", "nope"]))
        .status_code
        == 404
    )


def test_the_job_list_marks_sagemaker_jobs(project, aws_project, local_job, viewer_user, admin_user):
    from jobs.services.clone import job_clone

    job_clone(job=local_job, user=admin_user, name="churn-xgb-sagemaker", backend="sagemaker")
    html = client_for(viewer_user).get(reverse("jobs:list", args=["vision"])).content.decode()

    rows = dict(re.findall(r"<strong>([\w-]+)</strong></a>(.*?)</td>", html))
    assert "SageMaker" in rows["churn-xgb-sagemaker"]
    assert "SageMaker" not in rows["churn-xgb"]


# --- The launch forms ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["training", "processing", "tuning", "transform"])
def test_each_launch_form_offers_the_compute_backend(project, editor_user, kind):
    html = client_for(editor_user).get(reverse(f"jobs:{kind}-create", args=["vision"])).content.decode()

    select = re.search(r'<select name="backend"[^>]*>(.*?)</select>', html, re.DOTALL)
    assert select, f"no backend select on the {kind} form"
    assert re.search(r'<option value="local" selected>', select.group(1))
    assert '<option value="sagemaker">Amazon SageMaker</option>' in select.group(1)
    assert "Compute backend" in html


def test_the_training_form_launches_on_sagemaker(project, aws_project, editor_user, csv_artifact):
    data = form_data("xgb-sm", train=csv_artifact.uri, validation=csv_artifact.uri, backend="sagemaker")
    response = client_for(editor_user).post(reverse("jobs:training-create", args=["vision"]), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Job.objects.get(name="xgb-sm").backend == Backend.SAGEMAKER


def test_the_training_form_without_aws_settings_shows_why_on_the_backend(project, editor_user, csv_artifact):
    data = form_data("xgb-sm", train=csv_artifact.uri, validation=csv_artifact.uri, backend="sagemaker")
    response = client_for(editor_user).post(reverse("jobs:training-create", args=["vision"]), data)

    assert response.status_code == 200
    field = re.search(
        r'<div class="field field-invalid" id="field-backend">(.*?)</div>\s*</div>',
        response.content.decode(),
        re.DOTALL,
    )
    assert field
    assert "no AWS settings" in field.group(1)
    assert not Job.objects.filter(name="xgb-sm").exists()
