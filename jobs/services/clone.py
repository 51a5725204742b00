"""Run a job again under another name, on the same or the other backend ("Run on SageMaker").

The clone is the same definition: code, data, hyperparameters, instance type and limits are
the job's own. Only what is named after the job moves with the new name: the outputs Studio
derived from the job's name (``<project>/<kind>-jobs/<name>/...``), so the two never overwrite
each other's files.
"""

from __future__ import annotations

import copy

from django.contrib.auth.models import AbstractBaseUser

from jobs.models import Backend, Job, JobKind
from jobs.selectors import job_free_name
from jobs.services.common import Errors, check_backend, check_name, job_insert_once
from jobs.services.training import MAX_LOCAL_INSTANCES
from jobs.services.transform import NOT_LOCAL_SPLIT_TYPES
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


def _check_for_backend(errors: Errors, job: Job, backend: str) -> None:
    """What the other backend does not run: the local one runs processing and transform jobs on one
    instance, built-ins on one, no Pipe channels and no RecordIO/TFRecord splits."""
    if job.tuning_job_id and job.tuning_job.backend == Backend.SAGEMAKER:
        errors.add(
            "backend",
            f"{job.name} is a training job SageMaker launched for tuning job {job.tuning_job.name}; "
            "clone the tuning job instead.",
        )
        return
    if backend != Backend.LOCAL:
        return
    definition = job.spec.get("training_definition", job.spec) if job.kind == JobKind.TUNING else job.spec
    if job.kind in (JobKind.PROCESSING, JobKind.TRANSFORM):
        limit = 1
    else:
        limit = 1 if definition.get("algorithm") else MAX_LOCAL_INSTANCES
    if job.instance_count > limit:
        errors.add(
            "instance_count",
            f"The local backend runs this job on at most {limit} instance(s), not {job.instance_count}.",
        )
    if any(item.get("input_mode") == "Pipe" for item in definition.get("channels", [])):
        errors.add("channels", "Pipe input mode is not available on the local backend.")
    split_type = job.spec.get("input", {}).get("split_type") if job.kind == JobKind.TRANSFORM else None
    if split_type in NOT_LOCAL_SPLIT_TYPES:
        errors.add("split_type", f"{split_type} records are not read on the local backend.")


def job_clone(*, job: Job, user: AbstractBaseUser | None, name: str, backend: str) -> Job:
    """A new job with ``job``'s definition on ``backend``, queued; ValidationError names the field.

    A trial of a tuning job is cloned as a plain training job. Raises ValidationError.
    """
    errors = Errors()
    check_name(errors, job.project, job.kind, name)
    if job.kind == JobKind.TUNING and len(name) > TUNING_NAME_LIMIT:
        errors.add("name", f"Tuning job names have at most {TUNING_NAME_LIMIT} characters.")
    backend = check_backend(errors, job.project, backend)
    if not errors:
        _check_for_backend(errors, job, backend)
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
    """``<name>-sagemaker`` (or ``-local``; ``-2``, ``-3``... when taken), cut to fit the kind's
    name limit."""
    limit = TUNING_NAME_LIMIT if job.kind == JobKind.TUNING else 63
    suffix = f"-{backend}"
    room = limit - len(suffix) - 3  # what a "-NN" the free name may need
    return job_free_name(job.project, job.kind, f"{job.name[:room].rstrip('-')}{suffix}")
