"""Model Monitor's services: baselines and their constraint versions, schedules and their beat
entries, executions over capture windows, ground truth, drift reports, and failed jobs reconciled.

Jobs stay Pending (``no_workers``); a test either runs one with the real runtime (``job_execute``,
when the runtime modules exist) or plays the job's part: it writes the report files where the job
would upload them and calls the completion hook, as the runner does.
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask, PeriodicTasks

from datasets.models import DatasetVersion
from datasets.schema import infer_schema
from datasets.services import dataset_get_or_create, version_create
from endpoints.models import Endpoint, EndpointConfig, EndpointStatus, Model, ProductionVariant
from jobs.models import Job, JobStatus, SecondaryStatus
from monitoring import services, tasks
from monitoring.models import (
    BaselineStatus,
    ExecutionStatus,
    GroundTruth,
    MonitoringExecution,
    MonitoringType,
    ScheduleStatus,
)
from monitoring.services.executions import Window, capture_folders, capture_inputs, window_for
from monitoring.services.schedules import cron_parse, cron_previous
from studio.artifacts import join_uri, project_prefix, store_for

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 5, 6, 10, 17, tzinfo=UTC)  # a run at 10:17 covers 09:00-10:00 (hourly)
HOUR = datetime(2024, 5, 6, 9, tzinfo=UTC)
FEATURES = ["age", "income", "score", "plan"]


# --- helpers (the API tests use them too) ---------------------------------------------------------


@pytest.fixture
def no_workers(monkeypatch) -> list[Job]:
    """Created jobs stay Pending until a test runs them (or plays their part)."""
    queued: list[Job] = []
    monkeypatch.setattr("jobs.services.common.job_enqueue", queued.append)
    return queued


@pytest.fixture
def alerts_seen(monkeypatch) -> list[MonitoringExecution]:
    seen: list[MonitoringExecution] = []
    monkeypatch.setattr("monitoring.alerts.alerts_evaluate", lambda execution: seen.append(execution) or [])
    return seen


def frame(rows: int = 400, *, seed: int = 1, shift: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 70, rows) + (25 if shift else 0),
            "income": rng.normal(50_000, 8_000, rows).round(2) * (1.8 if shift else 1.0),
            "score": rng.normal(0.0, 1.0, rows).round(4),
            "plan": rng.choice(["basic", "pro", "team"], rows),
        }
    )


def make_version(project, user, data: pd.DataFrame | None = None, name: str = "training") -> DatasetVersion:
    data = frame() if data is None else data
    content = data.to_csv(index=False).encode()
    dataset = dataset_get_or_create(project=project, name=name, user=user)
    uri = join_uri(project_prefix(project.name), "datasets", name, uuid.uuid4().hex, "data.csv")
    stored = store_for(uri).put(uri, io.BytesIO(content))
    return version_create(
        dataset=dataset,
        uri=stored.uri,
        fmt="csv",
        read_options={"delimiter": ",", "header": True, "encoding": "utf-8"},
        schema=infer_schema(data),
        origin="upload",
        size_bytes=stored.size,
        content_sha256=stored.sha256,
        row_count=len(data),
        column_count=data.shape[1],
        user=user,
    )


def make_endpoint(project, *, name: str = "churn", capture: bool = True, variants=("primary",)) -> Endpoint:
    model = Model.objects.create(
        project=project,
        name=f"{name}-model",
        source="upload",
        artifact_uri=join_uri(project_prefix(project.name), "models", "model.tar.gz"),
        artifact_sha256="0" * 64,
        artifact_size=1,
    )
    data_capture = (
        {
            "enabled": True,
            "sampling_percentage": 100.0,
            "destination_uri": join_uri(project_prefix(project.name), "data-capture"),
            "capture_input": True,
            "capture_output": True,
            "csv_content_types": ["text/csv"],
            "json_content_types": ["application/json"],
        }
        if capture
        else {}
    )
    config = EndpointConfig.objects.create(project=project, name=f"{name}-config", data_capture=data_capture)
    for variant in variants:
        ProductionVariant.objects.create(
            config=config, name=variant, model=model, instance_type="ml.m5.large"
        )
    return Endpoint.objects.create(
        project=project,
        name=name,
        config=config,
        status=EndpointStatus.IN_SERVICE,
        weights=dict.fromkeys(variants, 1.0),
    )


def write_capture(
    endpoint: Endpoint,
    data: pd.DataFrame,
    hour: datetime = HOUR,
    *,
    variant: str = "primary",
    prefix: str = "id",
) -> list[str]:
    """Capture lines for ``data`` spread over ``hour``, in SageMaker's layout; returns inference ids."""
    destination = endpoint.config.data_capture["destination_uri"]
    lines, ids = [], []
    for index, row in enumerate(data.itertuples(index=False)):
        at = hour + timedelta(seconds=index * 3599 // max(len(data), 1))
        inference_id = f"{prefix}-{index}"
        ids.append(inference_id)
        csv_row = ",".join(str(value) for value in row)
        lines.append(
            json.dumps(
                {
                    "captureData": {
                        "endpointInput": {
                            "observedContentType": "text/csv",
                            "mode": "INPUT",
                            "data": csv_row,
                            "encoding": "CSV",
                        },
                        "endpointOutput": {
                            "observedContentType": "text/csv",
                            "mode": "OUTPUT",
                            "data": str(index % 2),
                            "encoding": "CSV",
                        },
                    },
                    "eventMetadata": {
                        "eventId": str(uuid.uuid4()),
                        "inferenceId": inference_id,
                        "inferenceTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    },
                    "eventVersion": "0",
                }
            )
        )
    uri = join_uri(
        destination, endpoint.name, variant, f"{hour:%Y/%m/%d/%H}", f"00-00-000-{uuid.uuid4()}.jsonl"
    )
    store_for(uri).put(uri, io.BytesIO(("\n".join(lines) + "\n").encode()))
    return ids


def play_job(job: Job, output: str, files: dict[str, object]) -> None:
    """Do what a job that succeeded does: upload its output files, then run its completion hook."""
    from django.utils.module_loading import import_string

    folder = next(item["destination_uri"] for item in job.spec["outputs"] if item["name"] == output)
    for name, value in files.items():
        uri = join_uri(folder, name)
        store_for(uri).put(uri, io.BytesIO(json.dumps(value).encode()))
    job.outputs = [{"name": output, "uri": folder}]
    import_string(job.spec["on_complete"])(job)


def fail_job(job: Job, reason: str = "AlgorithmError: boom") -> None:
    job.transition(JobStatus.IN_PROGRESS, secondary=SecondaryStatus.STARTING)
    job.transition(JobStatus.FAILED, secondary=SecondaryStatus.FAILED, failure_reason=reason, message=reason)


def fake_statistics(features=FEATURES) -> dict:
    return {
        "version": 0,
        "dataset": {"item_count": 400},
        "features": [
            {"name": name, "inferred_type": "String" if name == "plan" else "Fractional"} for name in features
        ],
    }


def fake_constraints(features=FEATURES) -> dict:
    return {
        "version": 0,
        "features": [
            {
                "name": name,
                "inferred_type": "String" if name == "plan" else "Fractional",
                "completeness": 1.0,
                **(
                    {"string_constraints": {"domains": ["basic", "pro", "team"]}}
                    if name == "plan"
                    else {"num_constraints": {"is_non_negative": name != "score"}}
                ),
            }
            for name in features
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


def completed_baseline(project, user, name: str = "churn-baseline"):
    """A baseline whose job played its part (statistics and constraints recorded)."""
    version = make_version(project, user)
    baseline = services.baseline_create(
        project=project,
        user=user,
        name=name,
        dataset_version=f"dataset://{version.dataset.name}/{version.number}",
    )
    play_job(
        baseline.job,
        "baseline",
        {"statistics.json": fake_statistics(), "constraints.json": fake_constraints()},
    )
    baseline.refresh_from_db()
    return baseline


def runtime_available(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(f"monitoring.runtime.{name}") is not None
    except ModuleNotFoundError:
        return False


# --- baselines ------------------------------------------------------------------------------------


def test_baseline_create_starts_a_job_over_the_version(project, admin_user, no_workers):
    version = make_version(project, admin_user)
    baseline = services.baseline_create(
        project=project, user=admin_user, name="churn-baseline", dataset_version=version, target_column="plan"
    )
    assert baseline.status == BaselineStatus.IN_PROGRESS
    assert baseline.version == 1
    assert baseline.source_uri == "dataset://training/1"
    job = baseline.job
    assert job.spec["entrypoint"]["module"] == "monitoring.runtime.baseline"
    assert job.spec["inputs"][0]["name"] == "data"
    assert job.spec["arguments"][-2:] == ["--target", "plan"]
    assert no_workers == [job]


def test_baseline_create_names_bad_fields(project, admin_user, no_workers):
    with pytest.raises(ValidationError) as caught:
        services.baseline_create(
            project=project, user=admin_user, name="-bad-", dataset_version="dataset://nope/1"
        )
    assert {"name", "dataset_version"} <= set(caught.value.message_dict)
    version = make_version(project, admin_user)
    with pytest.raises(ValidationError) as caught:
        services.baseline_create(
            project=project, user=admin_user, name="b", dataset_version=version, target_column="missing"
        )
    assert "target_column" in caught.value.message_dict


def test_the_hook_records_both_files_and_completes_the_baseline(project, admin_user, no_workers):
    baseline = completed_baseline(project, admin_user)
    assert baseline.status == BaselineStatus.COMPLETED
    assert [feature["name"] for feature in baseline.constraints["features"]] == FEATURES
    assert baseline.statistics_uri.endswith("/statistics.json")
    assert baseline.constraints_uri.endswith("/constraints.json")


def test_a_failed_baselining_job_fails_the_baseline_with_its_reason(project, admin_user, no_workers):
    version = make_version(project, admin_user)
    baseline = services.baseline_create(project=project, user=admin_user, name="b", dataset_version=version)
    fail_job(baseline.job, "AlgorithmError: the data has no rows")
    assert tasks.reconcile()["baselines"] == 1
    baseline.refresh_from_db()
    assert baseline.status == BaselineStatus.FAILED
    assert "no rows" in baseline.failure_reason
    assert tasks.reconcile()["baselines"] == 0  # once


def test_editing_constraints_saves_version_two(project, admin_user, no_workers):
    baseline = completed_baseline(project, admin_user)
    edited = fake_constraints()
    edited["features"][0]["completeness"] = 0.9
    edited["monitoring_config"]["distribution_constraints"]["comparison_threshold"] = 0.2
    second = services.baseline_constraints_update(baseline=baseline, user=admin_user, constraints=edited)
    assert (second.version, second.parent_id, second.status) == (2, baseline.pk, BaselineStatus.COMPLETED)
    assert second.constraints["features"][0]["completeness"] == 0.9
    # Both files of the new version sit in one folder, read back from the store.
    folder = second.constraints_uri.rsplit("/", 1)[0]
    assert second.statistics_uri == join_uri(folder, "statistics.json")
    stored = json.loads(store_for(second.constraints_uri).open(second.constraints_uri).read())
    assert stored["monitoring_config"]["distribution_constraints"]["comparison_threshold"] == 0.2
    baseline.refresh_from_db()
    assert baseline.constraints["features"][0]["completeness"] == 1.0  # the old version is unchanged


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c["features"].append({"name": "nope"}), "features[4].name"),
        (lambda c: c["features"][0].update(completeness=1.5), "features[0].completeness"),
        (
            lambda c: c["features"][3].update(string_constraints={"domains": "basic"}),
            "features[3].string_constraints.domains",
        ),
        (
            lambda c: c["monitoring_config"]["distribution_constraints"].update(comparison_threshold="high"),
            "monitoring_config.distribution_constraints.comparison_threshold",
        ),
        (
            lambda c: c["monitoring_config"].update(datatype_check_threshold=-1),
            "monitoring_config.datatype_check_threshold",
        ),
        (lambda c: c.update(features="all"), "features"),
    ],
)
def test_bad_constraints_are_refused_naming_the_field(project, admin_user, no_workers, change, field):
    baseline = completed_baseline(project, admin_user)
    constraints = fake_constraints()
    change(constraints)
    with pytest.raises(ValidationError) as caught:
        services.baseline_constraints_update(baseline=baseline, user=admin_user, constraints=constraints)
    assert field in caught.value.message_dict


# --- schedules ------------------------------------------------------------------------------------


def test_schedule_create_makes_an_enabled_periodic_task(project, admin_user, no_workers):
    baseline = completed_baseline(project, admin_user)
    endpoint = make_endpoint(project)
    schedule = services.schedule_create(
        project=project,
        user=admin_user,
        name="churn-hourly",
        endpoint=endpoint,
        baseline=baseline,
        schedule_expression="hourly",
        config={"drift_tests": {"psi": {"threshold": 0.25}}},
    )
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.task == "monitoring.run_schedule"
    assert json.loads(task.args) == [schedule.pk]
    assert task.enabled is True
    # Minute 5: the run after the hour's captures are flushed, with room for a clock behind.
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("5", "*", "*")
    assert str(task.crontab.timezone) == "UTC"

    # Each change moves beat's change marker, or a running beat never learns of it.
    marker = PeriodicTasks.last_change()
    services.schedule_stop(schedule=schedule, user=admin_user)
    task.refresh_from_db()
    schedule.refresh_from_db()
    assert (task.enabled, schedule.status) == (False, ScheduleStatus.STOPPED)
    assert PeriodicTasks.last_change() > marker
    marker = PeriodicTasks.last_change()
    services.schedule_start(schedule=schedule, user=admin_user)
    task.refresh_from_db()
    assert task.enabled is True
    assert PeriodicTasks.last_change() > marker

    marker = PeriodicTasks.last_change()
    services.schedule_update(schedule=schedule, user=admin_user, schedule_expression="30 */6 * * *")
    task.refresh_from_db()
    assert (task.crontab.minute, task.crontab.hour) == ("30", "*/6")
    assert PeriodicTasks.last_change() > marker

    services.schedule_delete(schedule=schedule, user=admin_user)
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


def test_deleting_the_endpoint_deletes_the_beat_entry(project, admin_user, no_workers):
    endpoint = make_endpoint(project)
    services.schedule_create(
        project=project,
        user=admin_user,
        name="cascaded",
        endpoint=endpoint,
        baseline=completed_baseline(project, admin_user),
    )
    assert PeriodicTask.objects.filter(task="monitoring.run_schedule").count() == 1
    endpoint.delete()
    assert not PeriodicTask.objects.filter(task="monitoring.run_schedule").exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"schedule_expression": "every now and then"}, "schedule_expression"),
        ({"schedule_expression": "61 * * * *"}, "schedule_expression"),
        ({"baseline": None}, "baseline"),
        ({"config": {"drift_tests": {"psi": {"threshold": -1}}}}, "config.drift_tests.psi.threshold"),
        ({"config": {"drift_tests": {"ks": {"p_value": 2}}}}, "config.drift_tests.ks.p_value"),
        (
            {"config": {"monitoring_config": {"distribution_constraints": {"comparison_threshold": "x"}}}},
            "config.monitoring_config.distribution_constraints.comparison_threshold",
        ),
        (
            {"config": {"monitoring_config": {"emit_metrics": "Sometimes"}}},
            "config.monitoring_config.emit_metrics",
        ),
        ({"name": "-x-"}, "name"),
    ],
)
def test_schedule_create_names_bad_fields(project, admin_user, no_workers, overrides, field):
    baseline = completed_baseline(project, admin_user)
    arguments = {
        "project": project,
        "user": admin_user,
        "name": "s",
        "endpoint": make_endpoint(project),
        "baseline": baseline,
        "schedule_expression": "daily",
        **overrides,
    }
    with pytest.raises(ValidationError) as caught:
        services.schedule_create(**arguments)
    assert field in caught.value.message_dict


def test_data_quality_needs_capture_and_a_completed_baseline(project, admin_user, no_workers):
    version = make_version(project, admin_user)
    pending = services.baseline_create(
        project=project, user=admin_user, name="pending", dataset_version=version
    )
    with pytest.raises(ValidationError) as caught:
        services.schedule_create(
            project=project,
            user=admin_user,
            name="s",
            endpoint=make_endpoint(project, capture=False),
            baseline=pending,
        )
    assert {"endpoint", "baseline"} <= set(caught.value.message_dict)


def test_model_quality_needs_the_endpoints_answers_captured(project, admin_user, no_workers):
    endpoint = make_endpoint(project)
    endpoint.config.data_capture["capture_output"] = False
    endpoint.config.save()
    with pytest.raises(ValidationError) as caught:
        services.schedule_create(
            project=project,
            user=admin_user,
            name="quality",
            endpoint=endpoint,
            monitoring_type="ModelQuality",
            problem_type="BinaryClassification",
        )
    assert "Output" in caught.value.message_dict["endpoint"][0]


def test_a_drift_report_with_a_bad_config_is_refused_naming_the_field(project, admin_user, no_workers):
    version = make_version(project, admin_user)
    with pytest.raises(ValidationError) as caught:
        services.drift_report_create(
            project=project,
            user=admin_user,
            reference=f"dataset://{version.dataset.name}/{version.number}",
            current=f"dataset://{version.dataset.name}/{version.number}",
            config={"drift_tests": {"psi": {"threshold": "high"}}},
        )
    assert "config.drift_tests.psi.threshold" in caught.value.message_dict


def test_cron_expressions():
    assert cron_parse("hourly").expression == "5 * * * *"
    assert cron_parse("cron(0 */2 ? * * *)").expression == "0 */2 * * *"
    every_six = cron_parse("15 */6 * * *")
    assert cron_previous(every_six, datetime(2024, 5, 6, 13, 0, tzinfo=UTC)) == datetime(
        2024, 5, 6, 12, 15, tzinfo=UTC
    )
    assert cron_previous(every_six, datetime(2024, 5, 6, 0, 5, tzinfo=UTC)) == datetime(
        2024, 5, 5, 18, 15, tzinfo=UTC
    )
    mondays = cron_parse("0 8 * * 1")
    assert cron_previous(mondays, datetime(2024, 5, 8, tzinfo=UTC)) == datetime(2024, 5, 6, 8, tzinfo=UTC)


# --- executions -----------------------------------------------------------------------------------


@pytest.fixture
def schedule(project, admin_user, no_workers):
    return services.schedule_create(
        project=project,
        user=admin_user,
        name="churn-hourly",
        endpoint=make_endpoint(project),
        baseline=completed_baseline(project, admin_user),
        schedule_expression="hourly",
        config={"drift_tests": {"psi": {"threshold": 0.25}}},
    )


def test_windows(schedule):
    assert window_for(schedule, NOW) == Window(HOUR, HOUR + timedelta(hours=1))
    schedule.schedule_expression = "daily"
    assert window_for(schedule, NOW) == Window(
        datetime(2024, 5, 5, tzinfo=UTC), datetime(2024, 5, 6, tzinfo=UTC)
    )
    schedule.schedule_expression = "0 */6 * * *"
    assert window_for(schedule, NOW) == Window(
        datetime(2024, 5, 6, 0, tzinfo=UTC), datetime(2024, 5, 6, 6, tzinfo=UTC)
    )
    MonitoringExecution.objects.create(
        schedule=schedule,
        window_start=HOUR - timedelta(hours=9),
        window_end=datetime(2024, 5, 6, 3, tzinfo=UTC),
    )
    # Since the previous execution's window ended.
    assert window_for(schedule, NOW).start == datetime(2024, 5, 6, 3, tzinfo=UTC)


def test_an_hourly_window_is_the_last_whole_hour_before_a_run_at_minute_5(schedule):
    last_hour = Window(HOUR, HOUR + timedelta(hours=1))
    assert window_for(schedule, datetime(2024, 5, 6, 10, 4, 59, tzinfo=UTC)) == last_hour  # clock behind
    assert window_for(schedule, datetime(2024, 5, 6, 10, 5, 1, tzinfo=UTC)) == last_hour
    # A run in the hour's first minute: its captures may still be in the flush buffer.
    assert window_for(schedule, datetime(2024, 5, 6, 10, 0, 30, tzinfo=UTC)).end == HOUR


def test_capture_folders_are_the_exact_hours_or_days_of_the_window():
    hour = Window(HOUR, HOUR + timedelta(hours=1))
    assert capture_folders("file:///c", "e", "v", hour) == ["file:///c/e/v/2024/05/06/09"]
    across_midnight = Window(datetime(2024, 5, 5, 2, 30, tzinfo=UTC), datetime(2024, 5, 6, 2, 30, tzinfo=UTC))
    assert capture_folders("file:///c", "e", "v", across_midnight) == [
        "file:///c/e/v/2024/05/05",
        "file:///c/e/v/2024/05/06",
    ]
    month_end = Window(datetime(2024, 4, 30, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC))
    assert capture_folders("file:///c", "e", "v", month_end) == [
        "file:///c/e/v/2024/04/30",
        "file:///c/e/v/2024/05/01",
    ]


def test_capture_inputs_skip_empty_folders_and_other_variants(project):
    endpoint = make_endpoint(project, variants=("a", "ab"))
    write_capture(endpoint, frame(5), datetime(2024, 5, 5, 23, tzinfo=UTC), variant="a")
    write_capture(endpoint, frame(5), datetime(2024, 5, 6, 1, tzinfo=UTC), variant="ab")
    across_midnight = Window(datetime(2024, 5, 5, 22, tzinfo=UTC), datetime(2024, 5, 6, 2, tzinfo=UTC))
    found = capture_inputs(endpoint, across_midnight, name="capture", limit=8)
    assert [(item["name"], item["source_uri"].split("/churn/")[1]) for item in found.inputs] == [
        ("capture-1", "a/2024/05/05"),
        ("capture-ab-1", "ab/2024/05/06"),
    ]
    assert (found.window, found.clamped) == (across_midnight, False)
    hourly = capture_inputs(endpoint, Window(HOUR, HOUR + timedelta(hours=1)), name="capture", limit=8)
    assert hourly.inputs == []


def test_a_long_cron_window_is_clamped_to_what_the_job_can_read(project, admin_user, no_workers):
    endpoint = make_endpoint(project)
    schedule = services.schedule_create(
        project=project,
        user=admin_user,
        name="daily-230",
        endpoint=endpoint,
        baseline=completed_baseline(project, admin_user),
        schedule_expression="30 2 * * *",
    )
    for day in range(1, 12):  # eleven days of traffic, one hour a day
        write_capture(endpoint, frame(5), datetime(2024, 5, day, 12, tzinfo=UTC))
    three_days = Window(datetime(2024, 5, 3, 2, 30, tzinfo=UTC), datetime(2024, 5, 6, 2, 30, tzinfo=UTC))
    found = capture_inputs(endpoint, three_days, name="capture", limit=8)
    # Whole day folders (the runtime filters records by time); the 6th holds traffic too.
    assert [item["source_uri"][-10:] for item in found.inputs] == [
        "2024/05/03",
        "2024/05/04",
        "2024/05/05",
        "2024/05/06",
    ]
    assert not found.clamped
    # After a long stop: the window since the last execution is eleven days; 8 folders fit.
    MonitoringExecution.objects.create(
        schedule=schedule,
        window_start=datetime(2024, 4, 29, 2, 30, tzinfo=UTC),
        window_end=datetime(2024, 4, 30, 2, 30, tzinfo=UTC),
        status=ExecutionStatus.COMPLETED,
    )
    execution = services.execution_run(schedule, now=datetime(2024, 5, 12, 3, tzinfo=UTC))
    captures = [item for item in execution.job.spec["inputs"] if item["name"].startswith("capture")]
    assert len(execution.job.spec["inputs"]) <= 10
    assert [item["source_uri"][-10:] for item in captures] == [f"2024/05/{day:02d}" for day in range(4, 12)]
    assert "Only 2024-05-04T00:00:00Z to 2024-05-12T02:30:00Z was checked" in execution.message
    assert execution.job.spec["arguments"][:4] == [
        "--start",
        "2024-05-04T00:00:00Z",
        "--end",
        "2024-05-12T02:30:00Z",
    ]


def test_an_empty_window_completes_with_a_message_and_no_job(schedule, no_workers, alerts_seen):
    execution = services.execution_run(schedule, now=NOW)
    assert execution.status == ExecutionStatus.COMPLETED
    assert execution.record_count == 0
    assert "No captured data" in execution.message
    assert execution.job is None
    assert no_workers[-1].spec["entrypoint"]["module"] == "monitoring.runtime.baseline"  # no new job


def test_a_window_runs_once(schedule, no_workers):
    write_capture(schedule.endpoint, frame(50))
    first = services.execution_run(schedule, now=NOW)
    again = services.execution_run(schedule, now=NOW + timedelta(minutes=20))
    assert again.pk == first.pk
    assert MonitoringExecution.objects.filter(schedule=schedule).count() == 1
    assert tasks.run_schedule(schedule.pk) is not None  # beat's own run (a later window) is its own row


def test_execution_job_reads_the_window_and_the_baseline(schedule, no_workers):
    write_capture(schedule.endpoint, frame(50))
    write_capture(schedule.endpoint, frame(50), HOUR + timedelta(hours=1))  # the next hour: not this window
    execution = services.execution_run(schedule, now=NOW)
    assert execution.status == ExecutionStatus.IN_PROGRESS
    spec = execution.job.spec
    inputs = {item["name"]: item["source_uri"] for item in spec["inputs"]}
    assert inputs["capture-1"].endswith("/data-capture/churn/primary/2024/05/06/09")
    assert inputs["baseline"] == schedule.baseline.constraints_uri.rsplit("/", 1)[0]
    config_uri = join_uri(inputs["config"], "config.json")
    config = json.loads(store_for(config_uri).open(config_uri).read())
    assert config["drift_tests"] == {"psi": {"threshold": 0.25}}
    assert spec["entrypoint"]["module"] == "monitoring.runtime.execute"
    assert spec["arguments"][:4] == ["--start", "2024-05-06T09:00:00Z", "--end", "2024-05-06T10:00:00Z"]


def test_the_hook_records_violations_and_evaluates_alerts(schedule, no_workers, alerts_seen):
    write_capture(schedule.endpoint, frame(50))
    execution = services.execution_run(schedule, now=NOW)
    violations = [
        {"feature_name": "age", "constraint_check_type": "baseline_drift_check", "description": "drifted"}
    ]
    play_job(
        execution.job,
        "report",
        {
            "statistics.json": fake_statistics(),
            "constraint_violations.json": {"violations": violations},
            "drift.json": {
                "record_count": 50,
                "drift": {"age": {"distance": 0.4, "drifted": True}},
                "message": "",
            },
        },
    )
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED_WITH_VIOLATIONS
    assert execution.violations == violations
    assert execution.record_count == 50
    assert execution.drift["age"]["drifted"] is True
    assert [item.pk for item in alerts_seen] == [execution.pk]


def test_a_failed_execution_job_fails_the_execution(schedule, no_workers):
    write_capture(schedule.endpoint, frame(50))
    execution = services.execution_run(schedule, now=NOW)
    fail_job(execution.job, "OutOfMemory: too big")
    assert tasks.reconcile()["executions"] == 1
    execution.refresh_from_db()
    assert (execution.status, execution.failure_reason) == (ExecutionStatus.FAILED, "OutOfMemory: too big")


def test_a_stopped_schedule_is_not_run_by_beat(schedule, admin_user):
    services.schedule_stop(schedule=schedule, user=admin_user)
    assert tasks.run_schedule(schedule.pk) is None
    assert tasks.run_schedule(987654) is None


def test_every_variant_with_capture_is_an_input(project, admin_user, no_workers):
    endpoint = make_endpoint(project, variants=("a", "b"))
    schedule = services.schedule_create(
        project=project,
        user=admin_user,
        name="two",
        endpoint=endpoint,
        baseline=completed_baseline(project, admin_user),
    )
    write_capture(endpoint, frame(20), variant="a")
    write_capture(endpoint, frame(20), variant="b")
    execution = services.execution_run(schedule, now=NOW)
    names = [item["name"] for item in execution.job.spec["inputs"]]
    assert names[:2] == ["capture-1", "capture-b-1"]


# --- model quality and ground truth ---------------------------------------------------------------


def test_ground_truth_upserts_and_names_bad_rows(project, admin_user):
    endpoint = make_endpoint(project)
    assert (
        services.ground_truth_add(
            endpoint=endpoint,
            user=admin_user,
            records=[{"inference_id": "a", "label": "1"}, {"inference_id": "b", "label": 0}],
        )
        == 2
    )
    services.ground_truth_add(
        endpoint=endpoint, user=admin_user, records=[{"inference_id": "a", "label": "0"}]
    )
    assert dict(GroundTruth.objects.values_list("inference_id", "label")) == {"a": "0", "b": "0"}
    with pytest.raises(ValidationError) as caught:
        services.ground_truth_add(
            endpoint=endpoint,
            user=admin_user,
            records=[
                {"inference_id": "c", "label": "1"},
                {"inference_id": "", "label": "1"},
                {"label": None},
            ],
        )
    messages = caught.value.message_dict["records"]
    assert messages[0].startswith("row 1: inference_id")
    assert messages[1].startswith("row 2")
    assert not GroundTruth.objects.filter(inference_id="c").exists()  # all or nothing


def test_ground_truth_from_csv(project, admin_user):
    endpoint = make_endpoint(project)
    written = services.ground_truth_add_csv(
        endpoint=endpoint, user=admin_user, stream=io.BytesIO(b"inference_id,label\nx-1,yes\nx-2,no\n\n")
    )
    assert written == 2
    with pytest.raises(ValidationError) as caught:
        services.ground_truth_add_csv(
            endpoint=endpoint, user=admin_user, stream=io.BytesIO(b"id,value\n1,2\n")
        )
    assert "file" in caught.value.message_dict


@pytest.fixture
def quality_schedule(project, admin_user, no_workers):
    return services.schedule_create(
        project=project,
        user=admin_user,
        name="churn-quality",
        endpoint=make_endpoint(project),
        monitoring_type=MonitoringType.MODEL_QUALITY,
        problem_type="BinaryClassification",
        config={"thresholds": {"accuracy": {"threshold": 0.8, "comparison_operator": "LessThanThreshold"}}},
    )


def test_quality_schedule_refuses_unknown_metrics(project, admin_user):
    with pytest.raises(ValidationError) as caught:
        services.schedule_create(
            project=project,
            user=admin_user,
            name="q",
            endpoint=make_endpoint(project),
            monitoring_type=MonitoringType.MODEL_QUALITY,
            problem_type="Regression",
            config={"thresholds": {"accuracy": {"threshold": 0.8}}},
        )
    assert "config.thresholds.accuracy" in caught.value.message_dict


def test_quality_without_labels_completes_with_a_message(quality_schedule):
    write_capture(quality_schedule.endpoint, frame(20))
    execution = services.execution_run(quality_schedule, now=NOW + timedelta(days=1))
    assert execution.status == ExecutionStatus.COMPLETED
    assert "ground-truth" in execution.message


def test_quality_execution_merges_labels(quality_schedule, admin_user, alerts_seen):
    ids = write_capture(quality_schedule.endpoint, frame(40))
    services.ground_truth_add(
        endpoint=quality_schedule.endpoint,
        user=admin_user,
        records=[
            {"inference_id": inference_id, "label": str(index % 2)} for index, inference_id in enumerate(ids)
        ],
    )
    execution = services.execution_run(quality_schedule, now=NOW + timedelta(days=1))
    spec = execution.job.spec
    assert spec["entrypoint"]["module"] == "monitoring.runtime.quality"
    assert spec["arguments"][4:6] == ["--problem-type", "BinaryClassification"]
    labels_uri = join_uri(
        next(i["source_uri"] for i in spec["inputs"] if i["name"] == "ground_truth"), "labels.jsonl"
    )
    lines = store_for(labels_uri).open(labels_uri).read().decode().splitlines()
    assert len(lines) == 40
    assert json.loads(lines[0]).keys() == {"inference_id", "label"}
    metrics = {
        "record_count": 40,
        "binary_classification_metrics": {"accuracy": {"value": 0.5, "standard_deviation": 0.01}},
    }
    violations = [
        {
            "feature_name": "",
            "constraint_check_type": "LessThanThreshold",
            "description": "accuracy 0.5 < 0.8",
        }
    ]
    play_job(
        execution.job,
        "report",
        {"metrics.json": metrics, "constraint_violations.json": {"violations": violations}},
    )
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED_WITH_VIOLATIONS
    assert execution.metrics["binary_classification_metrics"]["accuracy"]["value"] == 0.5
    assert execution.record_count == 40
    assert alerts_seen == [execution]


def test_quality_measures_the_window_a_day_back_with_labels_that_came_later(quality_schedule, admin_user):
    ids = write_capture(quality_schedule.endpoint, frame(30))  # 09:00-10:00 on May 6
    services.ground_truth_add(
        endpoint=quality_schedule.endpoint,
        user=admin_user,
        records=[{"inference_id": inference_id, "label": "1"} for inference_id in ids],
    )
    # The labels arrive five hours after the captured window ended.
    GroundTruth.objects.update(received_at=HOUR + timedelta(hours=6))
    execution = services.execution_run(quality_schedule, now=NOW + timedelta(days=1))
    assert (execution.window_start, execution.window_end) == (
        HOUR + timedelta(days=1),
        HOUR + timedelta(days=1, hours=1),
    )
    spec = execution.job.spec
    assert spec["arguments"][:4] == ["--start", "2024-05-06T09:00:00Z", "--end", "2024-05-06T10:00:00Z"]
    inputs = {item["name"]: item["source_uri"] for item in spec["inputs"]}
    assert inputs["capture-1"].endswith("/churn/primary/2024/05/06/09")
    labels_uri = join_uri(inputs["ground_truth"], "labels.jsonl")
    assert len(store_for(labels_uri).open(labels_uri).read().decode().splitlines()) == 30


@pytest.mark.parametrize("offset", [-1, 721, "24", True])
def test_the_ground_truth_offset_is_checked(project, admin_user, offset):
    with pytest.raises(ValidationError) as caught:
        services.schedule_create(
            project=project,
            user=admin_user,
            name="q",
            endpoint=make_endpoint(project),
            monitoring_type=MonitoringType.MODEL_QUALITY,
            problem_type="BinaryClassification",
            config={"ground_truth_offset_hours": offset},
        )
    assert "config.ground_truth_offset_hours" in caught.value.message_dict


def test_a_quality_run_that_matched_no_labels_keeps_its_alert_open(quality_schedule, admin_user):
    from monitoring.models import Alert, AlertStatus

    ids = write_capture(quality_schedule.endpoint, frame(10))
    services.ground_truth_add(
        endpoint=quality_schedule.endpoint,
        user=admin_user,
        records=[{"inference_id": f"other-{inference_id}", "label": "1"} for inference_id in ids],
    )
    alert = Alert.objects.create(
        project=quality_schedule.project,
        schedule=quality_schedule,
        check_type="LessThanThreshold",
        feature_name="",
        description="accuracy 0.5 < 0.8",
    )
    execution = services.execution_run(quality_schedule, now=NOW + timedelta(days=1))
    report = {"record_count": 10, "matched": 0, "metrics": {}, "message": "No prediction matched a label."}
    play_job(
        execution.job, "report", {"metrics.json": report, "constraint_violations.json": {"violations": []}}
    )
    execution.refresh_from_db()
    assert execution.record_count == 0
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_an_execution_left_pending_without_a_job_is_started_again(schedule, no_workers):
    write_capture(schedule.endpoint, frame(20))
    window = window_for(schedule, NOW)
    execution = MonitoringExecution.objects.create(
        schedule=schedule, window_start=window.start, window_end=window.end
    )  # its worker died before the job
    assert services.monitoring_reconcile()["executions_restarted"] == 0  # too young to tell
    MonitoringExecution.objects.filter(pk=execution.pk).update(
        created_at=timezone.now() - timedelta(minutes=10)
    )
    assert tasks.reconcile()["executions_restarted"] == 1
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.IN_PROGRESS
    assert execution.job.spec["entrypoint"]["module"] == "monitoring.runtime.execute"
    assert services.monitoring_reconcile()["executions_restarted"] == 0


# --- drift reports --------------------------------------------------------------------------------


def test_drift_report_between_two_versions(project, admin_user, no_workers):
    make_version(project, admin_user)
    make_version(project, admin_user, frame(seed=2, shift=True))
    report = services.drift_report_create(
        project=project, user=admin_user, reference="dataset://training/1", current="dataset://training/2"
    )
    assert (report.reference_label, report.current_label) == ("training v1", "training v2")
    assert [item["name"] for item in report.job.spec["inputs"]] == ["reference", "current"]
    play_job(
        report.job,
        "report",
        {
            "drift.json": {"record_count": 400, "drift": {"age": {"drifted": True}}},
            "constraint_violations.json": {"violations": [{"feature_name": "age"}]},
        },
    )
    report.refresh_from_db()
    assert report.status == ExecutionStatus.COMPLETED_WITH_VIOLATIONS
    assert report.drift["drift"]["age"]["drifted"] is True


def test_drift_report_against_a_capture_window(project, admin_user, no_workers):
    make_version(project, admin_user)
    endpoint = make_endpoint(project)
    write_capture(endpoint, frame(30))
    report = services.drift_report_create(
        project=project,
        user=admin_user,
        reference="dataset://training/1",
        endpoint=endpoint,
        window_start=HOUR,
        window_end=HOUR + timedelta(hours=1),
    )
    assert report.current_uri.endswith("/churn/primary/2024/05/06/09")
    with pytest.raises(ValidationError) as caught:
        services.drift_report_create(
            project=project,
            user=admin_user,
            reference="dataset://training/1",
            endpoint=endpoint,
            window_start=HOUR - timedelta(hours=5),
            window_end=HOUR - timedelta(hours=4),
        )
    assert "window_start" in caught.value.message_dict


# --- the real runtimes, end to end (when helper A's modules are installed) -------------------------


@pytest.mark.skipif(not runtime_available("baseline"), reason="monitoring.runtime.baseline is not there yet")
def test_baseline_and_execution_end_to_end_with_shifted_traffic(project, admin_user, no_workers, alerts_seen):
    from jobs.runner import job_execute

    version = make_version(project, admin_user, frame(600, seed=3))
    baseline = services.baseline_create(
        project=project, user=admin_user, name="real", dataset_version=version
    )
    job_execute(job_id=baseline.job_id)
    baseline.refresh_from_db()
    assert baseline.status == BaselineStatus.COMPLETED, baseline.job.failure_reason
    assert {feature["name"] for feature in baseline.constraints["features"]} == set(FEATURES)

    schedule = services.schedule_create(
        project=project, user=admin_user, name="real", endpoint=make_endpoint(project), baseline=baseline
    )
    write_capture(schedule.endpoint, frame(400, seed=4, shift=True))
    execution = services.execution_run(schedule, now=NOW)
    job_execute(job_id=execution.job_id)
    execution.refresh_from_db()
    execution.job.refresh_from_db()
    assert execution.job.status == JobStatus.COMPLETED, execution.job.failure_reason
    assert execution.status == ExecutionStatus.COMPLETED_WITH_VIOLATIONS
    assert execution.record_count == 400
    flagged = {
        item["feature_name"]
        for item in execution.violations
        if item["constraint_check_type"] == "baseline_drift_check"
    }
    assert {"age", "income"} <= flagged
    assert "plan" not in flagged
    assert alerts_seen == [execution]
