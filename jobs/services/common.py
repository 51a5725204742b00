"""What every job kind shares: request checks with SageMaker's rules, insert, enqueue after commit, stop."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Iterable
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from jobs.models import Backend, IllegalTransition, Job, JobKind, JobStatus, JobStatusEvent, SecondaryStatus
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


class Errors(dict):
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


def check_name(errors: Errors, project: Project, kind: str, name: str) -> None:
    if not re.match(NAME_REGEX, name or ""):
        errors.add("name", "Use 1-63 letters, digits or hyphens, starting and ending with a letter or digit.")
    elif Job.objects.filter(project=project, kind=kind, name=name).exists():
        errors.add(
            "name", f"A {JobKind(kind).label.lower()} named {name!r} already exists in {project.name}."
        )


# SageMaker's own limits where the local backend's are narrower.
SAGEMAKER_MAX_INSTANCES = 100


def check_backend(errors: Errors, project: Project, backend: str | None) -> str:
    """The job's compute backend: ``local``, ``sagemaker`` (the project needs its AWS settings), or
    the install's default when none is named."""
    backend = backend or settings.STUDIO_DEFAULT_BACKEND
    if backend not in Backend.values:
        errors.add("backend", f"Use one of {', '.join(Backend.values)}; not {backend!r}.")
        return backend
    if backend == Backend.SAGEMAKER:
        from cloud.clients import AwsNotConfigured, aws_settings_of  # cloud builds on jobs' settings

        try:
            aws_settings_of(project)
        except AwsNotConfigured as exc:
            errors.add("backend", str(exc))
    return backend


def max_instances_for(backend: str, local_max: int) -> int:
    return SAGEMAKER_MAX_INSTANCES if backend == Backend.SAGEMAKER else local_max


def check_resources(
    errors: Errors,
    instance_type: str,
    instance_count: int,
    max_runtime: int,
    *,
    role: str = "processing",
    max_instances: int = 1,
) -> None:
    try:
        instance_type_get(instance_type, role=role)
    except UnknownInstanceType as exc:
        errors.add("instance_type", str(exc))
    if not 1 <= instance_count <= max_instances:
        errors.add(
            "instance_count",
            f"The local backend runs {role} jobs on exactly one instance."
            if max_instances == 1
            else f"Use between 1 and {max_instances} instances.",
        )
    if not 1 <= max_runtime <= MAX_RUNTIME_LIMIT:
        errors.add("max_runtime_seconds", f"Must be between 1 and {MAX_RUNTIME_LIMIT} seconds (28 days).")


def check_script_file(
    errors: Errors, filename: str, stream: BinaryIO, *, field: str = "script"
) -> bytes | None:
    if not filename.endswith(".py"):
        errors.add(field, f"{filename!r} is not a Python file; upload a .py script.")
        return None
    if not SCRIPT_FILENAME.match(filename):
        errors.add(field, f"{filename!r}: name the script with letters, digits, '.', '_' or '-' only.")
        return None
    content = stream.read(settings.STUDIO_MAX_SCRIPT_BYTES + 1)
    if len(content) > settings.STUDIO_MAX_SCRIPT_BYTES:
        errors.add(field, f"The script is larger than {settings.STUDIO_MAX_SCRIPT_BYTES} bytes.")
        return None
    try:
        compile(content.decode("utf-8"), filename, "exec")
    except UnicodeDecodeError:
        errors.add(field, f"{filename!r} is not UTF-8 text; upload a Python source file.")
        return None
    except SyntaxError as exc:
        errors.add(field, f"{filename!r} is not valid Python: {exc.msg} (line {exc.lineno}).")
        return None
    return content


def check_inputs(
    errors: Errors, project: Project, inputs: Iterable[dict], *, field: str = "inputs", limit: int = MAX_IO
) -> list[dict]:
    label = "Input" if field == "inputs" else "Channel"
    checked, seen = [], set()
    inputs = list(inputs)
    if len(inputs) > limit:
        errors.add(field, f"At most {limit} {field}.")
    for item in inputs:
        name, uri = str(item.get("name", "")), str(item.get("source_uri", ""))
        if not CHANNEL_NAME.match(name) or name == "code":
            errors.add(field, f"{label} name {name!r}: use 1-64 of A-Z a-z 0-9 . _ - ('code' is reserved).")
            continue
        if name in seen:
            errors.add(field, f"{label} name {name!r} is used twice.")
            continue
        seen.add(name)
        reference = {}
        if uri.startswith("dataset://"):
            # A dataset version by name: the job reads that version's data.
            from datasets.selectors import version_for_reference  # datasets builds on jobs, not the reverse

            try:
                version = version_for_reference(project, uri)
            except LookupError as exc:
                errors.add(field, f"{label} {name!r}: {exc}")
                continue
            reference = {"dataset": version.dataset.name, "version": version.number}
            uri = version.uri
        try:
            normalized = check_project_uri(project.name, uri)
            if next(iter(store_for(normalized).list(normalized)), None) is None:
                raise ArtifactError(f"nothing found at {normalized}")
        except ArtifactError as exc:
            errors.add(field, f"{label} {name!r}: {exc}")
            continue
        checked.append({"name": name, "source_uri": normalized, **reference})
    return checked


def check_outputs(errors: Errors, project: Project, job_prefix: str, outputs: Iterable[dict]) -> list[dict]:
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


def check_environment(errors: Errors, environment: dict) -> dict[str, str]:
    if len(environment) > MAX_ENVIRONMENT:
        errors.add("environment", f"At most {MAX_ENVIRONMENT} variables.")
    for key, value in environment.items():
        if not ENV_NAME.match(str(key)):
            errors.add("environment", f"{key!r} is not a valid variable name.")
        elif not isinstance(value, str) or len(value) > 256:
            errors.add("environment", f"{key}: values are strings of at most 256 characters.")
    return {str(key): str(value) for key, value in environment.items()}


def check_arguments(errors: Errors, arguments: list) -> list[str]:
    if len(arguments) > MAX_ARGUMENTS or any(not isinstance(arg, str) or len(arg) > 256 for arg in arguments):
        errors.add("arguments", f"Give at most {MAX_ARGUMENTS} strings of at most 256 characters.")
    return [str(arg) for arg in arguments]


def check_metric_definitions(errors: Errors, definitions: list[dict]) -> list[dict]:
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


def max_runtime_or_default(max_runtime_seconds: int | None) -> int:
    """The request's runtime limit, or Studio's default when it names none."""
    if max_runtime_seconds is None:
        return settings.STUDIO_DEFAULT_MAX_RUNTIME_SECONDS
    return max_runtime_seconds


def upload_read(stream: BinaryIO | None, limit: int) -> io.BytesIO | None:
    """Read an upload once (bounded), so the request fingerprint and the checks see the same bytes."""
    return None if stream is None else io.BytesIO(stream.read(limit + 1))


def upload_sha256(upload: io.BytesIO | None) -> str:
    return hashlib.sha256(upload.getvalue()).hexdigest() if upload is not None else ""


def request_fingerprint(**request: object) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def job_for_token(project: Project, kind: str, client_token: str | None, fingerprint: str) -> Job | None:
    """The job an earlier request with this token created; a different request reusing it is refused.

    None without a token: such a request is never a retry.
    """
    if not client_token:
        return None
    job = Job.objects.filter(project=project, kind=kind, client_token=client_token).first()
    if job is not None and job.spec.get("request_sha256") != fingerprint:
        raise ValidationError(
            {"client_token": f"This client_token was used for a different request (job {job.name})."}
        )
    return job


def _check_sagemaker_request(fields: dict) -> None:
    """A job for SageMaker is refused now, not at run time, when its request cannot be built (an
    algorithm SageMaker does not offer in the region, one of Studio's own modules, ...)."""
    from jobs.backends.sagemaker.driver import sagemaker_request_preview  # the driver imports services

    preview = sagemaker_request_preview(Job(**{key: value for key, value in fields.items() if key != "uuid"}))
    if preview["error"]:
        raise ValidationError({"backend": preview["error"]})


def job_insert(*, script: StoredObject | None = None, **fields: object) -> Job:
    """Create the job row with its first event, audit it, and queue it once the transaction commits."""
    # Studio's own jobs (profiling, recipes, a local tuning job's trials) name no backend: local.
    fields["backend"] = fields.get("backend") or Backend.LOCAL
    if fields["backend"] == Backend.SAGEMAKER:
        _check_sagemaker_request(fields)
    with transaction.atomic():
        job = Job.objects.create(**fields)
        JobStatusEvent.objects.create(
            job=job, status=job.status, secondary_status=job.secondary_status, message="Job created"
        )
        if script is not None:
            artifact_record(
                project=job.project, stored=script, origin=f"{job.kind}-job/{job.name}", user=job.created_by
            )
        audit_record(
            actor=job.created_by,
            action="create",
            target_type=f"{job.kind}-job",
            target_name=job.name,
            project=job.project,
            details={"instance_type": job.instance_type, "backend": job.backend},
        )
        job_enqueue(job)
    return job


def job_insert_once(
    *,
    project: Project,
    kind: str,
    name: str,
    client_token: str | None = None,
    fingerprint: str = "",
    script: StoredObject | None = None,
    **fields: object,
) -> tuple[Job, bool]:
    """``job_insert``, safe against a racing request: the loser drops the script it stored, and gets
    the winner's job when both carried the same ``client_token``, else a ValidationError on the name.

    Returns ``(job, created)``.
    """
    try:
        job = job_insert(
            project=project, kind=kind, name=name, client_token=client_token or None, script=script, **fields
        )
    except ValidationError:
        if script is not None:
            store_for(script.uri).delete(script.uri)
        raise
    except IntegrityError as exc:
        if script is not None:
            store_for(script.uri).delete(script.uri)
        existing = job_for_token(project, kind, client_token, fingerprint)
        if existing is not None:
            return existing, False
        raise ValidationError(
            {"name": f"A {JobKind(kind).label.lower()} named {name!r} already exists."}
        ) from exc
    return job, True


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
        if job.backend == Backend.SAGEMAKER and job.status == JobStatus.STOPPING:
            from jobs.backends.sagemaker.driver import sagemaker_follow_soon

            sagemaker_follow_soon(job)  # forwards the stop to SageMaker now, not at the next poll
        return job
    raise ValidationError({"status": f"The job is {job.status} and could not be stopped; try again."})
