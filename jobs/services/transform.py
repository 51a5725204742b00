"""Batch transform jobs: a Studio model over a dataset version or a folder of files, as SageMaker's
CreateTransformJob runs it (endpoints.inference.transform is the job's process).

The request is checked whole with SageMaker's rules, each problem named by its field, before the
job is queued. The spec keeps a copy of the model as it was (artifact, SHA-256, code,
environment), so the job runs what was asked for even if the model is deleted meanwhile.
"""

from __future__ import annotations

import re
import uuid

from django.contrib.auth.models import AbstractBaseUser

from endpoints.inference.transform import (
    ASSEMBLE_WITH,
    BATCH_STRATEGIES,
    COMPRESSION_TYPES,
    JOIN_SOURCES,
    SPLIT_TYPES,
    FilterError,
    check_filter,
    record_format,
)
from endpoints.models import Model
from endpoints.services.model_files import model_snapshot
from jobs.models import Backend, Job, JobKind
from jobs.services.common import (
    Errors,
    check_backend,
    check_environment,
    check_inputs,
    check_name,
    check_resources,
    job_for_token,
    job_insert_once,
    max_instances_for,
    max_runtime_or_default,
    request_fingerprint,
)
from jobs.services.training import _check_tags
from studio.artifacts import ArtifactError, check_project_uri, join_uri, project_prefix, uri_is_under
from studio.models import Project

# SageMaker's limits (CreateTransformJob).
MAX_PAYLOAD_MB_LIMIT = 100
DEFAULT_MAX_PAYLOAD_MB = 6
MAX_PAYLOAD_TIMES_CONCURRENCY = 100
MAX_ENVIRONMENT = 16
MAX_FILTER_CHARS = 63
MEDIA_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]{1,127}/[A-Za-z0-9!#$&^_.+-]{1,127}(\s*;.*)?$")
NOT_LOCAL_SPLIT_TYPES = ("RecordIO", "TFRecord")


def transform_prefix(project: Project, name: str) -> str:
    """A transform job's files: ``<project>/transform-jobs/<name>``."""
    return join_uri(project_prefix(project.name), "transform-jobs", name or "-")


def _choice(errors: Errors, field: str, value: str | None, choices: tuple[str, ...], default: str) -> str:
    """SageMaker's enum values; None, "" and "None" all mean the default."""
    value = default if value in (None, "") else str(value)
    if value not in choices:
        errors.add(field, f"{value!r} is not one of {', '.join(choices)}.")
    return value


def _check_model(errors: Errors, project: Project, name: str) -> dict | None:
    """The model, as the job keeps it: what it runs is fixed when the job is created."""
    if not name:
        errors.add("model", "Name the model to run (see the project's models).")
        return None
    model = Model.objects.filter(project=project, name=name).first()
    if model is None:
        errors.add("model", f"No model named {name!r} in {project.name}.")
        return None
    if model.needs_trust:
        errors.add(
            "model",
            f"Model {name} holds pickled files ({', '.join(model.pickle_files[:5])}) that load by running "
            "code; a project admin must trust it before a job runs it.",
        )
        return None
    return model_snapshot(model)


def _check_input(errors: Errors, project: Project, uri: str) -> dict | None:
    """A dataset version (``dataset://name/N``) or an artifact URI prefix of the project."""
    if not uri:
        errors.add("input_uri", "Give the data to transform: dataset://name/N or an artifact URI prefix.")
        return None
    found = Errors()
    checked = check_inputs(found, project, [{"name": "data", "source_uri": uri}])
    for message in found.get("inputs", []):
        errors.add("input_uri", message.removeprefix("Input 'data': "))
    return checked[0] if checked else None


def _check_media_type(errors: Errors, field: str, value: str) -> str:
    value = (value or "").strip()
    if value and not MEDIA_TYPE.match(value):
        errors.add(field, f"{value!r} is not a media type such as text/csv or application/json.")
    return value


def _check_output_uri(errors: Errors, project: Project, name: str, uri: str) -> str:
    own = project_prefix(project.name)
    uri = uri or join_uri(transform_prefix(project, name), "output")
    try:
        normalized = check_project_uri(project.name, uri)
    except ArtifactError as exc:
        errors.add("output_uri", str(exc))
        return ""
    if not uri_is_under(normalized, own):
        errors.add("output_uri", f"Jobs write only under this project's prefix {own}/.")
        return ""
    return normalized


def _check_filter(errors: Errors, field: str, path: str, record: str | None, what: str) -> str:
    path = (path or "$").strip()
    if len(path) > MAX_FILTER_CHARS:
        errors.add(field, f"At most {MAX_FILTER_CHARS} characters.")
        return path
    try:
        check_filter(path, csv_records=record == "csv")
    except FilterError as exc:
        errors.add(field, str(exc))
        return path
    if path != "$" and record is None:
        errors.add(field, f"Filters read CSV or JSON records; {what} is neither.")
    return path


def _check_payload(
    errors: Errors, max_payload_mb: int | None, max_concurrent: int | None
) -> tuple[int, int | None]:
    payload = DEFAULT_MAX_PAYLOAD_MB if max_payload_mb is None else max_payload_mb
    if not isinstance(payload, int) or not 1 <= payload <= MAX_PAYLOAD_MB_LIMIT:
        errors.add("max_payload_mb", f"Must be between 1 and {MAX_PAYLOAD_MB_LIMIT} (MB).")
        return DEFAULT_MAX_PAYLOAD_MB, max_concurrent
    if max_concurrent is not None:
        if not isinstance(max_concurrent, int) or max_concurrent < 1:
            errors.add("max_concurrent_transforms", "Must be at least 1.")
        elif payload * max_concurrent > MAX_PAYLOAD_TIMES_CONCURRENCY:
            errors.add(
                "max_concurrent_transforms",
                f"max_payload_mb x max_concurrent_transforms must be at most {MAX_PAYLOAD_TIMES_CONCURRENCY} "
                f"({payload} x {max_concurrent} = {payload * max_concurrent}).",
            )
    return payload, max_concurrent


def _check_data_processing(
    errors: Errors,
    *,
    content_type: str,
    accept: str,
    split_type: str,
    assemble_with: str,
    input_filter: str,
    output_filter: str,
    join_source: str,
) -> tuple[str, str, str]:
    """SageMaker's DataProcessing: filters of its JSONPath subset, and the join with the input."""
    given = record_format(content_type)
    what = f"content_type {content_type!r}"
    join_source = _choice(errors, "join_source", join_source, JOIN_SOURCES, "None")
    joined = join_source == "Input"
    if joined and given is None:
        errors.add("join_source", f"Joins read CSV or JSON input; {what} is neither.")
    input_filter = _check_filter(errors, "input_filter", input_filter, given, what)
    # The output filter reads the joined record (the input's format) or else the model's answer.
    answer = record_format(accept) if accept else None
    output_record = given if joined else answer
    output_what = what if joined else ("accept " + repr(accept) if accept else "an unset accept")
    output_filter = _check_filter(errors, "output_filter", output_filter, output_record, output_what)
    per_record = joined or output_filter != "$"
    if (per_record or input_filter != "$") and split_type != "Line" and given == "csv":
        errors.add("split_type", "Filters and joins of CSV read one record per line: use split_type Line.")
    if per_record and split_type == "Line" and assemble_with != "Line":
        errors.add(
            "assemble_with", "Joined or filtered output is one record per line: use assemble_with Line."
        )
    return input_filter, output_filter, join_source


def transform_job_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: str,
    model: str,
    input_uri: str,
    content_type: str = "",
    split_type: str | None = None,
    compression: str | None = None,
    batch_strategy: str | None = None,
    max_payload_mb: int | None = None,
    max_concurrent_transforms: int | None = None,
    accept: str = "",
    assemble_with: str | None = None,
    output_uri: str = "",
    input_filter: str = "$",
    output_filter: str = "$",
    join_source: str | None = None,
    instance_type: str = "ml.m5.large",
    instance_count: int = 1,
    max_runtime_seconds: int | None = None,
    environment: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    client_token: str | None = None,
    backend: str = "",
) -> tuple[Job, bool]:
    """Validate a transform-job request, create the job and queue it.

    ``input_uri`` is a dataset version (``dataset://name/N``) or an artifact URI (a file or a
    prefix of files); each file ``<path>`` gives ``<output_uri>/<path>.out``. Returns
    ``(job, created)``: a retried request with the same ``client_token`` gets the job the first
    one made.
    """
    kind = JobKind.TRANSFORM
    request = {
        "name": name, "model": model, "input_uri": input_uri, "content_type": content_type,
        "split_type": split_type, "compression": compression, "batch_strategy": batch_strategy,
        "max_payload_mb": max_payload_mb, "max_concurrent_transforms": max_concurrent_transforms,
        "accept": accept, "assemble_with": assemble_with, "output_uri": output_uri,
        "input_filter": input_filter, "output_filter": output_filter, "join_source": join_source,
        "instance_type": instance_type, "instance_count": instance_count,
        "max_runtime_seconds": max_runtime_seconds, "environment": environment, "tags": tags,
        "backend": backend,
    }  # fmt: skip
    fingerprint = request_fingerprint(**request)
    existing = job_for_token(project, kind, client_token, fingerprint)
    if existing is not None:
        return existing, False

    errors = Errors()
    check_name(errors, project, kind, name)
    backend = check_backend(errors, project, backend)
    max_runtime = max_runtime_or_default(max_runtime_seconds)
    check_resources(
        errors,
        instance_type,
        instance_count,
        max_runtime,
        role="transform",
        max_instances=max_instances_for(backend, 1),
    )
    snapshot = _check_model(errors, project, model)
    source = _check_input(errors, project, input_uri)
    content_type = _check_media_type(errors, "content_type", content_type)
    accept = _check_media_type(errors, "accept", accept)
    on_sagemaker = backend == Backend.SAGEMAKER
    if split_type in NOT_LOCAL_SPLIT_TYPES and not on_sagemaker:
        errors.add("split_type", f"{split_type} records are not read on the local backend; use None or Line.")
        split_type = "None"
    split_types = SPLIT_TYPES + NOT_LOCAL_SPLIT_TYPES if on_sagemaker else SPLIT_TYPES
    split_type = _choice(errors, "split_type", split_type, split_types, "None")
    compression = _choice(errors, "compression", compression, COMPRESSION_TYPES, "None")
    # SageMaker packs lines into payloads unless told otherwise; a whole file is one record.
    default_strategy = "MultiRecord" if split_type == "Line" else "SingleRecord"
    batch_strategy = _choice(errors, "batch_strategy", batch_strategy, BATCH_STRATEGIES, default_strategy)
    if batch_strategy == "MultiRecord" and split_type == "None":
        errors.add("batch_strategy", "MultiRecord packs several records into a payload: use split_type Line.")
    assemble_with = _choice(errors, "assemble_with", assemble_with, ASSEMBLE_WITH, "None")
    payload_mb, concurrency = _check_payload(errors, max_payload_mb, max_concurrent_transforms)
    input_filter, output_filter, join_source = _check_data_processing(
        errors,
        content_type=content_type,
        accept=accept,
        split_type=split_type,
        assemble_with=assemble_with,
        input_filter=input_filter,
        output_filter=output_filter,
        join_source=join_source,
    )
    destination = _check_output_uri(errors, project, name, output_uri)
    environment = dict(environment or {})
    if len(environment) > MAX_ENVIRONMENT:
        errors.add("environment", f"At most {MAX_ENVIRONMENT} variables.")
    checked_environment = check_environment(errors, environment)
    checked_tags = _check_tags(errors, tags or {})
    errors.raise_if_any()

    assert snapshot is not None  # a valid request has its model
    assert source is not None  # and its input
    spec = {
        "model": snapshot,
        "input": {
            **source,
            "content_type": content_type,
            "split_type": split_type,
            "compression": compression,
        },
        "output": {"uri": destination, "accept": accept, "assemble_with": assemble_with},
        "batch_strategy": batch_strategy,
        "max_payload_mb": payload_mb,
        "max_concurrent_transforms": concurrency,
        "data_processing": {
            "input_filter": input_filter,
            "output_filter": output_filter,
            "join_source": join_source,
        },
        "environment": checked_environment,
        "request_sha256": fingerprint,
    }
    return job_insert_once(
        uuid=uuid.uuid4(),
        project=project,
        kind=kind,
        name=name,
        created_by=user,
        client_token=client_token,
        fingerprint=fingerprint,
        instance_type=instance_type,
        instance_count=instance_count,
        max_runtime_seconds=max_runtime,
        tags=checked_tags,
        spec=spec,
        backend=backend,
    )
