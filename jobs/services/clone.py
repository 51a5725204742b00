"""Run a job again under another name, on the same or the other backend ("Run on SageMaker").

The clone is the same definition: code, data, hyperparameters, instance type and limits are
the job's own. Only what is named after the job moves with the new name: the outputs Studio
derived from the job's name (``<project>/<kind>-jobs/<name>/...``), so the two never overwrite
each other's files.
"""

from __future__ import annotations

import copy

from django.contrib.auth.models import AbstractBaseUser

from jobs.models import Job, JobKind
from jobs.services.common import Errors, check_backend, check_name, job_insert_once
from jobs.services.tuning import MAX_NAME_LENGTH as TUNING_NAME_LIMIT
from studio.artifacts import join_uri, project_prefix

# Per job, never copied: what a run produced or how the earlier request was retried.
NOT_CLONED = ("request_sha256",)


def _job_prefix(job: Job, name: str) -> str:
    return join_uri(project_prefix(job.project.name), f"{job.kind}-jobs", name)


def _moved(uri: str, old: str, new: str) -> str:
    if uri == old or uri.startswith(old + "/"):
        return new + uri[len(old) :]
    return uri


def _spec_for(job: Job, name: str) -> dict:
    spec = {key: value for key, value in copy.deepcopy(job.spec).items() if key not in NOT_CLONED}
    old, new = _job_prefix(job, job.name), _job_prefix(job, name)
    if job.kind == JobKind.TRAINING and spec.get("output_uri"):
        spec["output_uri"] = _moved(spec["output_uri"], old, new)
    elif job.kind == JobKind.PROCESSING:
        for item in spec.get("outputs", []):
            item["destination_uri"] = _moved(item["destination_uri"], old, new)
    elif job.kind == JobKind.TRANSFORM:
        spec["output"]["uri"] = _moved(spec["output"]["uri"], old, new)
    elif job.kind == JobKind.TUNING:
        spec["best_training_job"] = None
    return spec


def job_clone(*, job: Job, user: AbstractBaseUser | None, name: str, backend: str) -> Job:
    """A new job with ``job``'s definition on ``backend``, queued; ValidationError names the field.

    A trial of a tuning job is cloned as a plain training job. Raises ValidationError.
    """
    errors = Errors()
    check_name(errors, job.project, job.kind, name)
    if job.kind == JobKind.TUNING and len(name) > TUNING_NAME_LIMIT:
        errors.add("name", f"Tuning job names have at most {TUNING_NAME_LIMIT} characters.")
    backend = check_backend(errors, job.project, backend)
    errors.raise_if_any()
    clone, _ = job_insert_once(
        project=job.project,
        kind=job.kind,
        name=name,
        created_by=user,
        instance_type=job.instance_type,
        instance_count=job.instance_count,
        max_runtime_seconds=job.max_runtime_seconds,
        metric_definitions=job.metric_definitions,
        tags=job.tags,
        spec=_spec_for(job, name),
        backend=backend,
    )
    return clone


def clone_name_suggestion(job: Job, backend: str) -> str:
    """``<name>-sagemaker`` (or ``-local``), cut to fit the kind's name limit."""
    limit = TUNING_NAME_LIMIT if job.kind == JobKind.TUNING else 63
    suffix = f"-{backend}"
    return f"{job.name[: limit - len(suffix)].rstrip('-')}{suffix}"
