"""Hyperparameter tuning: the request's checks, the optuna engine, early stopping, the API and the pages.

Most tests drive the engine in this process: ``tuning_advance`` launches trials, and a trial either
runs for real (``job_execute``, a tiny script) or is finished by hand with the metric points it
would have logged. One test runs a whole tuning job on a real Celery worker process.
"""

from __future__ import annotations

import io
import json
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from jobs import runner
from jobs.models import Job, JobKind, JobMetric, JobStatus, JobStatusEvent, SecondaryStatus
from jobs.services import tuning_job_create
from jobs.services.tuning import tuning_job_stop
from jobs.tuning import (
    hyperband_rungs,
    trial_progress,
    tuning_advance,
    tuning_overview,
    tuning_study,
)
from studio.services import artifact_upload
from tests.conftest import api_client_for
from tests.workers import WorkerProcess, worker_env

# Also run on PostgreSQL in the full-stack pass: the row lock, JSON lookups and NULLS LAST differ by engine.
pytestmark = pytest.mark.fullstack

TUNING_URL = "/api/v1/projects/vision/tuning-jobs/"

# A SageMaker-style script: hyperparameters arrive as arguments (one-letter names as -x), the
# objective is printed once per epoch and the LAST value counts. Its optimum is x=1, y=-1; its
# defaults (x=-4, y=4) score 50 + 1/epochs.
SCRIPT = b"""import argparse, time
parser = argparse.ArgumentParser()
parser.add_argument("-x", "--x", type=float, default=-4.0)
parser.add_argument("-y", "--y", type=float, default=4.0)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--pause", type=float, default=0.0)
args, _ = parser.parse_known_args()
loss = (args.x - 1) ** 2 + (args.y + 1) ** 2
for epoch in range(1, args.epochs + 1):
    print(f"epoch={epoch} objective={loss + 1.0 / epoch:.6f}", flush=True)
    time.sleep(args.pause)
"""
DEFAULT_OBJECTIVE = (-4 - 1) ** 2 + (4 + 1) ** 2 + 1 / 3
METRICS = [{"name": "objective", "regex": r"objective=([-0-9.eE]+)"}]
XY_RANGES = {
    "ContinuousParameterRanges": [
        {"Name": "x", "MinValue": "-5", "MaxValue": "5"},
        {"Name": "y", "MinValue": "-5", "MaxValue": "5", "ScalingType": "Linear"},
    ]
}


@pytest.fixture
def no_broker(monkeypatch):
    """In-process runs: a trial's end does not queue an advance; the test advances by hand."""
    monkeypatch.setattr(runner, "_tell_tuning_job", lambda job: None)


def create(project, user, csv_artifact, name="tune-xy", **overrides):
    arguments = {
        "source_file": io.BytesIO(SCRIPT),
        "source_filename": "train.py",
        "channels": [{"name": "train", "source_uri": csv_artifact.uri}],
        "metric_definitions": METRICS,
        "strategy": "Bayesian",
        "objective_metric": "objective",
        "objective_type": "Minimize",
        "parameter_ranges": XY_RANGES,
        "max_training_jobs": 4,
        "max_parallel_training_jobs": 2,
        **overrides,
    }
    job, created = tuning_job_create(project=project, user=user, name=name, **arguments)
    assert created
    return job


def trials_of(tuning) -> list[Job]:
    return list(Job.objects.filter(tuning_job=tuning).order_by("created_at", "id"))


def finish(trial: Job, values: list[float], status: str = JobStatus.COMPLETED, reason: str = "") -> None:
    """End a trial by hand, as the runner would have after it logged ``values`` of the objective."""
    trial.refresh_from_db()
    if trial.status == JobStatus.PENDING:
        trial.transition(JobStatus.IN_PROGRESS, secondary=SecondaryStatus.TRAINING)
    metric = trial.tuning_job.spec["objective"]["metric_name"]
    JobMetric.objects.bulk_create(
        JobMetric(job=trial, name=metric, value=value, step=step) for step, value in enumerate(values)
    )
    trial.transition(status, secondary=status, failure_reason=reason)


def start(tuning: Job) -> Job:
    """A worker's claim: Pending -> InProgress, then the first advance."""
    runner.job_execute(job_id=tuning.pk)
    tuning.refresh_from_db()
    return tuning


def drive(tuning: Job, *, rounds: int = 40) -> Job:
    """Run the tuning job here: claim it, then run each trial it launches for real, until it ends."""
    start(tuning)
    for _ in range(rounds):
        tuning.refresh_from_db()
        if tuning.is_terminal:
            return tuning
        for trial in Job.objects.filter(tuning_job=tuning, status=JobStatus.PENDING).order_by("id"):
            runner.job_execute(job_id=trial.pk)
        tuning_advance(tuning.pk)
    raise AssertionError(f"{tuning.name} is still {tuning.status}")


# --- the engine, in this process -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_tuning_job_launches_trials_up_to_the_parallel_limit(project, admin_user, csv_artifact, no_broker):
    tuning = start(create(project, admin_user, csv_artifact))

    trials = trials_of(tuning)
    assert tuning.status == JobStatus.IN_PROGRESS
    assert len(trials) == 2
    for number, trial in enumerate(trials, 1):
        assert trial.kind == JobKind.TRAINING
        assert trial.name.startswith(f"tune-xy-{number:03d}-")
        assert len(trial.name) == len("tune-xy-001-") + 8
        tuned = trial.spec["tuning"]["parameters"]
        assert set(tuned) == {"x", "y"}
        assert -5 <= tuned["x"] <= 5
        assert trial.spec["hyperparameters"] == {
            "x": format(tuned["x"], ".10g"),
            "y": format(tuned["y"], ".10g"),
        }
        # The code was stored once, under the tuning job; every trial runs that copy.
        assert trial.spec["code"] == tuning.spec["training_definition"]["code"]
        assert "/tuning-jobs/tune-xy/" in trial.spec["code"]["uri"]
        assert trial.spec["on_progress"] == ""
    tuning_advance(tuning.pk)  # nothing ended: nothing more to launch
    assert len(trials_of(tuning)) == 2


@pytest.mark.django_db
def test_a_tuning_job_runs_its_trials_and_completes_with_the_best(
    project, admin_user, csv_artifact, no_broker
):
    tuning = drive(create(project, admin_user, csv_artifact, strategy="Random", max_training_jobs=3))

    assert tuning.status == JobStatus.COMPLETED, tuning.failure_reason
    overview = tuning_overview(tuning)
    assert overview["training_job_status_counters"]["Completed"] == 3
    assert overview["objective_status_counters"] == {"Succeeded": 3, "Pending": 0, "Failed": 0}
    objectives = {row["name"]: row["objective"] for row in overview["trials"]}
    best = tuning.spec["best_training_job"]
    assert best["training_job_name"] == min(objectives, key=objectives.get)
    x, y = best["tuned_hyperparameters"]["x"], best["tuned_hyperparameters"]["y"]
    # The objective is the latest value the trial printed (epoch 3), not the best one.
    assert best["final_objective_metric"]["value"] == pytest.approx(
        (x - 1) ** 2 + (y + 1) ** 2 + 1 / 3, abs=1e-5
    )


@pytest.mark.django_db
def test_a_builtin_tuning_job_gives_each_trial_valid_hyperparameters_and_the_progress_hook(
    project, admin_user, csv_artifact
):
    channels = [
        {"name": "train", "source_uri": csv_artifact.uri},
        {"name": "validation", "source_uri": csv_artifact.uri},
    ]
    job, _ = tuning_job_create(
        project=project,
        user=admin_user,
        name="xgb-tune",
        algorithm="xgboost",
        channels=channels,
        static_hyperparameters={"num_round": 20},
        parameter_ranges={
            "ContinuousParameterRanges": [
                {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"}
            ],
            "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "8"}],
            "CategoricalParameterRanges": [{"Name": "tree_method", "Values": ["hist", "exact"]}],
        },
        max_training_jobs=6,
        max_parallel_training_jobs=3,
        early_stopping="Auto",
    )

    # A built-in's objective defaults to the algorithm's, with its direction.
    assert job.spec["objective"] == {"type": "Minimize", "metric_name": "validation:rmse"}
    start(job)
    trials = trials_of(job)
    assert len(trials) == 3
    for trial in trials:
        hyperparameters = trial.spec["hyperparameters"]
        assert hyperparameters["num_round"] == "20"
        assert 0.01 <= float(hyperparameters["eta"]) <= 0.5
        assert hyperparameters["max_depth"] in {str(depth) for depth in range(2, 9)}
        assert hyperparameters["tree_method"] in {"hist", "exact"}
        assert trial.spec["algorithm"] == {"name": "xgboost"}
        assert trial.spec["on_progress"] == "jobs.tuning.trial_progress"
        assert trial.metric_definitions == job.metric_definitions


@pytest.mark.django_db
def test_grid_search_launches_every_combination_once_in_order(project, admin_user, csv_artifact):
    ranges = {
        "CategoricalParameterRanges": [
            {"Name": "x", "Values": ["1", "2", "3"]},
            {"Name": "y", "Values": ["-1", "0"]},
        ]
    }
    tuning = create(
        project, admin_user, csv_artifact, strategy="Grid", parameter_ranges=ranges, max_training_jobs=None
    )
    assert tuning.spec["resource_limits"]["max_number_of_training_jobs"] == 6

    start(tuning)
    for _ in range(10):
        pending = [trial for trial in trials_of(tuning) if trial.status == JobStatus.PENDING]
        if not pending:
            break
        assert len(pending) <= 2
        for trial in pending:
            tuned = trial.spec["tuning"]["parameters"]
            finish(trial, [float(tuned["x"]) + float(tuned["y"])])
        tuning_advance(tuning.pk)

    tuning.refresh_from_db()
    combinations = [
        (t.spec["tuning"]["parameters"]["x"], t.spec["tuning"]["parameters"]["y"]) for t in trials_of(tuning)
    ]
    assert combinations == [("1", "-1"), ("1", "0"), ("2", "-1"), ("2", "0"), ("3", "-1"), ("3", "0")]
    assert tuning.status == JobStatus.COMPLETED
    assert tuning.spec["best_training_job"]["tuned_hyperparameters"] == {"x": "1", "y": "-1"}


@pytest.mark.django_db
def test_hyperband_runs_with_its_progress_hook(project, admin_user, csv_artifact, no_broker):
    tuning = drive(
        create(
            project,
            admin_user,
            csv_artifact,
            name="tune-hb",
            strategy="Hyperband",
            static_hyperparameters={"epochs": "9", "pause": "0.08"},
            max_training_jobs=4,
            max_parallel_training_jobs=1,
        )
    )

    assert tuning.spec["strategy_config"] == {"hyperband": {"min_resource": 1, "max_resource": 9}}
    assert tuning.status == JobStatus.COMPLETED, tuning.failure_reason
    trials = trials_of(tuning)
    assert len(trials) == 4
    assert all(trial.spec["on_progress"] == "jobs.tuning.trial_progress" for trial in trials)
    assert trials[0].status == JobStatus.COMPLETED  # alone at every rung: nobody to lose to
    for trial in trials:
        assert trial.status in (JobStatus.COMPLETED, JobStatus.STOPPED)
        if trial.status == JobStatus.STOPPED:
            assert "(Hyperband)" in trial.failure_reason


@pytest.mark.django_db
def test_when_every_trial_fails_the_tuning_job_fails_with_the_first_reason(project, admin_user, csv_artifact):
    tuning = start(create(project, admin_user, csv_artifact, max_training_jobs=2))
    first, second = trials_of(tuning)
    finish(first, [], JobStatus.FAILED, "AlgorithmError: the script exited with code 1")
    finish(second, [], JobStatus.FAILED, "AlgorithmError: out of luck")
    tuning_advance(tuning.pk)

    tuning.refresh_from_db()
    assert tuning.status == JobStatus.FAILED
    assert (
        tuning.failure_reason == "All 2 training jobs failed: AlgorithmError: the script exited with code 1"
    )
    counters = tuning_overview(tuning)
    assert counters["training_job_status_counters"]["NonRetryableError"] == 2
    assert counters["objective_status_counters"] == {"Succeeded": 0, "Pending": 0, "Failed": 2}


@pytest.mark.django_db
def test_a_tuning_job_whose_first_trials_all_fail_stops_launching(project, admin_user, csv_artifact):
    tuning = start(
        create(project, admin_user, csv_artifact, max_training_jobs=50, max_parallel_training_jobs=5)
    )
    for trial in trials_of(tuning):
        finish(trial, [], JobStatus.FAILED, "AlgorithmError: broken")
    tuning_advance(tuning.pk)

    tuning.refresh_from_db()
    assert len(trials_of(tuning)) == 5
    assert tuning.status == JobStatus.FAILED
    assert tuning.failure_reason.startswith("All 5 training jobs failed")


@pytest.mark.django_db
def test_stopping_a_tuning_job_stops_its_trials_and_ends_it_stopped(project, admin_user, csv_artifact, api):
    tuning = start(create(project, admin_user, csv_artifact, max_parallel_training_jobs=2))
    running, queued = trials_of(tuning)
    running.transition(JobStatus.IN_PROGRESS, secondary=SecondaryStatus.TRAINING)

    response = api.post(f"{TUNING_URL}tune-xy/stop/")

    assert response.status_code == 202
    assert response.json()["status"] == JobStatus.STOPPING
    running.refresh_from_db()
    queued.refresh_from_db()
    assert running.status == JobStatus.STOPPING  # its worker sends SIGTERM
    assert queued.status == JobStatus.STOPPED  # never started
    finish(running, [3.0], JobStatus.STOPPED)  # what the worker does, then it tells the tuning job
    tuning_advance(tuning.pk)
    tuning.refresh_from_db()
    assert tuning.status == JobStatus.STOPPED
    assert tuning.secondary_status == SecondaryStatus.STOPPED
    assert len(trials_of(tuning)) == 2  # nothing launched after the stop
    assert api.post(f"{TUNING_URL}tune-xy/stop/").status_code == 400


@pytest.mark.django_db
def test_a_tuning_job_past_its_max_runtime_stops_its_trials_and_ends_stopped(
    project, admin_user, csv_artifact
):
    tuning = start(create(project, admin_user, csv_artifact, max_runtime_seconds=600))
    first, second = trials_of(tuning)
    first.transition(JobStatus.IN_PROGRESS, secondary=SecondaryStatus.TRAINING)  # second stays Pending
    Job.objects.filter(pk=tuning.pk).update(started_at=timezone.now() - timedelta(seconds=601))

    tuning_advance(tuning.pk)  # the reaper's pass or a trial's end

    tuning.refresh_from_db()
    second.refresh_from_db()
    assert tuning.status == JobStatus.STOPPING
    assert tuning.failure_reason.startswith("MaxRuntimeExceeded")
    assert second.status == JobStatus.STOPPED
    finish(first, [1.0, 0.5], JobStatus.STOPPED)
    tuning_advance(tuning.pk)
    tuning.refresh_from_db()
    assert tuning.status == JobStatus.STOPPED
    assert tuning.secondary_status == SecondaryStatus.MAX_RUNTIME_EXCEEDED
    assert tuning.spec["best_training_job"]["training_job_name"] == first.name


@pytest.mark.django_db
def test_warm_start_adds_the_parents_trials_to_the_study(project, admin_user, csv_artifact):
    parent = start(
        create(
            project,
            admin_user,
            csv_artifact,
            name="parent",
            max_training_jobs=3,
            max_parallel_training_jobs=3,
        )
    )
    for value, trial in zip([5.0, 2.0, 9.0], trials_of(parent), strict=True):
        finish(trial, [value + 1, value])
    tuning_advance(parent.pk)
    parent.refresh_from_db()
    assert parent.status == JobStatus.COMPLETED

    child = create(project, admin_user, csv_artifact, name="child", warm_start_parent_names=["parent"])

    study = tuning_study(child)
    assert sorted(trial.value for trial in study.trials) == [2.0, 5.0, 9.0]
    assert study.best_trial.params == trials_of(parent)[1].spec["tuning"]["parameters"]
    start(child)
    assert len(trials_of(child)) == 2  # its own trials come on top
    assert child.spec["warm_start"] == {
        "parents": [{"name": "parent", "uuid": str(parent.uuid)}],
        "type": "IdenticalDataAndAlgorithm",
    }


@pytest.mark.django_db
def test_warm_start_refuses_a_parent_with_another_objective_or_unknown(project, admin_user, csv_artifact):
    other = create(project, admin_user, csv_artifact, name="maximizer", objective_type="Maximize")
    tuning_job_stop(job=other, user=admin_user)  # Pending: Stopped at once
    create(project, admin_user, csv_artifact, name="running")

    with pytest.raises(ValidationError) as caught:
        create(
            project,
            admin_user,
            csv_artifact,
            name="child",
            warm_start_parent_names=["maximizer", "running", "ghost"],
        )

    assert caught.value.message_dict["warm_start_parent_names"] == [
        "maximizer maximized objective; warm start needs the same objective (Minimize objective).",
        "running is Pending; a parent must have ended (Completed or Stopped).",
        "No tuning job named 'ghost' in vision.",
    ]
    assert not Job.objects.filter(name="child").exists()


@pytest.mark.django_db
def test_an_engine_error_fails_the_tuning_job_and_stops_its_trials(
    project, admin_user, csv_artifact, monkeypatch
):
    tuning = start(create(project, admin_user, csv_artifact))
    first, second = trials_of(tuning)
    finish(first, [1.0])

    def broken(*args, **kwargs):
        raise ValueError("no suggestion today")

    monkeypatch.setattr("jobs.tuning._suggestions", broken)
    tuning_advance(tuning.pk)  # must not raise: it would only fail again at every retry

    tuning.refresh_from_db()
    second.refresh_from_db()
    assert tuning.status == JobStatus.FAILED
    assert (
        tuning.failure_reason == "Internal error in Studio's tuning engine: ValueError: no suggestion today"
    )
    assert second.status == JobStatus.STOPPED


# --- early stopping rules --------------------------------------------------------------------------


def _points(trial: Job, values: list[float], metric: str = "objective", at=None) -> None:
    at = at or timezone.now()
    JobMetric.objects.bulk_create(
        JobMetric(job=trial, name=metric, value=value, step=step, timestamp=at + timedelta(milliseconds=step))
        for step, value in enumerate(values)
    )


@pytest.mark.django_db
def test_the_median_rule_stops_a_trial_that_trails_the_others(project, admin_user, csv_artifact):
    tuning = start(
        create(
            project,
            admin_user,
            csv_artifact,
            objective_type="Maximize",
            early_stopping="Auto",
            max_training_jobs=6,
            max_parallel_training_jobs=6,
        )
    )
    bad, good, *others = trials_of(tuning)
    assert bad.spec["on_progress"] == "jobs.tuning.trial_progress"
    _points(others[0], [0.6, 0.7, 0.72, 0.75, 0.78])
    _points(bad, [0.3, 0.35, 0.4, 0.45, 0.5])
    _points(good, [0.7, 0.8, 0.85, 0.9, 0.95])

    assert trial_progress(bad) == ""  # two others reached step 4: too few to judge
    _points(others[1], [0.65, 0.7, 0.75, 0.78, 0.8])
    _points(others[2], [0.6, 0.6, 0.6, 0.6])  # not at step 4 yet: not counted
    _points(others[3], [0.61, 0.7, 0.72, 0.75, 0.78])
    reason = trial_progress(bad)
    assert reason.startswith(
        f"Stopped early by tuning job {tuning.name}: objective objective 0.4 (running average) at step 4"
    )
    assert "is worse than the median" in reason
    assert "of 4 other training jobs" in reason
    assert trial_progress(good) == ""
    # Judged at its own step, against the averages of the others up to that step.
    assert "0.6 (running average) at step 3 is worse than the median" in trial_progress(others[2])
    JobMetric.objects.filter(job=others[2], step__gte=2).delete()
    assert trial_progress(others[2]) == ""  # too few steps of its own


@pytest.mark.django_db
def test_the_median_rule_is_off_without_auto_early_stopping(project, admin_user, csv_artifact):
    tuning = start(
        create(project, admin_user, csv_artifact, max_training_jobs=5, max_parallel_training_jobs=5)
    )
    bad, *others = trials_of(tuning)
    for trial in others:
        _points(trial, [0.1, 0.1, 0.1, 0.1])
    _points(bad, [9.0, 9.0, 9.0, 9.0])
    assert trial_progress(bad) == ""


@pytest.mark.django_db
def test_hyperband_keeps_only_the_top_third_at_each_rung(project, admin_user, csv_artifact):
    assert hyperband_rungs(1, 27) == [1, 3, 9]
    assert hyperband_rungs(2, 20) == [2, 6, 18]
    tuning = start(
        create(
            project,
            admin_user,
            csv_artifact,
            strategy="Hyperband",
            hyperband_min_resource=1,
            hyperband_max_resource=9,
            max_training_jobs=4,
            max_parallel_training_jobs=4,
        )
    )
    first, second, third, fourth = trials_of(tuning)
    t0 = timezone.now()
    _points(first, [5.0, 4.0, 3.0], at=t0)  # alone at rungs 1 and 3: goes on
    _points(second, [6.0], at=t0 + timedelta(seconds=1))  # worse than the first at rung 1 (1 of 2 go on)
    _points(third, [4.5, 4.4, 3.5], at=t0 + timedelta(seconds=2))  # best at rung 1; loses at rung 3

    assert trial_progress(first) == ""
    reason = trial_progress(second)
    assert "(Hyperband)" in reason
    assert "after 1 resource units is not in the top 1/3 of the 2 training jobs" in reason
    assert "after 3 resource units" in trial_progress(third)
    # A late arrival is judged against those that had reached the rung before it, not later ones.
    _points(fourth, [1.0], at=t0 - timedelta(seconds=1))
    assert trial_progress(fourth) == ""
    assert trial_progress(first) == ""  # rungs it passed stay passed


# --- the API -------------------------------------------------------------------------------------


@pytest.fixture
def script_artifact(project, admin_user):
    return artifact_upload(project=project, user=admin_user, path="code/train.py", stream=io.BytesIO(SCRIPT))


def api_body(csv_artifact, script_artifact, **overrides) -> dict:
    body = {
        "name": "tune-api",
        "source_uri": script_artifact.uri,
        "channels": [{"name": "train", "source_uri": csv_artifact.uri}],
        "metric_definitions": METRICS,
        "strategy": "Random",
        "objective": {"type": "Minimize", "metric_name": "objective"},
        "parameter_ranges": XY_RANGES,
        "resource_limits": {"max_number_of_training_jobs": 4, "max_parallel_training_jobs": 2},
    }
    body.update(overrides)
    return body


def builtin_body(csv_artifact, **overrides) -> dict:
    body = {
        "name": "tune-xgb",
        "algorithm": "xgboost",
        "channels": [
            {"name": "train", "source_uri": csv_artifact.uri},
            {"name": "validation", "source_uri": csv_artifact.uri},
        ],
        "static_hyperparameters": {"num_round": 10, "objective": "binary:logistic"},
        "objective": {"type": "Maximize", "metric_name": "validation:auc"},
        "parameter_ranges": {
            "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.05", "MaxValue": "0.5"}],
            "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "6"}],
        },
        "resource_limits": {"max_number_of_training_jobs": 6, "max_parallel_training_jobs": 2},
    }
    body.update(overrides)
    return body


@pytest.mark.django_db
def test_the_api_creates_a_tuning_job_and_describes_it(api, csv_artifact):
    response = api.post(TUNING_URL, builtin_body(csv_artifact), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "tune-xgb"
    assert body["status"] == JobStatus.PENDING
    assert body["tuning_job_config"] == {
        "strategy": "Bayesian",
        "objective": {"type": "Maximize", "metric_name": "validation:auc"},
        "parameter_ranges": {
            "IntegerParameterRanges": [
                {"Name": "max_depth", "MinValue": "2", "MaxValue": "6", "ScalingType": "Auto"}
            ],
            "ContinuousParameterRanges": [
                {"Name": "eta", "MinValue": "0.05", "MaxValue": "0.5", "ScalingType": "Auto"}
            ],
            "CategoricalParameterRanges": [],
        },
        "resource_limits": {
            "max_number_of_training_jobs": 6,
            "max_parallel_training_jobs": 2,
            "max_runtime_seconds": None,
        },
        "training_job_early_stopping_type": "Off",
        "strategy_config": {},
        "warm_start_config": None,
    }
    assert body["training_job_definition"]["algorithm"] == "xgboost"
    assert body["training_job_definition"]["static_hyperparameters"] == {
        "num_round": "10",
        "objective": "binary:logistic",
    }
    assert body["training_job_status_counters"] == {
        "Completed": 0,
        "InProgress": 0,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }
    assert body["objective_status_counters"] == {"Succeeded": 0, "Pending": 0, "Failed": 0}
    assert body["best_training_job"] is None
    assert api.get(f"{TUNING_URL}tune-xgb/").json()["uuid"] == body["uuid"]


@pytest.mark.django_db
def test_a_multipart_request_uploads_the_code_with_json_fields(api, csv_artifact):
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = {
        "name": "tune-upload",
        "source": SimpleUploadedFile("train.py", SCRIPT, content_type="text/x-python"),
        "channels": json.dumps([{"name": "train", "source_uri": csv_artifact.uri}]),
        "metric_definitions": json.dumps(METRICS),
        "strategy": "Bayesian",
        "objective": json.dumps({"Type": "Minimize", "MetricName": "objective"}),
        "parameter_ranges": json.dumps(XY_RANGES),
        "resource_limits": json.dumps({"MaxNumberOfTrainingJobs": 8, "MaxParallelTrainingJobs": 2}),
        "training_job_early_stopping_type": "Auto",
    }
    response = api.post(TUNING_URL, body, format="multipart")

    assert response.status_code == 201, response.json()
    code = response.json()["training_job_definition"]["code"]
    assert code["filename"] == "train.py"
    assert code["entry_point"] == "train.py"
    assert response.json()["tuning_job_config"]["training_job_early_stopping_type"] == "Auto"


def _nested(body: dict, path: tuple[str, ...]) -> list[str]:
    for key in path:
        body = body[key]
    return body


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "path", "needle"),
    [
        ("bad-strategy", ("strategy",), "Unknown strategy 'Genetic'"),
        ("grid-with-continuous", ("parameter_ranges",), "Grid search takes categorical ranges only"),
        ("outside-schema", ("parameter_ranges",), "MaxValue 2 is above xgboost's maximum 1"),
        ("not-tunable", ("parameter_ranges",), "xgboost does not allow tuning 'seed'"),
        (
            "unknown-objective",
            ("objective", "metric_name"),
            "'validation:nope' is not a metric the training jobs emit",
        ),
        ("wrong-direction", ("objective", "type"), "validation:auc is to be maximized, not minimized"),
        ("parallel-over-max", ("resource_limits", "max_parallel_training_jobs"), "cannot exceed"),
        ("long-name", ("name",), "at most 32 characters"),
        ("tuned-and-static", ("parameter_ranges",), "num_round is tuned and also a static hyperparameter"),
        ("hyperband-early-stopping", ("training_job_early_stopping_type",), "set early stopping to Off"),
        (
            "integer-reverse-log",
            ("parameter_ranges",),
            "ReverseLogarithmic scaling is for continuous ranges only",
        ),
    ],
)
def test_a_bad_request_is_a_400_naming_the_field_and_stores_nothing(api, csv_artifact, case, path, needle):
    body = builtin_body(csv_artifact)
    ranges = body["parameter_ranges"]
    if case == "bad-strategy":
        body["strategy"] = "Genetic"
    elif case == "grid-with-continuous":
        body["strategy"] = "Grid"
    elif case == "outside-schema":
        ranges["ContinuousParameterRanges"][0]["MaxValue"] = "2"
    elif case == "not-tunable":
        ranges["IntegerParameterRanges"].append({"Name": "seed", "MinValue": 1, "MaxValue": 5})
    elif case == "unknown-objective":
        body["objective"]["metric_name"] = "validation:nope"
    elif case == "wrong-direction":
        body["objective"]["type"] = "Minimize"
    elif case == "parallel-over-max":
        body["resource_limits"] = {"max_number_of_training_jobs": 2, "max_parallel_training_jobs": 3}
    elif case == "long-name":
        body["name"] = "a" * 33
    elif case == "tuned-and-static":
        ranges["IntegerParameterRanges"].append({"Name": "num_round", "MinValue": 5, "MaxValue": 50})
    elif case == "hyperband-early-stopping":
        body.update(strategy="Hyperband", training_job_early_stopping_type="Auto")
    elif case == "integer-reverse-log":
        ranges["IntegerParameterRanges"][0]["ScalingType"] = "ReverseLogarithmic"

    response = api.post(TUNING_URL, body, format="json")

    assert response.status_code == 400
    messages = _nested(response.json(), path)
    assert any(needle in message for message in messages), response.json()
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_every_problem_of_a_request_is_reported_at_once(api, csv_artifact):
    body = builtin_body(
        csv_artifact,
        name="x" * 40,
        strategy="Genetic",
        objective={"type": "Sideways", "metric_name": "validation:auc"},
        parameter_ranges={
            "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.5", "MaxValue": "0.1"}]
        },
        resource_limits={"max_parallel_training_jobs": 50},
        warm_start_config={"parent_tuning_jobs": ["ghost"]},
    )

    errors = api.post(TUNING_URL, body, format="json").json()

    assert set(errors) == {
        "name",
        "strategy",
        "objective",
        "parameter_ranges",
        "resource_limits",
        "warm_start_config",
    }
    assert set(errors["resource_limits"]) == {"max_number_of_training_jobs", "max_parallel_training_jobs"}


@pytest.mark.django_db
def test_a_retry_with_the_same_client_token_returns_the_same_tuning_job(api, csv_artifact):
    body = builtin_body(csv_artifact, client_token="retry-1")
    first = api.post(TUNING_URL, body, format="json")
    again = api.post(TUNING_URL, body, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["uuid"] == again.json()["uuid"]
    changed = api.post(TUNING_URL, {**body, "strategy": "Random"}, format="json")
    assert changed.status_code == 400
    assert "client_token" in changed.json()


@pytest.mark.django_db
def test_the_trials_api_lists_them_with_their_objective_best_first(api, project, admin_user, csv_artifact):
    tuning = start(
        create(project, admin_user, csv_artifact, max_training_jobs=3, max_parallel_training_jobs=3)
    )
    first, second, third = trials_of(tuning)
    finish(first, [9.0, 4.0])
    finish(second, [1.0, 7.0])
    finish(third, [], JobStatus.FAILED, "AlgorithmError: boom")

    listed = api.get(f"{TUNING_URL}tune-xy/trials/").json()
    best_first = api.get(f"{TUNING_URL}tune-xy/trials/?order=objective").json()

    assert [row["name"] for row in listed["results"]] == [first.name, second.name, third.name]
    assert [row["name"] for row in best_first["results"]] == [first.name, second.name, third.name]
    worst_first = api.get(f"{TUNING_URL}tune-xy/trials/?order=-objective").json()["results"]
    assert [row["final_objective_value"] for row in worst_first] == [7.0, 4.0, None]
    row = listed["results"][0]
    assert row["final_objective_value"] == 4.0  # the latest value, not the best
    assert row["objective_status"] == "Succeeded"
    assert row["tuned_hyperparameters"] == first.spec["tuning"]["parameters"]
    assert listed["results"][2]["objective_status"] == "Failed"
    assert listed["results"][2]["failure_reason"] == "AlgorithmError: boom"
    assert api.get(f"{TUNING_URL}tune-xy/trials/?order=name").status_code == 400
    detail = api.get(f"{TUNING_URL}tune-xy/").json()
    assert detail["best_training_job"]["training_job_name"] == first.name
    assert detail["best_training_job"]["final_objective_metric"] == {
        "type": "Minimize",
        "metric_name": "objective",
        "value": 4.0,
    }
    assert detail["training_job_status_counters"]["Completed"] == 2
    assert set(detail["parameter_importances"]) == {"x", "y"}


@pytest.mark.django_db
def test_listing_tuning_jobs_runs_a_fixed_number_of_queries(
    api, project, admin_user, csv_artifact, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    tuning = start(create(project, admin_user, csv_artifact, name="tune-0"))
    finish(trials_of(tuning)[0], [1.0])
    with CaptureQueriesContext(connection) as one:
        assert api.get(TUNING_URL).status_code == 200
    for number in range(1, 6):
        finish(trials_of(start(create(project, admin_user, csv_artifact, name=f"tune-{number}")))[0], [2.0])

    # key lookup, user, project, role, count, page, every listed job's trials at once
    with django_assert_max_num_queries(len(one)):
        response = api.get(TUNING_URL + "?status=InProgress")
    assert response.json()["count"] == 6
    assert all(item["training_job_status_counters"]["Completed"] == 1 for item in response.json()["results"])
    assert len(one) <= 10


@pytest.mark.django_db
def test_an_unknown_status_filter_is_a_400_naming_status(api, project):
    response = api.get(TUNING_URL + "?status=Sleeping")
    assert response.status_code == 400
    assert "status" in response.json()


# --- the pages -----------------------------------------------------------------------------------


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_detail_page_shows_counters_best_job_charts_and_trials(
    project, admin_user, viewer_user, editor_user, csv_artifact
):
    tuning = start(
        create(project, admin_user, csv_artifact, max_training_jobs=4, max_parallel_training_jobs=3)
    )
    first, second, _ = trials_of(tuning)
    finish(first, [9.0, 4.0])
    finish(second, [3.0, 2.0])
    url = reverse("jobs:tuning-detail", kwargs={"project": "vision", "name": "tune-xy"})

    response = page_client(viewer_user).get(url)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Best training job" in html
    assert second.name in html
    assert 'data-figure="history"' in html
    assert 'data-figure="parallel"' in html
    assert 'data-figure="importance"' in html
    figures = response.context["figures"]
    assert figures["history"]["data"][1]["y"] == [4.0, 2.0]  # the best so far
    assert [dimension["label"] for dimension in figures["parallel"]["data"][0]["dimensions"]] == [
        "x",
        "y",
        "objective",
    ]
    assert "vendor/plotly/plotly.min.js" in html
    assert 'id="stop-tuning-job"' not in html  # a viewer may not stop it
    editor_html = page_client(editor_user).get(url).content.decode()
    assert 'id="stop-tuning-job"' in editor_html
    fragment = page_client(viewer_user).get(url + "fragment/?order=objective")
    assert fragment.status_code == 200
    assert 'data-terminal="false"' in fragment.content.decode()


@pytest.mark.django_db
def test_the_detail_page_links_trials_to_their_training_job(project, admin_user, viewer_user, csv_artifact):
    tuning = start(create(project, admin_user, csv_artifact))
    trial = trials_of(tuning)[0]
    try:
        expected = reverse("jobs:training-detail", kwargs={"project": "vision", "name": trial.name})
    except NoReverseMatch:
        expected = reverse("api-training-job", kwargs={"project": "vision", "name": trial.name})

    html = (
        page_client(viewer_user)
        .get(reverse("jobs:tuning-detail", args=["vision", "tune-xy"]))
        .content.decode()
    )

    assert f'href="{expected}"' in html


@pytest.mark.django_db
def test_stopping_from_the_page_needs_operate(project, admin_user, viewer_user, editor_user, csv_artifact):
    tuning = create(project, admin_user, csv_artifact)
    url = reverse("jobs:tuning-stop", args=["vision", tuning.name])

    assert page_client(viewer_user).post(url).status_code == 403
    response = page_client(editor_user).post(url)

    assert response.status_code == 302
    tuning.refresh_from_db()
    assert tuning.status == JobStatus.STOPPED


@pytest.mark.django_db
def test_the_launch_form_creates_a_tuning_job(project, editor_user, csv_artifact):
    url = reverse("jobs:tuning-create", args=["vision"])
    client = page_client(editor_user)
    assert client.get(url).status_code == 200

    response = client.post(
        url,
        {
            "name": "form-tune",
            "algorithm": "xgboost",
            "instance_type": "ml.m5.large",
            "channels": f"train={csv_artifact.uri}\nvalidation={csv_artifact.uri}",
            "static_hyperparameters": "num_round=10",
            "parameter_ranges": (
                "eta=continuous:0.01:0.5:Logarithmic\nmax_depth=integer:2:8\ntree_method=categorical:hist,exact"
            ),
            "objective_metric": "validation:rmse",
            "strategy": "Bayesian",
            "max_training_jobs": "6",
            "max_parallel_training_jobs": "2",
            "early_stopping": "Auto",
        },
    )

    assert response.status_code == 302, response.context["form"].errors
    assert response["Location"] == reverse("jobs:tuning-detail", args=["vision", "form-tune"])
    job = Job.objects.get(kind=JobKind.TUNING, name="form-tune")
    assert job.spec["objective"] == {"type": "Minimize", "metric_name": "validation:rmse"}
    assert [item["name"] for item in job.spec["ranges"]] == ["eta", "max_depth", "tree_method"]
    assert job.spec["training_job_early_stopping_type"] == "Auto"


@pytest.mark.django_db
def test_the_launch_form_shows_the_services_errors_on_its_fields(project, editor_user, csv_artifact):
    response = page_client(editor_user).post(
        reverse("jobs:tuning-create", args=["vision"]),
        {
            "name": "form-tune",
            "algorithm": "xgboost",
            "instance_type": "ml.m5.large",
            "channels": f"train={csv_artifact.uri}",
            "static_hyperparameters": "num_round=10",
            "parameter_ranges": "eta=continuous:0.01:3\nseed=integer:1:5",
            "objective_metric": "validation:rmse",
            "strategy": "Bayesian",
            "max_training_jobs": "3",
            "max_parallel_training_jobs": "5",
            "early_stopping": "Off",
        },
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert any("above xgboost's maximum" in message for message in errors["parameter_ranges"])
    assert any("does not allow tuning 'seed'" in message for message in errors["parameter_ranges"])
    assert any("'validation:rmse' is not a metric" in message for message in errors["objective_metric"])
    assert any("cannot exceed" in message for message in errors["max_parallel_training_jobs"])
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_a_bad_range_line_is_an_error_on_its_field(project, editor_user):
    response = page_client(editor_user).post(
        reverse("jobs:tuning-create", args=["vision"]), {"name": "x", "parameter_ranges": "eta=sometimes:1"}
    )
    assert (
        "Line 1: 'eta=sometimes:1' is not name=continuous"
        in response.context["form"].errors["parameter_ranges"][0]
    )


# --- a whole tuning job on a real worker ---------------------------------------------------------


@pytest.fixture
def worker():
    from studio.celery import app

    assert not app.conf.task_always_eager
    process = WorkerProcess(worker_env(), concurrency=3)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def _in_progress_intervals(trials: list[Job]) -> list[tuple]:
    events = JobStatusEvent.objects.filter(job__in=trials).order_by("created_at", "id")
    starts, ends = {}, {}
    for event in events:
        if event.status == JobStatus.IN_PROGRESS:
            starts.setdefault(event.job_id, event.created_at)
        elif event.status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED):
            ends[event.job_id] = event.created_at
    return [(starts[trial.pk], ends[trial.pk]) for trial in trials]


def _most_at_once(intervals: list[tuple]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = most = 0
    for _, change in edges:  # an end sorts before a start at the same instant
        running += change
        most = max(most, running)
    return most


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_bayesian_tuning_job_runs_on_a_worker_and_beats_the_defaults(
    worker, admin_user, project, csv_artifact
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = api_client_for(admin_user)
    body = {
        "name": "tune-worker",
        "source": SimpleUploadedFile("train.py", SCRIPT, content_type="text/x-python"),
        "channels": json.dumps([{"name": "train", "source_uri": csv_artifact.uri}]),
        "metric_definitions": json.dumps(METRICS),
        "strategy": "Bayesian",
        "objective": json.dumps({"type": "Minimize", "metric_name": "objective"}),
        "parameter_ranges": json.dumps(XY_RANGES),
        "resource_limits": json.dumps({"max_number_of_training_jobs": 8, "max_parallel_training_jobs": 2}),
    }
    assert client.post(TUNING_URL, body, format="multipart").status_code == 201

    deadline = time.monotonic() + 120
    while True:
        tuning = Job.objects.get(kind=JobKind.TUNING, name="tune-worker")
        if tuning.is_terminal:
            break
        assert time.monotonic() < deadline, (tuning.status, worker.output())
        time.sleep(0.2)

    assert tuning.status == JobStatus.COMPLETED, (tuning.failure_reason, worker.output())
    trials = trials_of(tuning)
    assert len(trials) == 8
    assert all(trial.status == JobStatus.COMPLETED for trial in trials), [t.failure_reason for t in trials]
    best = client.get(f"{TUNING_URL}tune-worker/").json()["best_training_job"]
    assert best["final_objective_metric"]["value"] < DEFAULT_OBJECTIVE
    most = _most_at_once(_in_progress_intervals(trials))
    print(
        "most at once",
        most,
        _in_progress_intervals(trials),
        [t.spec["tuning"]["parameters"] for t in trials],
        best,
    )
    assert most <= 2
