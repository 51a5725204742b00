"""The tuning engine: launches a tuning job's trials, stops them early, and reads its results.

A tuning job runs no process. ``tuning_advance`` is called when a worker claims it, after every
trial ends (the runner queues ``jobs.advance_tuning``) and by the reaper's pass; each call takes a
lock on the tuning row, looks at its trials, and launches what the limits allow, or ends the job.

Suggestions come from optuna. The study is not kept anywhere: each call rebuilds it in memory
from the trials in the database (finished ones with their objective, running ones as RUNNING so
the sampler keeps away from them, failed ones as FAIL, warm-start parents' trials as finished),
asks it for the next hyperparameters and throws it away. The database stays the only truth, and
any worker can take the next step.

- Bayesian: TPE with the constant liar (running trials count as bad ones until they report).
- Random: random sampling. Grid: every combination of the categorical values, in order.
- Hyperband: TPE for the suggestions, and asynchronous successive halving in ``trial_progress``.
- Scaling: Linear is uniform; Logarithmic is uniform in log space; ReverseLogarithmic samples
  ``1 - x`` log-uniformly (``x`` in [0, 1)), so values crowd near 1; Auto is Logarithmic when the
  range is positive and spans three orders of magnitude or more, Linear otherwise.
- A trial's objective is the LATEST value of the objective metric it emitted (SageMaker's rule).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import statistics
import uuid
import warnings
from datetime import timedelta
from typing import Any

import optuna
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.db.models import Avg, Count, F, OuterRef, QuerySet, Subquery
from django.utils import timezone
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from jobs.algorithms.registry import HyperparameterError
from jobs.models import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Backend,
    IllegalTransition,
    Job,
    JobKind,
    JobMetric,
    JobStatus,
    SecondaryStatus,
)
from jobs.services.common import job_stop
from jobs.services.training import training_job_insert
from jobs.services.tuning import trial_hyperparameters

logger = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)

PROGRESS_HOOK = "jobs.tuning.trial_progress"
# Hyperband's reduction factor: at each rung a third of the trials go on.
ETA = 3
# The median rule judges a trial once it has this many objective points and this many others
# reached the same step.
MEDIAN_MIN_STEPS = 3
MEDIAN_MIN_OTHER_TRIALS = 3
# A tuning job whose first trials all fail stops launching more: the definition is broken.
FAILED_TRIALS_BEFORE_GIVING_UP = 5
# Failures of the platform, not of the training code (SageMaker's RetryableError).
RETRYABLE_SIGNS = ("stopped sending heartbeats", "Internal error in Studio")


# --- The search space --------------------------------------------------------------------------


def log_scaled(item: dict) -> bool:
    scaling = item["scaling"]
    if scaling == "Auto":
        return item["min"] > 0 and item["max"] / item["min"] >= 1000
    return scaling == "Logarithmic"


def distributions(ranges: list[dict]) -> dict[str, BaseDistribution]:
    """Each range as an optuna distribution, in the space the sampler works in.

    ReverseLogarithmic ranges are sampled as ``y = 1 - x`` on a log scale over
    ``[1 - max, 1 - min]``; ``parameter_value`` turns ``y`` back into ``x``.
    """
    space: dict[str, BaseDistribution] = {}
    for item in ranges:
        name = item["name"]
        if item["type"] == "Categorical":
            space[name] = CategoricalDistribution(item["values"])
        elif item["type"] == "Integer":
            space[name] = IntDistribution(int(item["min"]), int(item["max"]), log=log_scaled(item))
        elif item["scaling"] == "ReverseLogarithmic":
            space[name] = FloatDistribution(1 - item["max"], 1 - item["min"], log=True)
        else:
            space[name] = FloatDistribution(item["min"], item["max"], log=log_scaled(item))
    return space


def parameter_value(item: dict, sampled: Any) -> Any:
    """A sampled value as the training job gets it (floats rounded to 6 significant digits)."""
    if item["type"] == "Categorical":
        return sampled
    if item["type"] == "Integer":
        return int(sampled)
    value = 1 - sampled if item["scaling"] == "ReverseLogarithmic" else sampled
    value = float(f"{value:.6g}")
    return min(max(value, item["min"]), item["max"])


def sampler_value(item: dict, value: Any) -> Any | None:
    """A tuned value back in the sampler's space, or None when it does not fit the range."""
    try:
        if item["type"] == "Categorical":
            return value if str(value) in item["values"] else None
        number = float(value)
        if not item["min"] <= number <= item["max"]:
            return None
        if item["type"] == "Integer":
            return int(number) if number.is_integer() else None
        return 1 - number if item["scaling"] == "ReverseLogarithmic" else number
    except (TypeError, ValueError):
        return None


def _frozen_trial(
    space: dict[str, BaseDistribution], ranges: list[dict], values: dict, state: TrialState, objective
) -> FrozenTrial | None:
    params, used = {}, {}
    for item in ranges:
        if item["name"] not in values:
            continue
        converted = sampler_value(item, values[item["name"]])
        distribution = space[item["name"]]
        if converted is None or not distribution._contains(distribution.to_internal_repr(converted)):
            continue
        params[item["name"]] = converted
        used[item["name"]] = distribution
    if not params:
        return None
    return optuna.trial.create_trial(
        state=state,
        value=objective if state == TrialState.COMPLETE else None,
        params=params,
        distributions=used,
    )


def _sampler(config: dict, offset: int) -> optuna.samplers.BaseSampler:
    seed = (config["seed"] + offset) % 2**32
    if config["strategy"] == "Random":
        return optuna.samplers.RandomSampler(seed=seed)
    max_jobs = config["resource_limits"]["max_number_of_training_jobs"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed, constant_liar=True, n_startup_trials=min(10, max(3, max_jobs // 4))
        )


def build_study(config: dict, trials: list[dict], parent_trials: list[dict] = ()) -> optuna.Study:
    """An in-memory study of what the database knows: see the module's docstring."""
    direction = "maximize" if config["objective"]["type"] == "Maximize" else "minimize"
    study = optuna.create_study(direction=direction, sampler=_sampler(config, len(trials)))
    ranges = config["ranges"]
    space = distributions(ranges)
    frozen = []
    for trial in trials:
        if trial["status"] in ACTIVE_STATUSES:
            state = TrialState.RUNNING
        elif trial["objective"] is not None:
            state = TrialState.COMPLETE
        else:
            state = TrialState.FAIL
        made = _frozen_trial(space, ranges, trial["parameters"] or {}, state, trial["objective"])
        if made is not None:
            frozen.append(made)
    for trial in parent_trials:
        if trial["objective"] is not None and trial["status"] in TERMINAL_STATUSES:
            made = _frozen_trial(
                space, ranges, trial["parameters"] or {}, TrialState.COMPLETE, trial["objective"]
            )
            if made is not None:
                frozen.append(made)
    study.add_trials(frozen)
    return study


# --- Reading trials ------------------------------------------------------------------------------


def _latest_value(metric: str) -> Subquery:
    """The latest point of ``metric`` of the outer job: its objective (SageMaker's rule)."""
    return Subquery(
        JobMetric.objects.filter(job=OuterRef("pk"), name=metric).order_by("-step", "-id").values("value")[:1]
    )


def tuning_trials(tuning: Job, *, order: str = "") -> QuerySet[Job]:
    """A tuning job's trials with ``objective`` (their final objective value) annotated.

    ``order``: "" (launch order), "objective" (best first) or "-objective" (worst first).
    """
    trials = Job.objects.filter(tuning_job=tuning, kind=JobKind.TRAINING).annotate(
        objective=_latest_value(tuning.spec["objective"]["metric_name"])
    )
    if order in ("objective", "-objective"):
        best_first = (tuning.spec["objective"]["type"] == "Maximize") == (order == "objective")
        key = F("objective").desc(nulls_last=True) if best_first else F("objective").asc(nulls_last=True)
        return trials.order_by(key, "created_at", "id")
    return trials.order_by("created_at", "id")


def trial_rows(tuning_ids: list[int], metric_of: dict[int, str]) -> list[dict]:
    """Compact rows of the trials of some tuning jobs (one query per distinct objective metric)."""
    rows: list[dict] = []
    by_metric: dict[str, list[int]] = {}
    for tuning_id in tuning_ids:
        by_metric.setdefault(metric_of[tuning_id], []).append(tuning_id)
    for metric, ids in by_metric.items():
        rows += list(
            Job.objects.filter(tuning_job_id__in=ids, kind=JobKind.TRAINING)
            .annotate(objective=_latest_value(metric))
            .order_by("created_at", "id")
            .values(
                "id",
                "name",
                "tuning_job_id",
                "status",
                "failure_reason",
                "created_at",
                "started_at",
                "ended_at",
                "objective",
                parameters=F("spec__tuning__parameters"),
            )
        )
    return rows


def _succeeded(row: dict) -> bool:
    return row["status"] in TERMINAL_STATUSES and row["objective"] is not None


def status_counters(rows: list[dict]) -> dict[str, dict[str, int]]:
    """SageMaker's TrainingJobStatusCounters and ObjectiveStatusCounters."""
    training = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
    objective = {"Succeeded": 0, "Pending": 0, "Failed": 0}
    for row in rows:
        status = row["status"]
        if status in ACTIVE_STATUSES:
            training["InProgress"] += 1
        elif status == JobStatus.FAILED:
            retryable = any(sign in row["failure_reason"] for sign in RETRYABLE_SIGNS)
            training["RetryableError" if retryable else "NonRetryableError"] += 1
        else:
            training[status] += 1
        if status in ACTIVE_STATUSES:
            objective["Pending"] += 1
        elif row["objective"] is not None:
            objective["Succeeded"] += 1
        else:
            objective["Failed"] += 1
    return {"training_job_status_counters": training, "objective_status_counters": objective}


def best_trial(config: dict, rows: list[dict]) -> dict | None:
    """BestTrainingJob: the best objective among Completed trials (else any that reported one)."""
    scored = [row for row in rows if _succeeded(row)]
    completed = [row for row in scored if row["status"] == JobStatus.COMPLETED]
    candidates = completed or scored
    if not candidates:
        return None
    maximize = config["objective"]["type"] == "Maximize"
    best = (max if maximize else min)(candidates, key=lambda row: row["objective"])
    return {
        "training_job_name": best["name"],
        "tuned_hyperparameters": best["parameters"] or {},
        "final_objective_metric": {
            "type": config["objective"]["type"],
            "metric_name": config["objective"]["metric_name"],
            "value": best["objective"],
        },
        "objective_status": "Succeeded",
        "training_job_status": best["status"],
    }


def parameter_importances(config: dict, rows: list[dict]) -> dict[str, float]:
    """Each tuned hyperparameter's share of the objective's variation (optuna's PED-ANOVA), best first.

    Needs two trials with an objective; empty when there are fewer, or when the estimate fails.
    """
    scored = [row for row in rows if _succeeded(row)]
    if len(scored) < 2:
        return {}
    try:
        study = build_study({**config, "strategy": "Random"}, scored)
        if len(study.trials) < 2:
            return {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importances = optuna.importance.get_param_importances(study)
    except Exception:  # a degenerate history (one distinct value, ...) has no importances
        logger.info("no hyperparameter importances", exc_info=True)
        return {}
    return dict(sorted(importances.items(), key=lambda pair: -pair[1]))


def tuning_overview(tuning: Job) -> dict:
    """What the detail page and API show: counters, best training job, trials, importances."""
    config = tuning.spec
    rows = trial_rows([tuning.pk], {tuning.pk: config["objective"]["metric_name"]})
    return {
        **status_counters(rows),
        "best_training_job": best_trial(config, rows) or config.get("best_training_job"),
        "trials": rows,
        "importances": parameter_importances(config, rows),
    }


def counters_for(tunings: list[Job]) -> dict[int, dict]:
    """Counters and best training job of several tuning jobs in one query (for list pages)."""
    if not tunings:
        return {}
    rows = trial_rows(
        [job.pk for job in tunings], {job.pk: job.spec["objective"]["metric_name"] for job in tunings}
    )
    grouped: dict[int, list[dict]] = {job.pk: [] for job in tunings}
    for row in rows:
        grouped[row["tuning_job_id"]].append(row)
    return {
        job.pk: {
            **status_counters(grouped[job.pk]),
            "best_training_job": best_trial(job.spec, grouped[job.pk]),
        }
        for job in tunings
    }


def _parent_trial_rows(config: dict) -> list[dict]:
    warm = config.get("warm_start") or {}
    uuids = [parent["uuid"] for parent in warm.get("parents", [])]
    if not uuids:
        return []
    parents = list(Job.objects.filter(uuid__in=uuids, kind=JobKind.TUNING).values_list("pk", flat=True))
    return trial_rows(parents, dict.fromkeys(parents, config["objective"]["metric_name"]))


def tuning_study(tuning: Job) -> optuna.Study:
    """The study the next suggestion would come from: this job's trials and its parents'."""
    rows = trial_rows([tuning.pk], {tuning.pk: tuning.spec["objective"]["metric_name"]})
    return build_study(tuning.spec, rows, _parent_trial_rows(tuning.spec))


# --- Advancing a tuning job -----------------------------------------------------------------------


def tuning_advance(tuning_job_id: int) -> None:
    """Take the tuning job one step: launch trials, stop them, or end the job.

    Safe to call any time, from any process, any number of times: a row lock serialises callers
    (SQLite serialises every write transaction anyway), and every decision is taken from the rows.
    A database error propagates (the next trial's end, or the reaper, tries again); any other
    error would recur at every try, so it fails the tuning job and stops its trials.
    """
    try:
        _advance(tuning_job_id)
    except DatabaseError:
        raise
    except Exception as exc:
        logger.exception("tuning engine failed", extra={"tuning_job_id": tuning_job_id})
        _fail(tuning_job_id, f"Internal error in Studio's tuning engine: {type(exc).__name__}: {exc}")


def _fail(tuning_job_id: int, reason: str) -> None:
    tuning = Job.objects.filter(pk=tuning_job_id, kind=JobKind.TUNING).first()
    if tuning is None:
        return
    with contextlib.suppress(IllegalTransition):
        tuning.transition(JobStatus.FAILED, secondary=SecondaryStatus.FAILED, failure_reason=reason)
    for trial in Job.objects.filter(tuning_job=tuning, status__in=[JobStatus.PENDING, JobStatus.IN_PROGRESS]):
        with contextlib.suppress(ValidationError):
            job_stop(job=trial, user=None)


def _advance(tuning_job_id: int) -> None:
    with transaction.atomic():
        tuning = (
            Job.objects.select_for_update(of=("self",))  # not the nullable created_by join
            .select_related("project", "created_by")
            .filter(pk=tuning_job_id, kind=JobKind.TUNING)
            .first()
        )
        if tuning is None or tuning.status not in (JobStatus.IN_PROGRESS, JobStatus.STOPPING):
            return
        if tuning.backend == Backend.SAGEMAKER:
            return  # SageMaker launches its trials; jobs.backends.sagemaker follows them
        config = tuning.spec
        rows = trial_rows([tuning.pk], {tuning.pk: config["objective"]["metric_name"]})
        active = [row for row in rows if row["status"] in ACTIVE_STATUSES]
        deadline = (tuning.started_at or timezone.now()) + timedelta(seconds=tuning.max_runtime_seconds)
        if tuning.status == JobStatus.IN_PROGRESS and timezone.now() >= deadline:
            reason = (
                f"MaxRuntimeExceeded: the tuning job ran longer than its MaxRuntimeInSeconds "
                f"({tuning.max_runtime_seconds} s); its running training jobs were stopped."
            )
            try:
                tuning.transition(
                    JobStatus.STOPPING,
                    secondary=SecondaryStatus.STOPPING,
                    message=reason,
                    failure_reason=reason,
                )
            except IllegalTransition:
                return
        if tuning.status == JobStatus.STOPPING:
            _stop_trials(tuning, active)
            return
        if tuning.secondary_status == SecondaryStatus.STARTING:
            tuning.set_secondary(SecondaryStatus.TRAINING, "Launching training jobs")

        limits = config["resource_limits"]
        max_jobs, max_parallel = limits["max_number_of_training_jobs"], limits["max_parallel_training_jobs"]
        failed = [row for row in rows if row["status"] in TERMINAL_STATUSES and row["objective"] is None]
        giving_up = not any(_succeeded(row) for row in rows) and len(failed) >= FAILED_TRIALS_BEFORE_GIVING_UP
        wanted = 0 if giving_up else min(max_parallel - len(active), max_jobs - len(rows))
        if wanted > 0:
            for params in _suggestions(config, rows, wanted):
                trial = _launch(tuning, config, len(rows) + 1, params)
                rows.append({"status": trial.status, "objective": None, "parameters": params})
                if trial.is_active:
                    active.append(rows[-1])
        if not active and (len(rows) >= max_jobs or giving_up):
            _finish(tuning, config)


def _suggestions(config: dict, rows: list[dict], count: int) -> list[dict]:
    """The tuned values of the next ``count`` trials (fewer when a grid runs out)."""
    ranges = config["ranges"]
    if config["strategy"] == "Grid":
        launched = {
            tuple(str((row["parameters"] or {}).get(item["name"])) for item in ranges) for row in rows
        }
        combinations = itertools.product(*(item["values"] for item in ranges))
        fresh = (combo for combo in combinations if tuple(combo) not in launched)
        return [
            dict(zip([item["name"] for item in ranges], combo, strict=True))
            for combo in itertools.islice(fresh, count)
        ]
    study = build_study(config, rows, _parent_trial_rows(config))
    space = distributions(ranges)
    suggestions = []
    for _ in range(count):
        # Asked, never told: each stays RUNNING in this study, so the next ask avoids it too.
        trial = study.ask(space)
        suggestions.append(
            {item["name"]: parameter_value(item, trial.params[item["name"]]) for item in ranges}
        )
    return suggestions


def _launch(tuning: Job, config: dict, number: int, tuned: dict) -> Job:
    definition = config["training_definition"]
    early = config["strategy"] == "Hyperband" or config["training_job_early_stopping_type"] == "Auto"
    problem = ""
    try:
        hyperparameters = trial_hyperparameters(definition, tuned)
    except HyperparameterError as exc:
        problem = f"ClientError: these hyperparameters are not allowed together: {exc}"
        hyperparameters = {**definition.get("hyperparameters", {}), **{k: str(v) for k, v in tuned.items()}}
    trial_definition = {
        **definition,
        "hyperparameters": hyperparameters,
        "tuning": {"parameters": tuned, "number": number, "tuning_job": tuning.name},
        "on_progress": PROGRESS_HOOK if early else "",
    }
    for _ in range(3):  # a training job may already own the name: another suffix then
        name = f"{tuning.name}-{number:03d}-{uuid.uuid4().hex[:8]}"
        try:
            trial, _ = training_job_insert(
                project=tuning.project,
                user=tuning.created_by,
                name=name,
                definition=trial_definition,
                tuning_job=tuning,
            )
            break
        except ValidationError:
            continue
    else:
        raise RuntimeError(f"could not name trial {number} of {tuning.name}")
    if problem:
        # It still counts as one of the job's trials, as on SageMaker; the worker will not claim it.
        trial.transition(JobStatus.FAILED, secondary=SecondaryStatus.FAILED, failure_reason=problem)
    return trial


def _stop_trials(tuning: Job, active: list[dict]) -> None:
    still_running = 0
    for row in active:
        trial = Job.objects.get(pk=row["id"])
        try:
            trial = job_stop(job=trial, user=None)
        except ValidationError:
            continue  # it ended meanwhile
        if trial.status in ACTIVE_STATUSES:
            still_running += 1
    if still_running:
        return  # each one's end queues another advance
    max_runtime = tuning.failure_reason.startswith("MaxRuntimeExceeded")
    fresh = trial_rows([tuning.pk], {tuning.pk: tuning.spec["objective"]["metric_name"]})
    with contextlib.suppress(IllegalTransition):  # the reaper or a second advance got there first
        tuning.transition(
            JobStatus.STOPPED,
            secondary=SecondaryStatus.MAX_RUNTIME_EXCEEDED if max_runtime else SecondaryStatus.STOPPED,
            message="Every training job has ended",
            extra={"spec": {**tuning.spec, "best_training_job": best_trial(tuning.spec, fresh)}},
        )


def _finish(tuning: Job, config: dict) -> None:
    rows = trial_rows([tuning.pk], {tuning.pk: config["objective"]["metric_name"]})
    best = best_trial(config, rows)
    spec = {**config, "best_training_job": best}
    with contextlib.suppress(IllegalTransition):  # the reaper or a second advance got there first
        if best is not None:
            tuning.transition(
                JobStatus.COMPLETED,
                secondary=SecondaryStatus.COMPLETED,
                message=f"Best training job: {best['training_job_name']}",
                extra={"spec": spec},
            )
            return
        first = next((row for row in rows if row["failure_reason"]), None)
        metric = config["objective"]["metric_name"]
        cause = first["failure_reason"] if first else f"none of them emitted the objective metric {metric}"
        reason = f"All {len(rows)} training jobs failed: {cause}"
        tuning.transition(
            JobStatus.FAILED,
            secondary=SecondaryStatus.FAILED,
            message=reason[:200],
            failure_reason=reason,
            extra={"spec": spec},
        )


# --- Early stopping (called by the runner while a trial runs) ---------------------------------------


def _tuning_config_of(job: Job) -> dict | None:
    cached = getattr(job, "_tuning_config", None)
    if cached is None:
        row = Job.objects.filter(pk=job.tuning_job_id).values("name", "spec").first()
        if row is None:
            return None
        cached = {**row["spec"], "name": row["name"]}
        job._tuning_config = cached  # type: ignore[attr-defined]  # the runner passes the same object
    return cached


def trial_progress(job: Job) -> str:
    """Whether a running trial should stop now: the reason, or "" to let it run on.

    Hyperband: asynchronous successive halving. Rungs are at MinResource * 3^k resource units
    (objective points emitted, i.e. epochs or rounds); on reaching a rung a trial goes on only if
    its objective there is in the top third of the values every trial had recorded at that rung
    by then (the best one goes on while fewer than three trials have reached it).

    Early stopping Auto: SageMaker's median rule. After MEDIAN_MIN_STEPS points, a trial stops
    when the running average of its objective up to its current step is worse than the median of
    the other trials' running averages up to that step, once MEDIAN_MIN_OTHER_TRIALS reached it.
    """
    if not job.tuning_job_id:
        return ""
    config = _tuning_config_of(job)
    if config is None:
        return ""
    metric = config["objective"]["metric_name"]
    maximize = config["objective"]["type"] == "Maximize"
    if config["strategy"] == "Hyperband":
        return _hyperband_verdict(job, config, metric, maximize)
    if config.get("training_job_early_stopping_type") == "Auto":
        return _median_verdict(job, config, metric, maximize)
    return ""


def _worse(value: float, than: float, maximize: bool) -> bool:
    return value < than if maximize else value > than


def _median_verdict(job: Job, config: dict, metric: str, maximize: bool) -> str:
    values = list(
        JobMetric.objects.filter(job=job, name=metric).order_by("step").values_list("value", flat=True)
    )
    if len(values) < MEDIAN_MIN_STEPS:
        return ""
    step = len(values) - 1
    own = sum(values) / len(values)
    others = (
        JobMetric.objects.filter(job__tuning_job_id=job.tuning_job_id, name=metric, step__lte=step)
        .exclude(job_id=job.pk)
        .order_by()
        .values("job_id")
        .annotate(points=Count("id"), average=Avg("value"))
        .filter(points=step + 1)
        .values_list("average", flat=True)
    )
    averages = list(others)
    if len(averages) < MEDIAN_MIN_OTHER_TRIALS:
        return ""
    median = statistics.median(averages)
    if not _worse(own, median, maximize):
        return ""
    return (
        f"Stopped early by tuning job {config['name']}: objective {metric} {own:.4g} (running average) "
        f"at step {step} is worse than the median {median:.4g} of {len(averages)} other training jobs"
    )


def hyperband_rungs(min_resource: int, max_resource: int) -> list[int]:
    rungs, rung = [], min_resource
    while rung < max_resource:
        rungs.append(rung)
        rung *= ETA
    return rungs


def _hyperband_verdict(job: Job, config: dict, metric: str, maximize: bool) -> str:
    hyperband = config["strategy_config"]["hyperband"]
    points = list(
        JobMetric.objects.filter(job=job, name=metric).order_by("step").values_list("value", "timestamp")
    )
    passed: set[int] = getattr(job, "_hyperband_passed", set())
    for rung in hyperband_rungs(hyperband["min_resource"], hyperband["max_resource"]):
        if rung > len(points):
            break
        if rung in passed:
            continue
        value, reached_at = points[rung - 1]
        # The trials that had reached this rung when this one did: the decision does not change later.
        rivals = list(
            JobMetric.objects.filter(
                job__tuning_job_id=job.tuning_job_id, name=metric, step=rung - 1, timestamp__lte=reached_at
            )
            .exclude(job_id=job.pk)
            .values_list("value", flat=True)
        )
        ranked = sorted([value, *rivals], reverse=maximize)
        keep = max(1, len(ranked) // ETA)
        threshold = ranked[keep - 1]
        if _worse(value, threshold, maximize):
            return (
                f"Stopped early by tuning job {config['name']} (Hyperband): objective {metric} {value:.4g} "
                f"after {rung} resource units is not in the top 1/{ETA} of the {len(ranked)} training jobs "
                f"that reached it (needs {threshold:.4g})"
            )
        passed.add(rung)
    job._hyperband_passed = passed  # type: ignore[attr-defined]
    return ""
