"""Who may call which API route: every route of every api_urls.py, for every persona.

The table below is the contract. ``permission`` is the least a member's role must allow; ``None``
means any signed-in user (the route is not project-scoped), and ``PUBLIC`` means anyone, signed in
or not. Roles: viewer = view; editor = view, create, operate; admin = everything (manage included).

Expected answers:
- anonymous: 401 (the Bearer authenticator names a WWW-Authenticate scheme, so DRF answers 401, not 403);
- a member whose role lacks the permission: 403;
- an outsider (admin of another project) on a project-scoped route: 404, the project "does not exist";
- otherwise the route's success code.
"""

from __future__ import annotations

import io
import tarfile
from typing import NamedTuple

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from datasets.profiles import profile_start
from datasets.recipe_services import recipe_create
from datasets.uploads import upload_complete, upload_create, upload_from_stream, upload_receive
from jobs.models import Job, JobEvaluation, JobKind, JobStatus
from jobs.services import tuning_job_create
from studio.models import ApiKey, Membership
from studio.roles import Permission, Role, role_allows
from studio.services import api_key_create, api_key_revoke, membership_set
from tests.conftest import api_client_for, make_user, processing_request

# Also run on PostgreSQL in the full-stack pass: constraints and conditional updates differ by engine.
pytestmark = pytest.mark.fullstack

PUBLIC = "public"
SIGNED_IN = None


class Route(NamedTuple):
    method: str
    url: str  # {project}, {job}, {member}, {key} and {instance_type} are filled in per test
    permission: Permission | str | None
    success: int


# fmt: off
ROUTES = [
    #     method    url template                                                minimum role        success
    Route("GET",    "/api/v1/instance-types/",                                  PUBLIC,             200),
    Route("GET",    "/api/v1/instance-types/{instance_type}/",                  PUBLIC,             200),
    Route("GET",    "/api/v1/api-keys/",                                        SIGNED_IN,          200),
    Route("POST",   "/api/v1/api-keys/",                                        SIGNED_IN,          201),
    Route("DELETE", "/api/v1/api-keys/{key}/",                                  SIGNED_IN,          204),
    Route("GET",    "/api/v1/projects/",                                        SIGNED_IN,          200),
    Route("POST",   "/api/v1/projects/",                                        SIGNED_IN,          201),
    Route("GET",    "/api/v1/projects/{project}/",                              Permission.VIEW,    200),
    Route("PATCH",  "/api/v1/projects/{project}/",                              Permission.MANAGE,  200),
    Route("GET",    "/api/v1/projects/{project}/members/",                      Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/members/",                      Permission.MANAGE,  201),
    Route("PATCH",  "/api/v1/projects/{project}/members/{member}/",             Permission.MANAGE,  200),
    Route("DELETE", "/api/v1/projects/{project}/members/{member}/",             Permission.MANAGE,  204),
    Route("GET",    "/api/v1/projects/{project}/artifacts/",                    Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/artifacts/",                    Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/audit-events/",                 Permission.MANAGE,  200),
    Route("GET",    "/api/v1/projects/{project}/processing-jobs/",              Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/processing-jobs/",              Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/processing-jobs/{job}/",        Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/processing-jobs/{job}/stop/",   Permission.OPERATE, 202),
    Route("GET",    "/api/v1/projects/{project}/processing-jobs/{job}/logs/",   Permission.VIEW,    200),
    Route("GET",    "/api/v1/projects/{project}/processing-jobs/{job}/metrics/", Permission.VIEW,   200),
    # tuning jobs ({job} is also a Pending tuning job's name)
    Route("GET",    "/api/v1/projects/{project}/tuning-jobs/",                  Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/tuning-jobs/",                  Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/tuning-jobs/{job}/",            Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/tuning-jobs/{job}/stop/",       Permission.OPERATE, 202),
    Route("GET",    "/api/v1/projects/{project}/tuning-jobs/{job}/trials/",     Permission.VIEW,    200),
    # training jobs ({job} is a Pending training job with an evaluation row) and the public catalogue
    Route("GET",    "/api/v1/algorithms/",                                      PUBLIC,             200),
    Route("GET",    "/api/v1/algorithms/{algorithm}/",                          PUBLIC,             200),
    Route("GET",    "/api/v1/projects/{project}/training-jobs/",                Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/training-jobs/",                Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/training-jobs/{job}/",          Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/training-jobs/{job}/stop/",     Permission.OPERATE, 202),
    Route("GET",    "/api/v1/projects/{project}/training-jobs/{job}/logs/",     Permission.VIEW,    200),
    Route("GET",    "/api/v1/projects/{project}/training-jobs/{job}/metrics/",  Permission.VIEW,    200),
    Route("GET",    "/api/v1/projects/{project}/training-jobs/{job}/evaluation/",
                                                                                Permission.VIEW,    200),
    # batch transform jobs ({job} is also a Pending transform job's name)
    Route("GET",    "/api/v1/projects/{project}/transform-jobs/",               Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/transform-jobs/",               Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/transform-jobs/{job}/",         Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/transform-jobs/{job}/stop/",    Permission.OPERATE, 202),
    Route("GET",    "/api/v1/projects/{project}/transform-jobs/{job}/logs/",    Permission.VIEW,    200),
    Route("GET",    "/api/v1/projects/{project}/transform-jobs/{job}/metrics/", Permission.VIEW,    200),
    # every job kind: run it again (here on this machine), and its SageMaker request (a dry run that
    # says the project has no AWS settings)
    Route("POST",   "/api/v1/projects/{project}/processing-jobs/{job}/clone/",  Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/processing-jobs/{job}/sagemaker-request/",
                                                                                Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/training-jobs/{job}/clone/",    Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/training-jobs/{job}/sagemaker-request/",
                                                                                Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/transform-jobs/{job}/clone/",   Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/transform-jobs/{job}/sagemaker-request/",
                                                                                Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/tuning-jobs/{job}/clone/",      Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/tuning-jobs/{job}/sagemaker-request/",
                                                                                Permission.VIEW,    200),
    # inference ({job} is also an unused model with a pickle to trust, an unused endpoint config, and an
    # InService endpoint of another config)
    Route("GET",    "/api/v1/projects/{project}/models/",                       Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/models/",                       Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/models/{job}/",                 Permission.VIEW,    200),
    Route("DELETE", "/api/v1/projects/{project}/models/{job}/",                 Permission.DELETE,  204),
    Route("POST",   "/api/v1/projects/{project}/models/{job}/trust/",           Permission.MANAGE,  200),
    Route("GET",    "/api/v1/projects/{project}/endpoint-configs/",             Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/endpoint-configs/",             Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/endpoint-configs/{job}/",       Permission.VIEW,    200),
    Route("DELETE", "/api/v1/projects/{project}/endpoint-configs/{job}/",       Permission.DELETE,  204),
    Route("GET",    "/api/v1/projects/{project}/endpoints/",                    Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/endpoints/",                    Permission.OPERATE, 201),
    Route("GET",    "/api/v1/projects/{project}/endpoints/{job}/",              Permission.VIEW,    200),
    Route("PATCH",  "/api/v1/projects/{project}/endpoints/{job}/",              Permission.OPERATE, 200),
    Route("PUT",    "/api/v1/projects/{project}/endpoints/{job}/",              Permission.OPERATE, 200),
    Route("DELETE", "/api/v1/projects/{project}/endpoints/{job}/",              Permission.OPERATE, 202),
    Route("POST",   "/api/v1/projects/{project}/endpoints/{job}/weights/",      Permission.OPERATE, 200),
    Route("GET",    "/api/v1/projects/{project}/endpoints/{job}/metrics/",      Permission.VIEW,    200),
    # datasets: uploads, datasets, versions ({upload} is receiving, or staged for the commit route)
    Route("GET",    "/api/v1/projects/{project}/uploads/",                      Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/uploads/",                      Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/uploads/{upload}/",             Permission.VIEW,    200),
    Route("PUT",    "/api/v1/projects/{project}/uploads/{upload}/",             Permission.CREATE,  200),
    Route("DELETE", "/api/v1/projects/{project}/uploads/{upload}/",             Permission.CREATE,  204),
    Route("POST",   "/api/v1/projects/{project}/uploads/{upload}/complete/",    Permission.CREATE,  200),
    Route("POST",   "/api/v1/projects/{project}/uploads/{upload}/commit/",      Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/datasets/",                     Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/datasets/",                     Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/datasets/{dataset}/",           Permission.VIEW,    200),
    Route("PATCH",  "/api/v1/projects/{project}/datasets/{dataset}/",           Permission.CREATE,  200),
    Route("GET",    "/api/v1/projects/{project}/datasets/{dataset}/versions/",  Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/datasets/{dataset}/versions/",  Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/datasets/{dataset}/versions/{version}/",
                                                                                Permission.VIEW,    200),
    Route("GET",    "/api/v1/projects/{project}/datasets/{dataset}/versions/{version}/preview/",
                                                                                Permission.VIEW,    200),
    Route("GET",    "/api/v1/projects/{project}/datasets/{dataset}/lineage/",   Permission.VIEW,    200),
    # profiles ({profile} is Pending: its report is null)
    Route("GET",    "/api/v1/projects/{project}/datasets/{dataset}/versions/{version}/profiles/",
                                                                                Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/datasets/{dataset}/versions/{version}/profiles/",
                                                                                Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/profiles/{profile}/",           Permission.VIEW,    200),
    # recipes ({recipe} has no steps yet; the dataset's version 1 has columns a and b)
    Route("GET",    "/api/v1/projects/{project}/datasets/{dataset}/recipes/",   Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/datasets/{dataset}/recipes/",   Permission.CREATE,  201),
    Route("POST",   "/api/v1/projects/{project}/datasets/{dataset}/recipes/preview/",
                                                                                Permission.VIEW,    200),
    Route("GET",    "/api/v1/projects/{project}/datasets/{dataset}/recipes/{recipe}/",
                                                                                Permission.VIEW,    200),
    Route("PUT",    "/api/v1/projects/{project}/datasets/{dataset}/recipes/{recipe}/",
                                                                                Permission.CREATE,  200),
    Route("DELETE", "/api/v1/projects/{project}/datasets/{dataset}/recipes/{recipe}/",
                                                                                Permission.DELETE,  204),
    Route("POST",   "/api/v1/projects/{project}/datasets/{dataset}/recipes/{recipe}/run/",
                                                                                Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/datasets/{dataset}/recipes/{recipe}/export/",
                                                                                Permission.VIEW,    200),
    # AWS settings (none saved: GET answers the defaults, and the check says what is missing)
    Route("GET",    "/api/v1/projects/{project}/aws-settings/",                 Permission.VIEW,    200),
    Route("PUT",    "/api/v1/projects/{project}/aws-settings/",                 Permission.MANAGE,  200),
    Route("PATCH",  "/api/v1/projects/{project}/aws-settings/",                 Permission.MANAGE,  200),
    Route("POST",   "/api/v1/projects/{project}/aws-settings/check/",           Permission.MANAGE,  200),
    # monitoring alerts ({alert} is an Open alert) and notification channels ({channel} is a webhook)
    Route("GET",    "/api/v1/projects/{project}/alerts/",                       Permission.VIEW,    200),
    Route("GET",    "/api/v1/projects/{project}/alerts/{alert}/",               Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/alerts/{alert}/acknowledge/",   Permission.OPERATE, 200),
    Route("GET",    "/api/v1/projects/{project}/notification-channels/",        Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/notification-channels/",        Permission.OPERATE, 201),
    Route("GET",    "/api/v1/projects/{project}/notification-channels/{channel}/",
                                                                                Permission.VIEW,    200),
    Route("PATCH",  "/api/v1/projects/{project}/notification-channels/{channel}/",
                                                                                Permission.OPERATE, 200),
    Route("DELETE", "/api/v1/projects/{project}/notification-channels/{channel}/",
                                                                                Permission.OPERATE, 204),
    # Model Monitor ({job} names the baseline, the schedule and the endpoint "existing-job")
    Route("GET",    "/api/v1/projects/{project}/monitoring-baselines/",         Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/monitoring-baselines/",         Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/monitoring-baselines/{job}/",   Permission.VIEW,    200),
    Route("GET",    "/api/v1/projects/{project}/monitoring-baselines/{job}/versions/",
                                                                                Permission.VIEW,    200),
    Route("GET",    "/api/v1/projects/{project}/monitoring-baselines/{job}/versions/{version}/",
                                                                                Permission.VIEW,    200),
    Route("GET",    "/api/v1/projects/{project}/monitoring-baselines/{job}/constraints/",
                                                                                Permission.VIEW,    200),
    Route("PUT",    "/api/v1/projects/{project}/monitoring-baselines/{job}/constraints/",
                                                                                Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/monitoring-schedules/",         Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/monitoring-schedules/",         Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/monitoring-schedules/{job}/",   Permission.VIEW,    200),
    Route("PATCH",  "/api/v1/projects/{project}/monitoring-schedules/{job}/",   Permission.OPERATE, 200),
    Route("DELETE", "/api/v1/projects/{project}/monitoring-schedules/{job}/",   Permission.DELETE,  204),
    Route("POST",   "/api/v1/projects/{project}/monitoring-schedules/{job}/stop/",
                                                                                Permission.OPERATE, 200),
    Route("POST",   "/api/v1/projects/{project}/monitoring-schedules/{job}/start/",
                                                                                Permission.OPERATE, 200),
    Route("POST",   "/api/v1/projects/{project}/monitoring-schedules/{job}/run/",
                                                                                Permission.OPERATE, 202),
    Route("GET",    "/api/v1/projects/{project}/monitoring-schedules/{job}/executions/",
                                                                                Permission.VIEW,    200),
    Route("GET",    "/api/v1/projects/{project}/monitoring-executions/{execution}/",
                                                                                Permission.VIEW,    200),
    Route("GET",    "/api/v1/projects/{project}/drift-reports/",                Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/drift-reports/",                Permission.CREATE,  201),
    Route("GET",    "/api/v1/projects/{project}/drift-reports/{report}/",       Permission.VIEW,    200),
    Route("GET",    "/api/v1/projects/{project}/endpoints/{job}/ground-truth/", Permission.VIEW,    200),
    Route("POST",   "/api/v1/projects/{project}/endpoints/{job}/ground-truth/", Permission.CREATE,  201),
]
# fmt: on

# The request bodies of the writes, made fresh for each request: (data, format).
BODIES = {
    ("POST", "/api/v1/api-keys/"): lambda: ({"name": "laptop"}, "json"),
    ("POST", "/api/v1/projects/"): lambda: ({"name": "fresh-project"}, "json"),
    ("PATCH", "/api/v1/projects/{project}/"): lambda: ({"description": "Now with labels"}, "json"),
    ("POST", "/api/v1/projects/{project}/members/"): lambda: (
        {"username": "nadia", "role": "viewer"},
        "json",
    ),
    ("PATCH", "/api/v1/projects/{project}/members/{member}/"): lambda: ({"role": "editor"}, "json"),
    ("POST", "/api/v1/projects/{project}/artifacts/"): lambda: (
        {"file": SimpleUploadedFile("train.csv", b"a,b\n1,2\n"), "path": "data/new.csv"},
        "multipart",
    ),
    ("POST", "/api/v1/projects/{project}/processing-jobs/"): lambda: (
        processing_request("matrix-job"),
        "multipart",
    ),
    ("POST", "/api/v1/projects/{project}/training-jobs/"): lambda: (
        {
            "name": "matrix-training",
            "source": SimpleUploadedFile("train.py", b"print('training')\n"),
            "instance_type": "ml.m5.large",
        },
        "multipart",
    ),
    ("POST", "/api/v1/projects/{project}/tuning-jobs/"): lambda: (
        tuning_request("matrix-tuning"),
        "multipart",
    ),
    ("POST", "/api/v1/projects/{project}/transform-jobs/"): lambda: (
        {"name": "matrix-transform", "model": "transform-model", "input_uri": "dataset://existing-data/1"},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/processing-jobs/{job}/clone/"): lambda: (
        {"name": "matrix-clone", "backend": "local"},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/training-jobs/{job}/clone/"): lambda: (
        {"name": "matrix-clone", "backend": "local"},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/transform-jobs/{job}/clone/"): lambda: (
        {"name": "matrix-clone", "backend": "local"},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/tuning-jobs/{job}/clone/"): lambda: (
        {"name": "matrix-clone", "backend": "local"},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/models/"): lambda: (
        {"name": "fresh-model", "model_file": inference_archive()},
        "multipart",
    ),
    ("POST", "/api/v1/projects/{project}/endpoint-configs/"): lambda: (
        {"name": "fresh-config", "variants": [{"name": "main", "model": "serving-model"}]},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/endpoints/"): lambda: (
        {"name": "fresh-endpoint", "endpoint_config": "existing-job"},
        "json",
    ),
    ("PATCH", "/api/v1/projects/{project}/endpoints/{job}/"): lambda: (
        {"endpoint_config": "existing-job"},
        "json",
    ),
    ("PUT", "/api/v1/projects/{project}/endpoints/{job}/"): lambda: (
        {"endpoint_config": "existing-job"},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/endpoints/{job}/weights/"): lambda: (
        {"weights": {"main": 2}},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/uploads/"): lambda: (
        {"filename": "more.csv", "total_size": 8},
        "json",
    ),
    ("PUT", "/api/v1/projects/{project}/uploads/{upload}/"): lambda: ({"c": 3}, "json"),
    ("POST", "/api/v1/projects/{project}/uploads/{upload}/commit/"): lambda: (
        {"dataset": "committed"},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/datasets/"): lambda: ({"name": "fresh-data"}, "json"),
    ("PATCH", "/api/v1/projects/{project}/datasets/{dataset}/"): lambda: ({"description": "Cleaned"}, "json"),
    ("POST", "/api/v1/projects/{project}/datasets/{dataset}/versions/{version}/profiles/"): lambda: (
        {"target_column": ""},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/datasets/{dataset}/recipes/"): lambda: (
        {"name": "fresh-recipe", "steps": [{"op": "drop_columns", "columns": ["b"]}]},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/datasets/{dataset}/recipes/preview/"): lambda: (
        {"version": 1, "steps": [{"op": "drop_columns", "columns": ["b"]}]},
        "json",
    ),
    ("PUT", "/api/v1/projects/{project}/datasets/{dataset}/recipes/{recipe}/"): lambda: (
        {"steps": [{"op": "standard_scale", "columns": ["a"]}]},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/datasets/{dataset}/recipes/{recipe}/run/"): lambda: (
        {"version": 1},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/datasets/{dataset}/versions/"): lambda: (
        {"file": SimpleUploadedFile("more.csv", b"a,b\n5,6\n")},
        "multipart",
    ),
    ("PUT", "/api/v1/projects/{project}/aws-settings/"): lambda: (
        {"region": "eu-west-1", "bucket": "matrix-bucket"},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/notification-channels/"): lambda: (
        {"kind": "webhook", "target": "https://hooks.example.com/matrix"},
        "json",
    ),
    ("PATCH", "/api/v1/projects/{project}/notification-channels/{channel}/"): lambda: (
        {"enabled": False},
        "json",
    ),
    ("PATCH", "/api/v1/projects/{project}/aws-settings/"): lambda: (
        {"role_arn": "arn:aws:iam::123456789012:role/matrix"},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/monitoring-baselines/"): lambda: (
        {"name": "fresh-baseline", "dataset_version": "dataset://existing-data/1"},
        "json",
    ),
    ("PUT", "/api/v1/projects/{project}/monitoring-baselines/{job}/constraints/"): lambda: (
        {"features": [{"name": "a", "completeness": 0.9}], "monitoring_config": {}},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/monitoring-schedules/"): lambda: (
        {
            "name": "fresh-schedule",
            "endpoint": "monitored",
            "baseline": "existing-job",
            "schedule_expression": "daily",
        },
        "json",
    ),
    ("PATCH", "/api/v1/projects/{project}/monitoring-schedules/{job}/"): lambda: (
        {"schedule_expression": "daily"},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/drift-reports/"): lambda: (
        {"reference": "dataset://existing-data/1", "current": "dataset://existing-data/1"},
        "json",
    ),
    ("POST", "/api/v1/projects/{project}/endpoints/{job}/ground-truth/"): lambda: (
        [{"inference_id": "matrix-1", "label": "1"}],
        "json",
    ),
}


def inference_archive() -> SimpleUploadedFile:
    """A model.tar.gz with inference code and no pickle."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        code = b"def model_fn(model_dir):\n    return None\n"
        info = tarfile.TarInfo("code/inference.py")
        info.size = len(code)
        archive.addfile(info, io.BytesIO(code))
    return SimpleUploadedFile("model.tar.gz", buffer.getvalue())


TUNING_SCRIPT = b"print('objective=1')\n"
TUNING_CONFIG = {
    "channels": [{"name": "train", "source_uri": "dataset://existing-data"}],
    "metric_definitions": [{"name": "objective", "regex": "objective=([0-9.]+)"}],
    "strategy": "Grid",
    "parameter_ranges": {"CategoricalParameterRanges": [{"Name": "a", "Values": ["1", "2"]}]},
}


def tuning_request(name: str) -> dict:
    """A multipart body for POST tuning-jobs/: a Grid search over a script, on the world's dataset."""
    import json

    return {
        "name": name,
        "source": SimpleUploadedFile("train.py", TUNING_SCRIPT),
        "objective": json.dumps({"type": "Minimize", "metric_name": "objective"}),
        "resource_limits": json.dumps({"max_parallel_training_jobs": 1}),
        **{
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in TUNING_CONFIG.items()
        },
    }


PERSONAS = ["anonymous", "viewer", "editor", "admin", "outsider"]
ROLE_OF = {"viewer": Role.VIEWER, "editor": Role.EDITOR, "admin": Role.ADMIN}


def expected_status(route: Route, persona: str) -> int:
    if persona == "anonymous":
        return route.success if route.permission == PUBLIC else 401
    if route.permission in (PUBLIC, SIGNED_IN):
        return route.success
    if persona == "outsider":
        return 404
    return route.success if role_allows(ROLE_OF[persona], route.permission) else 403


def _route_id(route: Route) -> str:
    return f"{route.method} {route.url}"


def _api_urls() -> set[str]:
    """Every URL pattern below /api/v1/, as "/api/v1/..." with its converters as in the table."""
    found: set[str] = set()

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                found.add("/" + prefix + str(entry.pattern))

    walk(get_resolver().url_patterns, "")
    return {url for url in found if url.startswith("/api/v1/")}


def test_the_table_covers_every_api_route():
    """A route added to api_urls.py without a row here fails this test, so the matrix stays complete."""
    placeholders = {
        "<str:project>": "{project}",
        "<str:username>": "{member}",
        "<uuid:key_uuid>": "{key}",
        "<str:dataset>": "{dataset}",
        "<int:number>": "{version}",
        "<uuid:upload_uuid>": "{upload}",
        "<uuid:profile>": "{profile}",
        "<str:recipe>": "{recipe}",
        "<int:alert_id>": "{alert}",
        "<int:channel_id>": "{channel}",
        "<int:version>": "{version}",
        "<uuid:execution_uuid>": "{execution}",
        "<uuid:report_uuid>": "{report}",
    }
    routed = set()
    for url in _api_urls():
        for converter, placeholder in placeholders.items():
            url = url.replace(converter, placeholder)
        name = "{job}"
        if url.startswith("/api/v1/instance-types/"):
            name = "{instance_type}"
        elif url.startswith("/api/v1/algorithms/"):
            name = "{algorithm}"
        routed.add(url.replace("<str:name>", name))
    table = {route.url for route in ROUTES}
    assert routed == table


def transform_world(project, user, name: str) -> None:
    """A model without pickles, and a Pending transform job ``name`` running it over the world's dataset."""
    from endpoints.models import Model
    from jobs.services.transform import transform_job_create

    Model.objects.create(
        project=project,
        name="transform-model",
        source="Upload",
        artifact_uri="file:///nowhere/model.tar.gz",
        artifact_sha256="0" * 64,
        artifact_size=1,
    )
    transform_job_create(
        project=project, user=user, name=name, model="transform-model", input_uri="dataset://existing-data/1"
    )


@pytest.fixture
def world(request, personas, project, admin_user):
    """The project with a Pending job, a plain member to change, a stranger to add, a dataset with a
    version, and an upload with all its bytes (staged already when the route is the commit)."""
    job = Job.objects.create(
        project=project,
        kind=JobKind.PROCESSING,
        name="existing-job",
        created_by=admin_user,
        instance_type="ml.m5.large",
        max_runtime_seconds=60,
        spec={
            "script": {"uri": "", "filename": "x.py", "sha256": ""},
            "inputs": [],
            "outputs": [],
            "arguments": [],
            "environment": {},
        },
    )
    training = Job.objects.create(
        project=project,
        kind=JobKind.TRAINING,
        name="existing-job",
        created_by=admin_user,
        instance_type="ml.m5.large",
        max_runtime_seconds=60,
        spec={
            "algorithm": {"name": "xgboost"},
            "code": None,
            "channels": [],
            "hyperparameters": {},
            "environment": {},
        },
    )
    JobEvaluation.objects.create(job=training, problem="regression", channel="test", metrics={"rmse": 1.0})
    member = make_user("tess")
    membership_set(project=project, user=member, role=Role.VIEWER, actor=admin_user)
    make_user("nadia")
    dataset_version = upload_from_stream(
        project=project,
        user=admin_user,
        dataset_name="existing-data",
        filename="data.csv",
        stream=io.BytesIO(b"a,b\n1,2\n3,4\n"),
        length=12,
    )
    # A Pending tuning job of the same name, for the tuning-jobs/{job}/ routes.
    tuning_job_create(
        project=project,
        user=admin_user,
        name=job.name,
        source_file=io.BytesIO(TUNING_SCRIPT),
        source_filename="train.py",
        objective_metric="objective",
        objective_type="Minimize",
        **TUNING_CONFIG,
    )
    inference_world(project, job.name)
    transform_world(project, admin_user, job.name)
    # The upload's state suits the route: empty for a chunk (PUT), staged for the commit, else received.
    callspec = getattr(request.node, "callspec", None)
    route = callspec.params.get("route") if callspec else None
    upload = upload_create(project=project, user=admin_user, filename="data.csv")
    if route is None or route.method != "PUT":
        upload_receive(upload=upload, stream=io.BytesIO(b"a,b\n1,2\n3,4\n"), offset=0, length=12)
    if route is not None and route.url.endswith("/commit/"):
        upload_complete(upload=upload)
    profile = profile_start(version=dataset_version, user=admin_user)
    alert, channel = alerts_world(project, job.name)
    execution, report = monitoring_world(project, job.name, dataset_version)
    recipe = recipe_create(
        dataset=dataset_version.dataset, name="existing-recipe", steps=[], output={}, user=admin_user
    )
    return {
        "job": job,
        "member": member,
        "dataset": dataset_version.dataset,
        "upload": upload,
        "profile": profile,
        "recipe": recipe,
        "alert": alert,
        "channel": channel,
        "execution": execution,
        "report": report,
        **personas,
    }


def alerts_world(project, endpoint_name: str):
    """An Open alert on a schedule of the endpoint ``endpoint_name``, and a webhook channel."""
    from endpoints.models import Endpoint
    from monitoring.models import Alert, MonitoringSchedule, NotificationChannel

    schedule = MonitoringSchedule.objects.create(
        project=project,
        name="alerts-schedule",
        endpoint=Endpoint.objects.get(project=project, name=endpoint_name),
    )
    alert = Alert.objects.create(
        project=project,
        schedule=schedule,
        check_type="data_drift_check",
        feature_name="a",
        description="a drifted",
    )
    channel = NotificationChannel.objects.create(
        project=project, kind="webhook", target="https://hooks.example.com/existing"
    )
    return alert, channel


def monitoring_world(project, name: str, dataset_version):
    """A Completed baseline ``name``, a data-quality schedule ``name`` on the endpoint ``name`` with
    one execution, a drift report, and an endpoint "monitored" that captures data."""
    from endpoints.models import Endpoint, EndpointConfig, Model, ProductionVariant
    from monitoring.models import Baseline, DriftReport, MonitoringExecution, MonitoringSchedule
    from monitoring.services.common import json_put, monitoring_prefix

    features = [{"name": "a", "inferred_type": "Integral", "completeness": 1.0}]
    folder = monitoring_prefix(project, "baselines", name, "v1")
    baseline = Baseline.objects.create(
        project=project,
        name=name,
        dataset_version=dataset_version,
        source_uri="dataset://existing-data/1",
        status="Completed",
        statistics={"version": 0, "features": [{"name": "a", "inferred_type": "Integral"}]},
        constraints={"version": 0, "features": features},
        statistics_uri=json_put(f"{folder}/statistics.json", {"features": []}),
        constraints_uri=json_put(f"{folder}/constraints.json", {"features": features}),
    )
    schedule = MonitoringSchedule.objects.create(
        project=project,
        name=name,
        endpoint=Endpoint.objects.get(project=project, name=name),
        baseline=baseline,
        schedule_expression="hourly",
    )
    execution = MonitoringExecution.objects.create(
        schedule=schedule, window_start="2024-01-01T00:00:00Z", window_end="2024-01-01T01:00:00Z"
    )
    report = DriftReport.objects.create(
        project=project, reference_uri="x", reference_label="x", current_uri="y", current_label="y"
    )
    model = Model.objects.get(project=project, name="serving-model")
    config = EndpointConfig.objects.create(
        project=project, name="monitored-config", data_capture={"enabled": True, "destination_uri": folder}
    )
    ProductionVariant.objects.create(config=config, name="main", model=model, instance_type="ml.m5.large")
    Endpoint.objects.create(project=project, name="monitored", config=config, status="InService")
    return execution, report


def inference_world(project, name: str) -> None:
    """A model ``name`` with a pickle to trust and used by nothing; a config ``name`` used by nothing;
    an InService endpoint ``name`` of another config, on a model without pickles."""
    from endpoints.models import Endpoint, EndpointConfig, Model, ProductionVariant

    artifact = {
        "artifact_uri": "file:///nowhere/model.tar.gz",
        "artifact_sha256": "0" * 64,
        "artifact_size": 1,
    }
    Model.objects.create(
        project=project, name=name, source="Upload", pickle_files=["model.joblib"], **artifact
    )
    serving_model = Model.objects.create(project=project, name="serving-model", source="Upload", **artifact)
    for config_name in (name, "serving-config"):
        config = EndpointConfig.objects.create(project=project, name=config_name)
        ProductionVariant.objects.create(
            config=config, name="main", model=serving_model, instance_type="ml.m5.large"
        )
    Endpoint.objects.create(
        project=project, name=name, config=config, status="InService", weights={"main": 1.0}
    )


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("route", ROUTES, ids=_route_id)
def test_each_persona_gets_the_expected_answer_on_each_route(world, route, persona):
    user = world.get(persona)
    client = api_client_for(user)
    key_uuid = "00000000-0000-0000-0000-000000000000"
    if user is not None:
        key_uuid = ApiKey.objects.filter(user=user).order_by("created_at").first().uuid
    url = route.url.format(
        project="vision",
        job=world["job"].name,
        member="tess",
        key=key_uuid,
        instance_type="ml.m5.xlarge",
        algorithm="xgboost",
        dataset=world["dataset"].name,
        version=1,
        upload=world["upload"].uuid,
        profile=world["profile"].uuid,
        recipe=world["recipe"].name,
        alert=world["alert"].pk,
        channel=world["channel"].pk,
        execution=world["execution"].uuid,
        report=world["report"].uuid,
    )
    if (route.method, route.url) in BODIES:
        data, fmt = BODIES[route.method, route.url]()
        response = getattr(client, route.method.lower())(url, data, format=fmt)
    else:
        response = client.generic(route.method, url)

    expected = expected_status(route, persona)
    assert response.status_code == expected, (persona, route, response.content[:300])
    if expected == 401:
        assert response["WWW-Authenticate"] == "Bearer"
    if expected in (401, 403, 404):
        assert "detail" in response.json()


@pytest.mark.parametrize("persona", ["viewer", "outsider"])
def test_a_refused_write_changes_nothing(world, persona):
    """A viewer's or outsider's stop, member change, job create and recipe change or run leave every
    row as it was."""
    client = api_client_for(world[persona])

    client.post("/api/v1/projects/vision/processing-jobs/existing-job/stop/")
    client.patch("/api/v1/projects/vision/members/tess/", {"role": Role.ADMIN}, format="json")
    client.post("/api/v1/projects/vision/processing-jobs/", processing_request("sneaky"), format="multipart")
    recipe_url = "/api/v1/projects/vision/datasets/existing-data/recipes/existing-recipe/"
    client.put(recipe_url, {"steps": [{"op": "drop_columns", "columns": ["a"]}]}, format="json")
    client.post(recipe_url + "run/", {"version": 1}, format="json")

    world["job"].refresh_from_db()
    assert world["job"].status == JobStatus.PENDING
    assert Membership.objects.get(user=world["member"]).role == Role.VIEWER
    assert not Job.objects.filter(name="sneaky").exists()
    world["recipe"].refresh_from_db()
    assert world["recipe"].steps == []
    assert not Job.objects.filter(name__startswith="recipe-").exists()


def test_a_superuser_acts_as_admin_in_every_project(world):
    operator = get_user_model().objects.create_superuser("root", password="x")
    client = api_client_for(operator)

    assert client.get("/api/v1/projects/vision/audit-events/").status_code == 200
    names = [item["name"] for item in client.get("/api/v1/projects/").json()["results"]]
    assert names == ["other", "vision"]


# --- authentication ------------------------------------------------------------------------------


def test_a_revoked_api_key_is_refused_with_401(admin_user, project):
    api_key, key = api_key_create(user=admin_user, name="old")
    api_key_revoke(api_key=api_key, actor=admin_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    response = client.get("/api/v1/projects/vision/")

    assert response.status_code == 401
    assert response.json() == {"detail": "Unknown or revoked API key."}


def test_an_api_key_of_a_deactivated_user_is_refused(admin_user, project):
    _, key = api_key_create(user=admin_user, name="old")
    admin_user.is_active = False
    admin_user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    assert client.get("/api/v1/projects/").status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",  # no key
        "Bearer stk_abc extra",  # two words after the scheme
        "Bearer stk_not-a-real-key",  # a key that does not exist
        "Bearer not-even-our-prefix",
        "Token stk_abc",  # another scheme: nobody authenticates, so it is anonymous
        "bearer stk_abc",  # the scheme is case-sensitive here
        "stk_abc",
    ],
)
def test_a_malformed_or_unknown_authorization_header_gets_401(admin_user, project, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/projects/vision/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "detail" in response.json()


def test_a_bad_header_is_refused_even_on_a_public_route(db):
    """Authentication runs before AllowAny: a wrong key is an error, not a silent anonymous call."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer stk_unknown")

    assert client.get("/api/v1/instance-types/").status_code == 401


def test_a_signed_in_browser_session_can_read_the_api(viewer_user):
    client = APIClient()
    client.force_login(viewer_user)

    response = client.get("/api/v1/projects/vision/processing-jobs/")

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_a_session_write_without_a_csrf_token_is_refused(editor_user):
    """Session auth keeps Django's CSRF protection; API keys need none (they are not sent by browsers)."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(editor_user)

    response = client.post(
        "/api/v1/projects/vision/artifacts/", {"file": SimpleUploadedFile("a.csv", b"x")}, format="multipart"
    )

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
