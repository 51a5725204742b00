"""Baselines: a job computes ``statistics.json`` and ``constraints.json`` of a dataset version;
edited constraints are saved as a new version of the same name.

The job is a built-in processing job (``monitoring.runtime.baseline``). Its completion hook reads
both files, checks they parse, and records them before the job is Completed, so a Completed baseline
always has both. A job only calls its hook when it succeeds: a failed or stopped job is found by
``baselines_reconcile`` (run by beat every minute, and on every read of one baseline) and its
baseline marked Failed with the job's reason.
"""

from __future__ import annotations

import math
import re
import uuid

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from datasets.models import DataFormat, DatasetVersion
from jobs.models import Job
from jobs.services import builtin_job_create
from monitoring.models import Baseline, BaselineStatus
from monitoring.services.common import (
    MAX_ARGUMENT_CHARS,
    ReportError,
    compact,
    failed_jobs_reconcile,
    job_name,
    json_put,
    json_read,
    monitoring_prefix,
    output_uri,
)
from studio.artifacts import join_uri
from studio.models import NAME_REGEX, Project
from studio.services import audit_record

BASELINE_MODULE = "monitoring.runtime.baseline"
COMPLETION_HOOK = "monitoring.services.baselines.baseline_job_completed"
BASELINE_OUTPUT = "baseline"
STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
COMPARISON_METHODS = ("Robust", "Simple")
ENABLED_VALUES = ("Enabled", "Disabled")


def _user_or_none(user: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return user if user is not None and user.is_authenticated else None


def version_resolve(project: Project, reference: DatasetVersion | str, field: str) -> DatasetVersion:
    """A dataset version given as itself or as ``dataset://name/N``; 400 naming ``field`` if none."""
    if isinstance(reference, DatasetVersion):
        if reference.dataset.project_id != project.pk:
            raise ValidationError({field: f"That dataset version is not in {project.name}."})
        return reference
    from datasets.selectors import version_for_reference

    text = str(reference or "").strip()
    if not text.startswith("dataset://"):
        raise ValidationError({field: "Name a dataset version as dataset://<name>/<number>."})
    try:
        return version_for_reference(project, text)
    except LookupError as exc:
        raise ValidationError({field: str(exc)}) from exc


def _next_version(project: Project, name: str) -> int:
    latest = Baseline.objects.filter(project=project, name=name).aggregate(top=Max("version"))["top"]
    return (latest or 0) + 1


def baseline_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: str,
    dataset_version: DatasetVersion | str,
    target_column: str = "",
    instance_type: str = "ml.m5.large",
) -> Baseline:
    """Start baselining a dataset version. A name already in use gets its next version (baselining
    the new training data of the same model); the job is queued once the rows are committed."""

    errors: dict[str, str] = {}
    if not re.match(NAME_REGEX, name or ""):
        errors["name"] = "Use 1-63 letters, digits or hyphens, starting and ending with a letter or digit."
    try:
        version = version_resolve(project, dataset_version, "dataset_version")
    except ValidationError as exc:
        errors.update({key: value[0] for key, value in exc.message_dict.items()})
        version = None
    target_column = (target_column or "").strip()
    if version is not None:
        if version.format == DataFormat.ARCHIVE:
            errors["dataset_version"] = "That version is an archive of files; baselines are made of tables."
        columns = [column.get("name") for column in version.schema or []]
        if target_column and columns and target_column not in columns:
            errors["target_column"] = (
                f"{target_column!r} is not a column of {version.dataset.name} v{version.number}."
            )
    if errors:
        raise ValidationError(errors)
    assert version is not None
    arguments = ["--format", version.format]
    read_options = compact(version.read_options or {})
    if len(read_options) <= MAX_ARGUMENT_CHARS:
        arguments += ["--read-options", read_options]
    if target_column:
        arguments += ["--target", target_column]
    token = uuid.uuid4()
    for _attempt in range(3):
        number = _next_version(project, name)
        try:
            with transaction.atomic():
                job = builtin_job_create(
                    project=project,
                    user=user,
                    name=job_name("baseline", f"{name}-v{number}", token),
                    module=BASELINE_MODULE,
                    inputs=[{"name": "data", "source_uri": version.uri}],
                    outputs=[{"name": BASELINE_OUTPUT}],
                    arguments=arguments,
                    instance_type=instance_type,
                    on_complete=COMPLETION_HOOK,
                    context={"baseline": str(token)},
                )
                baseline = Baseline.objects.create(
                    uuid=token,
                    project=project,
                    name=name,
                    version=number,
                    dataset_version=version,
                    source_uri=f"dataset://{version.dataset.name}/{version.number}",
                    target_column=target_column,
                    job=job,
                    created_by=_user_or_none(user),
                )
                audit_record(
                    actor=user,
                    action="create",
                    target_type="baseline",
                    target_name=f"{name}/v{number}",
                    project=project,
                    details={"job": job.name, "dataset_version": baseline.source_uri},
                )
            return baseline
        except IntegrityError:
            continue  # another request took this version number: take the next
    raise ValidationError({"name": f"Could not number a new version of {name!r}; try again."})


def baseline_job_completed(job: Job) -> None:
    """The baselining job's completion hook: read both files, then record them on the baseline.

    Raising fails the job (with the message as its reason); the baseline then fails with it.
    """
    baseline = Baseline.objects.filter(uuid=job.spec.get("context", {}).get("baseline"), job=job).first()
    if baseline is None:
        raise ReportError("the baseline this job was making no longer exists")
    folder = output_uri(job, BASELINE_OUTPUT)
    statistics_uri = join_uri(folder, STATISTICS_FILE)
    constraints_uri = join_uri(folder, CONSTRAINTS_FILE)
    statistics = json_read(statistics_uri)
    constraints = json_read(constraints_uri)
    if not isinstance(statistics.get("features"), list) or not isinstance(constraints.get("features"), list):
        raise ReportError("statistics.json and constraints.json must each list the features")
    Baseline.objects.filter(pk=baseline.pk).update(
        status=BaselineStatus.COMPLETED,
        statistics=statistics,
        constraints=constraints,
        statistics_uri=statistics_uri,
        constraints_uri=constraints_uri,
        failure_reason="",
    )


def baselines_reconcile(baselines: list[Baseline] | None = None) -> int:
    """Mark InProgress baselines whose job failed or was stopped as Failed, with the job's reason.

    ``baselines``: only these (a page being read); None: every one in progress. Returns how many
    changed.
    """
    return failed_jobs_reconcile(
        Baseline,
        baselines,
        active=(BaselineStatus.IN_PROGRESS,),
        failed=BaselineStatus.FAILED,
        label="baselining",
    )


# --- constraints ----------------------------------------------------------------------------------


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_fraction(errors: dict, field: str, value: object, *, upper: float | None = 1.0) -> None:
    if not _number(value) or value < 0 or (upper is not None and value > upper):
        bound = f"from 0 to {upper:g}" if upper is not None else "of at least 0"
        errors.setdefault(field, f"Must be a number {bound}, got {value!r}.")


def monitoring_config_check(errors: dict, config: object, prefix: str) -> None:
    """SageMaker's ``monitoring_config`` (thresholds, switches, distribution constraints), the
    errors named under ``prefix``: of constraints.json, or of a schedule's or report's config."""
    if not isinstance(config, dict):
        errors[prefix] = "An object."
        config = {}
    for key in ("datatype_check_threshold", "domain_content_threshold"):
        if key in config:
            _check_fraction(errors, f"{prefix}.{key}", config[key])
    for key in ("evaluate_constraints", "emit_metrics"):
        if key in config and config[key] not in ENABLED_VALUES and not isinstance(config[key], bool):
            errors[f"{prefix}.{key}"] = "Enabled or Disabled."
    distribution = config.get("distribution_constraints", {})
    if not isinstance(distribution, dict):
        errors[f"{prefix}.distribution_constraints"] = "An object."
        distribution = {}
    if "comparison_threshold" in distribution:
        _check_fraction(
            errors,
            f"{prefix}.distribution_constraints.comparison_threshold",
            distribution["comparison_threshold"],
        )
    if "comparison_method" in distribution and distribution["comparison_method"] not in COMPARISON_METHODS:
        errors[f"{prefix}.distribution_constraints.comparison_method"] = "Robust or Simple."
    if "perform_comparison" in distribution and (
        distribution["perform_comparison"] not in ENABLED_VALUES
        and not isinstance(distribution["perform_comparison"], bool)
    ):
        errors[f"{prefix}.distribution_constraints.perform_comparison"] = "Enabled or Disabled."


def constraints_check(constraints: object, known_features: set[str]) -> dict:
    """``constraints`` if it is constraints.json's shape with known features and thresholds in range;
    else a ValidationError naming each bad field (``features[2].completeness``)."""
    errors: dict[str, str] = {}
    if not isinstance(constraints, dict):
        raise ValidationError(
            {"constraints": "Send constraints.json: an object with features and monitoring_config."}
        )
    features = constraints.get("features")
    if not isinstance(features, list):
        errors["features"] = "A list of feature constraints."
        features = []
    seen: set[str] = set()
    for index, feature in enumerate(features):
        where = f"features[{index}]"
        if not isinstance(feature, dict):
            errors[where] = "An object with name, inferred_type, completeness."
            continue
        name = feature.get("name")
        if not isinstance(name, str) or name not in known_features:
            errors[f"{where}.name"] = f"{name!r} is not a feature of the baseline."
        elif name in seen:
            errors[f"{where}.name"] = f"{name!r} appears twice."
        seen.add(str(name))
        if "inferred_type" in feature and feature["inferred_type"] not in (
            "Integral",
            "Fractional",
            "String",
            "Unknown",
        ):
            errors[f"{where}.inferred_type"] = "One of Integral, Fractional, String, Unknown."
        if "completeness" in feature:
            _check_fraction(errors, f"{where}.completeness", feature["completeness"])
        numeric = feature.get("num_constraints")
        if numeric is not None and (
            not isinstance(numeric, dict) or not isinstance(numeric.get("is_non_negative", False), bool)
        ):
            errors[f"{where}.num_constraints.is_non_negative"] = "true or false."
        strings = feature.get("string_constraints")
        if strings is not None:
            domains = strings.get("domains") if isinstance(strings, dict) else None
            if not isinstance(domains, list) or not all(isinstance(item, str) for item in domains):
                errors[f"{where}.string_constraints.domains"] = "A list of strings."
    monitoring_config_check(errors, constraints.get("monitoring_config", {}), "monitoring_config")
    if errors:
        raise ValidationError(errors)
    return constraints


def baseline_constraints_update(
    *, baseline: Baseline, user: AbstractBaseUser | None, constraints: dict
) -> Baseline:
    """Save edited constraints as the next version of ``baseline``'s name (its parent is
    ``baseline``). Both files of the new version sit in one folder, so a job reads them as one input."""
    if baseline.status != BaselineStatus.COMPLETED:
        raise ValidationError(
            {"baseline": f"{baseline} is {baseline.status}; only a Completed baseline can be edited."}
        )
    known = {
        str(feature.get("name"))
        for feature in baseline.statistics.get("features", [])
        if isinstance(feature, dict)
    }
    known |= {
        str(feature.get("name"))
        for feature in baseline.constraints.get("features", [])
        if isinstance(feature, dict)
    }
    checked = constraints_check(constraints, known)
    checked.setdefault("version", baseline.constraints.get("version", 0.0))
    project = baseline.project
    for _attempt in range(3):
        number = _next_version(project, baseline.name)
        token = uuid.uuid4()
        folder = monitoring_prefix(project, "baselines", baseline.name, f"v{number}-{token.hex[:8]}")
        statistics_uri = json_put(join_uri(folder, STATISTICS_FILE), baseline.statistics)
        constraints_uri = json_put(join_uri(folder, CONSTRAINTS_FILE), checked)
        try:
            with transaction.atomic():
                edited = Baseline.objects.create(
                    uuid=token,
                    project=project,
                    name=baseline.name,
                    version=number,
                    dataset_version=baseline.dataset_version,
                    source_uri=baseline.source_uri,
                    target_column=baseline.target_column,
                    job=baseline.job,
                    status=BaselineStatus.COMPLETED,
                    statistics=baseline.statistics,
                    constraints=checked,
                    statistics_uri=statistics_uri,
                    constraints_uri=constraints_uri,
                    parent=baseline,
                    created_by=_user_or_none(user),
                    created_at=timezone.now(),
                )
                audit_record(
                    actor=user,
                    action="update",
                    target_type="baseline",
                    target_name=f"{baseline.name}/v{number}",
                    project=project,
                    details={"parent": baseline.version},
                )
            return edited
        except IntegrityError:
            continue
    raise ValidationError({"constraints": "Could not number the new version; try again."})


def baseline_folder(baseline: Baseline) -> str:
    """The folder holding the baseline's statistics.json and constraints.json."""
    return baseline.constraints_uri.rsplit("/", 1)[0]
