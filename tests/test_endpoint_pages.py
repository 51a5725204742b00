"""Inference pages with Django's test client: models (create, trust), the deploy form, endpoints
(list, live detail, weights, blue/green update, delete, metrics, captured samples), who may do what,
bounded queries, and the test console answered by a real serving process."""

from __future__ import annotations

import io
import json
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from endpoints import selectors
from endpoints.gateway.capture import CaptureRecord, capture_line, capture_uri
from endpoints.models import (
    Endpoint,
    EndpointConfig,
    EndpointMetric,
    EndpointStatus,
    InstanceStatus,
    Model,
    ServingHost,
    ServingInstance,
)
from endpoints.services.configs import default_capture_uri, endpoint_config_create
from endpoints.services.endpoints import endpoint_create, endpoint_transition
from endpoints.services.models import model_create, model_trust
from jobs.models import Job, JobKind, JobStatus
from studio.artifacts import join_uri, project_prefix, store_for
from studio.models import AuditEvent
from tests.serving_support import model_archive, sklearn_archive

pytestmark = pytest.mark.django_db

NOTICE = "No serving supervisor is running."

INFERENCE_CODE = b"""
import json

class Doubler:
    def predict(self, rows):
        return [[2 * float(value) for value in row] for row in rows]

def model_fn(model_dir):
    return Doubler()

def input_fn(body, content_type):
    text = body.decode()
    if content_type.startswith("application/json"):
        return json.loads(text)
    return [line.split(",") for line in text.strip().splitlines()]

def predict_fn(data, model):
    return model.predict(data)

def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"
"""


# --- Helpers --------------------------------------------------------------------------------------


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def code_archive() -> io.BytesIO:
    """User code with model_fn and the handler functions: no pickle, nothing to trust."""
    return model_archive({"code/inference.py": INFERENCE_CODE})


def upload(name: str, data: io.BytesIO) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data.getvalue(), content_type="application/gzip")


def make_model(project, user, name: str = "doubler", archive: io.BytesIO | None = None) -> Model:
    model, _ = model_create(project=project, user=user, name=name, model_file=archive or code_archive())
    return model


def make_config(project, user, name: str, variants: list[tuple[str, str, float]], **extra) -> EndpointConfig:
    config, _ = endpoint_config_create(
        project=project,
        user=user,
        name=name,
        variants=[
            {"name": variant, "model": model, "instance_type": "ml.m5.large", "initial_weight": weight}
            for variant, model, weight in variants
        ],
        **extra,
    )
    return config


def make_endpoint(project, user, name: str = "doubler-ep", *, model: str = "doubler", **extra) -> Endpoint:
    make_config(project, user, f"{name}-config", [("AllTraffic", model, 1.0)], **extra)
    endpoint, _ = endpoint_create(project=project, user=user, name=name, endpoint_config=f"{name}-config")
    return endpoint


def in_service(endpoint: Endpoint) -> Endpoint:
    endpoint_transition(endpoint, EndpointStatus.IN_SERVICE, "1 instance(s) loaded")
    return endpoint


def completed_training_job(project, user, name: str = "churn-xgb") -> Job:
    """A training job as a finished built-in leaves it: Completed, with its model.tar.gz recorded."""
    uri = join_uri(project_prefix(project.name), "jobs", name, "model.tar.gz")
    stored = store_for(uri).put(uri, code_archive())
    return Job.objects.create(
        project=project,
        kind=JobKind.TRAINING,
        name=name,
        status=JobStatus.COMPLETED,
        created_by=user,
        instance_type="ml.m5.large",
        max_runtime_seconds=600,
        spec={"algorithm": {"name": "xgboost"}, "channels": [], "hyperparameters": {}},
        outputs=[{"name": "model", "uri": stored.uri, "sha256": stored.sha256, "bytes": stored.size}],
    )


def deploy_data(**overrides) -> dict:
    data = {
        "training_job": "",
        "model_name": "",
        "model": "doubler",
        "endpoint_name": "",
        "config_name": "",
        "variant_name": "AllTraffic",
        "instance_type": "ml.m5.large",
        "instance_count": "1",
        "capture_percentage": "",
    }
    data.update(overrides)
    return data


def html_of(response) -> str:
    return response.content.decode()


# --- Every page, as a viewer ----------------------------------------------------------------------


def test_every_page_renders_for_a_viewer_without_write_controls(project, admin_user, viewer_user):
    make_model(project, admin_user)
    make_model(project, admin_user, "churn-sklearn", sklearn_archive(features=3, rows=200))
    endpoint = make_endpoint(project, admin_user)
    viewer = client_for(viewer_user)
    pages = {
        "models": reverse("endpoints:model-list", args=["vision"]),
        "model": reverse("endpoints:model-detail", args=["vision", "churn-sklearn"]),
        "endpoints": reverse("endpoints:endpoint-list", args=["vision"]),
        "endpoint": reverse("endpoints:endpoint-detail", args=["vision", endpoint.name]),
        "fragment": reverse("endpoints:endpoint-fragment", args=["vision", endpoint.name]),
    }
    html = {}
    for key, url in pages.items():
        response = viewer.get(url)
        assert response.status_code == 200, key
        html[key] = html_of(response)

    assert "churn-sklearn" in html["models"]
    assert "needs trust" in html["models"]
    assert "Loading a pickle runs code." in html["model"]
    assert 'id="trust-model"' not in html["model"]
    assert "Ask a project admin to trust it." in html["model"]
    assert "doubler-ep" in html["endpoints"]
    assert 'data-status="Creating"' in html["fragment"]
    assert 'data-stable="false"' in html["fragment"]
    for page in html.values():  # no write controls for a viewer
        controls = (
            ">Deploy</a>",
            "Deploy a model</a>",
            'id="trust-model"',
            'id="delete-endpoint"',
            "New model",
        )
        for control in (*controls, 'id="console-form"', 'id="weights-form"', 'id="update-form"'):
            assert control not in page
    # Both tabs, on both lists.
    assert 'href="/projects/vision/models/" class="active"' in html["models"]
    assert 'href="/projects/vision/endpoints/" class="active"' in html["endpoints"]
    metrics = viewer.get(reverse("endpoints:endpoint-metrics", args=["vision", endpoint.name]))
    assert metrics.status_code == 200
    assert set(metrics.json()["figures"]) >= {"invocations", "errors", "model_latency", "overhead_latency"}


def test_an_outsider_gets_404_and_anonymous_users_log_in(project, admin_user, outsider_user):
    make_model(project, admin_user)
    make_endpoint(project, admin_user)
    outsider = client_for(outsider_user)
    for url in (
        reverse("endpoints:model-list", args=["vision"]),
        reverse("endpoints:model-detail", args=["vision", "doubler"]),
        reverse("endpoints:endpoint-detail", args=["vision", "doubler-ep"]),
        reverse("endpoints:deploy", args=["vision"]),
    ):
        assert outsider.get(url).status_code == 404
        assert Client().get(url).status_code == 302
    response = outsider.post(
        reverse("endpoints:endpoint-invoke", args=["vision", "doubler-ep"]), {"body": "1"}
    )
    assert response.status_code == 404


def test_a_viewer_cannot_create_deploy_trust_invoke_or_delete(project, admin_user, viewer_user):
    make_model(project, admin_user, "churn-sklearn", sklearn_archive(features=3, rows=200))
    make_model(project, admin_user)
    endpoint = in_service(make_endpoint(project, admin_user))
    viewer = client_for(viewer_user)

    assert viewer.get(reverse("endpoints:model-create", args=["vision"])).status_code == 403
    assert viewer.get(reverse("endpoints:deploy", args=["vision"])).status_code == 403
    assert viewer.post(reverse("endpoints:deploy", args=["vision"]), deploy_data()).status_code == 403
    assert viewer.post(reverse("endpoints:model-trust", args=["vision", "churn-sklearn"])).status_code == 403
    response = viewer.post(
        reverse("endpoints:endpoint-invoke", args=["vision", endpoint.name]), {"body": "1,2"}
    )
    assert response.status_code == 403
    assert response.json()["error"] == "AccessDeniedException"
    for action in ("endpoint-delete", "endpoint-update", "endpoint-weights"):
        assert viewer.post(reverse(f"endpoints:{action}", args=["vision", endpoint.name])).status_code == 403
    assert Model.objects.get(name="churn-sklearn").trusted_at is None
    assert Endpoint.objects.get(pk=endpoint.pk).status == EndpointStatus.IN_SERVICE
    assert EndpointConfig.objects.count() == 1


# --- Models ---------------------------------------------------------------------------------------


def test_an_editor_uploads_a_pickled_model_and_only_an_admin_may_trust_it(project, admin_user, editor_user):
    editor = client_for(editor_user)
    response = editor.post(
        reverse("endpoints:model-create", args=["vision"]),
        {
            "name": "churn-sklearn",
            "source": "upload",
            "model_file": upload("model.tar.gz", sklearn_archive(features=3, rows=200)),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/projects/vision/models/churn-sklearn/"
    model = Model.objects.get(name="churn-sklearn")
    assert model.pickle_files == ["model.joblib"]
    assert model.needs_trust

    page = html_of(editor.get(response["Location"]))
    assert "Loading a pickle runs code." in page
    assert model.artifact_sha256 in page
    assert 'id="trust-model"' not in page
    assert editor.post(reverse("endpoints:model-trust", args=["vision", "churn-sklearn"])).status_code == 403
    # Deploying it is refused until it is trusted, with the reason on the model field.
    response = editor.post(reverse("endpoints:deploy", args=["vision"]), deploy_data(model="churn-sklearn"))
    assert response.status_code == 200
    assert "must trust before it can be deployed" in " ".join(response.context["form"].errors["model"])
    assert not EndpointConfig.objects.exists()

    admin = client_for(admin_user)
    page = html_of(admin.get(reverse("endpoints:model-detail", args=["vision", "churn-sklearn"])))
    assert 'id="trust-model"' in page
    response = admin.post(reverse("endpoints:model-trust", args=["vision", "churn-sklearn"]), follow=True)
    assert response.status_code == 200
    assert "is trusted" in html_of(response)
    assert 'id="trusted-by"' in html_of(response)
    model.refresh_from_db()
    assert model.trusted_by == admin_user
    assert AuditEvent.objects.filter(action="trust", target_name="churn-sklearn", actor=admin_user).exists()


def test_model_form_errors_are_shown_on_their_fields(project, editor_user):
    editor = client_for(editor_user)
    url = reverse("endpoints:model-create", args=["vision"])

    response = editor.post(url, {"name": "churn", "source": "upload"})
    assert response.status_code == 200
    assert response.context["form"].errors["model_file"] == ["Upload the model.tar.gz."]

    response = editor.post(url, {"name": "churn", "source": "training_job"})
    assert response.context["form"].errors["training_job"] == ["Choose the training job whose model this is."]

    not_an_archive = SimpleUploadedFile("model.tar.gz", b"not a tarball")
    response = editor.post(url, {"name": "churn", "source": "upload", "model_file": not_an_archive})
    assert "not a readable model.tar.gz" in response.context["form"].errors["model_file"][0]
    assert 'id="id_model_file_error"' in html_of(response)

    empty = upload("model.tar.gz", model_archive({"README": b"nothing to serve"}))
    response = editor.post(url, {"name": "bad name!", "source": "upload", "model_file": empty})
    errors = response.context["form"].errors
    assert "letters, digits or hyphens" in errors["name"][0]
    assert not Model.objects.exists()


def test_a_model_from_a_training_job_links_back_to_it(project, admin_user, editor_user):
    job = completed_training_job(project, admin_user)
    editor = client_for(editor_user)
    url = reverse("endpoints:model-create", args=["vision"])
    form_page = editor.get(url + "?training_job=churn-xgb")
    assert form_page.context["form"]["name"].value() == "churn-xgb"
    assert '<option value="churn-xgb" selected>' in html_of(form_page)

    response = editor.post(url, {"name": "churn-xgb", "source": "training_job", "training_job": "churn-xgb"})
    assert response.status_code == 302
    model = Model.objects.get(name="churn-xgb")
    assert model.training_job == job
    page = html_of(editor.get(response["Location"]))
    assert 'id="training-job-link"' in page
    assert job.outputs[0]["sha256"] in page


# --- Deploy ---------------------------------------------------------------------------------------


def test_the_deploy_form_makes_a_config_and_an_endpoint_with_default_names(project, admin_user, editor_user):
    make_model(project, admin_user)
    editor = client_for(editor_user)
    url = reverse("endpoints:deploy", args=["vision"])

    form_page = editor.get(url + "?model=doubler")
    html = html_of(form_page)
    assert NOTICE in html  # no supervisor in this test
    assert "manage.py serve_models" in html
    assert form_page.context["form"]["endpoint_name"].value() == "doubler"
    assert form_page.context["form"]["config_name"].value() == "doubler-config"
    assert "ml.p3.2xlarge" in html
    assert "ml.t3.medium" not in html  # no hosting on it

    response = editor.post(url, deploy_data(capture_percentage="50"))
    assert response.status_code == 302
    assert response["Location"] == "/projects/vision/endpoints/doubler/"
    endpoint = Endpoint.objects.select_related("config").get(name="doubler")
    assert endpoint.status == EndpointStatus.CREATING
    assert endpoint.config.name == "doubler-config"
    assert endpoint.config.data_capture["sampling_percentage"] == 50.0
    assert endpoint.config.data_capture["destination_uri"] == default_capture_uri(project)
    variant = endpoint.config.variants.get()
    assert (variant.name, variant.model.name, variant.instance_type) == (
        "AllTraffic",
        "doubler",
        "ml.m5.large",
    )
    page = html_of(editor.get(response["Location"]))
    assert NOTICE in page
    assert 'data-loaded-status="Creating"' in page

    # Deployed again: the names left empty are the next free ones.
    response = editor.post(url, deploy_data())
    assert response["Location"] == "/projects/vision/endpoints/doubler-2/"
    assert Endpoint.objects.get(name="doubler-2").config.name == "doubler-2-config"


def test_deploy_errors_are_on_their_fields_and_leave_nothing_behind(project, admin_user, editor_user):
    make_model(project, admin_user)
    make_endpoint(project, admin_user, "taken")
    editor = client_for(editor_user)
    url = reverse("endpoints:deploy", args=["vision"])

    response = editor.post(url, deploy_data(endpoint_name="taken", config_name="fresh-config"))
    assert response.status_code == 200
    assert response.context["form"].errors["endpoint_name"] == [
        "An endpoint named 'taken' already exists in vision."
    ]
    # The config made before the endpoint failed is rolled back with it.
    assert not EndpointConfig.objects.filter(name="fresh-config").exists()

    response = editor.post(url, deploy_data(model="", instance_count="0", capture_percentage="120"))
    errors = response.context["form"].errors
    assert errors["model"] == ["Choose the model to deploy."]
    assert "instance_count" in errors
    assert "capture_percentage" in errors
    html = html_of(response)
    assert 'id="id_capture_percentage_error"' in html

    response = editor.post(url, deploy_data(instance_type="ml.t3.medium"))
    assert "ml.t3.medium" in " ".join(response.context["form"].errors["instance_type"])
    assert EndpointConfig.objects.count() == 1
    assert Endpoint.objects.count() == 1


def test_deploy_from_a_completed_training_jobs_page(project, admin_user, editor_user, viewer_user):
    completed_training_job(project, admin_user)
    job_page = reverse("jobs:training-detail", args=["vision", "churn-xgb"])
    assert 'id="deploy-job"' not in html_of(client_for(viewer_user).get(job_page))
    editor = client_for(editor_user)
    html = html_of(editor.get(job_page))
    assert 'id="deploy-job" href="/projects/vision/new/endpoint/?training_job=churn-xgb"' in html

    form_page = editor.get(reverse("endpoints:deploy", args=["vision"]) + "?training_job=churn-xgb")
    form = form_page.context["form"]
    assert form["training_job"].value() == "churn-xgb"
    assert form["model_name"].value() == "churn-xgb"
    assert form["endpoint_name"].value() == "churn-xgb"
    assert 'id="from-training-job"' in html_of(form_page)

    response = editor.post(
        reverse("endpoints:deploy", args=["vision"]),
        deploy_data(training_job="churn-xgb", model_name="churn-xgb", model="", endpoint_name="churn-xgb"),
    )
    assert response.status_code == 302, response.context["form"].errors
    model = Model.objects.get(name="churn-xgb")
    assert model.training_job.name == "churn-xgb"
    assert Endpoint.objects.get(name="churn-xgb").config.variants.get().model == model

    # From the job page again: its model is reused rather than made twice.
    form = editor.get(reverse("endpoints:deploy", args=["vision"]) + "?training_job=churn-xgb").context[
        "form"
    ]
    assert form["training_job"].value() in ("", None)
    assert form["model"].value() == "churn-xgb"
    assert form["endpoint_name"].value() == "churn-xgb-2"


def test_a_running_training_job_offers_no_deploy_and_cannot_be_deployed(project, admin_user, editor_user):
    job = completed_training_job(project, admin_user)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.IN_PROGRESS)
    editor = client_for(editor_user)
    assert 'id="deploy-job"' not in html_of(
        editor.get(reverse("jobs:training-detail", args=["vision", job.name]))
    )
    response = editor.post(
        reverse("endpoints:deploy", args=["vision"]),
        deploy_data(training_job=job.name, model_name="churn", model=""),
    )
    assert response.status_code == 200
    assert "only a Completed job has a model" in " ".join(response.context["form"].non_field_errors())
    assert not Model.objects.exists()


# --- Lists: paginated, bounded queries -------------------------------------------------------------


def test_lists_are_paginated_with_bounded_queries(
    project, admin_user, viewer_user, django_assert_max_num_queries
):
    make_model(project, admin_user)
    viewer = client_for(viewer_user)
    models_url = reverse("endpoints:model-list", args=["vision"])
    endpoints_url = reverse("endpoints:endpoint-list", args=["vision"])
    for index in range(3):
        make_endpoint(project, admin_user, f"ep-{index}")
    viewer.get(models_url)  # the first visit remembers the project in the session (a write)
    # Endpoints: session, user, project, role, count, serving host, page, its variants, nav projects.
    # Models: the same without the variants.
    with django_assert_max_num_queries(9):
        small = html_of(viewer.get(endpoints_url))
    with django_assert_max_num_queries(8):
        viewer.get(models_url)

    for index in range(3, 30):
        make_endpoint(project, admin_user, f"ep-{index}")
        make_model(project, admin_user, f"model-{index}")
    with django_assert_max_num_queries(9):
        endpoints_html = html_of(viewer.get(endpoints_url))
    with django_assert_max_num_queries(8):
        models_html = html_of(viewer.get(models_url))
    assert endpoints_html.count("<tr data-endpoint=") == 25
    assert "Page 1 of 2 · 30 in all" in endpoints_html
    assert models_html.count("<tr data-model=") == 25
    assert "ep-0" in small
    page_two = html_of(viewer.get(endpoints_url + "?page=2"))
    assert page_two.count("<tr data-endpoint=") == 5


def test_the_detail_page_and_its_fragment_read_a_bounded_number_of_queries(
    project, admin_user, viewer_user, django_assert_max_num_queries
):
    make_model(project, admin_user)
    make_config(project, admin_user, "three", [(f"V{index}", "doubler", 1.0) for index in range(3)])
    endpoint, _ = endpoint_create(project=project, user=admin_user, name="three", endpoint_config="three")
    for index in range(6):
        ServingInstance.objects.create(
            endpoint=endpoint, config=endpoint.config, variant=f"V{index % 3}", index=index // 3
        )
        endpoint_transition(endpoint, EndpointStatus.CREATING, f"step {index}")
    viewer = client_for(viewer_user)
    viewer.get(reverse("endpoints:endpoint-list", args=["vision"]))  # the session remembers the project
    # session, user, project, role, endpoint, variants (+ models), metrics, events, instances,
    # serving host, configs for the update form, monitoring schedules (alerts counted), nav projects
    with django_assert_max_num_queries(13):
        page = html_of(viewer.get(reverse("endpoints:endpoint-detail", args=["vision", "three"])))
    assert page.count('data-instance-status="Starting"') == 6
    # session, user, project, role, endpoint, variants, events, instances, serving host, nav projects
    with django_assert_max_num_queries(10):
        viewer.get(reverse("endpoints:endpoint-fragment", args=["vision", "three"]))


# --- Endpoint detail: weights, update, delete ------------------------------------------------------


def test_weights_change_on_an_inservice_endpoint_and_bad_weights_are_shown(project, admin_user, editor_user):
    make_model(project, admin_user)
    make_model(project, admin_user, "tripler")
    make_config(project, admin_user, "ab-config", [("A", "doubler", 1.0), ("B", "tripler", 1.0)])
    endpoint, _ = endpoint_create(project=project, user=admin_user, name="ab", endpoint_config="ab-config")
    editor = client_for(editor_user)
    detail = reverse("endpoints:endpoint-detail", args=["vision", "ab"])
    assert 'id="weights-submit"' not in html_of(editor.get(detail))  # Creating: no weights yet
    in_service(endpoint)
    assert 'id="weights-submit"' in html_of(editor.get(detail))

    url = reverse("endpoints:endpoint-weights", args=["vision", "ab"])
    response = editor.post(url, {"weight__A": "0", "weight__B": "0"})
    assert response.status_code == 200
    assert "At least one variant needs a weight above 0." in html_of(response)
    response = editor.post(url, {"weight__A": "-1", "weight__B": "1"})
    assert response.context["weights_form"].errors["weight__A"]

    response = editor.post(url, {"weight__A": "3", "weight__B": "1"})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.weights == {"A": 3.0, "B": 1.0}
    assert endpoint.events.filter(message="Weights A=3, B=1").exists()


def test_update_picks_another_config_blue_green(project, admin_user, editor_user):
    make_model(project, admin_user)
    endpoint = in_service(make_endpoint(project, admin_user))
    make_config(project, admin_user, "next-config", [("AllTraffic", "doubler", 1.0)])
    editor = client_for(editor_user)
    page = editor.get(reverse("endpoints:endpoint-detail", args=["vision", endpoint.name]))
    assert '<option value="next-config">' in html_of(page)
    assert '<option value="doubler-ep-config">' not in html_of(page)  # its own config is not offered

    url = reverse("endpoints:endpoint-update", args=["vision", endpoint.name])
    response = editor.post(url, {"endpoint_config": "doubler-ep-config"})
    assert response.status_code == 200
    assert response.context["update_form"].errors["endpoint_config"]

    response = editor.post(url, {"endpoint_config": "next-config"})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.UPDATING
    assert endpoint.pending_config.name == "next-config"
    fragment = html_of(editor.get(reverse("endpoints:endpoint-fragment", args=["vision", endpoint.name])))
    assert 'id="pending-config">next-config' in fragment
    assert 'data-stable="false"' in fragment
    # Updating: no second update, no weights until it is InService again.
    page = html_of(editor.get(reverse("endpoints:endpoint-detail", args=["vision", endpoint.name])))
    assert 'id="update-form"' not in page
    assert 'id="weights-submit"' not in page


def test_delete_without_a_supervisor_removes_the_endpoint_at_once(project, admin_user, editor_user):
    make_model(project, admin_user)
    endpoint = make_endpoint(project, admin_user)
    editor = client_for(editor_user)
    response = editor.post(reverse("endpoints:endpoint-delete", args=["vision", endpoint.name]), follow=True)
    assert response.redirect_chain[-1][0] == "/projects/vision/endpoints/"
    assert "Endpoint doubler-ep deleted." in html_of(response)
    assert not Endpoint.objects.exists()


def test_delete_with_a_supervisor_leaves_it_deleting_and_the_page_polls(project, admin_user, editor_user):
    make_model(project, admin_user)
    endpoint = in_service(make_endpoint(project, admin_user))
    ServingHost.objects.create(name="host:1")
    editor = client_for(editor_user)
    response = editor.post(reverse("endpoints:endpoint-delete", args=["vision", endpoint.name]), follow=True)
    assert response.redirect_chain[-1][0] == "/projects/vision/endpoints/doubler-ep/"
    html = html_of(response)
    assert NOTICE not in html
    assert 'data-loaded-status="Deleting"' in html
    assert 'id="delete-endpoint"' not in html
    assert Endpoint.objects.get(pk=endpoint.pk).status == EndpointStatus.DELETING


def test_the_detail_page_shows_instances_failure_and_timeline(project, admin_user, viewer_user):
    make_model(project, admin_user)
    endpoint = make_endpoint(project, admin_user)
    ServingInstance.objects.create(
        endpoint=endpoint, config=endpoint.config, variant="AllTraffic", index=0,
        status=InstanceStatus.STARTING, restarts=2, last_error="ValueError: bad weights",
    )  # fmt: skip
    endpoint_transition(
        endpoint, EndpointStatus.FAILED, "Variant AllTraffic: it broke", failure_reason="it broke"
    )
    viewer = client_for(viewer_user)
    with_stable = html_of(viewer.get(reverse("endpoints:endpoint-detail", args=["vision", endpoint.name])))
    assert 'id="failure-reason"' in with_stable
    assert "it broke" in with_stable
    assert "ValueError: bad weights" in with_stable
    assert 'data-instance-status="Starting"' in with_stable
    assert with_stable.count('class="timeline-head"') == 2  # Creating, Failed
    assert 'data-stable="true"' in with_stable


# --- Metrics, shadow, captured samples ------------------------------------------------------------


def test_metric_series_sum_sources_fill_missing_minutes_and_feed_the_charts(project, admin_user, viewer_user):
    make_model(project, admin_user)
    make_model(project, admin_user, "tripler")
    make_config(
        project, admin_user, "shadowed", [("AllTraffic", "doubler", 1.0)],
        shadow_variant={"name": "Shadow", "model": "tripler", "instance_type": "ml.m5.large"},
    )  # fmt: skip
    endpoint, _ = endpoint_create(
        project=project, user=admin_user, name="shadowed", endpoint_config="shadowed"
    )
    now = timezone.now().replace(second=0, microsecond=0)
    latency, shadow = "model_latency_ms_sum", {"shadow_compared": 4, "shadow_agreed": 3}
    rows = [
        ("AllTraffic", 2, "web:1", {"invocations": 4, "errors_4xx": 1, latency: 40.0}),
        ("AllTraffic", 2, "web:2", {"invocations": 6, "errors_5xx": 2, latency: 80.0}),
        ("AllTraffic", 0, "web:1", {"invocations": 1, latency: 5.0, "overhead_latency_ms_sum": 1.0}),
        ("Shadow", 0, "web:1", {"invocations": 1, latency: 7.0, **shadow}),
        ("AllTraffic", 90, "web:1", {"invocations": 100}),  # older than the hour asked for
    ]
    for variant, ago, source, counters in rows:
        EndpointMetric.objects.create(
            endpoint=endpoint, variant=variant, minute=now - timedelta(minutes=ago), source=source, **counters
        )

    series = selectors.endpoint_metric_series(endpoint, minutes=60)
    assert len(series["minutes"]) == 60
    assert series["minutes"][-1] == now.isoformat()
    production = series["variants"]["AllTraffic"]
    assert production["invocations"][-3] == 10  # the two gateway processes' rows summed
    assert production["errors_4xx"][-3] == 1
    assert production["errors_5xx"][-3] == 2
    assert production["model_latency_ms"][-3] == pytest.approx(12.0)
    assert production["invocations"][-2] == 0  # a quiet minute is there, with zeros
    assert production["invocations"][-1] == 1
    assert sum(production["invocations"]) == 11  # the 90-minute-old row is outside the hour
    assert series["variants"]["Shadow"]["shadow_agreement"][-1] == pytest.approx(0.75)
    assert series["variants"]["Shadow"]["shadow_agreement"][-2] is None

    shadow = selectors.endpoint_shadow_summary(endpoint)
    assert shadow["shadow_variant"] == "Shadow"
    assert (shadow["compared"], shadow["agreed"], shadow["agreement_rate"]) == (4, 3, 0.75)
    assert shadow["production_model_latency_ms"] == pytest.approx(125.0 / 11)
    assert shadow["shadow_model_latency_ms"] == pytest.approx(7.0)

    viewer = client_for(viewer_user)
    data = viewer.get(
        reverse("endpoints:endpoint-metrics", args=["vision", "shadowed"]) + "?minutes=15"
    ).json()
    assert len(data["series"]["minutes"]) == 15
    assert data["shadow"]["agreement_rate"] == 0.75
    invocations = {trace["name"]: trace["y"] for trace in data["figures"]["invocations"]["data"]}
    assert invocations["AllTraffic"][-3:] == [10, 0, 1]
    latency = {trace["name"]: trace["y"] for trace in data["figures"]["model_latency"]["data"]}
    assert latency["AllTraffic"][-2] is None  # no invocations: a gap, not a zero
    assert "shadow_agreement" in data["figures"]
    page = html_of(viewer.get(reverse("endpoints:endpoint-detail", args=["vision", "shadowed"])))
    assert 'id="shadow"' in page
    assert "75%" in page
    assert "(3 of 4 compared)" in page


def test_no_shadow_panel_without_a_shadow_variant(project, admin_user, viewer_user):
    make_model(project, admin_user)
    endpoint = make_endpoint(project, admin_user)
    assert selectors.endpoint_shadow_summary(endpoint) is None
    page = html_of(
        client_for(viewer_user).get(reverse("endpoints:endpoint-detail", args=["vision", endpoint.name]))
    )
    assert 'id="shadow"' not in page
    assert "Data capture is off" in page


def write_capture(endpoint: Endpoint, variant: str, at: float, body: str, answer: str) -> str:
    capture = endpoint.config.data_capture
    record = CaptureRecord(
        destination=capture["destination_uri"], endpoint=endpoint.name, variant=variant, capture=capture,
        request_body=body.encode(), request_type="text/csv", response_body=answer.encode(),
        response_type="application/json", event_id=f"event-{body}", inference_id="", at=at,
    )  # fmt: skip
    uri = capture_uri(capture["destination_uri"], endpoint.name, variant, at)
    store_for(uri).put(uri, io.BytesIO((capture_line(record) + "\n").encode()))
    return uri


def test_recent_captured_samples_newest_first_on_the_page(project, admin_user, viewer_user):
    make_model(project, admin_user)
    endpoint = make_endpoint(project, admin_user, data_capture={"sampling_percentage": 100})
    now = time.time()
    for seconds_ago, row in ((7200, "old"), (120, "1,2,3"), (5, "4,5,6")):
        write_capture(endpoint, "AllTraffic", now - seconds_ago, row, f"[{row}]")

    samples = selectors.recent_capture_samples(endpoint, limit=2)
    assert [sample["input"]["data"] for sample in samples] == ["4,5,6", "1,2,3"]
    assert samples[0]["variant"] == "AllTraffic"
    assert samples[0]["output"] == {
        "content_type": "application/json", "encoding": "JSON", "data": "[4,5,6]", "truncated": False,
    }  # fmt: skip
    assert len(selectors.recent_capture_samples(endpoint)) == 3

    page = html_of(
        client_for(viewer_user).get(reverse("endpoints:endpoint-detail", args=["vision", endpoint.name]))
    )
    assert page.count('<tr data-variant="AllTraffic" data-event-id=') == 3
    assert page.index("4,5,6") < page.index("1,2,3")


# --- The test console through a real serving process ----------------------------------------------


def wait_for_status(endpoint: Endpoint, wanted: str, timeout: float = 60.0) -> Endpoint:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        endpoint.refresh_from_db()
        if endpoint.status == wanted:
            return endpoint
        assert endpoint.status != EndpointStatus.FAILED, endpoint.failure_reason
        time.sleep(0.1)
    raise AssertionError(f"{endpoint.name} is {endpoint.status}, not {wanted}, after {timeout} s")


def test_the_console_answers_through_a_real_serving_process(
    project, admin_user, editor_user, viewer_user, serving
):
    model = make_model(project, editor_user, "churn-sklearn", sklearn_archive(features=3, rows=200))
    model_trust(model=model, user=admin_user)
    editor = client_for(editor_user)
    response = editor.post(
        reverse("endpoints:deploy", args=["vision"]),
        deploy_data(model="churn-sklearn", endpoint_name="churn"),
    )
    assert response.status_code == 302
    endpoint = wait_for_status(Endpoint.objects.get(name="churn"), EndpointStatus.IN_SERVICE)
    page = html_of(editor.get(reverse("endpoints:endpoint-detail", args=["vision", "churn"])))
    assert NOTICE not in page
    assert 'data-instance-status="Ready"' in page
    assert 'id="console-form"' in page

    url = reverse("endpoints:endpoint-invoke", args=["vision", "churn"])
    answer = editor.post(
        url, {"body": "2.0,1.0,0.0\n-2.0,-1.0,0.0", "content_type": "text/csv", "accept": ""}
    )
    assert answer.status_code == 200
    data = answer.json()
    assert data["status"] == 200, data
    assert data["variant"] == "AllTraffic"
    assert data["content_type"] == "application/json"
    assert json.loads(data["body"]) == [1, 0]

    data = editor.post(
        url,
        {"body": "[[2.0, 1.0, 0.0]]", "content_type": "application/json", "accept": "text/csv",
         "target_variant": "AllTraffic"},
    ).json()  # fmt: skip
    assert (data["status"], data["variant"], data["content_type"], data["body"].strip()) == (
        200, "AllTraffic", "text/csv", "1",
    )  # fmt: skip

    # The model's own refusal comes back as its answer; the console itself answered fine.
    data = editor.post(url, {"body": "1,2", "content_type": "text/csv"}).json()
    assert data["status"] == 400
    assert "features" in data["body"]

    response = editor.post(url, {"body": "1,2,3", "content_type": "text/csv", "target_variant": "Nope"})
    assert response.status_code == 400
    assert "target_variant" in response.json()["fields"]
    assert client_for(viewer_user).post(url, {"body": "1,2,3"}).status_code == 403
    assert endpoint.status == EndpointStatus.IN_SERVICE
