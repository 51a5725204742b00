"""Model Monitor pages with Django's test client. Baselines, schedules, executions (with drift,
violations and metrics) and alerts are built as rows, so the pages are tested without jobs running:
the figures are in the page, forms put their errors on the fields, viewers cannot post, outsiders
get 404, and lists read a bounded number of queries."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from datasets.models import Dataset, DatasetVersion
from monitoring.models import (
    Alert,
    AlertStatus,
    Baseline,
    BaselineStatus,
    DriftReport,
    ExecutionStatus,
    MonitoringExecution,
    MonitoringSchedule,
    MonitoringType,
    ProblemType,
)
from tests.test_endpoint_pages import client_for, html_of, make_endpoint, make_model

pytestmark = pytest.mark.django_db

START = datetime(2025, 3, 1, tzinfo=UTC)

STATISTICS = {
    "version": 0.0,
    "dataset": {"item_count": 100},
    "features": [
        {
            "name": "age",
            "inferred_type": "Fractional",
            "numerical_statistics": {
                "common": {"num_present": 98, "num_missing": 2},
                "mean": 41.5,
                "sum": 4067.0,
                "std_dev": 12.25,
                "min": 18.0,
                "max": 90.0,
            },
        },
        {
            "name": "plan",
            "inferred_type": "String",
            "string_statistics": {
                "common": {"num_present": 100, "num_missing": 0},
                "distinct_count": 3,
                "distribution": {
                    "categorical": {
                        "buckets": [
                            {"value": "basic", "count": 60},
                            {"value": "pro", "count": 30},
                            {"value": "team", "count": 10},
                        ]
                    }
                },
            },
        },
    ],
}
CONSTRAINTS = {
    "version": 0.0,
    "features": [
        {"name": "age", "inferred_type": "Fractional", "completeness": 0.98},
        {
            "name": "plan",
            "inferred_type": "String",
            "completeness": 1.0,
            "string_constraints": {"domains": ["basic", "pro", "team"]},
        },
    ],
    "monitoring_config": {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": 1.0,
        "domain_content_threshold": 1.0,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": 0.1,
            "comparison_method": "Robust",
        },
    },
}


# --- Rows ------------------------------------------------------------------------------------------


def numerical_drift(distance: float, *, drifted: bool, shift: float = 0.0) -> dict:
    edges = [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    return {
        "type": "numerical",
        "distance": distance,
        "ks_statistic": distance,
        "ks_p_value": 0.0001 if drifted else 0.6,
        "psi": distance * 2,
        "js": distance / 2,
        "drifted": drifted,
        "baseline_histogram": {"edges": edges, "counts": [10, 30, 40, 15, 5]},
        "current_histogram": {"edges": [edge + shift for edge in edges], "counts": [2, 10, 30, 40, 18]},
    }


def categorical_drift(distance: float, *, drifted: bool) -> dict:
    return {
        "type": "categorical",
        "distance": distance,
        "chi2_p_value": 0.001 if drifted else 0.8,
        "psi": distance,
        "js": distance / 3,
        "drifted": drifted,
        "baseline_histogram": {"values": ["basic", "pro", "team"], "counts": [60, 30, 10]},
        "current_histogram": {"values": ["basic", "pro", "team", "enterprise"], "counts": [20, 30, 40, 10]},
    }


def capture_endpoint(project, user, name: str = "churn"):
    if not project.models.filter(name="doubler").exists():
        make_model(project, user)
    return make_endpoint(project, user, name, data_capture={"sampling_percentage": 100})


def make_baseline(project, user, name: str = "churn-train", version: int = 1, **extra) -> Baseline:
    return Baseline.objects.create(
        project=project,
        name=name,
        version=version,
        source_uri="file:///data/train.csv",
        status=BaselineStatus.COMPLETED,
        statistics=STATISTICS,
        constraints=CONSTRAINTS,
        created_by=user,
        **extra,
    )


def make_schedule(project, user, endpoint, name: str = "churn-drift", **extra) -> MonitoringSchedule:
    extra.setdefault("baseline", make_baseline(project, user, name=f"{name}-base"))
    return MonitoringSchedule.objects.create(
        project=project, name=name, endpoint=endpoint, schedule_expression="hourly", created_by=user, **extra
    )


def make_execution(schedule, hour: int, *, drift=None, violations=None, metrics=None, **extra):
    end = START + timedelta(hours=hour + 1)
    return MonitoringExecution.objects.create(
        schedule=schedule,
        window_start=end - timedelta(hours=1),
        window_end=end,
        status=ExecutionStatus.COMPLETED_WITH_VIOLATIONS if violations else ExecutionStatus.COMPLETED,
        record_count=500,
        drift=drift or {},
        violations=violations or [],
        metrics=metrics or {},
        **extra,
    )


def drifting_schedule(project, user, endpoint, name: str = "churn-drift", executions: int = 3):
    """A data-quality schedule whose executions drift more and more on ``age`` and ``plan``."""
    schedule = make_schedule(project, user, endpoint, name)
    rows = []
    for hour in range(executions):
        drifted = hour == executions - 1
        rows.append(
            make_execution(
                schedule,
                hour,
                drift={
                    "age": numerical_drift(0.05 + 0.1 * hour, drifted=drifted, shift=5.0 * hour),
                    "plan": categorical_drift(0.02 + 0.1 * hour, drifted=drifted),
                    "tenure": numerical_drift(0.01, drifted=False),
                },
                violations=[
                    {
                        "feature_name": "age",
                        "constraint_check_type": "baseline_drift_check",
                        "description": "Baseline drift distance 0.25 exceeds threshold 0.1",
                    },
                    {
                        "feature_name": "plan",
                        "constraint_check_type": "categorical_values_check",
                        "description": "Value enterprise is not in the baseline's domain",
                    },
                ]
                if drifted
                else [],
            )
        )
    return schedule, rows


def make_alert(schedule, execution=None, check: str = "baseline_drift_check", feature: str = "age", **extra):
    return Alert.objects.create(
        project=schedule.project,
        schedule=schedule,
        check_type=check,
        feature_name=feature,
        description=f"{feature} drifted",
        first_execution=execution,
        last_execution=execution,
        **extra,
    )


def figures_of(html: str) -> dict:
    match = re.search(r'<script id="monitoring-figures" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page has no monitoring-figures JSON"
    return json.loads(match.group(1))


def make_version(project, user, name: str = "churn", number: int = 1) -> DatasetVersion:
    dataset, _ = Dataset.objects.get_or_create(project=project, name=name, defaults={"created_by": user})
    return DatasetVersion.objects.create(
        dataset=dataset,
        number=number,
        uri=f"file:///data/{name}-{number}.csv",
        format="csv",
        size_bytes=100,
        origin="upload",
        created_by=user,
    )


# --- The schedule page -----------------------------------------------------------------------------


def test_the_schedule_page_draws_the_heatmap_the_timeline_and_the_overlays(project, admin_user, viewer_user):
    endpoint = capture_endpoint(project, admin_user)
    schedule, executions = drifting_schedule(project, admin_user, endpoint)
    html = html_of(
        client_for(viewer_user).get(reverse("monitoring:schedule-detail", args=["vision", schedule.name]))
    )

    figures = figures_of(html)
    heatmap = figures["drift_heatmap"]["data"][0]
    assert heatmap["type"] == "heatmap"
    assert heatmap["y"] == ["age", "plan", "tenure"]
    assert heatmap["x"] == ["2025-03-01 01:00", "2025-03-01 02:00", "2025-03-01 03:00"]  # oldest first
    assert heatmap["z"][0] == pytest.approx([0.05, 0.15, 0.25])
    timeline = {trace["name"]: trace for trace in figures["violations_timeline"]["data"]}
    assert set(timeline) == {"baseline_drift_check", "categorical_values_check"}
    assert timeline["categorical_values_check"]["y"] == ["plan"]
    assert 'id="chart-drift-heatmap" data-figure="drift_heatmap"' in html
    assert 'data-figure="violations_timeline"' in html

    # The newest execution with drift is shown: drifted features first, then by name.
    assert f'data-execution="{executions[-1].uuid}" class="selected"' in html
    rows = re.findall(r'<tr data-feature="([^"]+)"( class="drifted")?', html)
    assert rows == [("age", ' class="drifted"'), ("plan", ' class="drifted"'), ("tenure", "")]
    age = figures["overlay-0"]["data"]
    assert [trace["name"] for trace in age] == ["baseline", "current"]
    assert age[0]["type"] == "bar"
    assert figures["overlay-0"]["layout"]["barmode"] == "overlay"
    assert sum(age[1]["y"]) == pytest.approx(1.0)  # shares, so samples of different sizes compare
    plan = figures["overlay-1"]["data"]
    assert plan[0]["x"] == ["basic", "pro", "team", "enterprise"]
    assert figures["overlay-1"]["layout"]["barmode"] == "group"
    assert 'id="chart-overlay-0" data-figure="overlay-0"' in html
    assert "Value enterprise is not in the baseline&#x27;s domain" in html
    assert "vendor/plotly/plotly.min.js" in html
    assert "monitoring/monitoring.js" in html
    assert 'id="run-now"' not in html  # a viewer sees no actions

    # ?execution= picks an older execution: its scores and overlays instead.
    older = html_of(
        client_for(viewer_user).get(
            reverse("monitoring:schedule-detail", args=["vision", schedule.name])
            + f"?execution={executions[0].uuid}"
        )
    )
    assert f'data-execution="{executions[0].uuid}" class="selected"' in older
    assert re.findall(r'<tr data-feature="([^"]+)" class="drifted"', older) == []
    assert figures_of(older)["overlay-0"]["data"][1]["x"] != age[1]["x"]  # no shift then


def test_a_model_quality_schedule_draws_its_metrics_with_dashed_thresholds(project, admin_user, viewer_user):
    endpoint = capture_endpoint(project, admin_user)
    schedule = make_schedule(
        project,
        admin_user,
        endpoint,
        "churn-quality",
        baseline=None,
        monitoring_type=MonitoringType.MODEL_QUALITY,
        problem_type=ProblemType.BINARY,
        config={"thresholds": {"accuracy": {"threshold": 0.8, "comparison_operator": "LessThanThreshold"}}},
    )
    for hour, accuracy in enumerate((0.91, 0.85, 0.72)):
        make_execution(
            schedule,
            hour,
            metrics={
                "binary_classification_metrics": {
                    "accuracy": {"value": accuracy, "standard_deviation": 0.01},
                    "f1": {"value": accuracy - 0.05, "standard_deviation": 0.01},
                }
            },
        )
    html = html_of(
        client_for(viewer_user).get(reverse("monitoring:schedule-detail", args=["vision", schedule.name]))
    )
    traces = {trace["name"]: trace for trace in figures_of(html)["quality"]["data"]}
    assert traces["accuracy"]["y"] == [0.91, 0.85, 0.72]
    assert traces["accuracy threshold"]["y"] == [0.8, 0.8]
    assert traces["accuracy threshold"]["line"]["dash"] == "dash"
    assert "f1 threshold" not in traces
    assert 'data-figure="quality"' in html
    assert 'id="chart-drift-heatmap"' not in html


def test_an_execution_without_drift_says_why(project, admin_user, viewer_user):
    endpoint = capture_endpoint(project, admin_user)
    schedule = make_schedule(project, admin_user, endpoint)
    make_execution(schedule, 0, message="No captured data in the window")
    html = html_of(
        client_for(viewer_user).get(reverse("monitoring:schedule-detail", args=["vision", schedule.name]))
    )
    assert "No captured data in the window" in html
    assert figures_of(html) == {}


# --- The monitoring home ---------------------------------------------------------------------------


def test_the_home_lists_schedules_with_their_last_execution_and_open_alerts(project, admin_user, editor_user):
    endpoint = capture_endpoint(project, admin_user)
    schedule, executions = drifting_schedule(project, admin_user, endpoint)
    quiet = make_schedule(project, admin_user, endpoint, "quiet")
    alert = make_alert(schedule, executions[-1])
    make_alert(
        schedule, executions[-1], check="categorical_values_check", feature="plan", status=AlertStatus.CLEARED
    )

    html = html_of(client_for(editor_user).get(reverse("monitoring:home", args=["vision"])))
    row = html[html.index(f'<tr data-schedule="{schedule.name}">') :]
    row = row[: row.index("</tr>")]
    assert 'data-status="CompletedWithViolations"' in row
    assert "2025-03-01 03:00" in row
    assert re.search(r'<td class="right mono">2</td>', row)  # violations of the last execution
    assert '<strong class="danger">1</strong>' in row  # the cleared alert does not count
    quiet_row = html[html.index(f'<tr data-schedule="{quiet.name}">') :]
    assert quiet_row[: quiet_row.index("</tr>")].count("—") == 2
    assert f'data-acknowledge="{alert.pk}"' in html
    assert 'id="schedule-form"' in html
    assert 'id="baseline-form"' in html
    assert reverse("monitoring:baseline-list", args=["vision"]) in html
    assert reverse("monitoring:drift-report-list", args=["vision"]) in html


def test_lists_are_paginated_with_bounded_queries(
    project, admin_user, viewer_user, django_assert_max_num_queries
):
    endpoint = capture_endpoint(project, admin_user)
    schedule, executions = drifting_schedule(project, admin_user, endpoint, executions=2)
    make_alert(schedule, executions[-1])
    viewer = client_for(viewer_user)
    home = reverse("monitoring:home", args=["vision"])
    viewer.get(home)  # the first visit remembers the project in the session (a write)
    # session, user, project, role, count, page of schedules (+ alerts, last execution ids), their
    # last executions, open alerts, nav projects
    with django_assert_max_num_queries(9):
        viewer.get(home)
    for index in range(30):
        other = make_schedule(project, admin_user, endpoint, f"s-{index}", baseline=schedule.baseline)
        make_execution(
            other, 0, violations=[{"feature_name": "age", "constraint_check_type": "data_type_check"}]
        )
        make_alert(other, feature=f"f{index}")
    with django_assert_max_num_queries(9):
        html = html_of(viewer.get(home))
    assert html.count("<tr data-schedule=") == 25
    assert "Page 1 of 2 · 31 in all" in html
    assert html_of(viewer.get(home + "?page=2")).count("<tr data-schedule=") == 6

    alerts = reverse("monitoring:alert-list", args=["vision"])
    # session, user, project, role, count, page (with schedule, endpoint, user, executions), nav
    with django_assert_max_num_queries(7):
        html = html_of(viewer.get(alerts))
    assert html.count("<tr data-alert=") == 25
    # session, user, project, role, schedule, executions for the figures, count, page, nav
    with django_assert_max_num_queries(9):
        viewer.get(reverse("monitoring:schedule-detail", args=["vision", schedule.name]))
    with django_assert_max_num_queries(8):
        viewer.get(reverse("monitoring:baseline-list", args=["vision"]))


# --- Forms -----------------------------------------------------------------------------------------


def test_schedule_form_errors_are_shown_on_their_fields(project, admin_user, editor_user):
    endpoint = capture_endpoint(project, admin_user)
    baseline = make_baseline(project, admin_user)
    editor = client_for(editor_user)
    url = reverse("monitoring:schedule-create", args=["vision"])
    data = {
        "name": "nightly",
        "endpoint": endpoint.name,
        "monitoring_type": "DataQuality",
        "baseline": "",
        "frequency": "cron",
        "cron": "0 3 *",
        "problem_type": "",
        "threshold_distance": "-1",
    }
    response = editor.post(url, data)
    assert response.status_code == 400
    html = html_of(response)
    assert re.search(r'id="field-cron">.*?A cron expression has five fields', html, re.S)
    assert re.search(r'id="field-baseline">.*?compares against a baseline', html, re.S)
    assert re.search(r'id="field-threshold_distance">.*?greater than or equal to 0', html, re.S)
    assert "<details open>" in html  # the form stays open with its errors
    assert not MonitoringSchedule.objects.exists()

    # An endpoint that captures nothing is not offered.
    make_endpoint(project, admin_user, "no-capture")
    response = editor.post(
        url, {**data, "endpoint": "no-capture", "cron": "0 3 * * *", "threshold_distance": ""}
    )
    assert re.search(r'id="field-endpoint">.*?Select a valid choice', html_of(response), re.S)

    response = editor.post(
        url, {**data, "baseline": str(baseline.uuid), "cron": "0 3 * * *", "threshold_distance": "0.2"}
    )
    assert response.status_code == 302, html_of(response)
    schedule = MonitoringSchedule.objects.get(name="nightly")
    assert response["Location"] == reverse("monitoring:schedule-detail", args=["vision", "nightly"])
    assert schedule.baseline == baseline
    assert schedule.endpoint == endpoint
    assert schedule.config == {"drift_tests": {"distance": {"threshold": 0.2}}}

    # The service's refusal (a taken name) lands on the name field.
    response = editor.post(
        url, {**data, "baseline": str(baseline.uuid), "cron": "0 3 * * *", "threshold_distance": ""}
    )
    assert re.search(r'id="field-name">.*?already exists', html_of(response), re.S)


def test_the_p_value_fields_save_the_option_the_engine_reads(project, admin_user, editor_user):
    endpoint = capture_endpoint(project, admin_user)
    baseline = make_baseline(project, admin_user)
    editor = client_for(editor_user)
    url = reverse("monitoring:schedule-create", args=["vision"])
    data = {
        "name": "nightly",
        "endpoint": endpoint.name,
        "monitoring_type": "DataQuality",
        "baseline": str(baseline.uuid),
        "frequency": "daily",
        "problem_type": "",
    }

    for bad in ("0", "1.5", "-0.1"):
        response = editor.post(url, {**data, "threshold_ks": bad, "threshold_chi2": bad})
        assert response.status_code == 400, bad
        html = html_of(response)
        assert re.search(r'class="field field-invalid" id="field-threshold_ks', html, re.S), bad
        assert re.search(r'class="field field-invalid" id="field-threshold_chi2', html, re.S), bad
    assert not MonitoringSchedule.objects.exists()

    response = editor.post(
        url, {**data, "threshold_ks": "0.01", "threshold_chi2": "1", "threshold_psi": "0.3"}
    )
    assert response.status_code == 302, html_of(response)
    assert MonitoringSchedule.objects.get(name="nightly").config == {
        "drift_tests": {"ks": {"p_value": 0.01}, "psi": {"threshold": 0.3}, "chi2": {"p_value": 1.0}}
    }


def test_a_model_quality_schedule_from_the_page_stores_its_thresholds(project, admin_user, editor_user):
    endpoint = capture_endpoint(project, admin_user)
    editor = client_for(editor_user)
    url = reverse("monitoring:schedule-create", args=["vision"])
    html = html_of(editor.get(reverse("monitoring:home", args=["vision"])))
    assert re.search(r'id="quality-thresholds">.*?Model Quality.*?id="field-quality_accuracy"', html, re.S)
    data = {
        "name": "quality",
        "endpoint": endpoint.name,
        "monitoring_type": "ModelQuality",
        "baseline": "",
        "frequency": "daily",
        "problem_type": "BinaryClassification",
        "threshold_ks": "0.5",  # a drift field: not a model-quality schedule's config
    }

    # A regression metric on a classification schedule lands on its field.
    response = editor.post(url, {**data, "quality_rmse": "2"})
    assert response.status_code == 400
    assert re.search(
        r'id="field-quality_rmse">.*?Not a metric of BinaryClassification', html_of(response), re.S
    )

    response = editor.post(url, {**data, "quality_accuracy": "0.8", "quality_f1": "0.7"})
    assert response.status_code == 302, html_of(response)
    assert MonitoringSchedule.objects.get(name="quality").config == {
        "thresholds": {
            "accuracy": {"threshold": 0.8, "comparison_operator": "LessThanThreshold"},
            "f1": {"threshold": 0.7, "comparison_operator": "LessThanThreshold"},
        }
    }

    response = editor.post(
        url,
        {
            **data,
            "name": "regression",
            "problem_type": "Regression",
            "quality_rmse": "2.5",
            "quality_mae": "1",
        },
    )
    assert response.status_code == 302, html_of(response)
    assert MonitoringSchedule.objects.get(name="regression").config == {
        "thresholds": {
            "rmse": {"threshold": 2.5, "comparison_operator": "GreaterThanThreshold"},
            "mae": {"threshold": 1.0, "comparison_operator": "GreaterThanThreshold"},
        }
    }


def test_baseline_form_errors_are_on_their_fields(project, admin_user, editor_user):
    version = make_version(project, admin_user)
    editor = client_for(editor_user)
    url = reverse("monitoring:baseline-create", args=["vision"])
    response = editor.post(url, {"name": "", "dataset_version": "dataset://nope/1", "target_column": ""})
    assert response.status_code == 400
    html = html_of(response)
    assert re.search(r'id="field-name">.*?This field is required', html, re.S)
    assert re.search(r'id="field-dataset_version">.*?Select a valid choice', html, re.S)
    assert f'<option value="dataset://churn/{version.number}">churn v1</option>' in html
    assert not Baseline.objects.exists()


def test_the_baseline_page_shows_statistics_and_saves_edited_constraints_as_a_new_version(
    project, admin_user, editor_user, viewer_user
):
    baseline = make_baseline(project, admin_user)
    url = reverse("monitoring:baseline-detail", args=["vision", baseline.name, 1])
    html = html_of(client_for(viewer_user).get(url))
    age = html[html.index('<tr data-feature="age">') :]
    age = age[: age.index("</tr>")]
    assert "98.0%" in age
    assert "41.5" in age
    assert "12.25" in age
    assert "90" in age
    plan = html[html.index('<tr data-feature="plan">') :]
    assert "basic" in plan[: plan.index("</tr>")]
    assert 'id="constraints-form"' not in html  # a viewer reads the JSON
    assert "comparison_threshold" in html
    assert client_for(viewer_user).post(url + "constraints/", {"constraints": "{}"}).status_code == 403

    editor = client_for(editor_user)
    assert 'id="constraints-form"' in html_of(editor.get(url))
    response = editor.post(url + "constraints/", {"constraints": '{"features": ['})
    assert response.status_code == 400
    assert re.search(r'id="field-constraints">.*?Not valid JSON', html_of(response), re.S)
    response = editor.post(url + "constraints/", {"constraints": "[1, 2]"})
    assert re.search(r'id="field-constraints">.*?JSON object', html_of(response), re.S)

    edited = json.loads(json.dumps(CONSTRAINTS))
    edited["features"][0]["completeness"] = 0.9
    response = editor.post(url + "constraints/", {"constraints": json.dumps(edited)})
    assert response.status_code == 302, html_of(response)
    saved = Baseline.objects.get(name=baseline.name, version=2)
    assert saved.parent == baseline
    assert saved.constraints["features"][0]["completeness"] == 0.9
    assert response["Location"] == reverse("monitoring:baseline-detail", args=["vision", baseline.name, 2])
    versions = html_of(editor.get(response["Location"]))
    assert '<li data-version="1">' in versions
    assert '<li data-version="2">' in versions
    latest = html_of(editor.get(reverse("monitoring:baseline-latest", args=["vision", baseline.name])))
    assert 'data-version="2"' in latest


# --- Drift reports ---------------------------------------------------------------------------------


def test_a_drift_report_shows_its_overlays_and_scores(project, admin_user, viewer_user):
    report = DriftReport.objects.create(
        project=project,
        reference_uri="file:///a.csv",
        reference_label="churn v1",
        current_uri="file:///b.csv",
        current_label="churn v2",
        status=ExecutionStatus.COMPLETED_WITH_VIOLATIONS,
        drift={
            "age": numerical_drift(0.3, drifted=True, shift=10),
            "plan": categorical_drift(0.01, drifted=False),
        },
        violations=[
            {"feature_name": "age", "constraint_check_type": "baseline_drift_check", "description": "age"}
        ],
        created_by=admin_user,
    )
    viewer = client_for(viewer_user)
    html = html_of(viewer.get(reverse("monitoring:drift-report-detail", args=["vision", report.uuid])))
    figures = figures_of(html)
    assert set(figures) == {"overlay-0", "overlay-1"}
    assert 'data-report-running="false"' in html
    assert re.findall(r'<tr data-feature="([^"]+)" class="drifted"', html) == ["age"]
    listing = html_of(viewer.get(reverse("monitoring:drift-report-list", args=["vision"])))
    assert f'<tr data-report="{report.uuid}">' in listing
    assert 'id="report-form"' not in listing
    assert viewer.get("/projects/vision/monitoring/reports/not-a-uuid/").status_code == 404
    unknown = reverse("monitoring:drift-report-detail", args=["vision", str(uuid.UUID(int=10))])
    assert viewer.get(unknown).status_code == 404


def test_the_drift_report_form_needs_one_current_source(project, admin_user, editor_user):
    make_version(project, admin_user)
    make_version(project, admin_user, number=2)
    url = reverse("monitoring:drift-report-create", args=["vision"])
    editor = client_for(editor_user)
    response = editor.post(
        url, {"reference": "dataset://churn/1", "current": "", "endpoint": "", "window_hours": "24"}
    )
    assert response.status_code == 400
    assert re.search(
        r'id="field-current">.*?Pick a current dataset version or an endpoint', html_of(response), re.S
    )
    response = editor.post(url, {"reference": "dataset://churn/1", "current": "dataset://churn/1"})
    assert re.search(r'id="field-current">.*?two different versions', html_of(response), re.S)
    assert not DriftReport.objects.exists()


# --- Alerts and the endpoint's page ----------------------------------------------------------------


def test_an_editor_acknowledges_an_alert_and_a_viewer_cannot(project, admin_user, editor_user, viewer_user):
    endpoint = capture_endpoint(project, admin_user)
    schedule, executions = drifting_schedule(project, admin_user, endpoint)
    alert = make_alert(schedule, executions[-1])
    url = reverse("monitoring:alert-acknowledge", args=["vision", alert.pk])
    assert client_for(viewer_user).post(url).status_code == 403
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN

    monitoring_page = reverse("monitoring:endpoint-monitoring", args=["vision", endpoint.name])
    response = client_for(editor_user).post(url, {"next": monitoring_page})
    assert response.status_code == 302
    assert response["Location"] == monitoring_page
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == editor_user
    listing = html_of(
        client_for(viewer_user).get(
            reverse("monitoring:alert-list", args=["vision"]) + "?status=Acknowledged"
        )
    )
    assert f'data-alert="{alert.pk}" data-alert-status="Acknowledged"' in listing
    assert "Acknowledged by erin" in listing


def test_the_endpoint_page_shows_the_alert_banner_and_its_schedules(
    project, admin_user, viewer_user, django_assert_max_num_queries
):
    endpoint = capture_endpoint(project, admin_user)
    schedule, executions = drifting_schedule(project, admin_user, endpoint)
    viewer = client_for(viewer_user)
    url = reverse("endpoints:endpoint-detail", args=["vision", endpoint.name])
    html = html_of(viewer.get(url))
    assert 'id="monitoring-banner"' not in html
    assert f'<tr data-schedule="{schedule.name}">' in html

    make_alert(schedule, executions[-1])
    make_alert(schedule, executions[-1], check="categorical_values_check", feature="plan")
    with django_assert_max_num_queries(13):  # the endpoint page's 12, plus its schedules with alerts counted
        html = html_of(viewer.get(url))
    assert 'data-open-alerts="2"' in html
    assert reverse("monitoring:endpoint-monitoring", args=["vision", endpoint.name]) in html

    page = html_of(viewer.get(reverse("monitoring:endpoint-monitoring", args=["vision", endpoint.name])))
    assert 'id="endpoint-alerts"' in page
    assert 'data-figure="drift_heatmap"' in page
    assert "drift_heatmap" in figures_of(page)
    missing = viewer.get(
        reverse("monitoring:endpoint-monitoring", args=["vision", endpoint.name]) + "?schedule=nope"
    )
    assert missing.status_code == 404


def test_an_outsider_gets_404_and_anonymous_users_log_in(project, admin_user, outsider_user, client):
    endpoint = capture_endpoint(project, admin_user)
    schedule, executions = drifting_schedule(project, admin_user, endpoint)
    alert = make_alert(schedule, executions[-1])
    baseline = schedule.baseline
    pages = [
        reverse("monitoring:home", args=["vision"]),
        reverse("monitoring:schedule-detail", args=["vision", schedule.name]),
        reverse("monitoring:endpoint-monitoring", args=["vision", endpoint.name]),
        reverse("monitoring:baseline-list", args=["vision"]),
        reverse("monitoring:baseline-detail", args=["vision", baseline.name, baseline.version]),
        reverse("monitoring:drift-report-list", args=["vision"]),
        reverse("monitoring:alert-list", args=["vision"]),
    ]
    outsider = client_for(outsider_user)
    for url in pages:
        assert outsider.get(url).status_code == 404, url
        assert client.get(url).status_code == 302, url
    for name, args in (
        ("alert-acknowledge", ["vision", alert.pk]),
        ("schedule-run", ["vision", schedule.name]),
        ("schedule-stop", ["vision", schedule.name]),
        ("schedule-create", ["vision"]),
    ):
        assert outsider.post(reverse(f"monitoring:{name}", args=args)).status_code == 404
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_a_viewer_cannot_create_stop_or_run(project, admin_user, viewer_user):
    endpoint = capture_endpoint(project, admin_user)
    schedule = make_schedule(project, admin_user, endpoint)
    viewer = client_for(viewer_user)
    html = html_of(viewer.get(reverse("monitoring:home", args=["vision"])))
    assert 'id="schedule-form"' not in html
    assert 'id="baseline-form"' not in html
    for name, args in (
        ("schedule-create", ["vision"]),
        ("baseline-create", ["vision"]),
        ("schedule-run", ["vision", schedule.name]),
        ("schedule-stop", ["vision", schedule.name]),
        ("schedule-delete", ["vision", schedule.name]),
        ("drift-report-create", ["vision"]),
    ):
        assert viewer.post(reverse(f"monitoring:{name}", args=args)).status_code == 403, name
    assert MonitoringSchedule.objects.get().status == schedule.status
    assert not MonitoringExecution.objects.exists()
