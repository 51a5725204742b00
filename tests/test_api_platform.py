"""The platform API as a user meets it: projects, members, the audit log, instance types, health and docs."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from studio.models import AuditEvent, Membership, Project
from studio.roles import Role
from tests.conftest import api_client_for, make_user

# --- projects ------------------------------------------------------------------------------------


def test_it_creates_a_project_with_its_creator_as_admin(admin_user):
    api = api_client_for(admin_user)

    response = api.post(
        "/api/v1/projects/", {"name": "churn-model", "description": "Who leaves"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "churn-model"
    assert body["description"] == "Who leaves"
    assert body["created_by"] == "alice"
    assert body["role"] == Role.ADMIN
    project = Project.objects.get(name="churn-model")
    assert Membership.objects.get(project=project, user=admin_user).role == Role.ADMIN
    event = AuditEvent.objects.get(project=project)
    assert (event.actor, event.action, event.target_type, event.target_name) == (
        admin_user,
        "create",
        "project",
        "churn-model",
    )


@pytest.mark.parametrize(
    "name",
    ["Vision", "my project", "a" * 64, "-leading", "trailing-", "", "ünï"],
    ids=["upper-case", "space", "64-chars", "leading-hyphen", "trailing-hyphen", "empty", "non-ascii"],
)
def test_it_refuses_a_bad_project_name(admin_user, name):
    api = api_client_for(admin_user)

    response = api.post("/api/v1/projects/", {"name": name}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()
    assert not Project.objects.exists()
    assert not AuditEvent.objects.filter(target_type="project").exists()


def test_it_refuses_a_duplicate_project_name_and_keeps_the_first(project, outsider_user):
    api = api_client_for(outsider_user)

    response = api.post("/api/v1/projects/", {"name": "vision", "description": "Mine now"}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()
    project.refresh_from_db()
    assert project.description == "Test project"
    assert not Membership.objects.filter(project=project, user=outsider_user).exists()


def test_the_project_list_shows_only_the_users_projects_with_their_role(personas):
    response = api_client_for(personas["viewer"]).get("/api/v1/projects/")

    assert response.status_code == 200
    assert [(item["name"], item["role"]) for item in response.json()["results"]] == [("vision", "viewer")]

    response = api_client_for(personas["outsider"]).get("/api/v1/projects/")
    assert [(item["name"], item["role"]) for item in response.json()["results"]] == [("other", "admin")]


def test_an_admin_updates_the_project_description(project, admin_user):
    response = api_client_for(admin_user).patch(
        "/api/v1/projects/vision/", {"description": "Cats"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["description"] == "Cats"
    project.refresh_from_db()
    assert project.description == "Cats"
    event = project.audit_events.get(action="update")
    assert (event.actor, event.details["description"]["to"]) == (admin_user, "Cats")


# --- members -------------------------------------------------------------------------------------


def test_an_admin_adds_changes_and_removes_a_member(project, admin_user):
    tess = make_user("tess")
    api = api_client_for(admin_user)

    added = api.post(
        "/api/v1/projects/vision/members/", {"username": "tess", "role": "viewer"}, format="json"
    )
    assert added.status_code == 201
    assert added.json()["username"] == "tess"
    assert added.json()["role"] == "viewer"
    assert Membership.objects.get(project=project, user=tess).role == Role.VIEWER

    changed = api.patch("/api/v1/projects/vision/members/tess/", {"role": "editor"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["role"] == "editor"
    assert Membership.objects.get(project=project, user=tess).role == Role.EDITOR

    listed = api.get("/api/v1/projects/vision/members/").json()["results"]
    assert [(item["username"], item["role"]) for item in listed] == [("alice", "admin"), ("tess", "editor")]

    removed = api.delete("/api/v1/projects/vision/members/tess/")
    assert removed.status_code == 204
    assert not Membership.objects.filter(project=project, user=tess).exists()

    actions = list(
        AuditEvent.objects.filter(project=project, target_type="member")
        .order_by("id")
        .values_list("action", "target_name", "actor__username")
    )
    assert actions == [
        ("add-member", "tess", "alice"),
        ("change-role", "tess", "alice"),
        ("remove-member", "tess", "alice"),
    ]


def test_adding_an_unknown_username_is_a_400_naming_username(project, admin_user):
    response = api_client_for(admin_user).post(
        "/api/v1/projects/vision/members/", {"username": "ghost", "role": "viewer"}, format="json"
    )

    assert response.status_code == 400
    assert "ghost" in response.json()["username"][0]
    assert Membership.objects.filter(project=project).count() == 1


def test_adding_an_inactive_user_is_a_400_naming_username(project, admin_user):
    make_user("gone", is_active=False)

    response = api_client_for(admin_user).post(
        "/api/v1/projects/vision/members/", {"username": "gone", "role": "viewer"}, format="json"
    )

    assert response.status_code == 400
    assert "username" in response.json()


@pytest.mark.parametrize("role", ["owner", "", "ADMIN"])
def test_a_bad_role_is_a_400_naming_role(project, admin_user, viewer_user, role):
    api = api_client_for(admin_user)

    added = api.post("/api/v1/projects/vision/members/", {"username": "alice", "role": role}, format="json")
    changed = api.patch("/api/v1/projects/vision/members/victor/", {"role": role}, format="json")

    assert added.status_code == 400
    assert "role" in added.json()
    assert changed.status_code == 400
    assert "role" in changed.json()
    assert Membership.objects.get(project=project, user=viewer_user).role == Role.VIEWER


def test_removing_the_last_admin_is_refused_and_the_membership_stays(project, admin_user):
    response = api_client_for(admin_user).delete("/api/v1/projects/vision/members/alice/")

    assert response.status_code == 400
    assert "role" in response.json()
    assert Membership.objects.get(project=project, user=admin_user).role == Role.ADMIN
    assert not AuditEvent.objects.filter(action="remove-member").exists()


def test_demoting_the_last_admin_is_refused_and_the_role_stays(project, admin_user):
    response = api_client_for(admin_user).patch(
        "/api/v1/projects/vision/members/alice/", {"role": "editor"}, format="json"
    )

    assert response.status_code == 400
    assert "role" in response.json()
    assert Membership.objects.get(project=project, user=admin_user).role == Role.ADMIN
    assert not AuditEvent.objects.filter(action="change-role").exists()


def test_an_admin_may_leave_once_another_admin_exists(project, admin_user):
    other = make_user("bea")
    api = api_client_for(admin_user)
    api.post("/api/v1/projects/vision/members/", {"username": "bea", "role": "admin"}, format="json")

    response = api.delete("/api/v1/projects/vision/members/alice/")

    assert response.status_code == 204
    assert list(Membership.objects.filter(project=project).values_list("user", flat=True)) == [other.pk]


def test_changing_a_non_member_is_a_404(project, admin_user):
    make_user("stranger")

    response = api_client_for(admin_user).patch(
        "/api/v1/projects/vision/members/stranger/", {"role": "editor"}, format="json"
    )

    assert response.status_code == 404
    assert not Membership.objects.filter(user__username="stranger").exists()


# --- audit log -----------------------------------------------------------------------------------


def test_the_audit_log_lists_the_projects_events_newest_first(
    project, admin_user, editor_user, outsider_user
):
    response = api_client_for(admin_user).get("/api/v1/projects/vision/audit-events/")

    assert response.status_code == 200
    events = response.json()["results"]
    assert [(e["actor"], e["action"], e["target_type"], e["target_name"]) for e in events] == [
        ("alice", "add-member", "member", "erin"),
        ("alice", "create", "project", "vision"),
    ]
    assert events[0]["details"] == {"role": "editor"}
    # The outsider's own project creation is not in this project's log.
    assert response.json()["count"] == 2


# --- instance types ------------------------------------------------------------------------------


def test_the_instance_type_catalogue_lists_cpu_and_gpu_types(db):
    response = APIClient().get("/api/v1/instance-types/")

    assert response.status_code == 200
    by_name = {item["name"]: item for item in response.json()}
    assert by_name["ml.m5.xlarge"]["vcpus"] == 4
    assert by_name["ml.m5.xlarge"]["memory_gib"] == 16
    assert by_name["ml.m5.xlarge"]["gpus"] == 0
    assert by_name["ml.g5.xlarge"]["gpus"] == 1
    assert "A10G" in by_name["ml.g5.xlarge"]["gpu_model"]


def test_the_instance_type_catalogue_filters_by_role(db):
    response = APIClient().get("/api/v1/instance-types/", {"role": "hosting"})

    names = {item["name"] for item in response.json()}
    assert "ml.m5.xlarge" in names
    assert "ml.inf2.xlarge" in names
    assert "ml.t3.medium" not in names  # training and processing only
    assert all("hosting" in item["roles"] for item in response.json())


def test_one_instance_type_in_detail(db):
    response = APIClient().get("/api/v1/instance-types/ml.g5.xlarge/")

    assert response.status_code == 200
    assert response.json()["gpu_memory_gib"] == 24


def test_an_unknown_instance_type_is_a_400_naming_it(db):
    response = APIClient().get("/api/v1/instance-types/ml.x9.huge/")

    assert response.status_code == 400
    assert "ml.x9.huge" in response.json()["name"][0]


# --- health, schema, docs ------------------------------------------------------------------------


def test_healthz_reports_database_broker_and_store(db):
    response = APIClient().get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "broker": True,
        "store": True,
    }


def test_healthz_answers_503_naming_the_failing_check(db, settings):
    settings.STUDIO_ARTIFACT_URI = "ftp://nowhere/studio"

    response = APIClient().get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["store"]["ok"] is False
    assert "ftp://" in body["checks"]["store"]["error"]
    assert body["checks"]["database"]["ok"] is True


def test_the_embedded_broker_keeps_everything_in_the_data_directory(db, tmp_path, monkeypatch):
    """kombu's filesystem transport defaults its exchange table to ./control, wherever the process runs."""
    from kombu import Exchange, Queue

    from studio.celery import app

    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip("only the embedded filesystem broker keeps files")
    monkeypatch.chdir(tmp_path)

    with app.connection_for_write() as connection:
        Queue("jobs", Exchange("jobs"), "jobs")(connection.default_channel).declare()

    assert list(tmp_path.iterdir()) == []


def test_the_openapi_schema_describes_the_processing_job_routes(db):
    response = APIClient().get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert "/api/v1/projects/{project}/processing-jobs/" in paths
    assert "post" in paths["/api/v1/projects/{project}/processing-jobs/"]
    assert "/api/v1/projects/{project}/processing-jobs/{name}/logs/" in paths
    assert "apiKey" in schema["components"]["securitySchemes"]


def test_the_api_docs_page_loads_its_assets_locally(db):
    response = APIClient().get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    remote = re.findall(r"""(?:src|href)\s*=\s*["'](?:https?:)?//[^"']+""", html)
    assert remote == []
    assert "/static/drf_spectacular_sidecar/" in html
