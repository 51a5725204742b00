"""Model Monitor's API: baselines and constraint versions, schedules (with beat's task), runs and
executions, ground truth (JSON and CSV), drift reports; 400s name the field; lists take a fixed
number of queries."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_celery_beat.models import PeriodicTask

from monitoring.models import GroundTruth, MonitoringExecution
from tests.conftest import api_client_for
from tests.test_monitoring_services import (
    completed_baseline,
    fake_constraints,
    frame,
    make_endpoint,
    make_version,
    write_capture,
)

pytestmark = pytest.mark.django_db

BASE = "/api/v1/projects/vision"


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch) -> None:
    """Created jobs stay Pending: these tests look at the API, not at jobs running."""
    monkeypatch.setattr("jobs.services.common.job_enqueue", lambda job: None)


def test_baseline_create_list_detail_and_versions(api, project, admin_user):
    make_version(project, admin_user)
    response = api.post(
        f"{BASE}/monitoring-baselines/",
        {"name": "churn", "dataset_version": "dataset://training/1"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "InProgress"
    assert response.json()["job"].startswith("baseline-churn-v1-")
    assert api.get(f"{BASE}/monitoring-baselines/churn/").json()["version"] == 1
    assert api.get(f"{BASE}/monitoring-baselines/churn/versions/1/").status_code == 200
    assert api.get(f"{BASE}/monitoring-baselines/churn/versions/9/").status_code == 404


def test_baseline_create_400_names_the_field(api, project):
    response = api.post(
        f"{BASE}/monitoring-baselines/",
        {"name": "churn", "dataset_version": "dataset://nope/1"},
        format="json",
    )
    assert response.status_code == 400
    assert "dataset_version" in response.json()


def test_constraints_put_makes_version_two(api, project, admin_user):
    completed_baseline(project, admin_user, name="churn")
    edited = fake_constraints()
    edited["features"][0]["completeness"] = 0.8
    response = api.put(f"{BASE}/monitoring-baselines/churn/constraints/", edited, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["version"], response.json()["parent_version"]) == (2, 1)
    assert api.get(f"{BASE}/monitoring-baselines/churn/").json()["version"] == 2
    assert (
        api.get(f"{BASE}/monitoring-baselines/churn/constraints/").json()["features"][0]["completeness"]
        == 0.8
    )
    edited["features"][0]["completeness"] = "most"
    response = api.put(
        f"{BASE}/monitoring-baselines/churn/constraints/", {"constraints": edited}, format="json"
    )
    assert response.status_code == 400
    assert "features[0].completeness" in response.json()


def test_schedule_lifecycle(api, project, admin_user):
    completed_baseline(project, admin_user, name="churn")
    make_endpoint(project)
    body = {"name": "hourly", "endpoint": "churn", "baseline": "churn", "schedule_expression": "hourly"}
    response = api.post(f"{BASE}/monitoring-schedules/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["enabled"] is True
    task = PeriodicTask.objects.get(task="monitoring.run_schedule")
    assert api.post(f"{BASE}/monitoring-schedules/hourly/stop/").json()["status"] == "Stopped"
    task.refresh_from_db()
    assert task.enabled is False
    assert api.post(f"{BASE}/monitoring-schedules/hourly/start/").json()["enabled"] is True
    response = api.patch(
        f"{BASE}/monitoring-schedules/hourly/", {"schedule_expression": "0 3 * * *"}, format="json"
    )
    assert response.json()["schedule_expression"] == "0 3 * * *"
    run = api.post(f"{BASE}/monitoring-schedules/hourly/run/")
    assert run.status_code == 202
    assert run.json()["status"] == "Completed"  # nothing captured in that window
    again = api.post(f"{BASE}/monitoring-schedules/hourly/run/")
    assert again.json()["uuid"] == run.json()["uuid"]
    listed = api.get(f"{BASE}/monitoring-schedules/hourly/executions/").json()["results"]
    assert [item["uuid"] for item in listed] == [run.json()["uuid"]]
    detail = api.get(f"{BASE}/monitoring-executions/{run.json()['uuid']}/").json()
    assert detail["violations"] == []
    assert "No captured data" in detail["message"]
    assert api.delete(f"{BASE}/monitoring-schedules/hourly/").status_code == 204
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"schedule_expression": "sometimes"}, "schedule_expression"),
        ({"endpoint": "nope"}, "endpoint"),
        ({"baseline": "nope"}, "baseline"),
        ({"monitoring_type": "Vibes"}, "monitoring_type"),
        ({"config": {"drift_tests": {"psi": {"threshold": "big"}}}}, "config.drift_tests.psi.threshold"),
    ],
)
def test_schedule_create_400s_name_the_field(api, project, admin_user, change, field):
    completed_baseline(project, admin_user, name="churn")
    make_endpoint(project)
    body = {"name": "s", "endpoint": "churn", "baseline": "churn", **change}
    response = api.post(f"{BASE}/monitoring-schedules/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_lists_take_a_fixed_number_of_queries(api, project, admin_user, django_assert_max_num_queries):
    for index in range(3):
        baseline = completed_baseline(project, admin_user, name=f"b{index}")
        make_endpoint(project, name=f"e{index}")
        api.post(
            f"{BASE}/monitoring-schedules/",
            {"name": f"s{index}", "endpoint": f"e{index}", "baseline": baseline.name},
            format="json",
        )
    for index in range(3):
        MonitoringExecution.objects.create(
            schedule_id=MonitoringExecution._meta.get_field("schedule")
            .related_model.objects.get(name="s0")
            .pk,
            window_start=f"2024-01-01T0{index}:00:00Z",
            window_end=f"2024-01-01T0{index + 1}:00:00Z",
        )
    # auth (key + user), project + membership, count, page
    for url in (
        "monitoring-baselines/",
        "monitoring-schedules/",
        "monitoring-schedules/s0/executions/",
        "drift-reports/",
    ):
        with django_assert_max_num_queries(8):
            assert api.get(f"{BASE}/{url}").status_code == 200


def test_ground_truth_json_csv_and_bad_rows(api, project):
    make_endpoint(project)
    url = f"{BASE}/endpoints/churn/ground-truth/"
    response = api.post(
        url, [{"inference_id": "a", "label": "1"}, {"inference_id": "b", "label": 0}], format="json"
    )
    assert (response.status_code, response.json()) == (201, {"written": 2})
    upload = SimpleUploadedFile("labels.csv", b"inference_id,label\na,0\nc,1\n")
    assert api.post(url, {"file": upload}, format="multipart").json() == {"written": 2}
    assert dict(GroundTruth.objects.values_list("inference_id", "label")) == {"a": "0", "b": "0", "c": "1"}
    response = api.post(url, {"records": [{"inference_id": "", "label": "1"}]}, format="json")
    assert response.status_code == 400
    assert response.json()["records"][0].startswith("row 0")
    assert api.get(url).json()["count"] == 3
    assert api.post(f"{BASE}/endpoints/nope/ground-truth/", [], format="json").status_code == 404


def test_viewer_reads_but_cannot_write(project, admin_user, viewer_user):
    completed_baseline(project, admin_user, name="churn")
    client = api_client_for(viewer_user)
    assert client.get(f"{BASE}/monitoring-baselines/churn/").status_code == 200
    assert (
        client.put(
            f"{BASE}/monitoring-baselines/churn/constraints/", fake_constraints(), format="json"
        ).status_code
        == 403
    )


def test_drift_report_create_and_read(api, project, admin_user):
    make_version(project, admin_user)
    make_version(project, admin_user, frame(seed=3, shift=True))
    response = api.post(
        f"{BASE}/drift-reports/",
        {"reference": "dataset://training/1", "current": "dataset://training/2"},
        format="json",
    )
    assert response.status_code == 201, response.content
    detail = api.get(f"{BASE}/drift-reports/{response.json()['uuid']}/").json()
    assert detail["current_label"] == "training v2"
    response = api.post(f"{BASE}/drift-reports/", {"reference": "dataset://training/1"}, format="json")
    assert response.status_code == 400
    assert "current" in response.json()


def test_run_over_captured_traffic_starts_a_job(api, project, admin_user):
    completed_baseline(project, admin_user, name="churn")
    endpoint = make_endpoint(project)
    api.post(
        f"{BASE}/monitoring-schedules/",
        {"name": "h", "endpoint": "churn", "baseline": "churn"},
        format="json",
    )
    from datetime import UTC, datetime, timedelta

    # The window a run now covers (a run in an hour's first minute covers the hour before).
    last_hour = (datetime.now(UTC) - timedelta(minutes=1)).replace(minute=0, second=0, microsecond=0)
    last_hour -= timedelta(hours=1)
    write_capture(endpoint, frame(30), last_hour)
    response = api.post(f"{BASE}/monitoring-schedules/h/run/")
    assert response.json()["status"] == "InProgress"
    assert response.json()["job"].startswith("monitor-h-")


def test_an_editor_cannot_delete_a_schedule_from_the_page(project, admin_user, editor_user, client):
    from django.urls import reverse

    from monitoring import services
    from monitoring.models import MonitoringSchedule

    schedule = services.schedule_create(
        project=project,
        user=admin_user,
        name="kept",
        endpoint=make_endpoint(project),
        baseline=completed_baseline(project, admin_user),
    )
    client.force_login(editor_user)
    response = client.post(reverse("monitoring:schedule-delete", args=[project.name, schedule.name]))
    assert response.status_code in (403, 404)
    assert MonitoringSchedule.objects.filter(pk=schedule.pk).exists()
