"""Training jobs: a built-in algorithm or the user's own code, over channels of data, to a model.

A request is checked whole before anything is stored (SageMaker's names and limits, the
algorithm's hyperparameter schema, channels that point at data, an entry point that is in the
uploaded source), then the job is queued. The checked request, the *definition*, is also what a
tuning job repeats for each trial with other hyperparameters.
"""

from __future__ import annotations

import copy
import io
import json
import tarfile
import uuid
import zipfile
from collections.abc import Iterable
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from jobs.algorithms.registry import Algorithm, HyperparameterError, UnknownAlgorithm, algorithm_get
from jobs.backends.sagemaker.images import FrameworkChoiceError, framework_resolve
from jobs.models import Backend, Job, JobKind
from jobs.services.common import (
    Errors,
    check_backend,
    check_environment,
    check_inputs,
    check_metric_definitions,
    check_name,
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
from studio.artifacts import (
    ArtifactError,
    StoredObject,
    check_project_uri,
    join_uri,
    project_prefix,
    store_for,
    uri_is_under,
)
from studio.models import Project

# The local backend copies a channel's files in (File); FastFile reads the same files. Pipe mode's
# FIFOs are not emulated, so it is refused rather than quietly run as File.
INPUT_MODES = ("File", "FastFile")
MAX_CHANNELS = 20
MAX_HYPERPARAMETERS = 100
MAX_TAGS = 50
MAX_LOCAL_INSTANCES = 8
SOURCE_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
EVALUATION_HOOK = "jobs.training.evaluation_record"


def training_prefix(project: Project, name: str) -> str:
    """A training job's files: ``<project>/training-jobs/<name>`` (SageMaker's S3OutputPath/<job>)."""
    return join_uri(project_prefix(project.name), "training-jobs", name or "-")


def _check_algorithm(errors: Errors, name: str) -> Algorithm | None:
    try:
        return algorithm_get(name)
    except UnknownAlgorithm as exc:
        errors.add("algorithm", str(exc))
        return None


def _check_hyperparameters(errors: Errors, algorithm: Algorithm | None, values: dict) -> dict[str, str]:
    """Built-ins: the algorithm's schema. User code: any names, as strings (SageMaker's rule)."""
    if not isinstance(values, dict):
        errors.add("hyperparameters", "Give a JSON object of name: value.")
        return {}
    if len(values) > MAX_HYPERPARAMETERS:
        errors.add("hyperparameters", f"At most {MAX_HYPERPARAMETERS} hyperparameters.")
    if algorithm is not None:
        try:
            return algorithm.validate(values)
        except HyperparameterError as exc:
            for name, messages in exc.errors.items():
                for message in messages:
                    errors.add("hyperparameters", f"{name}: {message}")
            return {}
    clean = {}
    for key, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value)
        if not 1 <= len(str(key)) <= 256 or len(text) > 2500:
            errors.add("hyperparameters", f"{key!r}: names have 1-256 characters, values at most 2500.")
            continue
        clean[str(key)] = text
    return clean


def _check_channels(
    errors: Errors,
    project: Project,
    algorithm: Algorithm | None,
    channels: Iterable[dict],
    *,
    pipe_allowed: bool = False,
) -> list[dict]:
    channels = list(channels)  # none is fine for your own code, as on SageMaker
    for item in channels:
        mode = item.get("input_mode") or "File"
        if mode == "Pipe" and pipe_allowed:
            continue
        if mode == "Pipe":
            errors.add(
                "channels",
                f"Channel {item.get('name')!r}: Pipe input mode is not available on the local backend; "
                "use File or FastFile.",
            )
        elif mode not in INPUT_MODES:
            errors.add(
                "channels",
                f"Channel {item.get('name')!r}: input_mode must be one of {', '.join(INPUT_MODES)}.",
            )
    resolved = {
        item["name"]: item
        for item in check_inputs(
            errors,
            project,
            [{"name": item.get("name", ""), "source_uri": item.get("source_uri", "")} for item in channels],
            field="channels",
            limit=MAX_CHANNELS,
        )
    }
    checked = []
    for item in channels:
        if item.get("name") not in resolved:
            continue
        checked.append(
            {
                **resolved[item["name"]],
                "content_type": str(item.get("content_type") or ""),
                "input_mode": item.get("input_mode") or "File",
            }
        )
    if algorithm is not None:
        names = {item["name"] for item in channels}
        for required in algorithm.required_channels:
            if required not in names:
                errors.add("channels", f"{algorithm.name} needs a {required!r} channel.")
        for name in names - set(algorithm.channels):
            errors.add(
                "channels",
                f"{algorithm.name} reads only the channels {', '.join(algorithm.channels)}; not {name!r}.",
            )
    return checked


def _archive_names(content: bytes, filename: str) -> list[str]:
    """The file names inside an uploaded source archive; ValueError if it is not one."""
    buffer = io.BytesIO(content)
    if filename.endswith(".zip"):
        with zipfile.ZipFile(buffer) as archive:
            return [info.filename for info in archive.infolist() if not info.is_dir()]
    with tarfile.open(fileobj=buffer, mode="r:*") as archive:
        return [member.name for member in archive.getmembers() if member.isfile()]


def _check_source(
    errors: Errors, filename: str, stream: BinaryIO, entry_point: str
) -> tuple[bytes, str] | None:
    """An uploaded ``.py`` or source archive; returns its bytes and the entry point to run."""
    if filename.endswith(".py"):
        content = check_script_file(errors, filename, stream, field="source")
        if content is None:
            return None
        if entry_point and entry_point != filename:
            errors.add("entry_point", f"The uploaded file is {filename}; entry_point must be that file.")
            return None
        return content, filename
    if not filename.endswith(SOURCE_ARCHIVE_SUFFIXES):
        errors.add(
            "source", f"{filename!r}: upload a .py file or a source archive (.tar.gz, .tgz, .tar, .zip)."
        )
        return None
    content = stream.read(settings.STUDIO_MAX_SOURCE_BYTES + 1)
    if len(content) > settings.STUDIO_MAX_SOURCE_BYTES:
        errors.add("source", f"The source archive is larger than {settings.STUDIO_MAX_SOURCE_BYTES} bytes.")
        return None
    try:
        names = {name.removeprefix("./") for name in _archive_names(content, filename)}
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        errors.add("source", f"{filename!r} is not a readable archive: {exc}.")
        return None
    if not entry_point:
        errors.add("entry_point", "Name the script in the archive to run, e.g. train.py.")
        return None
    if entry_point not in names:
        listed = ", ".join(sorted(name for name in names if name.endswith(".py"))[:10]) or "no .py files"
        errors.add("entry_point", f"{entry_point!r} is not in the archive (it has {listed}).")
        return None
    return content, entry_point


def _check_checkpoint_uri(errors: Errors, project: Project, uri: str) -> str:
    if not uri:
        return ""
    try:
        normalized = check_project_uri(project.name, uri)
    except ArtifactError as exc:
        errors.add("checkpoint_uri", str(exc))
        return ""
    if not uri_is_under(normalized, project_prefix(project.name)):
        errors.add(
            "checkpoint_uri",
            f"Checkpoints are kept under this project's prefix {project_prefix(project.name)}/.",
        )
        return ""
    return normalized


def _check_framework(
    errors: Errors, framework: str, version: str, *, builtin: bool
) -> tuple[str | None, str | None]:
    """The SageMaker framework container the user's code runs in there (default scikit-learn, the
    newest version in the table); the local backend runs it in Studio's own Python and ignores it.
    A built-in runs in its own algorithm image, so it takes none."""
    if builtin:
        if framework or version:
            errors.add(
                "framework",
                "A built-in algorithm runs in its own SageMaker image; framework and framework_version "
                "are for your own code.",
            )
        return None, None
    try:
        chosen, resolved = framework_resolve(framework, version)
    except FrameworkChoiceError as exc:
        errors.add(exc.field, str(exc))
        return None, None
    return chosen.name, resolved


def _check_tags(errors: Errors, tags: dict) -> dict[str, str]:
    if not isinstance(tags, dict) or len(tags) > MAX_TAGS:
        errors.add("tags", f"Give at most {MAX_TAGS} tags as a JSON object of key: value.")
        return {}
    for key, value in tags.items():
        if not 1 <= len(str(key)) <= 128 or len(str(value)) > 256:
            errors.add("tags", f"{key!r}: keys have 1-128 characters, values at most 256.")
    return {str(key): str(value) for key, value in tags.items()}


def training_source_store(
    prefix: str, job_uuid: uuid.UUID, source: tuple[str, bytes] | None, code: dict | None
) -> tuple[StoredObject | None, dict | None]:
    """Store the user's source (when new) and return it with the ``code`` spec that names it."""
    if source is None:
        return None, code
    filename, content = source
    # The job's own folder carries its uuid, so a racing create of the same name writes elsewhere.
    uri = join_uri(prefix, str(job_uuid), "source", filename)
    stored = store_for(uri).put(uri, io.BytesIO(content))
    return stored, {**(code or {}), "uri": stored.uri, "filename": filename, "sha256": stored.sha256}


def training_job_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: str,
    algorithm: str = "",
    source_file: BinaryIO | None = None,
    source_filename: str = "",
    source_uri: str = "",
    entry_point: str = "",
    channels: Iterable[dict] = (),
    hyperparameters: dict | None = None,
    instance_type: str = "ml.m5.large",
    instance_count: int = 1,
    max_runtime_seconds: int | None = None,
    metric_definitions: list[dict] | None = None,
    checkpoint_uri: str = "",
    environment: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    client_token: str | None = None,
    tuning_job: Job | None = None,
    backend: str = "",
    managed_spot: bool = False,
    max_wait_seconds: int | None = None,
    framework: str = "",
    framework_version: str = "",
) -> tuple[Job, bool]:
    """Validate a training-job request, store its code, create the job and queue it.

    The code is a built-in ``algorithm`` by name, or the user's own: an uploaded ``.py`` file
    or source archive (``source_file``), or one already in the store (``source_uri``), with the
    ``entry_point`` to run, and the SageMaker ``framework`` container (and ``framework_version``)
    it runs in on that backend. Returns ``(job, created)``; a retried request with the same
    ``client_token`` gets the job the first one made.
    """
    kind = JobKind.TRAINING
    source_file = upload_read(source_file, settings.STUDIO_MAX_SOURCE_BYTES)
    channels = list(channels)
    fingerprint = request_fingerprint(
        name=name,
        algorithm=algorithm,
        source_sha256=upload_sha256(source_file),
        source_uri=source_uri,
        entry_point=entry_point,
        channels=channels,
        hyperparameters=hyperparameters,
        instance_type=instance_type,
        instance_count=instance_count,
        max_runtime_seconds=max_runtime_seconds,
        metric_definitions=metric_definitions,
        checkpoint_uri=checkpoint_uri,
        environment=environment,
        tags=tags,
        backend=backend,
        managed_spot=managed_spot,
        max_wait_seconds=max_wait_seconds,
        framework=framework,
        framework_version=framework_version,
    )
    existing = job_for_token(project, kind, client_token, fingerprint)
    if existing is not None:
        return existing, False
    errors = Errors()
    check_name(errors, project, kind, name)
    backend = check_backend(errors, project, backend)
    definition, source = training_definition_check(
        errors,
        project,
        algorithm=algorithm,
        source_file=source_file,
        source_filename=source_filename,
        source_uri=source_uri,
        entry_point=entry_point,
        channels=channels,
        hyperparameters=hyperparameters or {},
        instance_type=instance_type,
        instance_count=instance_count,
        max_runtime_seconds=max_runtime_seconds,
        metric_definitions=metric_definitions or [],
        checkpoint_uri=checkpoint_uri,
        environment=environment or {},
        tags=tags or {},
        backend=backend,
        managed_spot=managed_spot,
        max_wait_seconds=max_wait_seconds,
        framework=framework,
        framework_version=framework_version,
    )
    errors.raise_if_any()
    return training_job_insert(
        project=project,
        user=user,
        name=name,
        definition=definition,
        source=source,
        client_token=client_token or None,
        fingerprint=fingerprint,
        tuning_job=tuning_job,
        backend=backend,
    )


def training_definition_check(
    errors: Errors,
    project: Project,
    *,
    algorithm: str,
    source_file: BinaryIO | None,
    source_filename: str,
    source_uri: str,
    entry_point: str,
    channels: list[dict],
    hyperparameters: dict,
    instance_type: str,
    instance_count: int,
    max_runtime_seconds: int | None,
    metric_definitions: list[dict],
    checkpoint_uri: str,
    environment: dict,
    tags: dict,
    backend: str = Backend.LOCAL,
    managed_spot: bool = False,
    max_wait_seconds: int | None = None,
    framework: str = "",
    framework_version: str = "",
) -> tuple[dict, tuple[str, bytes] | None]:
    """Check everything a training job (or each trial of a tuning job) runs with.

    Returns the checked *definition* (JSON) and the user's source still to be stored as
    ``(filename, bytes)``, or None for a built-in or for code already in the store.
    """
    max_runtime = max_runtime_or_default(max_runtime_seconds)
    on_sagemaker = backend == Backend.SAGEMAKER
    check_resources(
        errors,
        instance_type,
        instance_count,
        max_runtime,
        role="training",
        max_instances=max_instances_for(backend, MAX_LOCAL_INSTANCES),
    )
    if managed_spot and max_wait_seconds is not None and max_wait_seconds < max_runtime:
        errors.add("max_wait_seconds", "MaxWaitTimeInSeconds must be at least the job's max_runtime_seconds.")
    builtin: Algorithm | None = None
    code: dict | None = None
    source: tuple[str, bytes] | None = None
    given = [bool(algorithm), source_file is not None, bool(source_uri)]
    if sum(given) != 1:
        errors.add(
            "algorithm", "Name a built-in algorithm, or give your code (a source upload or source_uri)."
        )
    elif algorithm:
        builtin = _check_algorithm(errors, algorithm)
        if builtin is not None and instance_count != 1 and not on_sagemaker:
            # torchrun launches your code on several instances; the built-ins train on one.
            errors.add("instance_count", f"{builtin.name} trains on one instance on the local backend.")
    elif source_file is not None:
        checked = _check_source(errors, source_filename or "train.py", source_file, entry_point)
        if checked is not None:
            content, entry = checked
            source = (source_filename or "train.py", content)
            code = {"entry_point": entry, "archive": not (source_filename or "train.py").endswith(".py")}
    else:
        try:
            source_uri = check_project_uri(project.name, source_uri)
            with store_for(source_uri).open(source_uri) as handle:
                filename = source_uri.rsplit("/", 1)[-1]
                checked = _check_source(errors, filename, handle, entry_point or filename)
            if checked is not None:
                source = (filename, checked[0])
                code = {"entry_point": checked[1], "archive": not filename.endswith(".py")}
        except ArtifactError as exc:
            errors.add("source_uri", str(exc))
    if builtin is not None and metric_definitions:
        errors.add(
            "metric_definitions", f"{builtin.name} reports its own metrics; leave metric_definitions empty."
        )
    checked_channels = _check_channels(errors, project, builtin, channels, pipe_allowed=on_sagemaker)
    framework_name, version = _check_framework(errors, framework, framework_version, builtin=bool(algorithm))
    definition = {
        "algorithm": {"name": builtin.name} if builtin else None,
        "code": code,
        # SageMaker's container for the code (None for a built-in); the local backend ignores it.
        "framework": framework_name,
        "framework_version": version,
        "channels": checked_channels,
        "hyperparameters": _check_hyperparameters(errors, builtin, hyperparameters),
        "instance_type": instance_type,
        "instance_count": instance_count,
        "max_runtime_seconds": max_runtime,
        "metric_definitions": (
            builtin.metric_definitions([item["name"] for item in checked_channels])
            if builtin
            else check_metric_definitions(errors, metric_definitions)
        ),
        "checkpoint_uri": _check_checkpoint_uri(errors, project, checkpoint_uri),
        "environment": check_environment(errors, environment),
        "tags": _check_tags(errors, tags),
        # SageMaker's managed spot training; the local backend has no spot capacity to use.
        "managed_spot": bool(managed_spot),
        "max_wait_seconds": max_wait_seconds if managed_spot else None,
    }
    return definition, source


def training_job_insert(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: str,
    definition: dict,
    source: tuple[str, bytes] | None = None,
    client_token: str | None = None,
    fingerprint: str = "",
    tuning_job: Job | None = None,
    backend: str = "",
) -> tuple[Job, bool]:
    """Store the source (when new), insert the job and queue it. ``definition`` is already checked."""
    kind = JobKind.TRAINING
    job_uuid = uuid.uuid4()
    prefix = training_prefix(project, name)
    spec = copy.deepcopy(definition)
    stored, spec["code"] = training_source_store(prefix, job_uuid, source, spec["code"])
    spec.update(
        {
            "output_uri": join_uri(prefix, "output"),
            "on_complete": EVALUATION_HOOK if spec.get("algorithm") else "",
            "request_sha256": fingerprint,
        }
    )
    for key in ("instance_type", "instance_count", "max_runtime_seconds", "metric_definitions", "tags"):
        spec.pop(key)
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
        max_runtime_seconds=definition["max_runtime_seconds"],
        metric_definitions=definition["metric_definitions"],
        tags=definition["tags"],
        spec=spec,
        script=stored,
        tuning_job=tuning_job,
        backend=backend,
    )


def training_definition_of(job: Job) -> dict:
    """The definition a job ran with, for "clone" and for tuning: code stays where it was stored."""
    spec = job.spec
    code = spec.get("code")
    return {
        "algorithm": spec.get("algorithm"),
        "code": dict(code) if code else None,
        "framework": spec.get("framework"),
        "framework_version": spec.get("framework_version"),
        "channels": spec.get("channels", []),
        "hyperparameters": dict(spec.get("hyperparameters", {})),
        "instance_type": job.instance_type,
        "instance_count": job.instance_count,
        "max_runtime_seconds": job.max_runtime_seconds,
        "metric_definitions": job.metric_definitions,
        "checkpoint_uri": spec.get("checkpoint_uri", ""),
        "environment": spec.get("environment", {}),
        "tags": job.tags,
        "managed_spot": spec.get("managed_spot", False),
        "max_wait_seconds": spec.get("max_wait_seconds"),
    }
