"""The server-rendered pages: who may open what, forms that call services, and bounded queries."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from jobs.models import Job, JobKind, JobLogChunk, JobMetric, JobStatus, SecondaryStatus
from jobs.runner import job_execute
from jobs.services import processing_job_create
from studio.models import ApiKey, Artifact, Membership, Project
from studio.roles import Role
from studio.services import api_key_create, project_create
from tests.conftest import SCRIPT_FAIL, SCRIPT_OK, make_user

pytestmark = pytest.mark.django_db

JOB_NAME = "prep-1"


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def script(content: bytes = SCRIPT_OK, name: str = "prep.py") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/x-python")


def make_job(project: Project, name: str = JOB_NAME, *, status: str = JobStatus.PENDING, user=None) -> Job:
    return Job.objects.create(
        project=project,
        kind=JobKind.PROCESSING,
        name=name,
        status=status,
        instance_type="ml.m5.large",
        max_runtime_seconds=3600,
        created_by=user,
        spec={
            "script": {"uri": "file:///x/prep.py", "filename": "prep.py"},
            "inputs": [],
            "outputs": [],
            "arguments": [],
            "environment": {},
        },
    )


def launch_data(name: str = "launched-1", **extra) -> dict:
    data = {
        "name": name,
        "script": script(),
        "instance_type": "ml.m5.large",
        "inputs": "",
        "outputs": "result",
        "arguments": "--epochs\n3",
        "environment": "LOG_LEVEL=debug",
        "max_runtime_seconds": "600",
        "metric_definitions": "loss=loss=([0-9.]+)",
    }
    data.update(extra)
    return data


# --- The pages, by who may open them --------------------------------------------------------------


def project_read_urls(project: str = "vision", job: str = JOB_NAME) -> list[str]:
    return [
        reverse("frontend:project-dashboard", args=[project]),
        reverse("frontend:data", args=[project]),
        reverse("jobs:list", args=[project]),
        reverse("jobs:processing-detail", args=[project, job]),
        reverse("jobs:processing-fragment", args=[project, job]),
    ]


# (url name, args, method): every one needs more than VIEW (CREATE, OPERATE or MANAGE).
PROJECT_WRITES = [
    ("jobs:processing-create", ["vision"], "get"),
    ("jobs:processing-create", ["vision"], "post"),
    ("frontend:data", ["vision"], "post"),
    ("jobs:processing-stop", ["vision", JOB_NAME], "post"),
    ("frontend:member-add", ["vision"], "post"),
    ("frontend:member-role", ["vision", "victor"], "post"),
    ("frontend:member-remove", ["vision", "victor"], "post"),
]
MANAGE_ONLY = {"frontend:member-add", "frontend:member-role", "frontend:member-remove"}

GLOBAL_PAGES = [reverse("frontend:home"), reverse("frontend:projects"), reverse("frontend:api-keys")]


@pytest.fixture
def job(project, admin_user) -> Job:
    return make_job(project, user=admin_user)


def test_it_sends_anonymous_visitors_to_the_login_page(project, job):
    client = Client()
    gets = [*GLOBAL_PAGES, *project_read_urls()]
    posts = [reverse(name, args=args) for name, args, _ in PROJECT_WRITES]
    posts.append(reverse("frontend:api-key-revoke", args=["00000000-0000-0000-0000-000000000000"]))
    for url in gets + posts:
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code == 302, (method, url)
            assert response.url.startswith(reverse("login") + "?next="), (method, url)
    assert Job.objects.get().status == JobStatus.PENDING


def test_it_hides_a_project_from_outsiders(project, job, outsider_user, personas):
    client = client_for(outsider_user)
    for url in project_read_urls():
        assert client.get(url).status_code == 404, url
    for name, args, method in PROJECT_WRITES:
        response = getattr(client, method)(reverse(name, args=args), {"username": "oscar", "role": "admin"})
        assert response.status_code == 404, (name, method)
    assert not Membership.objects.filter(project=project, user=outsider_user).exists()
    assert Job.objects.get().status == JobStatus.PENDING


def test_a_missing_project_or_job_is_404(project, admin_user):
    client = client_for(admin_user)
    assert client.get(reverse("frontend:project-dashboard", args=["nope"])).status_code == 404
    assert client.get(reverse("jobs:processing-detail", args=["vision", "nope"])).status_code == 404
    assert client.get(reverse("jobs:processing-fragment", args=["vision", "nope"])).status_code == 404


def test_a_viewer_reads_every_page(project, job, viewer_user):
    client = client_for(viewer_user)
    for url in [*project_read_urls(), reverse("frontend:projects"), reverse("frontend:api-keys")]:
        assert client.get(url).status_code == 200, url


def test_a_viewer_may_not_launch_upload_stop_or_manage(project, job, viewer_user, csv_artifact):
    client = client_for(viewer_user)
    bodies = {
        "jobs:processing-create": launch_data(),
        "frontend:data": {"file": SimpleUploadedFile("x.csv", b"a\n1\n"), "path": "data/x.csv"},
        "frontend:member-add": {"username": "victor", "role": "admin"},
        "frontend:member-role": {"role": "admin"},
    }
    for name, args, method in PROJECT_WRITES:
        response = getattr(client, method)(reverse(name, args=args), bodies.get(name, {}))
        assert response.status_code == 403, (name, method)
    assert Job.objects.count() == 1
    assert Job.objects.get().status == JobStatus.PENDING
    assert Artifact.objects.filter(project=project).count() == 1
    assert Membership.objects.get(project=project, user=viewer_user).role == Role.VIEWER


def test_an_editor_may_not_manage_members(project, editor_user, viewer_user):
    client = client_for(editor_user)
    for name, args, method in PROJECT_WRITES:
        if name in MANAGE_ONLY:
            response = getattr(client, method)(
                reverse(name, args=args), {"username": "victor", "role": "admin"}
            )
            assert response.status_code == 403, name
    assert Membership.objects.get(project=project, user=viewer_user).role == Role.VIEWER


def test_a_viewer_sees_no_write_controls(project, job, viewer_user):
    client = client_for(viewer_user)
    dashboard = client.get(reverse("frontend:project-dashboard", args=["vision"])).content.decode()
    assert "member-add-form" not in dashboard
    assert "New processing job" not in dashboard
    assert 'id="upload"' not in client.get(reverse("frontend:data", args=["vision"])).content.decode()
    detail = client.get(reverse("jobs:processing-detail", args=["vision", JOB_NAME])).content.decode()
    assert 'id="stop-job"' not in detail


# --- Navigation and home ----------------------------------------------------------------------------


def test_the_layout_has_the_navigation_switcher_and_user_menu(project, admin_user):
    response = client_for(admin_user).get(reverse("frontend:project-dashboard", args=["vision"]))
    html = response.content.decode()
    disabled = '<span class="disabled" aria-disabled="true" title="Not available yet">Labeling</span>'
    assert disabled in html
    assert f'href="{reverse("monitoring:home", args=["vision"])}"' in html
    assert f'href="{reverse("jobs:list", args=["vision"])}"' in html
    assert f'href="{reverse("endpoints:endpoint-list", args=["vision"])}"' in html
    assert f'href="{reverse("frontend:data", args=["vision"])}"' in html
    assert '<option value="vision" selected>vision</option>' in html
    assert f'action="{reverse("logout")}"' in html
    assert reverse("frontend:api-keys") in html
    assert "vendor/plotly" not in html  # Plotly loads only where a chart is drawn


def test_the_login_page_logs_in_and_opens_the_users_project(project, admin_user):
    client = Client()
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'name="username"' in page.content
    response = client.post(reverse("login"), {"username": "alice", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert response.url == reverse("frontend:home")
    assert client.get(response.url).url == reverse("frontend:project-dashboard", args=["vision"])


def test_the_login_page_shows_a_bad_password(project):
    response = Client().post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert b"alert-error" in response.content


def test_logout_is_a_post(admin_user):
    client = client_for(admin_user)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("frontend:home")).status_code == 302


def test_home_opens_the_project_the_user_was_last_in(project, admin_user):
    project_create(name="audio", user=admin_user)
    client = client_for(admin_user)
    assert client.get(reverse("frontend:home")).url == reverse("frontend:project-dashboard", args=["audio"])
    client.get(reverse("jobs:list", args=["vision"]))
    assert client.get(reverse("frontend:home")).url == reverse("frontend:project-dashboard", args=["vision"])


def test_home_switches_project_and_ignores_ones_the_user_cannot_see(project, admin_user, outsider_user):
    client = client_for(outsider_user)
    assert client.get(reverse("frontend:project-dashboard", args=["vision"])).status_code == 404
    # The session now names "vision", which oscar cannot see: home opens his own project.
    assert client.get(reverse("frontend:home")).url == reverse("frontend:project-dashboard", args=["other"])
    assert client.get(reverse("frontend:home"), {"project": "vision"}).url.endswith("/projects/other/")
    admin = client_for(admin_user)
    assert admin.get(reverse("frontend:home"), {"project": "vision"}).url.endswith("/projects/vision/")


def test_home_offers_to_create_a_project_to_a_user_without_one(db):
    response = client_for(make_user("newbie")).get(reverse("frontend:home"))
    assert response.status_code == 200
    assert b"Create a project" in response.content
    assert f'action="{reverse("frontend:projects")}"'.encode() in response.content


# --- Projects and members ---------------------------------------------------------------------------


def test_it_creates_a_project_and_makes_its_creator_admin(db):
    user = make_user("newbie")
    response = client_for(user).post(reverse("frontend:projects"), {"name": "fraud", "description": "d"})
    assert response.status_code == 302
    assert response.url == reverse("frontend:project-dashboard", args=["fraud"])
    assert Membership.objects.get(project__name="fraud", user=user).role == Role.ADMIN


@pytest.mark.parametrize(("name", "message"), [("Bad Name!", "lower-case"), ("vision", "already exists")])
def test_it_shows_a_bad_or_taken_project_name_on_the_field(project, admin_user, name, message):
    response = client_for(admin_user).post(reverse("frontend:projects"), {"name": name})
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["name"])
    assert message in response.content.decode()
    assert Project.objects.count() == 1


def test_the_projects_page_lists_the_users_projects_with_roles(project, viewer_user, outsider_user):
    html = client_for(viewer_user).get(reverse("frontend:projects")).content.decode()
    assert "vision" in html
    assert 'role-viewer">viewer' in html
    assert "other" not in html


def test_the_dashboard_shows_jobs_counts_endpoints_and_members(project, admin_user, viewer_user):
    make_job(project, "ok-1", status=JobStatus.COMPLETED, user=admin_user)
    make_job(project, "bad-1", status=JobStatus.FAILED, user=admin_user)
    make_job(project, "run-1", status=JobStatus.IN_PROGRESS, user=admin_user)
    response = client_for(admin_user).get(reverse("frontend:project-dashboard", args=["vision"]))
    html = response.content.decode()
    assert dict(response.context["status_counts"]) == {
        "Pending": 0,
        "InProgress": 1,
        "Stopping": 0,
        "Completed": 1,
        "Failed": 1,
        "Stopped": 0,
    }
    for status in ("completed", "failed", "inprogress"):
        assert f'class="badge badge-{status}"' in html
    assert "No endpoints yet" in html
    assert "victor" in html
    assert "member-add-form" in html


def test_the_dashboard_lists_only_the_last_ten_jobs(project, admin_user):
    for i in range(12):
        make_job(project, f"job-{i}", user=admin_user)
    response = client_for(admin_user).get(reverse("frontend:project-dashboard", args=["vision"]))
    assert len(response.context["recent_jobs"]) == 10


def test_an_admin_adds_a_member(project, admin_user):
    make_user("dora")
    client = client_for(admin_user)
    response = client.post(
        reverse("frontend:member-add", args=["vision"]), {"username": "dora", "role": "editor"}
    )
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user__username="dora").role == Role.EDITOR


def test_adding_an_unknown_user_shows_the_error_on_the_field(project, admin_user):
    response = client_for(admin_user).post(
        reverse("frontend:member-add", args=["vision"]), {"username": "ghost", "role": "editor"}
    )
    assert response.status_code == 200
    assert "No active user named 'ghost'" in response.context["member_form"].errors["username"][0]
    assert "No active user named" in response.content.decode()
    assert Membership.objects.filter(project=project).count() == 1


def test_an_admin_changes_a_role_and_removes_a_member(project, admin_user, viewer_user):
    client = client_for(admin_user)
    response = client.post(reverse("frontend:member-role", args=["vision", "victor"]), {"role": "editor"})
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=viewer_user).role == Role.EDITOR
    response = client.post(reverse("frontend:member-remove", args=["vision", "victor"]))
    assert response.status_code == 302
    assert not Membership.objects.filter(project=project, user=viewer_user).exists()


def test_the_last_admin_cannot_leave_and_is_told_why(project, admin_user):
    client = client_for(admin_user)
    response = client.post(reverse("frontend:member-remove", args=["vision", "alice"]), follow=True)
    assert "at least one admin" in response.content.decode()
    response = client.post(
        reverse("frontend:member-role", args=["vision", "alice"]), {"role": "viewer"}, follow=True
    )
    assert "at least one admin" in response.content.decode()
    assert Membership.objects.get(project=project, user=admin_user).role == Role.ADMIN


def test_changing_the_role_of_a_non_member_is_404(project, admin_user, outsider_user):
    response = client_for(admin_user).post(
        reverse("frontend:member-role", args=["vision", "oscar"]), {"role": "admin"}
    )
    assert response.status_code == 404


# --- Data -------------------------------------------------------------------------------------------


def test_the_data_page_lists_artifacts(project, viewer_user, csv_artifact):
    html = client_for(viewer_user).get(reverse("frontend:data", args=["vision"])).content.decode()
    assert csv_artifact.uri in html
    assert csv_artifact.sha256[:12] in html
    assert "alice" in html


def test_an_editor_uploads_a_file(project, editor_user):
    client = client_for(editor_user)
    upload = SimpleUploadedFile("train.csv", b"a,b\n1,2\n")
    response = client.post(
        reverse("frontend:data", args=["vision"]), {"file": upload, "path": "data/train.csv"}
    )
    assert response.status_code == 302
    artifact = Artifact.objects.get(project=project)
    assert artifact.uri.endswith("/vision/data/train.csv")
    assert artifact.size == 8
    assert artifact.created_by == editor_user


def test_an_upload_without_a_path_goes_under_uploads(project, editor_user):
    upload = SimpleUploadedFile("notes.txt", b"hello")
    client_for(editor_user).post(reverse("frontend:data", args=["vision"]), {"file": upload})
    assert Artifact.objects.get(project=project).uri.endswith("/vision/uploads/notes.txt")


def test_a_bad_upload_path_is_shown_on_the_field(project, editor_user):
    upload = SimpleUploadedFile("x.csv", b"1")
    response = client_for(editor_user).post(
        reverse("frontend:data", args=["vision"]), {"file": upload, "path": "../x"}
    )
    assert response.status_code == 200
    assert "relative path" in response.context["form"].errors["path"][0]
    assert not Artifact.objects.exists()


def test_the_data_page_is_paginated(project, admin_user):
    Artifact.objects.bulk_create(
        Artifact(project=project, uri=f"file:///a/vision/f{i}.csv", size=i, sha256="0" * 64)
        for i in range(30)
    )
    client = client_for(admin_user)
    assert len(client.get(reverse("frontend:data", args=["vision"])).context["page"].object_list) == 25
    assert (
        len(client.get(reverse("frontend:data", args=["vision"]), {"page": 2}).context["page"].object_list)
        == 5
    )


# --- API keys -----------------------------------------------------------------------------------------


def test_it_shows_a_new_api_key_once(admin_user):
    client = client_for(admin_user)
    response = client.post(reverse("frontend:api-keys"), {"name": "laptop"})
    assert response.status_code == 200
    key = response.context["new_key"]
    assert key.startswith("stk_")
    html = response.content.decode()
    assert key in html
    assert "will not be shown again" in html
    api_key = ApiKey.objects.get(user=admin_user)
    assert api_key.name == "laptop"
    later = client.get(reverse("frontend:api-keys")).content.decode()
    assert key not in later
    assert f"{api_key.prefix}…" in later


def test_an_api_key_needs_a_name(admin_user):
    response = client_for(admin_user).post(reverse("frontend:api-keys"), {"name": ""})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert not ApiKey.objects.exists()


def test_a_user_revokes_their_key_but_not_anothers(admin_user, outsider_user):
    own, _ = api_key_create(user=admin_user, name="mine")
    theirs, _ = api_key_create(user=outsider_user, name="theirs")
    client = client_for(admin_user)
    assert client.get(reverse("frontend:api-key-revoke", args=[own.uuid])).status_code == 405
    assert client.post(reverse("frontend:api-key-revoke", args=[theirs.uuid])).status_code == 404
    response = client.post(reverse("frontend:api-key-revoke", args=[own.uuid]))
    assert response.status_code == 302
    own.refresh_from_db()
    theirs.refresh_from_db()
    assert own.revoked_at is not None
    assert theirs.revoked_at is None
    assert "revoked" in client.get(reverse("frontend:api-keys")).content.decode()


def test_the_api_keys_page_lists_only_the_users_keys(admin_user, outsider_user):
    api_key_create(user=outsider_user, name="oscars-key")
    assert b"oscars-key" not in client_for(admin_user).get(reverse("frontend:api-keys")).content


# --- Jobs list ------------------------------------------------------------------------------------------


def test_the_jobs_list_filters_by_status_and_name(project, admin_user):
    make_job(project, "clean-a", status=JobStatus.COMPLETED, user=admin_user)
    make_job(project, "clean-b", status=JobStatus.FAILED, user=admin_user)
    make_job(project, "train-a", status=JobStatus.COMPLETED, user=admin_user)
    client = client_for(admin_user)
    url = reverse("jobs:list", args=["vision"])

    def names(**params) -> list[str]:
        return sorted(job.name for job in client.get(url, params).context["page"].object_list)

    assert names() == ["clean-a", "clean-b", "train-a"]
    assert names(status="Completed") == ["clean-a", "train-a"]
    assert names(name="clean") == ["clean-a", "clean-b"]
    assert names(status="Completed", name="clean") == ["clean-a"]
    html = client.get(url, {"status": "Failed"}).content.decode()
    assert '<option value="Failed" selected>' in html
    assert 'class="badge badge-failed"' in html


def test_the_jobs_list_shows_the_columns(project, admin_user):
    job = make_job(project, "cols-1", status=JobStatus.IN_PROGRESS, user=admin_user)
    html = client_for(admin_user).get(reverse("jobs:list", args=["vision"])).content.decode()
    assert reverse("jobs:processing-detail", args=["vision", "cols-1"]) in html
    for text in ("Processing job", "InProgress", job.secondary_status, "ml.m5.large", "alice"):
        assert text in html


# --- Query budgets ----------------------------------------------------------------------------------------


@pytest.fixture
def many_jobs(project, admin_user, editor_user) -> None:
    spec = {
        "script": {"uri": "file:///x/p.py", "filename": "p.py"},
        "inputs": [],
        "outputs": [],
        "arguments": [],
        "environment": {},
    }
    statuses = list(JobStatus.values)
    Job.objects.bulk_create(
        Job(
            project=project,
            kind=JobKind.PROCESSING,
            name=f"job-{i:03d}",
            instance_type="ml.m5.large",
            max_runtime_seconds=3600,
            spec=spec,
            status=statuses[i % len(statuses)],
            created_by=admin_user if i % 2 else editor_user,
        )
        for i in range(200)
    )


def test_the_jobs_list_runs_a_fixed_number_of_queries(
    project, admin_user, many_jobs, django_assert_max_num_queries
):
    client = client_for(admin_user)
    client.get(reverse("jobs:list", args=["vision"]))  # the session's current project is now stored
    # session, user, project, role, the switcher's projects, COUNT(*) of the jobs and one page of
    # jobs with creator and project joined = 7, however many jobs there are (the session is
    # written only when the current project changes).
    with django_assert_max_num_queries(7):
        response = client.get(reverse("jobs:list", args=["vision"]), {"page": 2})
    assert len(response.context["page"].object_list) == 25


def test_the_dashboard_runs_a_fixed_number_of_queries(
    project, admin_user, many_jobs, django_assert_max_num_queries
):
    client = client_for(admin_user)
    client.get(reverse("frontend:project-dashboard", args=["vision"]))
    # session, user, project, role, the switcher's projects, the 10 recent jobs with creator and
    # project joined, status counts (one GROUP BY), members with users joined and the recent
    # endpoints = 9.
    with django_assert_max_num_queries(9):
        response = client.get(reverse("frontend:project-dashboard", args=["vision"]))
    assert len(response.context["recent_jobs"]) == 10
    assert sum(count for _, count in response.context["status_counts"]) == 200


def test_the_data_page_runs_a_fixed_number_of_queries(project, admin_user, django_assert_max_num_queries):
    Artifact.objects.bulk_create(
        Artifact(
            project=project, uri=f"file:///a/vision/f{i}.csv", size=i, sha256="0" * 64, created_by=admin_user
        )
        for i in range(60)
    )
    client = client_for(admin_user)
    client.get(reverse("frontend:data", args=["vision"]))
    # session, user, project, role, the switcher's projects, COUNT(*), one page with creators joined = 7.
    with django_assert_max_num_queries(7):
        client.get(reverse("frontend:data", args=["vision"]))


# --- Launching a processing job ---------------------------------------------------------------------------


def test_the_launch_form_offers_instance_types_and_artifacts(project, editor_user, csv_artifact):
    response = client_for(editor_user).get(reverse("jobs:processing-create", args=["vision"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "ml.m5.large — 2 vCPU, 8 GiB" in html
    assert "ml.inf2.xlarge" not in html  # hosting only: not a processing instance
    assert f'<option value="{csv_artifact.uri}">' in html


def test_an_editor_launches_a_processing_job(project, editor_user, csv_artifact):
    data = launch_data(inputs=f"data={csv_artifact.uri}\n")
    response = client_for(editor_user).post(reverse("jobs:processing-create", args=["vision"]), data)
    assert response.status_code == 302
    assert response.url == reverse("jobs:processing-detail", args=["vision", "launched-1"])
    job = Job.objects.get(name="launched-1")
    assert job.status == JobStatus.PENDING
    assert job.created_by == editor_user
    assert job.max_runtime_seconds == 600
    assert job.spec["inputs"] == [{"name": "data", "source_uri": csv_artifact.uri}]
    assert [item["name"] for item in job.spec["outputs"]] == ["result"]
    assert job.spec["arguments"] == ["--epochs", "3"]
    assert job.spec["environment"] == {"LOG_LEVEL": "debug"}
    assert job.metric_definitions == [{"name": "loss", "regex": "loss=([0-9.]+)"}]


@pytest.mark.parametrize(
    ("field", "overrides", "message"),
    [
        ("name", {"name": "bad name!"}, "Use 1-63 letters"),
        ("name", {"name": JOB_NAME}, "already exists"),
        ("instance_type", {"instance_type": "ml.x9.huge"}, "Select a valid choice"),
        ("script", {"script": ""}, "Upload the .py script"),
        ("script", {"script": SimpleUploadedFile("notes.txt", b"print(1)")}, "not a Python file"),
        ("script", {"script": script(b"def broken(:\n")}, "not valid Python"),
        ("inputs", {"inputs": "just-a-name"}, "Line 1"),
        ("inputs", {"inputs": "data=file:///elsewhere/x.csv"}, "Input 'data'"),
        ("environment", {"environment": "1BAD=x"}, "not a valid variable name"),
        ("metric_definitions", {"metric_definitions": "loss=([0-9"}, "does not compile"),
        ("max_runtime_seconds", {"max_runtime_seconds": "0"}, "greater than or equal to 1"),
    ],
)
def test_bad_launch_input_is_shown_on_its_field(project, job, editor_user, field, overrides, message):
    response = client_for(editor_user).post(
        reverse("jobs:processing-create", args=["vision"]), launch_data(**overrides)
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert message in " ".join(errors.get(field, [])), errors
    # The message sits inside that field's block, before the next field starts.
    shown = rf'id="field-{field}">(?:(?!id="field-).)*?{re.escape(escape(message))}'
    assert re.search(shown, response.content.decode(), re.S)
    assert Job.objects.count() == 1  # only the fixture's


def test_an_error_without_a_field_is_shown_above_the_form(project, editor_user, monkeypatch):
    from django.core.exceptions import ValidationError

    from jobs import services

    def refuse(**kwargs):
        raise ValidationError({"instance_count": "Only one instance here.", "quota": "Over quota."})

    monkeypatch.setattr(services, "processing_job_create", refuse)
    response = client_for(editor_user).post(reverse("jobs:processing-create", args=["vision"]), launch_data())
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["Only one instance here.", "Over quota."]


# --- Job detail, fragment, stop ---------------------------------------------------------------------


def run_job(project, user, script_bytes: bytes, *, inputs=(), name: str = "run-1") -> Job:
    job, _ = processing_job_create(
        project=project,
        user=user,
        name=name,
        script_file=io.BytesIO(script_bytes),
        script_filename="prep.py",
        inputs=inputs,
        metric_definitions=[{"name": "loss", "regex": r"loss=([0-9.]+)"}],
    )
    job_execute(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_the_detail_page_shows_a_failed_jobs_log_and_reason(project, admin_user, viewer_user):
    job = run_job(project, admin_user, SCRIPT_FAIL)
    assert job.status == JobStatus.FAILED
    response = client_for(viewer_user).get(reverse("jobs:processing-detail", args=["vision", job.name]))
    html = response.content.decode()
    assert "starting" in html  # a log line
    assert 'class="alert alert-error failure"' in html
    assert "the data has no label column" in html
    assert 'data-terminal="true"' in html
    assert 'class="badge badge-failed"' in html


def test_the_detail_page_shows_a_completed_jobs_log_metrics_and_outputs(project, admin_user, csv_artifact):
    job = run_job(project, admin_user, SCRIPT_OK, inputs=[{"name": "data", "source_uri": csv_artifact.uri}])
    assert job.status == JobStatus.COMPLETED, job.failure_reason
    response = client_for(admin_user).get(reverse("jobs:processing-detail", args=["vision", job.name]))
    html = response.content.decode()
    assert "epoch=2 loss=0.3333" in html
    assert list(response.context["metrics"]) == ["loss"]
    assert 'id="metrics-data"' in html
    assert "vendor/plotly/plotly.min.js" in html
    for event in job.events.all():
        assert event.secondary_status in html
    assert "Job completed" in html


def test_the_detail_page_shows_the_tail_of_a_long_log(project, admin_user, job):
    JobLogChunk.objects.create(job=job, start=0, end=70_000, text="a" * 69_999 + "\n")
    JobLogChunk.objects.create(job=job, start=70_000, end=70_010, text="last line\n")
    Job.objects.filter(pk=job.pk).update(log_size=70_010)
    response = client_for(admin_user).get(reverse("jobs:processing-detail", args=["vision", JOB_NAME]))
    assert response.context["log"]["next_offset"] == 70_010
    assert response.context["log_truncated"]
    assert "last line" in response.content.decode()


def test_the_fragment_is_the_live_part_only(project, admin_user, job):
    JobMetric.objects.create(job=job, name="loss", value=1.0, step=0)
    job.transition(JobStatus.IN_PROGRESS, secondary=SecondaryStatus.DOWNLOADING, message="fetching inputs")
    response = client_for(admin_user).get(reverse("jobs:processing-fragment", args=["vision", JOB_NAME]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="job-live"' in html
    assert 'data-terminal="false"' in html
    assert "fetching inputs" in html
    assert 'id="stop-job"' in html


def test_an_editor_stops_a_pending_job(project, editor_user, job):
    client = client_for(editor_user)
    assert (
        'id="stop-job"'
        in client.get(reverse("jobs:processing-detail", args=["vision", JOB_NAME])).content.decode()
    )
    response = client.post(reverse("jobs:processing-stop", args=["vision", JOB_NAME]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED
    html = client.get(response.url).content.decode()
    assert 'id="stop-job"' not in html
    assert "Stop requested" in html


def test_stopping_a_finished_job_says_why_not(project, editor_user, admin_user):
    make_job(project, "done-1", status=JobStatus.COMPLETED, user=admin_user)
    response = client_for(editor_user).post(
        reverse("jobs:processing-stop", args=["vision", "done-1"]), follow=True
    )
    assert "only Pending or InProgress jobs can be stopped" in response.content.decode()
    assert Job.objects.get(name="done-1").status == JobStatus.COMPLETED


def test_the_api_the_page_polls_accepts_the_session(project, viewer_user, job):
    client = client_for(viewer_user)
    logs = client.get(f"/api/v1/projects/vision/processing-jobs/{JOB_NAME}/logs/?offset=0")
    assert logs.status_code == 200
    assert set(logs.json()) >= {"offset", "next_offset", "text", "complete"}
    metrics = client.get(f"/api/v1/projects/vision/processing-jobs/{JOB_NAME}/metrics/")
    assert metrics.json()["metrics"] == {}


def test_static_assets_are_served_locally(project, admin_user):
    html = client_for(admin_user).get(reverse("jobs:processing-create", args=["vision"])).content.decode()
    for src in re.findall(r'(?:src|href)="(https?:)?//', html):
        pytest.fail(f"external asset: {src}")
    from django.contrib.staticfiles import finders

    for path in ("frontend/studio.css", "frontend/studio.js", "vendor/plotly/plotly.min.js"):
        assert finders.find(path), path
