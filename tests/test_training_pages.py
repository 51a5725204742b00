"""Training-job pages: the launch form (built-ins and user code, clone), the live detail page with
its evaluation and artifacts, the comparison of jobs, the job list, and who may do what."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from datasets.uploads import upload_from_stream
from jobs.algorithms.registry import ALGORITHMS
from jobs.forms import hyperparameter_field_name
from jobs.models import Job, JobEvaluation, JobKind, JobMetric, JobStatus, SecondaryStatus
from jobs.services import training_job_create
from studio.artifacts import join_uri, project_prefix, store_for

pytestmark = pytest.mark.django_db

SHA = "ab" * 32


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


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


def xgboost_fields(**overrides: str) -> dict[str, str]:
    """What the browser posts for XGBoost: every field at its default, then the overrides."""
    fields = {
        hyperparameter_field_name("xgboost", hp.name): "" if hp.default is None else str(hp.default)
        for hp in ALGORITHMS["xgboost"].hyperparameters
    }
    fields[hyperparameter_field_name("xgboost", "num_round")] = "30"
    fields.update({hyperparameter_field_name("xgboost", key): value for key, value in overrides.items()})
    return fields


def form_data(name: str = "xgb-1", *, train: str = "", validation: str = "", **extra) -> dict:
    data = {
        "name": name,
        "source_kind": "builtin",
        "algorithm": "xgboost",
        "channel_train_dataset": "",
        "channel_train_uri": train,
        "channel_train_content_type": "text/csv",
        "channel_validation_dataset": "",
        "channel_validation_uri": validation,
        "channel_validation_content_type": "text/csv",
        "channel_test_dataset": "",
        "channel_test_uri": "",
        "channel_test_content_type": "text/csv",
        "instance_type": "ml.m5.large",
        "instance_count": "1",
        "max_runtime_seconds": "600",
        "checkpoint_uri": "",
        "environment": "",
        "hyperparameters": "",
        "metric_definitions": "",
        "entry_point": "",
        "source_uri": "",
        **xgboost_fields(objective="binary:logistic"),
    }
    data.update(extra)
    return data


def make_training_job(project, user, name: str, uri: str, **hyperparameters) -> Job:
    job, _ = training_job_create(
        project=project,
        user=user,
        name=name,
        algorithm="xgboost",
        channels=[
            {"name": "train", "source_uri": uri, "content_type": "text/csv"},
            {"name": "validation", "source_uri": uri, "content_type": "text/csv"},
        ],
        hyperparameters={"num_round": "30", "objective": "binary:logistic", **hyperparameters},
    )
    return job


def add_metrics(job: Job, name: str, values: list[float]) -> None:
    """Metric points as the worker writes them; raw executemany, so 100,000 take a second, not five."""
    now = timezone.now()
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in ("job_id", "name", "value", "step", "timestamp"))
    sql = f"INSERT INTO {quote(JobMetric._meta.db_table)} ({columns}) VALUES (%s, %s, %s, %s, %s)"  # noqa: S608
    rows = [(job.pk, name, value, step, now) for step, value in enumerate(values)]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 10_000):
            cursor.executemany(sql, rows[start : start + 10_000])


def figures_of(html: str, element_id: str) -> dict:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.DOTALL)
    assert match, f"no #{element_id} in the page"
    return json.loads(match.group(1))


# --- The launch form ------------------------------------------------------------------------------


def test_the_form_renders_every_algorithms_hyperparameters_with_defaults_and_help(project, editor_user):
    response = client_for(editor_user).get(reverse("jobs:training-create", args=["vision"]))

    assert response.status_code == 200
    html = response.content.decode()
    for algorithm in ALGORITHMS.values():
        assert f'data-algorithm="{algorithm.name}"' in html
        for hp in algorithm.hyperparameters:
            assert f'name="{hyperparameter_field_name(algorithm.name, hp.name)}"' in html
    assert 'name="hp__xgboost__eta" value="0.3"' in html
    assert 'min="0" max="1"' in html  # eta's range on the number input
    assert "Step size shrinkage (learning rate). Number, 0 to 1. Default 0.3." in html
    assert '<option value="reg:squarederror" selected>' in html
    # Only the chosen (default) algorithm's hyperparameters are shown; the rest wait for the select.
    assert re.search(r'class="hp-group" data-source-kind="builtin" data-algorithm="xgboost">', html)
    assert re.search(r'data-algorithm="k-means" hidden>', html)
    # Training instance types, with their GPUs.
    assert "ml.p3.2xlarge — 8 vCPU, 61 GiB, 1 x NVIDIA V100" in html


def test_the_form_offers_the_projects_dataset_versions(project, editor_user, data_dir):
    for _ in range(2):
        upload_from_stream(
            project=project,
            user=editor_user,
            dataset_name="churn",
            filename="churn.csv",
            stream=io.BytesIO(b"1,0.5,2\n0,0.1,3\n"),
            options={"header": False},
        )

    html = client_for(editor_user).get(reverse("jobs:training-create", args=["vision"])).content.decode()

    assert '<option value="dataset://churn/2">churn v2 (csv, 2 rows)</option>' in html
    assert '<option value="dataset://churn/1">' in html


def test_a_bad_hyperparameter_is_shown_on_its_field_and_creates_nothing(project, editor_user, csv_artifact):
    data = form_data(train=csv_artifact.uri, **xgboost_fields(eta="5", objective="binary:logistic"))

    response = client_for(editor_user).post(reverse("jobs:training-create", args=["vision"]), data)

    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors[hyperparameter_field_name("xgboost", "eta")] == ["5.0 is above the maximum 1."]
    assert 'id="id_hp__xgboost__eta_error"' in response.content.decode()
    assert not Job.objects.exists()


def test_a_missing_train_channel_is_shown_on_the_train_row(project, editor_user, csv_artifact):
    data = form_data(validation=csv_artifact.uri)

    response = client_for(editor_user).post(reverse("jobs:training-create", args=["vision"]), data)

    assert response.status_code == 200
    assert response.context["form"].errors["channel_train_uri"] == ["xgboost needs a 'train' channel."]
    html = response.content.decode()
    assert 'id="channel-train-errors"' in html
    assert "xgboost needs a &#x27;train&#x27; channel." in html
    assert not Job.objects.exists()


def test_a_channel_that_points_at_nothing_is_shown_on_its_row(project, editor_user, csv_artifact):
    missing = join_uri(project_prefix("vision"), "nothing-here.csv")
    data = form_data(train=csv_artifact.uri, validation=missing)

    response = client_for(editor_user).post(reverse("jobs:training-create", args=["vision"]), data)

    errors = response.context["form"].errors["channel_validation_uri"]
    assert errors
    assert "nothing found" in errors[0]
    assert not Job.objects.exists()


def test_a_dataset_version_and_a_uri_for_one_channel_are_refused(
    project, editor_user, csv_artifact, data_dir
):
    upload_from_stream(
        project=project,
        user=editor_user,
        dataset_name="churn",
        filename="churn.csv",
        stream=io.BytesIO(b"1,0.5\n0,0.1\n"),
        options={"header": False},
    )
    data = form_data(train=csv_artifact.uri, channel_train_dataset="dataset://churn/1")

    response = client_for(editor_user).post(reverse("jobs:training-create", args=["vision"]), data)

    assert response.context["form"].errors["channel_train_uri"] == [
        "Choose a dataset version or type a URI, not both."
    ]
    assert not Job.objects.exists()


def test_an_editor_launches_a_built_in_training_job(project, editor_user, csv_artifact, data_dir, no_workers):
    upload_from_stream(
        project=project,
        user=editor_user,
        dataset_name="churn",
        filename="churn.csv",
        stream=io.BytesIO(b"1,0.5,2\n0,0.1,3\n"),
        options={"header": False},
    )
    data = form_data(train="", validation=csv_artifact.uri, channel_train_dataset="dataset://churn/1")
    # Other algorithms' fields are posted too (they are on the page, hidden); they are ignored.
    data[hyperparameter_field_name("k-means", "k")] = "not a number"

    response = client_for(editor_user).post(reverse("jobs:training-create", args=["vision"]), data)

    assert response.status_code == 302
    assert response["Location"] == reverse("jobs:training-detail", args=["vision", "xgb-1"])
    job = Job.objects.get(kind=JobKind.TRAINING, name="xgb-1")
    assert job.created_by == editor_user
    assert job.spec["algorithm"] == {"name": "xgboost"}
    assert job.spec["hyperparameters"]["num_round"] == "30"
    assert job.spec["hyperparameters"]["objective"] == "binary:logistic"
    assert "eval_metric" not in job.spec["hyperparameters"]  # empty fields are not sent
    train, validation = job.spec["channels"]
    assert (train["name"], train["dataset"], train["version"]) == ("train", "churn", 1)
    assert (validation["source_uri"], validation["content_type"]) == (csv_artifact.uri, "text/csv")
    assert job.max_runtime_seconds == 600
    assert no_workers == [job]


def test_an_editor_launches_their_own_code(project, editor_user, csv_artifact):
    data = form_data(
        "own-1",
        train=csv_artifact.uri,
        source_kind="code",
        source=SimpleUploadedFile("train.py", b"print('loss=0.5')\n", content_type="text/x-python"),
        hyperparameters="epochs=3\nlr=0.1",
        metric_definitions="train:loss=loss=([0-9.]+)",
        environment="MODE=fast",
    )

    response = client_for(editor_user).post(reverse("jobs:training-create", args=["vision"]), data)

    assert response.status_code == 302
    job = Job.objects.get(name="own-1")
    assert job.spec["algorithm"] is None
    assert job.spec["code"]["entry_point"] == "train.py"
    assert job.spec["hyperparameters"] == {"epochs": "3", "lr": "0.1"}
    assert job.metric_definitions == [{"name": "train:loss", "regex": "loss=([0-9.]+)"}]
    assert job.spec["environment"] == {"MODE": "fast"}


def test_user_code_without_a_file_is_refused_on_the_code_field(project, editor_user, csv_artifact):
    data = form_data("own-1", train=csv_artifact.uri, source_kind="code")

    response = client_for(editor_user).post(reverse("jobs:training-create", args=["vision"]), data)

    assert "source" in response.context["form"].errors
    assert not Job.objects.exists()


def test_a_taken_name_is_shown_on_the_name_field(project, editor_user, csv_artifact):
    make_training_job(project, editor_user, "xgb-1", csv_artifact.uri)

    response = client_for(editor_user).post(
        reverse("jobs:training-create", args=["vision"]), form_data(train=csv_artifact.uri)
    )

    assert response.context["form"].errors["name"]
    assert Job.objects.count() == 1


def test_clone_prefills_the_form_with_the_jobs_definition_under_a_free_name(
    project, editor_user, csv_artifact
):
    make_training_job(project, editor_user, "xgb-1", csv_artifact.uri, eta="0.1", max_depth="4")
    make_training_job(project, editor_user, "xgb-1-clone", csv_artifact.uri)
    client = client_for(editor_user)

    response = client.get(reverse("jobs:training-create", args=["vision"]), {"clone": "xgb-1"})

    assert response.status_code == 200
    initial = response.context["form"].initial
    assert initial["name"] == "xgb-1-clone-2"
    assert initial["algorithm"] == "xgboost"
    assert initial[hyperparameter_field_name("xgboost", "eta")] == "0.1"
    assert initial[hyperparameter_field_name("xgboost", "max_depth")] == "4"
    assert initial["channel_train_uri"] == csv_artifact.uri
    html = response.content.decode()
    assert 'name="hp__xgboost__eta" value="0.1"' in html
    assert 'value="xgb-1-clone-2"' in html
    assert "Cloned from" in html
    # Posting the prefilled form as it is launches the clone.
    data = form_data(
        "xgb-1-clone-2",
        train=csv_artifact.uri,
        validation=csv_artifact.uri,
        **xgboost_fields(eta="0.1", max_depth="4", objective="binary:logistic"),
    )
    assert client.post(reverse("jobs:training-create", args=["vision"]), data).status_code == 302


def test_clone_of_user_code_keeps_the_stored_code(project, editor_user, csv_artifact):
    job, _ = training_job_create(
        project=project,
        user=editor_user,
        name="own-1",
        source_file=io.BytesIO(b"print('hi')\n"),
        source_filename="train.py",
        channels=[{"name": "train", "source_uri": csv_artifact.uri}],
        hyperparameters={"epochs": "3"},
        metric_definitions=[{"name": "loss", "regex": "loss=([0-9.]+)"}],
    )
    client = client_for(editor_user)

    initial = (
        client.get(reverse("jobs:training-create", args=["vision"]), {"clone": "own-1"})
        .context["form"]
        .initial
    )

    assert initial["source_kind"] == "code"
    assert initial["source_uri"] == job.spec["code"]["uri"]
    assert initial["hyperparameters"] == "epochs=3"
    assert initial["metric_definitions"] == "loss=loss=([0-9.]+)"
    data = form_data(
        "own-2",
        train=csv_artifact.uri,
        source_kind="code",
        source_uri=initial["source_uri"],
        entry_point="train.py",
        hyperparameters="epochs=4",
    )
    assert client.post(reverse("jobs:training-create", args=["vision"]), data).status_code == 302
    assert Job.objects.get(name="own-2").spec["code"]["sha256"] == job.spec["code"]["sha256"]


def test_cloning_a_missing_job_is_404(project, editor_user):
    response = client_for(editor_user).get(
        reverse("jobs:training-create", args=["vision"]), {"clone": "nope"}
    )
    assert response.status_code == 404


# --- The detail page ---------------------------------------------------------------------------------


@pytest.fixture
def finished_job(project, admin_user, csv_artifact) -> Job:
    """A completed XGBoost job with its archives in the store, metric points and an evaluation."""
    job = make_training_job(project, admin_user, "xgb-done", csv_artifact.uri, eta="0.2")
    job.transition(JobStatus.IN_PROGRESS, secondary=SecondaryStatus.TRAINING, message="Training")
    outputs = []
    for name, content in (("model", b"model bytes"), ("output", b"output bytes")):
        stored = store_for(job.spec["output_uri"]).put(
            join_uri(job.spec["output_uri"], f"{name}.tar.gz"), io.BytesIO(content)
        )
        outputs.append(
            {"name": name, "uri": stored.uri, "sha256": stored.sha256, "bytes": stored.size, "files": 1}
        )
    job.transition(
        JobStatus.COMPLETED, secondary=SecondaryStatus.COMPLETED, message="Done", extra={"outputs": outputs}
    )
    add_metrics(job, "train:auc", [0.6, 0.7, 0.8])
    add_metrics(job, "validation:auc", [0.55, 0.65, 0.72])
    return job


EVALUATION = {
    "problem": "binary_classification",
    "channel": "validation",
    "metrics": {"accuracy": 0.9, "auc": 0.93, "f1": 0.88},
    "confusion_matrix": {"labels": ["0", "1"], "matrix": [[40, 5], [3, 52]]},
    "roc_curve": {"fpr": [0, 0.1, 1], "tpr": [0, 0.8, 1], "auc": 0.93},
    "pr_curve": {"recall": [1, 0.8, 0], "precision": [0.5, 0.9, 1], "average_precision": 0.9},
    "feature_importances": {"features": ["f0", "f1", "f2"], "importances": [0.5, 0.3, 0.2]},
}


def test_the_detail_page_shows_hyperparameters_channels_timeline_and_artifacts(
    project, viewer_user, finished_job
):
    response = client_for(viewer_user).get(reverse("jobs:training-detail", args=["vision", "xgb-done"]))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<td class="mono">eta</td><td class="mono break">0.2</td>' in html
    assert '<td class="mono">num_round</td><td class="mono break">30</td>' in html
    assert "XGBoost" in html
    assert html.count('class="badge badge-completed"') >= 2  # the header and the timeline's last step
    assert "Training" in html  # the secondary status in the timeline
    for output in finished_job.outputs:
        assert output["sha256"] in html
        assert reverse("jobs:training-output", args=["vision", "xgb-done", output["name"]]) in html
    assert "model.tar.gz" in html
    assert 'id="evaluation"' not in html  # no evaluation row: no section
    metrics = figures_of(html, "metrics-data")
    assert [point["value"] for point in metrics["validation:auc"]] == [0.55, 0.65, 0.72]
    assert 'data-terminal="true"' in html


def test_the_detail_page_draws_the_evaluation(project, viewer_user, finished_job):
    JobEvaluation.objects.create(
        job=finished_job,
        problem=EVALUATION["problem"],
        channel="validation",
        metrics=EVALUATION["metrics"],
        report=EVALUATION,
    )

    html = (
        client_for(viewer_user)
        .get(reverse("jobs:training-detail", args=["vision", "xgb-done"]))
        .content.decode()
    )

    assert 'id="evaluation"' in html
    assert '<td class="mono">auc</td><td class="right mono">0.93</td>' in html
    figures = figures_of(html, "evaluation-figures")
    assert set(figures) == {"roc", "pr", "confusion", "importances"}
    assert figures["roc"]["data"][0]["y"] == [0, 0.8, 1]
    assert figures["confusion"]["data"][0]["z"] == [[40, 5], [3, 52]]
    assert figures["importances"]["data"][0]["y"] == ["f2", "f1", "f0"]  # most important on top
    for key in figures:
        assert f'data-figure="{key}"' in html


def test_a_regression_evaluation_draws_residuals(project, viewer_user, finished_job):
    report = {
        "problem": "regression",
        "metrics": {"rmse": 0.5},
        "residuals": {"actual": [1, 2, 3], "predicted": [1.1, 1.8, 3.3], "residual": [-0.1, 0.2, -0.3]},
    }
    JobEvaluation.objects.create(job=finished_job, problem="regression", channel="test", report=report)

    html = (
        client_for(viewer_user)
        .get(reverse("jobs:training-detail", args=["vision", "xgb-done"]))
        .content.decode()
    )

    figures = figures_of(html, "evaluation-figures")
    assert set(figures) == {"residuals"}
    assert figures["residuals"]["data"][0]["y"] == [-0.1, 0.2, -0.3]


def test_an_artifact_downloads_from_the_store(project, viewer_user, finished_job):
    client = client_for(viewer_user)

    response = client.get(reverse("jobs:training-output", args=["vision", "xgb-done", "model"]))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"model bytes"
    assert 'filename="model.tar.gz"' in response["Content-Disposition"]
    assert client.get(reverse("jobs:training-output", args=["vision", "xgb-done", "nope"])).status_code == 404


def test_a_running_job_polls_and_its_fragment_renders(project, admin_user, csv_artifact):
    job = make_training_job(project, admin_user, "xgb-live", csv_artifact.uri)
    job.transition(JobStatus.IN_PROGRESS, secondary=SecondaryStatus.TRAINING, message="Training")
    client = client_for(admin_user)

    html = client.get(reverse("jobs:training-detail", args=["vision", "xgb-live"])).content.decode()
    fragment = client.get(reverse("jobs:training-fragment", args=["vision", "xgb-live"]))

    assert 'data-terminal="false"' in html
    assert reverse("api-training-job-metrics", args=["vision", "xgb-live"]) in html
    assert reverse("api-training-job-logs", args=["vision", "xgb-live"]) in html
    assert "The model and output archives appear here when the job completes." in html
    assert fragment.status_code == 200
    assert b'id="job-live"' in fragment.content
    assert b'id="stop-job"' in fragment.content
    assert b"<html" not in fragment.content


def test_the_detail_page_links_to_a_trials_tuning_job(project, admin_user, csv_artifact):
    tuning = Job.objects.create(
        project=project,
        kind=JobKind.TUNING,
        name="hpo-1",
        instance_type="ml.m5.large",
        max_runtime_seconds=60,
    )
    job = make_training_job(project, admin_user, "hpo-1-001", csv_artifact.uri)
    Job.objects.filter(pk=job.pk).update(tuning_job=tuning)

    html = (
        client_for(admin_user)
        .get(reverse("jobs:training-detail", args=["vision", "hpo-1-001"]))
        .content.decode()
    )

    assert 'href="/projects/vision/jobs/tuning/hpo-1/" id="tuning-job-link"' in html


def test_jobs_named_like_the_fixed_routes_still_have_their_pages(project, admin_user, csv_artifact):
    for name in ("new", "compare"):
        make_training_job(project, admin_user, name, csv_artifact.uri)
    client = client_for(admin_user)

    for name in ("new", "compare"):
        response = client.get(reverse("jobs:training-detail", args=["vision", name]))
        assert response.status_code == 200
        assert response.context["job"].name == name


# --- Who may do what ---------------------------------------------------------------------------------


def test_a_viewer_sees_no_stop_or_clone_and_may_not_stop_or_launch(
    project, viewer_user, admin_user, csv_artifact
):
    job = make_training_job(project, admin_user, "xgb-1", csv_artifact.uri)
    client = client_for(viewer_user)

    html = client.get(reverse("jobs:training-detail", args=["vision", "xgb-1"])).content.decode()
    assert 'id="stop-job"' not in html
    assert 'id="clone-job"' not in html
    assert client.post(reverse("jobs:training-stop", args=["vision", "xgb-1"])).status_code == 403
    assert client.get(reverse("jobs:training-create", args=["vision"])).status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING


def test_an_editor_stops_a_job(project, editor_user, admin_user, csv_artifact):
    job = make_training_job(project, admin_user, "xgb-1", csv_artifact.uri)
    client = client_for(editor_user)
    assert (
        'id="stop-job"'
        in client.get(reverse("jobs:training-detail", args=["vision", "xgb-1"])).content.decode()
    )

    response = client.post(reverse("jobs:training-stop", args=["vision", "xgb-1"]))

    assert response.status_code == 302
    assert response["Location"] == reverse("jobs:training-detail", args=["vision", "xgb-1"])
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED


def test_outsiders_get_404_everywhere(project, outsider_user, finished_job):
    client = client_for(outsider_user)
    urls = [
        reverse("jobs:training-create", args=["vision"]),
        reverse("jobs:training-detail", args=["vision", "xgb-done"]),
        reverse("jobs:training-fragment", args=["vision", "xgb-done"]),
        reverse("jobs:training-output", args=["vision", "xgb-done", "model"]),
        reverse("jobs:training-compare", args=["vision"]) + "?names=xgb-done",
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("jobs:training-stop", args=["vision", "xgb-done"])).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(project, finished_job):
    response = Client().get(reverse("jobs:training-detail", args=["vision", "xgb-done"]))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


# --- Compare ---------------------------------------------------------------------------------------


@pytest.fixture
def two_jobs(project, admin_user, csv_artifact) -> list[Job]:
    first = make_training_job(project, admin_user, "xgb-a", csv_artifact.uri, eta="0.1", tree_method="hist")
    second = make_training_job(project, admin_user, "xgb-b", csv_artifact.uri, eta="0.3", tree_method="exact")
    add_metrics(first, "validation:auc", [0.6, 0.7, 0.75])
    add_metrics(first, "validation:logloss", [0.6, 0.5, 0.45])
    add_metrics(second, "validation:auc", [0.5, 0.8, 0.85])
    add_metrics(second, "validation:logloss", [0.7, 0.4, 0.35])
    add_metrics(second, "train:auc", [0.9])
    return [first, second]


def test_compare_shows_a_table_curves_and_parallel_coordinates(project, viewer_user, two_jobs):
    url = reverse("jobs:training-compare", args=["vision"])

    response = client_for(viewer_user).get(url, {"names": ["xgb-a", "xgb-b"]})

    assert response.status_code == 200
    html = response.content.decode()
    rows = {row["name"]: row for row in response.context["metric_rows"]}
    assert rows["validation:auc"]["values"] == [0.75, 0.85]
    assert rows["validation:auc"]["best"] == 0.85  # XGBoost's auc is maximized
    assert rows["validation:logloss"]["best"] == 0.35  # and its logloss minimized
    assert rows["train:auc"]["values"] == [None, 0.9]
    hyperparameters = {row["name"]: row for row in response.context["hyperparameter_rows"]}
    assert hyperparameters["eta"]["values"] == ["0.1", "0.3"]
    assert hyperparameters["eta"]["differs"] is True
    assert hyperparameters["num_round"]["differs"] is False
    figures = figures_of(html, "compare-figures")
    curves = {
        figure["layout"]["yaxis"]["title"]["text"]: figure
        for key, figure in figures.items()
        if key != "parallel"
    }
    assert [trace["name"] for trace in curves["validation:auc"]["data"]] == ["xgb-a", "xgb-b"]
    assert curves["validation:auc"]["data"][1]["y"] == [0.5, 0.8, 0.85]
    assert "train:auc" not in curves  # one value is no curve: it is in the table
    # The default objective: XGBoost's (validation:rmse) is not there, so the first common metric.
    assert response.context["objective"] == "validation:auc"
    dimensions = {d["label"]: d for d in figures["parallel"]["data"][0]["dimensions"]}
    assert dimensions["eta"]["values"] == [0.1, 0.3]
    assert dimensions["tree_method"]["ticktext"] == ["exact", "hist"]
    assert dimensions["tree_method"]["values"] == [1, 0]
    assert dimensions["validation:auc"]["values"] == [0.75, 0.85]
    assert "num_round" not in dimensions  # the same for both: no axis
    assert 'href="/projects/vision/jobs/training/xgb-a/"' in html


def test_compare_takes_another_objective_and_reports_unknown_jobs(project, viewer_user, two_jobs):
    url = reverse("jobs:training-compare", args=["vision"])

    response = client_for(viewer_user).get(
        url, {"names": ["xgb-a", "xgb-b", "ghost"], "objective": "validation:logloss"}
    )

    assert response.context["objective"] == "validation:logloss"
    assert response.context["missing"] == ["ghost"]
    assert "No training job named <strong>ghost</strong>" in response.content.decode()


def test_compare_without_jobs_explains_how_to_choose(project, viewer_user):
    response = client_for(viewer_user).get(reverse("jobs:training-compare", args=["vision"]))
    assert response.status_code == 200
    assert "Compare selected" in response.content.decode()


def test_compare_costs_the_same_queries_for_two_or_five_jobs(
    project, admin_user, csv_artifact, django_assert_max_num_queries
):
    jobs = [make_training_job(project, admin_user, f"xgb-{i}", csv_artifact.uri) for i in range(5)]
    for job in jobs:
        add_metrics(job, "validation:auc", [0.5, 0.6])
    client = client_for(admin_user)
    url = reverse("jobs:training-compare", args=["vision"])
    client.get(url, {"names": ["xgb-0"]})
    # session, user, project, role, the switcher's projects, the jobs, their metric points = 7.
    for count in (2, 5):
        with django_assert_max_num_queries(7):
            response = client.get(url, {"names": [job.name for job in jobs[:count]]})
        assert len(response.context["jobs"]) == count


def test_a_series_of_100000_points_is_downsampled_keeping_its_extremes_and_last_value(
    project, admin_user, csv_artifact, api
):
    job = make_training_job(project, admin_user, "long-1", csv_artifact.uri)
    other = make_training_job(project, admin_user, "long-2", csv_artifact.uri)
    values = [1.0 + (step % 100) / 1000 for step in range(100_000)]
    values[31_337] = -50.0  # a dip
    values[77_777] = 99.0  # a spike
    values[-1] = 0.123  # the latest value
    add_metrics(job, "train:loss", values)
    add_metrics(other, "train:loss", [2.0, 1.0])

    response = client_for(admin_user).get(
        reverse("jobs:training-compare", args=["vision"]), {"names": ["long-1", "long-2"]}
    )

    figures = figures_of(response.content.decode(), "compare-figures")
    (curve,) = [figure for key, figure in figures.items() if key.startswith("curve-")]
    trace = curve["data"][0]
    assert trace["name"] == "long-1"
    assert len(trace["y"]) <= 2000
    assert min(trace["y"]) == -50.0
    assert max(trace["y"]) == 99.0
    assert (trace["x"][-1], trace["y"][-1]) == (99_999, 0.123)
    assert trace["x"] == sorted(trace["x"])
    assert response.context["metric_rows"][0]["values"] == [0.123, 1.0]
    # The detail page and the metrics API it polls return the same shape.
    detail = client_for(admin_user).get(reverse("jobs:training-detail", args=["vision", "long-1"]))
    points = figures_of(detail.content.decode(), "metrics-data")["train:loss"]
    assert len(points) <= 2000
    assert points[-1]["value"] == 0.123
    body = api.get(reverse("api-training-job-metrics", args=["vision", "long-1"])).json()
    series = body["metrics"]["train:loss"]
    assert len(series) <= 2000
    assert body["points"]["train:loss"] == 100_000
    assert {min(p["value"] for p in series), max(p["value"] for p in series)} == {-50.0, 99.0}
    assert series[-1]["value"] == 0.123


# --- The job list ------------------------------------------------------------------------------------


@pytest.fixture
def mixed_jobs(project, admin_user, editor_user) -> None:
    kinds = [JobKind.PROCESSING, JobKind.TRAINING, JobKind.TUNING]
    statuses = list(JobStatus.values)
    Job.objects.bulk_create(
        Job(
            project=project,
            kind=kinds[i % 3],
            name=f"job-{i:03d}",
            instance_type="ml.m5.large",
            max_runtime_seconds=3600,
            spec={"algorithm": {"name": "xgboost"}, "channels": [], "hyperparameters": {}},
            status=statuses[i % len(statuses)],
            created_by=admin_user if i % 2 else editor_user,
        )
        for i in range(60)
    )


def test_the_job_list_pages_mixed_kinds_in_a_fixed_number_of_queries(
    project, admin_user, mixed_jobs, django_assert_max_num_queries
):
    client = client_for(admin_user)
    url = reverse("jobs:list", args=["vision"])
    client.get(url)
    # session, user, project, role, the switcher's projects, COUNT(*) and one page of jobs with
    # creator and project joined = 7, whatever the number of jobs or their kinds.
    for params in ({"page": 2}, {"kind": "training", "page": 1}):
        with django_assert_max_num_queries(7):
            response = client.get(url, params)
        assert response.status_code == 200
    assert {job.kind for job in response.context["page"].object_list} == {"training"}


def test_the_job_list_links_each_kind_and_offers_compare_and_launch(project, admin_user, mixed_jobs):
    html = client_for(admin_user).get(reverse("jobs:list", args=["vision"])).content.decode()

    assert 'href="/projects/vision/jobs/processing/job-057/"' in html
    assert 'href="/projects/vision/jobs/training/job-058/"' in html
    assert 'href="/projects/vision/jobs/tuning/job-059/"' in html
    assert '<input type="checkbox" name="names" value="job-058" form="compare-form"' in html
    assert 'value="job-057" form="compare-form"' not in html  # only training jobs are compared
    assert f'action="{reverse("jobs:training-compare", args=["vision"])}"' in html
    assert reverse("jobs:training-create", args=["vision"]) in html
    assert '<option value="training">Training job</option>' in html


def test_the_kind_filter_narrows_the_list(project, admin_user, mixed_jobs):
    response = client_for(admin_user).get(reverse("jobs:list", args=["vision"]), {"kind": "tuning"})
    assert response.context["page"].paginator.count == 20
    assert '<option value="tuning" selected>' in response.content.decode()


def test_the_dashboard_links_to_a_new_training_job(project, admin_user, viewer_user):
    url = reverse("frontend:project-dashboard", args=["vision"])
    create = reverse("jobs:training-create", args=["vision"])
    assert create in client_for(admin_user).get(url).content.decode()
    assert create not in client_for(viewer_user).get(url).content.decode()
