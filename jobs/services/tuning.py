"""Hyperparameter tuning jobs: SageMaker's CreateHyperParameterTuningJob, checked whole, then queued.

A tuning job repeats one checked training definition (see ``jobs.services.training``) with other
hyperparameters. The request is validated in full (name, strategy, objective, ranges against the
algorithm's schema, limits, early stopping, Hyperband's resources, warm-start parents) and every
problem is reported at once; nothing is stored unless all of it is valid. The user's code is
stored once, under the tuning job, and every trial runs that same copy.

The row is a ``Job(kind="tuning")``: a worker's claim calls ``jobs.tuning.tuning_advance``, which
launches the trials (see there).
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
import uuid
from collections.abc import Iterable
from typing import Any, BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from jobs.algorithms.registry import Algorithm, UnknownAlgorithm, algorithm_get
from jobs.models import Job, JobKind, JobStatus
from jobs.services.common import (
    Errors,
    check_backend,
    check_name,
    job_for_token,
    job_insert_once,
    job_stop,
    request_fingerprint,
    upload_read,
    upload_sha256,
)
from jobs.services.training import training_definition_check, training_source_store
from studio.artifacts import join_uri, project_prefix
from studio.models import Project

STRATEGIES = ("Bayesian", "Random", "Grid", "Hyperband")
OBJECTIVE_TYPES = ("Maximize", "Minimize")
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
EARLY_STOPPING_TYPES = ("Off", "Auto")
WARM_START_TYPES = ("IdenticalDataAndAlgorithm", "TransferLearning")
RANGE_TYPES = {
    "IntegerParameterRanges": "Integer",
    "ContinuousParameterRanges": "Continuous",
    "CategoricalParameterRanges": "Categorical",
}
MAX_NAME_LENGTH = 32  # HyperParameterTuningJobName; trials add "-NNN-<8 hex>"
MAX_RANGES = 30
MAX_CATEGORICAL_VALUES = 30
MAX_PARENTS = 5
# SageMaker's default quotas: 750 training jobs and 10 parallel ones per tuning job, 30 days.
MAX_TRAINING_JOBS = 750
MAX_PARALLEL_TRAINING_JOBS = 10
MIN_TUNING_RUNTIME = 120
MAX_TUNING_RUNTIME = 30 * 24 * 3600
# Static hyperparameters whose value is a natural Hyperband MaxResource (epochs, boosting rounds).
RESOURCE_HYPERPARAMETERS = ("epochs", "num_round", "num_boost_round", "num_epochs", "n_epochs", "max_epochs")

# Service field -> where the API puts it (a top-level field, or a field inside an object).
API_FIELDS: dict[str, tuple[str, ...]] = {
    "source_filename": ("source",),
    "training_max_runtime_seconds": ("max_runtime_seconds",),
    "objective_metric": ("objective", "metric_name"),
    "objective_type": ("objective", "type"),
    "max_training_jobs": ("resource_limits", "max_number_of_training_jobs"),
    "max_parallel_training_jobs": ("resource_limits", "max_parallel_training_jobs"),
    "max_runtime_seconds": ("resource_limits", "max_runtime_seconds"),
    "early_stopping": ("training_job_early_stopping_type",),
    "hyperband_min_resource": ("strategy_config", "hyperband", "min_resource"),
    "hyperband_max_resource": ("strategy_config", "hyperband", "max_resource"),
    "warm_start_parent_names": ("warm_start_config", "parent_tuning_jobs"),
    "warm_start_type": ("warm_start_config", "warm_start_type"),
}
# training_definition_check's field names -> this service's.
_DEFINITION_FIELDS = {
    "hyperparameters": "static_hyperparameters",
    "max_runtime_seconds": "training_max_runtime_seconds",
}


def tuning_prefix(project: Project, name: str) -> str:
    return join_uri(project_prefix(project.name), "tuning-jobs", name or "-")


def _pick(item: dict, *keys: str) -> Any:
    """The first of ``keys`` present in ``item`` (SageMaker's PascalCase or snake_case)."""
    for key in keys:
        if key in item:
            return item[key]
    return None


def _number(raw: Any, *, integer: bool) -> float | int | None:
    """SageMaker sends MinValue/MaxValue as strings; numbers are accepted too."""
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        value = float(str(raw).strip())
    except ValueError:
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    if integer:
        return int(value) if value.is_integer() else None
    return value


def _check_range_against_schema(errors: Errors, algorithm: Algorithm, item: dict) -> None:
    """A built-in's range must name a tunable hyperparameter and stay inside its schema."""
    name, kind = item["name"], item["type"]
    spec = algorithm.hyperparameter(name)
    field = "parameter_ranges"
    if spec is None:
        known = ", ".join(hp.name for hp in algorithm.hyperparameters if hp.tunable)
        errors.add(field, f"{name}: {algorithm.name} has no hyperparameter {name!r} (tunable: {known}).")
        return
    if not spec.tunable:
        errors.add(field, f"{name}: {algorithm.name} does not allow tuning {name!r}.")
        return
    allowed = {"int": ("Integer", "Categorical"), "float": ("Continuous", "Integer", "Categorical")}.get(
        spec.kind, ("Categorical",)
    )
    if kind not in allowed:
        errors.add(field, f"{name} is a {spec.kind} hyperparameter; give it a {' or '.join(allowed)} range.")
        return
    if kind == "Categorical":
        for value in item["values"]:
            try:
                spec.parse(value)
            except ValueError as exc:
                errors.add(field, f"{name}: value {value!r}: {exc}.")
        return
    if spec.min is not None and item["min"] < spec.min:
        errors.add(
            field, f"{name}: MinValue {item['min']:g} is below {algorithm.name}'s minimum {spec.min:g}."
        )
    if spec.max is not None and item["max"] > spec.max:
        errors.add(
            field, f"{name}: MaxValue {item['max']:g} is above {algorithm.name}'s maximum {spec.max:g}."
        )


def check_parameter_ranges(errors: Errors, parameter_ranges: Any) -> list[dict]:
    """SageMaker's ParameterRanges as a list of ``{name, type, min, max, scaling, values}``."""
    field = "parameter_ranges"
    if not isinstance(parameter_ranges, dict):
        errors.add(
            field,
            "Give an object with IntegerParameterRanges, ContinuousParameterRanges and/or "
            "CategoricalParameterRanges.",
        )
        return []
    snake = {re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): key for key in RANGE_TYPES}
    ranges: list[dict] = []
    seen: set[str] = set()
    for key, items in parameter_ranges.items():
        group = key if key in RANGE_TYPES else snake.get(key)
        if group is None:
            errors.add(field, f"Unknown key {key!r}; use {', '.join(RANGE_TYPES)}.")
            continue
        kind = RANGE_TYPES[group]
        if not isinstance(items, list) or any(not isinstance(item, dict) for item in items):
            errors.add(field, f"{key}: give a list of objects.")
            continue
        for item in items:
            name = str(_pick(item, "Name", "name") or "")
            if not 1 <= len(name) <= 256:
                errors.add(field, f"{key}: each range needs a Name (1-256 characters).")
                continue
            if name in seen:
                errors.add(field, f"{name}: tuned by more than one range.")
                continue
            seen.add(name)
            if kind == "Categorical":
                values = _pick(item, "Values", "values")
                if not isinstance(values, list) or not values:
                    errors.add(field, f"{name}: Values must be a non-empty list.")
                    continue
                texts = [_text(value) for value in values]
                if len(texts) > MAX_CATEGORICAL_VALUES:
                    errors.add(field, f"{name}: at most {MAX_CATEGORICAL_VALUES} values.")
                    continue
                if len(set(texts)) != len(texts) or any(not 1 <= len(text) <= 256 for text in texts):
                    errors.add(field, f"{name}: values must be distinct strings of 1-256 characters.")
                    continue
                ranges.append({"name": name, "type": kind, "values": texts})
                continue
            integer = kind == "Integer"
            low = _number(_pick(item, "MinValue", "min_value"), integer=integer)
            high = _number(_pick(item, "MaxValue", "max_value"), integer=integer)
            what = "an integer" if integer else "a number"
            if low is None or high is None:
                errors.add(field, f"{name}: MinValue and MaxValue must each be {what}.")
                continue
            if low >= high:
                errors.add(field, f"{name}: MinValue ({low:g}) must be less than MaxValue ({high:g}).")
                continue
            scaling = str(_pick(item, "ScalingType", "scaling_type") or "Auto")
            if scaling not in SCALING_TYPES:
                errors.add(field, f"{name}: ScalingType must be one of {', '.join(SCALING_TYPES)}.")
                continue
            if scaling == "Logarithmic" and low <= 0:
                errors.add(field, f"{name}: Logarithmic scaling needs MinValue > 0.")
                continue
            if scaling == "ReverseLogarithmic":
                if integer:
                    errors.add(field, f"{name}: ReverseLogarithmic scaling is for continuous ranges only.")
                    continue
                if low < 0 or high >= 1:
                    errors.add(
                        field, f"{name}: ReverseLogarithmic scaling needs 0 <= MinValue < MaxValue < 1."
                    )
                    continue
            ranges.append({"name": name, "type": kind, "min": low, "max": high, "scaling": scaling})
    if not ranges and not errors.get(field):
        errors.add(field, "Give at least one range to tune.")
    if len(ranges) > MAX_RANGES:
        errors.add(field, f"At most {MAX_RANGES} ranges in all.")
    return ranges


def parameter_ranges_dict(ranges: list[dict]) -> dict[str, list[dict]]:
    """The ranges back in SageMaker's shape (MinValue/MaxValue as strings, as the API sends them)."""
    shaped: dict[str, list[dict]] = {key: [] for key in RANGE_TYPES}
    for item in ranges:
        if item["type"] == "Categorical":
            shaped["CategoricalParameterRanges"].append({"Name": item["name"], "Values": item["values"]})
            continue
        key = "IntegerParameterRanges" if item["type"] == "Integer" else "ContinuousParameterRanges"
        shaped[key].append(
            {
                "Name": item["name"],
                "MinValue": f"{item['min']:g}" if item["type"] == "Continuous" else str(item["min"]),
                "MaxValue": f"{item['max']:g}" if item["type"] == "Continuous" else str(item["max"]),
                "ScalingType": item["scaling"],
            }
        )
    return shaped


def grid_size(ranges: list[dict]) -> int:
    return math.prod(len(item["values"]) for item in ranges)


def _representative(item: dict) -> str:
    """A value inside the range, to check a built-in's static hyperparameters with the tuned ones set."""
    if item["type"] == "Categorical":
        return item["values"][0]
    return str(item["min"])


def _check_int(errors: Errors, field: str, value: Any, low: int, high: int, *, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(field, f"{what} must be an integer.")
        return None
    if not low <= value <= high:
        errors.add(field, f"{what} must be between {low} and {high}.")
        return None
    return value


def _data_of(definition: dict) -> list[tuple[str, str]]:
    return sorted((item["name"], item["source_uri"]) for item in definition.get("channels", []))


def _check_parents(
    errors: Errors,
    project: Project,
    names: list[str],
    warm_start_type: str,
    definition: dict,
    objective: dict,
) -> list[dict]:
    field = "warm_start_parent_names"
    if not names:
        return []
    if warm_start_type not in WARM_START_TYPES:
        errors.add("warm_start_type", f"Use one of {', '.join(WARM_START_TYPES)}.")
    if len(names) > MAX_PARENTS:
        errors.add(field, f"At most {MAX_PARENTS} parent tuning jobs.")
        return []
    if len(set(names)) != len(names):
        errors.add(field, "A parent tuning job is named twice.")
        return []
    found = {
        job.name: job for job in Job.objects.filter(project=project, kind=JobKind.TUNING, name__in=names)
    }
    parents = []
    for name in names:
        parent = found.get(name)
        if parent is None:
            errors.add(field, f"No tuning job named {name!r} in {project.name}.")
            continue
        if not parent.is_terminal:
            errors.add(field, f"{name} is {parent.status}; a parent must have ended (Completed or Stopped).")
            continue
        theirs = parent.spec.get("training_definition", {})
        if (theirs.get("algorithm") or {}).get("name") != (definition.get("algorithm") or {}).get("name"):
            errors.add(field, f"{name} tuned another algorithm; warm start needs the same one.")
            continue
        if parent.spec.get("objective") != objective:
            their = parent.spec.get("objective", {})
            errors.add(
                field,
                f"{name} {str(their.get('type', '')).lower()}d {their.get('metric_name')}; warm start needs "
                f"the same objective ({objective['type']} {objective['metric_name']}).",
            )
            continue
        if warm_start_type == "IdenticalDataAndAlgorithm" and _data_of(theirs) != _data_of(definition):
            errors.add(
                field, f"{name} trained on other data; use warm_start_type TransferLearning to start from it."
            )
            continue
        parents.append({"name": parent.name, "uuid": str(parent.uuid)})
    return parents


def tuning_job_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: str,
    # The training definition every trial runs (as training_job_create takes it).
    algorithm: str = "",
    source_file: BinaryIO | None = None,
    source_filename: str = "",
    source_uri: str = "",
    entry_point: str = "",
    channels: Iterable[dict] = (),
    static_hyperparameters: dict | None = None,
    instance_type: str = "ml.m5.large",
    instance_count: int = 1,
    training_max_runtime_seconds: int | None = None,
    metric_definitions: list[dict] | None = None,
    environment: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    framework: str = "",
    framework_version: str = "",
    # HyperParameterTuningJobConfig.
    strategy: str = "Bayesian",
    objective_metric: str = "",
    objective_type: str = "",
    parameter_ranges: dict | None = None,
    max_training_jobs: int | None = None,
    max_parallel_training_jobs: int = 1,
    max_runtime_seconds: int | None = None,
    early_stopping: str = "Off",
    hyperband_min_resource: int | None = None,
    hyperband_max_resource: int | None = None,
    warm_start_parent_names: list[str] | None = None,
    warm_start_type: str = "IdenticalDataAndAlgorithm",
    client_token: str | None = None,
    backend: str = "",
) -> tuple[Job, bool]:
    """Validate a tuning-job request, store its code once, create the job and queue it.

    ``max_runtime_seconds`` is the tuning job's own limit (ResourceLimits.MaxRuntimeInSeconds);
    ``training_max_runtime_seconds`` is each trial's (StoppingCondition). For a built-in the
    objective defaults to the algorithm's. Returns ``(job, created)``; a retried request with the
    same ``client_token`` gets the job the first one made. Raises ValidationError naming every
    field that is wrong (this service's argument names; ``API_FIELDS`` maps them for the API).
    """
    kind = JobKind.TUNING
    source_file = upload_read(source_file, settings.STUDIO_MAX_SOURCE_BYTES)
    channels = list(channels)
    static_hyperparameters = static_hyperparameters if static_hyperparameters is not None else {}
    parameter_ranges = parameter_ranges if parameter_ranges is not None else {}
    parents_named = list(warm_start_parent_names or [])
    fingerprint = request_fingerprint(
        name=name,
        algorithm=algorithm,
        source_sha256=upload_sha256(source_file),
        source_uri=source_uri,
        entry_point=entry_point,
        channels=channels,
        static_hyperparameters=static_hyperparameters,
        instance_type=instance_type,
        instance_count=instance_count,
        training_max_runtime_seconds=training_max_runtime_seconds,
        metric_definitions=metric_definitions,
        environment=environment,
        tags=tags,
        framework=framework,
        framework_version=framework_version,
        strategy=strategy,
        objective_metric=objective_metric,
        objective_type=objective_type,
        parameter_ranges=parameter_ranges,
        max_training_jobs=max_training_jobs,
        max_parallel_training_jobs=max_parallel_training_jobs,
        max_runtime_seconds=max_runtime_seconds,
        early_stopping=early_stopping,
        hyperband_min_resource=hyperband_min_resource,
        hyperband_max_resource=hyperband_max_resource,
        warm_start_parent_names=parents_named,
        warm_start_type=warm_start_type,
        backend=backend,
    )
    existing = job_for_token(project, kind, client_token, fingerprint)
    if existing is not None:
        return existing, False

    errors = Errors()
    if len(name or "") > MAX_NAME_LENGTH:
        errors.add("name", f"Tuning job names have at most {MAX_NAME_LENGTH} characters (got {len(name)}).")
    else:
        check_name(errors, project, kind, name)
    backend = check_backend(errors, project, backend)
    if strategy not in STRATEGIES:
        errors.add("strategy", f"Unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}.")
    builtin: Algorithm | None = None
    if algorithm:
        with contextlib.suppress(UnknownAlgorithm):  # training_definition_check reports it
            builtin = algorithm_get(algorithm)
    if not isinstance(static_hyperparameters, dict):
        errors.add("static_hyperparameters", "Give a JSON object of name: value.")
        static_hyperparameters = {}

    # The ranges, against the algorithm's schema for a built-in.
    ranges = check_parameter_ranges(errors, parameter_ranges)
    usable = []
    for item in ranges:
        before = len(errors.get("parameter_ranges", []))
        if item["name"] in static_hyperparameters:
            errors.add(
                "parameter_ranges",
                f"{item['name']} is tuned and also a static hyperparameter; remove it from one of them.",
            )
        if builtin is not None:
            _check_range_against_schema(errors, builtin, item)
        if len(errors.get("parameter_ranges", [])) == before:
            usable.append(item)
    if strategy == "Grid":
        continuous = [item["name"] for item in ranges if item["type"] != "Categorical"]
        if continuous:
            errors.add(
                "parameter_ranges",
                f"Grid search takes categorical ranges only; {', '.join(continuous)} "
                f"{'is' if len(continuous) == 1 else 'are'} not.",
            )

    # The training definition: a built-in is checked with a value of each tuned hyperparameter set,
    # so required ones that are tuned (num_round, k) count as given; trials are re-checked whole.
    checked_hyperparameters = dict(static_hyperparameters)
    if builtin is not None:
        checked_hyperparameters.update({item["name"]: _representative(item) for item in usable})
    definition_errors = Errors()
    definition, source = training_definition_check(
        definition_errors,
        project,
        algorithm=algorithm,
        source_file=source_file,
        source_filename=source_filename,
        source_uri=source_uri,
        entry_point=entry_point,
        channels=channels,
        hyperparameters=checked_hyperparameters,
        instance_type=instance_type,
        instance_count=instance_count,
        max_runtime_seconds=training_max_runtime_seconds,
        metric_definitions=metric_definitions or [],
        checkpoint_uri="",
        environment=environment or {},
        tags=tags or {},
        backend=backend,
        framework=framework,
        framework_version=framework_version,
    )
    for field, messages in definition_errors.items():
        for message in messages:
            errors.add(_DEFINITION_FIELDS.get(field, field), message)
    definition["hyperparameters"] = {
        key: value for key, value in definition["hyperparameters"].items() if key in static_hyperparameters
    }

    # The objective: a metric the definition emits (a built-in's by channel, or the user's regexes).
    if builtin is not None and not objective_metric:
        objective_metric = builtin.default_objective
    if builtin is not None and objective_metric and not objective_type:
        metric = builtin.metric(objective_metric.partition(":")[2])
        objective_type = metric.direction if metric else ""
    if objective_type not in OBJECTIVE_TYPES:
        errors.add("objective_type", f"Use Maximize or Minimize, not {objective_type!r}.")
    emitted = [item["name"] for item in definition["metric_definitions"]]
    if not objective_metric:
        errors.add("objective_metric", "Name the metric to optimise (one of the metric definitions).")
    elif not any(field in definition_errors for field in ("algorithm", "channels", "metric_definitions")):
        if objective_metric not in emitted:
            errors.add(
                "objective_metric",
                f"{objective_metric!r} is not a metric the training jobs emit; "
                f"use one of {', '.join(emitted) or '(none: add metric definitions)'}.",
            )
        elif builtin is not None and objective_type in OBJECTIVE_TYPES:
            metric = builtin.metric(objective_metric.partition(":")[2])
            if metric is not None and metric.direction != objective_type:
                errors.add(
                    "objective_type",
                    f"{objective_metric} is to be {metric.direction.lower()}d, "
                    f"not {objective_type.lower()}d.",
                )

    # Limits.
    max_parallel = _check_int(
        errors,
        "max_parallel_training_jobs",
        max_parallel_training_jobs,
        1,
        MAX_PARALLEL_TRAINING_JOBS,
        what="MaxParallelTrainingJobs",
    )
    max_jobs = _check_int(
        errors, "max_training_jobs", max_training_jobs, 1, MAX_TRAINING_JOBS, what="MaxNumberOfTrainingJobs"
    )
    if strategy == "Grid" and ranges and "parameter_ranges" not in errors:
        combinations = grid_size(ranges)
        if combinations > MAX_TRAINING_JOBS:
            errors.add(
                "parameter_ranges",
                f"The grid has {combinations} combinations; at most {MAX_TRAINING_JOBS} training jobs.",
            )
        max_jobs = combinations if max_jobs is None else min(max_jobs, combinations)
    elif max_training_jobs is None and strategy != "Grid":
        errors.add("max_training_jobs", "Give MaxNumberOfTrainingJobs (Grid search counts it for you).")
    if max_parallel is not None and max_jobs is not None and max_parallel > max_jobs:
        errors.add(
            "max_parallel_training_jobs",
            f"MaxParallelTrainingJobs ({max_parallel}) cannot exceed MaxNumberOfTrainingJobs ({max_jobs}).",
        )
    tuning_runtime = _check_int(
        errors,
        "max_runtime_seconds",
        max_runtime_seconds,
        MIN_TUNING_RUNTIME,
        MAX_TUNING_RUNTIME,
        what="MaxRuntimeInSeconds",
    )

    # Early stopping and Hyperband.
    if early_stopping not in EARLY_STOPPING_TYPES:
        errors.add("early_stopping", f"Use Off or Auto, not {early_stopping!r}.")
    hyperband: dict = {}
    if strategy == "Hyperband":
        if early_stopping != "Off":
            errors.add("early_stopping", "Hyperband stops training jobs itself; set early stopping to Off.")
        min_resource = _check_int(
            errors,
            "hyperband_min_resource",
            1 if hyperband_min_resource is None else hyperband_min_resource,
            1,
            1_000_000,
            what="MinResource",
        )
        max_resource = hyperband_max_resource
        if max_resource is None:
            key = next((key for key in RESOURCE_HYPERPARAMETERS if key in static_hyperparameters), None)
            parsed = _number(static_hyperparameters.get(key), integer=True) if key else None
            if parsed is None:
                errors.add(
                    "hyperband_max_resource",
                    "Give MaxResource (the most epochs or rounds a training job runs), or a static "
                    f"hyperparameter it can be read from ({', '.join(RESOURCE_HYPERPARAMETERS)}).",
                )
            max_resource = parsed
        max_resource = _check_int(
            errors, "hyperband_max_resource", max_resource, 1, 1_000_000, what="MaxResource"
        )
        if min_resource is not None and max_resource is not None:
            if max_resource <= min_resource:
                errors.add("hyperband_max_resource", "MaxResource must be greater than MinResource.")
            hyperband = {"min_resource": min_resource, "max_resource": max_resource}
    elif hyperband_min_resource is not None or hyperband_max_resource is not None:
        errors.add("hyperband_min_resource", "MinResource and MaxResource are for the Hyperband strategy.")

    objective = {"type": objective_type, "metric_name": objective_metric}
    parents = _check_parents(errors, project, parents_named, warm_start_type, definition, objective)
    errors.raise_if_any()
    assert max_jobs is not None  # checked above
    assert max_parallel is not None

    job_uuid = uuid.uuid4()
    stored, definition["code"] = training_source_store(
        tuning_prefix(project, name), job_uuid, source, definition["code"]
    )
    spec = {
        "strategy": strategy,
        "objective": objective,
        "ranges": ranges,
        "resource_limits": {
            "max_number_of_training_jobs": max_jobs,
            "max_parallel_training_jobs": max_parallel,
            "max_runtime_seconds": tuning_runtime,
        },
        "training_job_early_stopping_type": early_stopping,
        "strategy_config": {"hyperband": hyperband} if hyperband else {},
        "warm_start": {"parents": parents, "type": warm_start_type} if parents else None,
        "training_definition": definition,
        # Samplers are rebuilt at each step; a seed per job keeps a job's suggestions reproducible.
        "seed": int(job_uuid.hex[:8], 16),
        "best_training_job": None,
        "request_sha256": fingerprint,
    }
    return job_insert_once(
        uuid=job_uuid,
        project=project,
        kind=kind,
        name=name,
        created_by=user,
        client_token=client_token,
        fingerprint=fingerprint,
        instance_type=definition["instance_type"],
        instance_count=definition["instance_count"],
        max_runtime_seconds=tuning_runtime or MAX_TUNING_RUNTIME,
        metric_definitions=definition["metric_definitions"],
        tags=definition["tags"],
        spec=copy.deepcopy(spec),
        script=stored,
        backend=backend,
    )


def tuning_job_stop(*, job: Job, user: AbstractBaseUser | None) -> Job:
    """StopHyperParameterTuningJob: the job goes Stopping, its running trials are stopped, and it
    ends Stopped once none is left running (at once when none was)."""
    from jobs.tuning import tuning_advance  # the engine imports the services

    job = job_stop(job=job, user=user)
    if job.status == JobStatus.STOPPING:
        tuning_advance(job.pk)
        job.refresh_from_db()
    return job


def trial_hyperparameters(definition: dict, tuned: dict[str, Any]) -> dict[str, str]:
    """A trial's HyperParameters: the static ones and the tuned ones, all strings.

    A built-in's are re-checked whole against its schema (cross-field rules included); raises
    HyperparameterError when the combination is not allowed.
    """
    values = {**definition.get("hyperparameters", {}), **{key: _text(value) for key, value in tuned.items()}}
    builtin = (definition.get("algorithm") or {}).get("name")
    if builtin:
        return algorithm_get(builtin).validate(values)
    return values


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, ".10g")
    return str(value)
