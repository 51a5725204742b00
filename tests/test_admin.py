"""The operator's admin: every page opens, writes go through the services, lists do not N+1."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from jobs.models import (
    Job,
    JobEvaluation,
    JobLogChunk,
    JobMetric,
    JobStatus,
    JobStatusEvent,
    SecondaryStatus,
)
from studio.models import ApiKey, Artifact, AuditEvent, Membership, Project
from studio.roles import Role
from studio.services import api_key_create

OUR_APPS = {"studio", "jobs", "endpoints", "cloud", "monitoring"}
JOB_SPEC = {
    "script": {"uri": "file:///x.py", "filename": "x.py", "sha256": "0" * 64},
    "inputs": [],
    "outputs": [],
    "arguments": [],
    "environment": {},
}


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="root-password-1")


@pytest.fixture
def root_client(client, superuser):
    client.force_login(superuser)
    return client


def make_jobs(project: Project, count: int, prefix: str = "job", **fields) -> list[Job]:
    return Job.objects.bulk_create(
        Job(
            project=project,
            kind="processing",
            name=f"{prefix}-{i}",
            instance_type="ml.m5.large",
            max_runtime_seconds=3600,
            spec=JOB_SPEC,
            **fields,
        )
        for i in range(count)
    )


def populate(project: Project, creator, count: int, prefix: str) -> None:
    """``count`` rows of every model our admins list, each with its foreign keys filled in."""
    for i in range(count):
        user = get_user_model().objects.create_user(username=f"{prefix}-user-{i}")
        Membership.objects.create(project=project, user=user, role=Role.VIEWER)
        api_key_create(user=user, name=f"{prefix}-key-{i}")
        AuditEvent.objects.create(
            project=project, actor=user, action="create", target_type="thing", target_name=f"{prefix}-{i}"
        )
        Artifact.objects.create(
            project=project, uri=f"file:///{prefix}/{i}", size=1, sha256="a" * 64, created_by=user
        )
    for job in make_jobs(project, count, prefix=prefix, created_by=creator):
        JobStatusEvent.objects.create(job=job, status=job.status, secondary_status=job.secondary_status)
        JobLogChunk.objects.create(job=job, start=0, end=5, text="hello")
        JobMetric.objects.create(job=job, name="loss", value=0.5, step=0)
        JobEvaluation.objects.create(job=job, problem="regression", channel="test", metrics={"rmse": 0.5})
    populate_inference(project, creator, count, prefix)
    populate_cloud(creator, count, prefix)
    populate_monitoring(project, creator, count, prefix)


def populate_inference(project: Project, creator, count: int, prefix: str) -> None:
    from django.utils import timezone

    from endpoints.models import (
        Endpoint,
        EndpointConfig,
        EndpointEvent,
        EndpointMetric,
        Model,
        ProductionVariant,
        ServingHost,
        ServingInstance,
    )

    for i in range(count):
        model = Model.objects.create(
            project=project,
            name=f"{prefix}-model-{i}",
            source="Upload",
            artifact_uri=f"file:///{prefix}/{i}",
            artifact_sha256="a" * 64,
            artifact_size=1,
            created_by=creator,
        )
        config = EndpointConfig.objects.create(
            project=project, name=f"{prefix}-config-{i}", created_by=creator
        )
        ProductionVariant.objects.create(config=config, name="main", model=model, instance_type="ml.m5.large")
        endpoint = Endpoint.objects.create(project=project, name=f"{prefix}-endpoint-{i}", config=config)
        EndpointEvent.objects.create(endpoint=endpoint, status=endpoint.status, message="Deploying")
        ServingInstance.objects.create(endpoint=endpoint, config=config, variant="main", index=0)
        EndpointMetric.objects.create(
            endpoint=endpoint,
            variant="main",
            minute=timezone.now().replace(second=0, microsecond=0),
            source=f"{prefix}-{i}",
            invocations=3,
        )
        ServingHost.objects.create(name=f"{prefix}-host-{i}")


def populate_monitoring(project: Project, creator, count: int, prefix: str) -> None:
    """A baseline, a schedule on one of ``populate_inference``'s endpoints with an execution, a
    label, a drift report, a channel, and an alert delivered to it."""
    from endpoints.models import Endpoint
    from monitoring.models import (
        Alert,
        AlertDelivery,
        Baseline,
        DriftReport,
        GroundTruth,
        MonitoringExecution,
        MonitoringSchedule,
        NotificationChannel,
    )

    for i in range(count):
        endpoint = Endpoint.objects.get(project=project, name=f"{prefix}-endpoint-{i}")
        baseline = Baseline.objects.create(
            project=project, name=f"{prefix}-baseline-{i}", source_uri="dataset://d/1", created_by=creator
        )
        schedule = MonitoringSchedule.objects.create(
            project=project, name=f"{prefix}-schedule-{i}", endpoint=endpoint, baseline=baseline
        )
        execution = MonitoringExecution.objects.create(
            schedule=schedule, window_start="2024-01-01T00:00:00Z", window_end="2024-01-01T01:00:00Z"
        )
        GroundTruth.objects.create(endpoint=endpoint, inference_id=f"{prefix}-{i}", label="1")
        DriftReport.objects.create(
            project=project, reference_uri="a", reference_label="a", current_uri="b", current_label="b"
        )
        channel = NotificationChannel.objects.create(
            project=project, kind="webhook", target=f"https://hooks.example.com/{prefix}-{i}"
        )
        alert = Alert.objects.create(
            project=project,
            schedule=schedule,
            check_type="baseline_drift_check",
            feature_name="a",
            description="a drifted",
            first_execution=execution,
            last_execution=execution,
        )
        AlertDelivery.objects.create(alert=alert, channel=channel)


def populate_cloud(creator, count: int, prefix: str) -> None:
    """AWS settings are one per project: a project of their own for each, with stored keys."""
    from cloud.crypto import secret_encrypt
    from cloud.models import AwsSettings

    for i in range(count):
        AwsSettings.objects.create(
            project=Project.objects.create(name=f"{prefix}-aws-{i}", created_by=creator),
            bucket=f"{prefix}-bucket-{i}",
            role_arn="arn:aws:iam::123456789012:role/studio",
            access_key_id="AKIAIOSFODNN7EXAMPLE",
            secret_access_key_encrypted=secret_encrypt("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            updated_by=creator,
        )


def our_admins() -> list[tuple[type, admin.ModelAdmin]]:
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in OUR_APPS
    ]


def admin_url(model: type, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_model_of_ours_has_an_admin():
    """A new model of ours gets an admin (and a row in ``populate``)."""
    from django.apps import apps

    ours = {model for label in OUR_APPS for model in apps.get_app_config(label).get_models()}
    assert ours == {model for model, _ in our_admins()}


def test_superuser_opens_every_changelist_change_page_and_search(root_client, project, admin_user):
    populate(project, admin_user, 2, "row")
    for model, _ in our_admins():
        obj = model.objects.first()
        assert obj is not None, f"populate() makes no {model.__name__}"
        assert root_client.get(admin_url(model, "changelist")).status_code == 200, model
        assert root_client.get(admin_url(model, "changelist"), {"q": "row"}).status_code == 200, model
        assert root_client.get(admin_url(model, "change", obj.pk)).status_code == 200, model
    assert root_client.get(admin_url(Project, "add")).status_code == 200


def test_every_changelist_runs_the_same_queries_for_few_and_many_rows(root_client, project, admin_user):
    """list_select_related on every displayed foreign key: more rows, not more queries."""
    populate(project, admin_user, 1, "few")

    def queries_per_changelist() -> dict[str, int]:
        counts = {}
        for model, _ in our_admins():
            with CaptureQueriesContext(connection) as captured:
                assert root_client.get(admin_url(model, "changelist")).status_code == 200
            counts[model.__name__] = len(captured)
        return counts

    few = queries_per_changelist()
    populate(project, admin_user, 15, "many")
    assert queries_per_changelist() == few


def test_job_changelist_of_200_jobs_runs_a_bounded_number_of_queries(
    root_client, project, admin_user, django_assert_max_num_queries
):
    make_jobs(project, 200, created_by=admin_user)
    # 8 today: session, user, the current-project middleware's project, two counts (filtered and
    # total), one page of jobs with project and creator joined, the project filter's choices and the
    # backend filter's distinct values. Two spare for middleware; a per-row query would add 100.
    with django_assert_max_num_queries(10):
        response = root_client.get(admin_url(Job, "changelist"))
    assert response.status_code == 200
    assert b"job-199" in response.content


def test_stop_action_stops_a_pending_job_and_audits_it(root_client, project, superuser):
    (job,) = make_jobs(project, 1)

    response = root_client.post(
        admin_url(Job, "changelist"), {"action": "stop_jobs", "_selected_action": [job.pk]}, follow=True
    )

    assert response.status_code == 200
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED
    assert job.events.filter(status=JobStatus.STOPPED).exists()
    event = AuditEvent.objects.get(action="stop", target_name=job.name)
    assert event.actor == superuser
    assert event.project == project
    assert "Stopped 1 job." in response.content.decode()


def test_stop_action_asks_a_running_job_to_stop_and_reports_finished_ones(root_client, project):
    running, finished = make_jobs(project, 2)
    Job.objects.filter(pk=running.pk).update(status=JobStatus.IN_PROGRESS, secondary_status="Processing")
    Job.objects.filter(pk=finished.pk).update(status=JobStatus.COMPLETED, secondary_status="Completed")

    response = root_client.post(
        admin_url(Job, "changelist"),
        {"action": "stop_jobs", "_selected_action": [running.pk, finished.pk]},
        follow=True,
    )

    running.refresh_from_db()
    finished.refresh_from_db()
    assert running.status == JobStatus.STOPPING
    assert running.secondary_status == SecondaryStatus.STOPPING
    assert finished.status == JobStatus.COMPLETED
    page = response.content.decode()
    assert "1 running job is stopping" in page
    assert f"Could not stop 1 job: {finished.name}" in page
    assert not AuditEvent.objects.filter(action="stop", target_name=finished.name).exists()


def test_a_job_cannot_be_edited_in_the_admin(root_client, project):
    """Status changes go through Job.transition only; the admin's job page is read-only."""
    (job,) = make_jobs(project, 1)

    page = root_client.get(admin_url(Job, "change", job.pk))
    response = root_client.post(admin_url(Job, "change", job.pk), {"status": JobStatus.COMPLETED})

    assert 'name="status"' not in page.content.decode()
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING
    assert root_client.get(admin_url(Job, "add")).status_code == 403


def test_staff_without_permissions_cannot_stop_jobs(client, project, django_user_model):
    (job,) = make_jobs(project, 1)
    staff = django_user_model.objects.create_user(username="staff", is_staff=True)
    client.force_login(staff)

    response = client.post(
        admin_url(Job, "changelist"), {"action": "stop_jobs", "_selected_action": [job.pk]}
    )

    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING


def test_revoke_action_revokes_keys_through_the_service(root_client, admin_user, superuser):
    api_key, _ = api_key_create(user=admin_user, name="laptop")

    page = root_client.get(admin_url(ApiKey, "change", api_key.pk)).content.decode()
    response = root_client.post(
        admin_url(ApiKey, "changelist"),
        {"action": "revoke_keys", "_selected_action": [api_key.pk]},
        follow=True,
    )

    assert api_key.key_hash not in page
    assert response.status_code == 200
    assert "Revoked 1 API key." in response.content.decode()
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert AuditEvent.objects.filter(action="revoke", target_name="laptop", actor=superuser).exists()


def test_creating_a_project_in_the_admin_makes_the_creator_its_admin(root_client, superuser):
    response = root_client.post(
        admin_url(Project, "add"),
        {
            "name": "speech",
            "description": "made in the admin",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    project = Project.objects.get(name="speech")
    assert project.created_by == superuser
    assert Membership.objects.get(project=project, user=superuser).role == Role.ADMIN
    assert AuditEvent.objects.filter(action="create", target_type="project", target_name="speech").exists()


def _membership_form(project: Project, rows: list[dict]) -> dict:
    data = {
        "description": project.description,
        "memberships-TOTAL_FORMS": str(len(rows)),
        "memberships-INITIAL_FORMS": str(sum(1 for row in rows if row.get("id"))),
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"memberships-{i}-{key}"] = value
        data[f"memberships-{i}-project"] = project.pk
    return data


def test_member_changes_in_the_admin_go_through_the_services(root_client, project, admin_user, editor_user):
    """Adding, promoting and removing members leaves the same audit trail as the pages."""
    newcomer = get_user_model().objects.create_user(username="nina")
    alice = Membership.objects.get(project=project, user=admin_user)
    erin = Membership.objects.get(project=project, user=editor_user)

    response = root_client.post(
        admin_url(Project, "change", project.pk),
        _membership_form(
            project,
            [
                # Erin becomes the admin while Alice leaves: the order of the writes must keep an admin.
                {"id": alice.pk, "user": admin_user.pk, "role": Role.ADMIN, "DELETE": "on"},
                {"id": erin.pk, "user": editor_user.pk, "role": Role.ADMIN},
                {"user": newcomer.pk, "role": Role.VIEWER},
            ],
        ),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"erin": Role.ADMIN, "nina": Role.VIEWER}
    actions = set(
        AuditEvent.objects.filter(project=project, target_type="member").values_list("action", "target_name")
    )
    assert {("remove-member", "alice"), ("change-role", "erin"), ("add-member", "nina")} <= actions


def test_the_admin_refuses_to_remove_a_projects_last_admin(root_client, project, admin_user):
    alice = Membership.objects.get(project=project, user=admin_user)

    response = root_client.post(
        admin_url(Project, "change", project.pk),
        _membership_form(
            project,
            [
                {"id": alice.pk, "user": admin_user.pk, "role": Role.VIEWER},
            ],
        ),
    )

    assert response.status_code == 200
    assert "A project must keep at least one admin." in response.content.decode()
    alice.refresh_from_db()
    assert alice.role == Role.ADMIN


def test_a_projects_name_cannot_be_changed(root_client, project):
    """The name is the project's prefix in the artifact store."""
    response = root_client.post(
        admin_url(Project, "change", project.pk),
        {
            "name": "renamed",
            **_membership_form(
                project, [{"id": m.pk, "user": m.user_id, "role": m.role} for m in project.memberships.all()]
            ),
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    project.refresh_from_db()
    assert project.name == "vision"
