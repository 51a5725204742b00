"""Processing jobs: a user's script, or one of Studio's own modules, over inputs to outputs."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from jobs.models import Job, JobKind
from jobs.services.common import (
    Errors,
    check_arguments,
    check_backend,
    check_environment,
    check_inputs,
    check_metric_definitions,
    check_name,
    check_outputs,
    check_resources,
    check_script_file,
    job_for_token,
    job_insert_once,
    max_instances_for,
    max_runtime_or_default,
    request_fingerprint,
    upload_read,
    upload_sha256,
)
from studio.artifacts import ArtifactError, check_project_uri, join_uri, project_prefix, store_for
from studio.models import Project


def processing_job_create(
    *,
    project: Project,
    user: AbstractBaseUser,
    name: str,
    script_file: BinaryIO | None = None,
    script_filename: str = "",
    script_uri: str = "",
    inputs: Iterable[dict] = (),
    outputs: Iterable[dict] = (),
    arguments: list[str] | None = None,
    environment: dict[str, str] | None = None,
    instance_type: str = "ml.m5.large",
    instance_count: int = 1,
    max_runtime_seconds: int | None = None,
    metric_definitions: list[dict] | None = None,
    client_token: str | None = None,
    backend: str = "",
) -> tuple[Job, bool]:
    """Validate a processing-job request, store its script, create the job and queue it.

    Returns ``(job, created)``: a retried request with the same ``client_token`` gets the job
    the first one made. Nothing is stored unless the whole request is valid.
    """
    kind = JobKind.PROCESSING
    script_file = upload_read(script_file, settings.STUDIO_MAX_SCRIPT_BYTES)
    fingerprint = request_fingerprint(
        name=name,
        script_sha256=upload_sha256(script_file),
        script_uri=script_uri,
        inputs=list(inputs),
        outputs=list(outputs),
        arguments=arguments,
        environment=environment,
        instance_type=instance_type,
        instance_count=instance_count,
        max_runtime_seconds=max_runtime_seconds,
        metric_definitions=metric_definitions,
        backend=backend,
    )
    existing = job_for_token(project, kind, client_token, fingerprint)
    if existing is not None:
        return existing, False
    max_runtime = max_runtime_or_default(max_runtime_seconds)
    job_uuid = uuid.uuid4()
    job_prefix = join_uri(project_prefix(project.name), "processing-jobs", name or "-")

    errors = Errors()
    check_name(errors, project, kind, name)
    backend = check_backend(errors, project, backend)
    check_resources(
        errors, instance_type, instance_count, max_runtime, max_instances=max_instances_for(backend, 1)
    )
    script_content = None
    if bool(script_file) == bool(script_uri):
        errors.add("script", "Upload a script file, or give script_uri (one of the two).")
    elif script_file is not None:
        script_content = check_script_file(errors, script_filename or "script.py", script_file)
    else:
        try:
            script_uri = check_project_uri(project.name, script_uri)
            if not script_uri.endswith(".py") or not store_for(script_uri).exists(script_uri):
                raise ArtifactError(f"{script_uri} is not an existing .py file")
            # The same checks as an uploaded script; the job then stores its own copy of what was read.
            script_filename = script_uri.rsplit("/", 1)[-1]
            script_errors = Errors()
            with store_for(script_uri).open(script_uri) as handle:
                script_content = check_script_file(script_errors, script_filename, handle)
            for message in script_errors.get("script", []):
                errors.add("script_uri", message)
        except ArtifactError as exc:
            errors.add("script_uri", str(exc))
    checked_inputs = check_inputs(errors, project, inputs)
    checked_outputs = check_outputs(errors, project, job_prefix, outputs)
    checked_arguments = check_arguments(errors, list(arguments or []))
    checked_environment = check_environment(errors, dict(environment or {}))
    checked_metrics = check_metric_definitions(errors, list(metric_definitions or []))
    errors.raise_if_any()

    assert script_content is not None  # every valid request has read its script by now
    # The job's own folder carries its uuid, so a racing create of the same name writes elsewhere.
    script_uri = join_uri(job_prefix, str(job_uuid), "code", script_filename or "script.py")
    stored = store_for(script_uri).put(script_uri, io.BytesIO(script_content))
    spec = {
        "script": {"uri": stored.uri, "filename": stored.uri.rsplit("/", 1)[-1], "sha256": stored.sha256},
        "inputs": checked_inputs,
        "outputs": checked_outputs,
        "arguments": checked_arguments,
        "environment": checked_environment,
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
        instance_type=instance_type,
        instance_count=instance_count,
        max_runtime_seconds=max_runtime,
        spec=spec,
        metric_definitions=checked_metrics,
        script=stored,
        backend=backend,
    )


def builtin_job_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: str,
    module: str,
    inputs: Iterable[dict] = (),
    outputs: Iterable[dict] = (),
    arguments: list[str] | None = None,
    environment: dict[str, str] | None = None,
    instance_type: str = "ml.m5.large",
    max_runtime_seconds: int | None = None,
    metric_definitions: list[dict] | None = None,
    on_complete: str = "",
    context: dict | None = None,
) -> Job:
    """A processing job that runs one of Studio's own modules (``python -m module``) instead of a
    user's script: profiling, data preparation. ``on_complete`` names a function (dotted path) the
    driver calls with the job after its outputs are uploaded and before it is marked Completed, to
    record what it made (dataset versions, reports); ``context`` is kept in the spec for it.
    """
    kind = JobKind.PROCESSING
    max_runtime = max_runtime_or_default(max_runtime_seconds)
    job_prefix = join_uri(project_prefix(project.name), "processing-jobs", name or "-")
    errors = Errors()
    check_name(errors, project, kind, name)
    check_resources(errors, instance_type, 1, max_runtime)
    spec = {
        "entrypoint": {"module": module},
        "inputs": check_inputs(errors, project, inputs),
        "outputs": check_outputs(errors, project, job_prefix, outputs),
        "arguments": check_arguments(errors, list(arguments or [])),
        "environment": check_environment(errors, dict(environment or {})),
        "on_complete": on_complete,
        "context": context or {},
    }
    checked_metrics = check_metric_definitions(errors, list(metric_definitions or []))
    errors.raise_if_any()
    job, _ = job_insert_once(
        project=project,
        kind=kind,
        name=name,
        created_by=user,
        instance_type=instance_type,
        instance_count=1,
        max_runtime_seconds=max_runtime,
        spec=spec,
        metric_definitions=checked_metrics,
    )
    return job
