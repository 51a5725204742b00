"""Job use cases: create (with SageMaker's validation rules), enqueue after commit, stop."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import uuid
from collections.abc import Iterable
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from jobs.models import IllegalTransition, Job, JobKind, JobStatus, JobStatusEvent, SecondaryStatus
from studio.artifacts import (
    ArtifactError,
    StoredObject,
    check_project_uri,
    join_uri,
    project_prefix,
    store_for,
    uri_is_under,
)
from studio.instance_types import UnknownInstanceType, instance_type_get
from studio.models import NAME_REGEX, Project
from studio.services import artifact_record, audit_record

logger = logging.getLogger(__name__)

CHANNEL_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")
# The script keeps its file name in the job's code folder: a plain name, never a path.
SCRIPT_FILENAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,250}\.py$")
MAX_RUNTIME_LIMIT = 28 * 24 * 3600
MAX_IO = 10
MAX_ENVIRONMENT = 100
MAX_ARGUMENTS = 256
MAX_METRIC_DEFINITIONS = 40


class _Errors(dict):
    """Collects every problem of a request, so the caller hears about all of them at once."""

    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self:
            raise ValidationError(dict(self))


def job_enqueue(job: Job) -> None:
    """Send the job to the workers once the transaction that created it has committed."""
    from jobs.tasks import execute_job

    def send() -> None:
        try:
            execute_job.apply_async(args=[job.pk])
        except Exception:
            # The row stays Pending and the reaper queues it again; the request itself succeeded.
            logger.exception("could not reach the broker", extra={"job": job.name})

    transaction.on_commit(send)


def _check_name(errors: _Errors, project: Project, kind: str, name: str) -> None:
    if not re.match(NAME_REGEX, name or ""):
        errors.add("name", "Use 1-63 letters, digits or hyphens, starting and ending with a letter or digit.")
    elif Job.objects.filter(project=project, kind=kind, name=name).exists():
        errors.add(
            "name", f"A {JobKind(kind).label.lower()} named {name!r} already exists in {project.name}."
        )


def _check_resources(errors: _Errors, instance_type: str, instance_count: int, max_runtime: int) -> None:
    try:
        instance_type_get(instance_type, role="processing")
    except UnknownInstanceType as exc:
        errors.add("instance_type", str(exc))
    if instance_count != 1:
        errors.add("instance_count", "The local backend runs processing jobs on exactly one instance.")
    if not 1 <= max_runtime <= MAX_RUNTIME_LIMIT:
        errors.add("max_runtime_seconds", f"Must be between 1 and {MAX_RUNTIME_LIMIT} seconds (28 days).")


def _check_script_file(errors: _Errors, filename: str, stream: BinaryIO) -> bytes | None:
    if not filename.endswith(".py"):
        errors.add("script", f"{filename!r} is not a Python file; upload a .py script.")
        return None
    if not SCRIPT_FILENAME.match(filename):
        errors.add("script", f"{filename!r}: name the script with letters, digits, '.', '_' or '-' only.")
        return None
    content = stream.read(settings.STUDIO_MAX_SCRIPT_BYTES + 1)
    if len(content) > settings.STUDIO_MAX_SCRIPT_BYTES:
        errors.add("script", f"The script is larger than {settings.STUDIO_MAX_SCRIPT_BYTES} bytes.")
        return None
    try:
        compile(content.decode("utf-8"), filename, "exec")
    except UnicodeDecodeError:
        errors.add("script", f"{filename!r} is not UTF-8 text; upload a Python source file.")
        return None
    except SyntaxError as exc:
        errors.add("script", f"{filename!r} is not valid Python: {exc.msg} (line {exc.lineno}).")
        return None
    return content


def _check_inputs(errors: _Errors, project: Project, inputs: Iterable[dict]) -> list[dict]:
    checked, seen = [], set()
    inputs = list(inputs)
    if len(inputs) > MAX_IO:
        errors.add("inputs", f"At most {MAX_IO} inputs.")
    for item in inputs:
        name, uri = str(item.get("name", "")), str(item.get("source_uri", ""))
        if not CHANNEL_NAME.match(name) or name == "code":
            errors.add("inputs", f"Input name {name!r}: use 1-64 of A-Z a-z 0-9 . _ - ('code' is reserved).")
            continue
        if name in seen:
            errors.add("inputs", f"Input name {name!r} is used twice.")
            continue
        seen.add(name)
        reference = {}
        if uri.startswith("dataset://"):
            # A dataset version by name: the job reads that version's data.
            from datasets.selectors import version_for_reference  # datasets builds on jobs, not the reverse

            try:
                version = version_for_reference(project, uri)
            except LookupError as exc:
                errors.add("inputs", f"Input {name!r}: {exc}")
                continue
            reference = {"dataset": version.dataset.name, "version": version.number}
            uri = version.uri
        try:
            normalized = check_project_uri(project.name, uri)
            if next(iter(store_for(normalized).list(normalized)), None) is None:
                raise ArtifactError(f"nothing found at {normalized}")
        except ArtifactError as exc:
            errors.add("inputs", f"Input {name!r}: {exc}")
            continue
        checked.append({"name": name, "source_uri": normalized, **reference})
    return checked


def _check_outputs(errors: _Errors, project: Project, job_prefix: str, outputs: Iterable[dict]) -> list[dict]:
    checked, seen = [], set()
    outputs = list(outputs)
    if len(outputs) > MAX_IO:
        errors.add("outputs", f"At most {MAX_IO} outputs.")
    own = project_prefix(project.name)
    for item in outputs:
        name = str(item.get("name", ""))
        if not CHANNEL_NAME.match(name):
            errors.add("outputs", f"Output name {name!r}: use 1-64 of A-Z a-z 0-9 . _ -.")
            continue
        if name in seen:
            errors.add("outputs", f"Output name {name!r} is used twice.")
            continue
        seen.add(name)
        uri = item.get("destination_uri") or join_uri(job_prefix, "output", name)
        try:
            normalized = check_project_uri(project.name, uri)
        except ArtifactError as exc:
            errors.add("outputs", f"Output {name!r}: {exc}")
            continue
        if not uri_is_under(normalized, own):
            errors.add("outputs", f"Output {name!r}: jobs write only under this project's prefix {own}/.")
            continue
        checked.append({"name": name, "destination_uri": normalized})
    return checked


def _check_environment(errors: _Errors, environment: dict) -> dict[str, str]:
    if len(environment) > MAX_ENVIRONMENT:
        errors.add("environment", f"At most {MAX_ENVIRONMENT} variables.")
    for key, value in environment.items():
        if not ENV_NAME.match(str(key)):
            errors.add("environment", f"{key!r} is not a valid variable name.")
        elif not isinstance(value, str) or len(value) > 256:
            errors.add("environment", f"{key}: values are strings of at most 256 characters.")
    return {str(key): str(value) for key, value in environment.items()}


def _check_arguments(errors: _Errors, arguments: list) -> list[str]:
    if len(arguments) > MAX_ARGUMENTS or any(not isinstance(arg, str) or len(arg) > 256 for arg in arguments):
        errors.add("arguments", f"Give at most {MAX_ARGUMENTS} strings of at most 256 characters.")
    return [str(arg) for arg in arguments]


def _check_metric_definitions(errors: _Errors, definitions: list[dict]) -> list[dict]:
    if len(definitions) > MAX_METRIC_DEFINITIONS:
        errors.add("metric_definitions", f"At most {MAX_METRIC_DEFINITIONS} metric definitions.")
    checked = []
    for item in definitions:
        name, regex = str(item.get("name", "")), str(item.get("regex", ""))
        if not 1 <= len(name) <= 255 or not 1 <= len(regex) <= 500:
            errors.add("metric_definitions", "Each needs a name (≤255 characters) and a regex (≤500).")
            continue
        try:
            re.compile(regex)
        except re.error as exc:
            errors.add("metric_definitions", f"{name}: the regex does not compile: {exc}.")
            continue
        checked.append({"name": name, "regex": regex})
    return checked


def _request_fingerprint(**request: object) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def _job_for_token(project: Project, kind: str, client_token: str, fingerprint: str) -> Job | None:
    """The job an earlier request with this token created; a different request reusing it is refused."""
    job = Job.objects.filter(project=project, kind=kind, client_token=client_token).first()
    if job is not None and job.spec.get("request_sha256") != fingerprint:
        raise ValidationError(
            {"client_token": f"This client_token was used for a different request (job {job.name})."}
        )
    return job


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
) -> tuple[Job, bool]:
    """Validate a processing-job request, store its script, create the job and queue it.

    Returns ``(job, created)``: a retried request with the same ``client_token`` gets the job
    the first one made. Nothing is stored unless the whole request is valid.
    """
    kind = JobKind.PROCESSING
    if script_file is not None:
        # Read once (bounded), so the request fingerprint and the checks below see the same bytes.
        script_file = io.BytesIO(script_file.read(settings.STUDIO_MAX_SCRIPT_BYTES + 1))
    fingerprint = _request_fingerprint(
        name=name,
        script_sha256=hashlib.sha256(script_file.getvalue()).hexdigest() if script_file else "",
        script_uri=script_uri,
        inputs=list(inputs),
        outputs=list(outputs),
        arguments=arguments,
        environment=environment,
        instance_type=instance_type,
        instance_count=instance_count,
        max_runtime_seconds=max_runtime_seconds,
        metric_definitions=metric_definitions,
    )
    if client_token:
        existing = _job_for_token(project, kind, client_token, fingerprint)
        if existing is not None:
            return existing, False
    max_runtime = (
        settings.STUDIO_DEFAULT_MAX_RUNTIME_SECONDS if max_runtime_seconds is None else max_runtime_seconds
    )
    job_uuid = uuid.uuid4()
    job_prefix = join_uri(project_prefix(project.name), "processing-jobs", name or "-")

    errors = _Errors()
    _check_name(errors, project, kind, name)
    _check_resources(errors, instance_type, instance_count, max_runtime)
    script_content = None
    if bool(script_file) == bool(script_uri):
        errors.add("script", "Upload a script file, or give script_uri (one of the two).")
    elif script_file is not None:
        script_content = _check_script_file(errors, script_filename or "script.py", script_file)
    else:
        try:
            script_uri = check_project_uri(project.name, script_uri)
            if not script_uri.endswith(".py") or not store_for(script_uri).exists(script_uri):
                raise ArtifactError(f"{script_uri} is not an existing .py file")
            # The same checks as an uploaded script; the job then stores its own copy of what was read.
            script_filename = script_uri.rsplit("/", 1)[-1]
            script_errors = _Errors()
            with store_for(script_uri).open(script_uri) as handle:
                script_content = _check_script_file(script_errors, script_filename, handle)
            for message in script_errors.get("script", []):
                errors.add("script_uri", message)
        except ArtifactError as exc:
            errors.add("script_uri", str(exc))
    checked_inputs = _check_inputs(errors, project, inputs)
    checked_outputs = _check_outputs(errors, project, job_prefix, outputs)
    checked_arguments = _check_arguments(errors, list(arguments or []))
    checked_environment = _check_environment(errors, dict(environment or {}))
    checked_metrics = _check_metric_definitions(errors, list(metric_definitions or []))
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
    try:
        job = _job_insert(
            uuid=job_uuid,
            project=project,
            kind=kind,
            name=name,
            created_by=user,
            client_token=client_token or None,
            instance_type=instance_type,
            instance_count=instance_count,
            max_runtime_seconds=max_runtime,
            spec=spec,
            metric_definitions=checked_metrics,
            script=stored,
        )
    except IntegrityError as exc:
        store_for(stored.uri).delete(stored.uri)
        if client_token:
            existing = _job_for_token(project, kind, client_token, fingerprint)
            if existing is not None:
                return existing, False
        raise ValidationError({"name": f"A processing job named {name!r} already exists."}) from exc
    return job, True


def _job_insert(*, script: StoredObject | None = None, **fields: object) -> Job:
    """Create the job row with its first event, audit it, and queue it once the transaction commits."""
    with transaction.atomic():
        job = Job.objects.create(backend=settings.STUDIO_DEFAULT_BACKEND, **fields)
        JobStatusEvent.objects.create(
            job=job, status=job.status, secondary_status=job.secondary_status, message="Job created"
        )
        if script is not None:
            artifact_record(
                project=job.project, stored=script, origin=f"processing-job/{job.name}", user=job.created_by
            )
        audit_record(
            actor=job.created_by,
            action="create",
            target_type=f"{job.kind}-job",
            target_name=job.name,
            project=job.project,
            details={"instance_type": job.instance_type},
        )
        job_enqueue(job)
    return job


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
    max_runtime = (
        settings.STUDIO_DEFAULT_MAX_RUNTIME_SECONDS if max_runtime_seconds is None else max_runtime_seconds
    )
    job_prefix = join_uri(project_prefix(project.name), "processing-jobs", name or "-")
    errors = _Errors()
    _check_name(errors, project, kind, name)
    _check_resources(errors, instance_type, 1, max_runtime)
    spec = {
        "entrypoint": {"module": module},
        "inputs": _check_inputs(errors, project, inputs),
        "outputs": _check_outputs(errors, project, job_prefix, outputs),
        "arguments": _check_arguments(errors, list(arguments or [])),
        "environment": _check_environment(errors, dict(environment or {})),
        "on_complete": on_complete,
        "context": context or {},
    }
    checked_metrics = _check_metric_definitions(errors, list(metric_definitions or []))
    errors.raise_if_any()
    try:
        return _job_insert(
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
    except IntegrityError as exc:
        raise ValidationError({"name": f"A processing job named {name!r} already exists."}) from exc


def job_stop(*, job: Job, user: AbstractBaseUser | None) -> Job:
    """Stop a job: one still Pending ends Stopped at once; a running one goes Stopping, and its
    worker sends SIGTERM, then SIGKILL after the grace period, and marks it Stopped."""
    for _ in range(2):  # a worker may claim a Pending job between our read and our write
        job.refresh_from_db(fields=["status", "secondary_status"])
        try:
            if job.status == JobStatus.PENDING:
                job.transition(
                    JobStatus.STOPPED,
                    secondary=SecondaryStatus.STOPPED,
                    message="Stopped before a worker started it",
                )
            elif job.status == JobStatus.IN_PROGRESS:
                job.transition(
                    JobStatus.STOPPING, secondary=SecondaryStatus.STOPPING, message="Stop requested"
                )
            elif job.status == JobStatus.STOPPING:
                return job
            else:
                raise ValidationError(
                    {"status": f"The job is {job.status}; only Pending or InProgress jobs can be stopped."}
                )
        except IllegalTransition:
            continue
        audit_record(
            actor=user,
            action="stop",
            target_type=f"{job.kind}-job",
            target_name=job.name,
            project=job.project,
        )
        return job
    raise ValidationError({"status": f"The job is {job.status} and could not be stopped; try again."})
