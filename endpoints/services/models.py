"""Models: from a completed training job or an uploaded ``model.tar.gz``, with inference code."""

from __future__ import annotations

import re
import tempfile
import uuid
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from endpoints.models import Model, ModelSource
from endpoints.services.common import created_by_the_other_request, created_for_token
from endpoints.services.model_files import (
    ArchiveContents,
    ModelFilesError,
    has_default_model_file,
    inspect_model_archive,
)
from jobs.models import Job, JobKind, JobStatus
from jobs.services.common import ENV_NAME, SCRIPT_FILENAME, Errors, check_environment, request_fingerprint
from studio.artifacts import (
    ArtifactError,
    StoredObject,
    check_project_uri,
    join_uri,
    project_prefix,
    sha256_of_stream,
    store_for,
)
from studio.models import NAME_REGEX, Project
from studio.roles import Permission, role_allows
from studio.selectors import project_role
from studio.services import artifact_record, audit_record

CODE_ARCHIVE = re.compile(r"\.(tar\.gz|tgz|tar|zip)$")
_COPY_CHUNK = 1024 * 1024


def _spool(stream: BinaryIO, target: Path, limit: int) -> None:
    written = 0
    with open(target, "wb") as handle:
        while chunk := stream.read(_COPY_CHUNK):
            written += len(chunk)
            if written > limit:
                raise ValidationError({"model_file": f"The model is larger than {limit} bytes."})
            handle.write(chunk)


def _check_code(errors: Errors, code_filename: str, entry_point: str) -> dict:
    if not code_filename:
        return {}
    archive = bool(CODE_ARCHIVE.search(code_filename))
    if not archive and not SCRIPT_FILENAME.match(code_filename):
        errors.add("code_file", "Send a .py file or a .tar.gz/.zip of your inference code.")
        return {}
    entry = entry_point or ("inference.py" if archive else code_filename)
    if not SCRIPT_FILENAME.match(entry):
        errors.add("entry_point", "Name the .py file in your code that holds the handler functions.")
    return {"filename": code_filename, "archive": archive, "entry_point": entry}


def _check_serves(errors: Errors, contents: ArchiveContents, code: dict, field: str) -> None:
    """A model needs something to answer with: a built-in, inference code, or a joblib/pickle model."""
    if contents.is_builtin or code or contents.has_program or has_default_model_file(contents):
        return
    errors.add(
        field,
        "The model has no inference code: add code/inference.py with model_fn (and optionally input_fn, "
        "predict_fn, output_fn) to the archive, send code_file, or include a model.joblib.",
    )


def _training_job_artifact(errors: Errors, project: Project, name: str) -> tuple[Job | None, dict | None]:
    job = Job.objects.filter(project=project, kind=JobKind.TRAINING, name=name).first()
    if job is None:
        errors.add("training_job", f"No training job named {name!r} in {project.name}.")
        return None, None
    if job.status != JobStatus.COMPLETED:
        errors.add("training_job", f"Training job {name} is {job.status}; only a Completed job has a model.")
        return job, None
    artifact = next((item for item in job.outputs if item.get("name") == "model"), None)
    if artifact is None or not artifact.get("sha256"):
        errors.add("training_job", f"Training job {name} recorded no model.tar.gz.")
    return job, artifact


def model_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: str,
    training_job: str = "",
    model_file: BinaryIO | None = None,
    model_data_uri: str = "",
    code_file: BinaryIO | None = None,
    code_filename: str = "",
    entry_point: str = "",
    environment: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    client_token: str | None = None,
) -> tuple[Model, bool]:
    """Validate and create a model. Exactly one of ``training_job`` (a Completed job's model),
    ``model_file`` (an uploaded model.tar.gz) or ``model_data_uri`` (one in the project's store).

    Returns ``(model, created)``; a retry with the same ``client_token`` gets the first model.
    """
    errors = Errors()
    fingerprint = request_fingerprint(
        name=name,
        training_job=training_job,
        model_data_uri=model_data_uri,
        code_filename=code_filename,
        entry_point=entry_point,
        environment=environment,
        tags=tags,
        upload=model_file is not None,
    )
    existing = created_for_token(Model, project, client_token, fingerprint)
    if existing is not None:
        return existing, False
    if not re.match(NAME_REGEX, name or ""):
        errors.add("name", "Use 1-63 letters, digits or hyphens, starting and ending with a letter or digit.")
    elif Model.objects.filter(project=project, name=name).exists():
        errors.add("name", f"A model named {name!r} already exists in {project.name}.")
    sources = [bool(training_job), model_file is not None, bool(model_data_uri)]
    if sum(sources) != 1:
        errors.add("training_job", "Give exactly one of training_job, model_file or model_data_uri.")
    environment = check_environment(errors, environment or {})
    for key in environment:
        if not ENV_NAME.match(key):
            errors.add("environment", f"{key!r} is not a valid variable name.")
    code = _check_code(errors, code_filename if code_file is not None else "", entry_point)
    errors.raise_if_any()

    model_uuid = uuid.uuid4()
    prefix = join_uri(project_prefix(project.name), "models", str(model_uuid))
    fields: dict = {}
    with tempfile.TemporaryDirectory(dir=settings.DATA_DIR) as scratch:
        if training_job:
            job, artifact = _training_job_artifact(errors, project, training_job)
            errors.raise_if_any()
            algorithm = (job.spec.get("algorithm") or {}).get("name", "")
            if not algorithm and not code:
                errors.add(
                    "code_file",
                    f"Training job {job.name} ran your own script: send the inference code (code_file) "
                    "with model_fn and the handler functions SageMaker's inference toolkit defines.",
                )
            errors.raise_if_any()
            fields = {
                "source": ModelSource.TRAINING_JOB,
                "training_job": job,
                "algorithm": algorithm,
                "artifact_uri": artifact["uri"],
                "artifact_sha256": artifact["sha256"],
                "artifact_size": artifact.get("bytes", 0),
                "pickle_files": [],
            }
        else:
            local = Path(scratch) / "model.tar.gz"
            if model_file is not None:
                _spool(model_file, local, settings.STUDIO_UPLOAD_MAX_BYTES)
            else:
                try:
                    uri = check_project_uri(project.name, model_data_uri)
                    store_for(uri).get_file(uri, local)
                except ArtifactError as exc:
                    raise ValidationError({"model_data_uri": str(exc)}) from None
            field = "model_file" if model_file is not None else "model_data_uri"
            try:
                contents = inspect_model_archive(local)
            except ModelFilesError as exc:
                raise ValidationError({field: str(exc)}) from None
            _check_serves(errors, contents, code, field)
            errors.raise_if_any()
            if model_file is not None:
                uri = join_uri(prefix, "model.tar.gz")
                stored = store_for(uri).put_file(uri, local)
            else:  # it stays where it is; its SHA-256 now is what every load is checked against
                with open(local, "rb") as handle:
                    stored = StoredObject(uri=uri, size=local.stat().st_size, sha256=sha256_of_stream(handle))
            fields = {
                "source": ModelSource.UPLOAD,
                "algorithm": "",
                "artifact_uri": stored.uri,
                "artifact_sha256": stored.sha256,
                "artifact_size": stored.size,
                "pickle_files": []
                if contents.is_builtin and not contents.pickle_files
                else contents.pickle_files,
            }
        if code:
            code_uri = join_uri(prefix, "code", code["filename"])
            code_stored = store_for(code_uri).put(code_uri, code_file)
            code.update(uri=code_stored.uri, sha256=code_stored.sha256)
    try:
        with transaction.atomic():
            model = Model.objects.create(
                uuid=model_uuid,
                project=project,
                name=name,
                environment=environment,
                tags=tags or {},
                code=code,
                request_sha256=fingerprint,
                created_by=user,
                client_token=client_token or None,
                **fields,
            )
            if fields["source"] == ModelSource.UPLOAD and model_file is not None:
                artifact_record(project=project, stored=stored, origin=f"model/{name}", user=user)
            audit_record(
                actor=user,
                action="create",
                target_type="model",
                target_name=name,
                project=project,
                details={
                    "source": model.source,
                    "artifact_sha256": model.artifact_sha256,
                    "pickle_files": model.pickle_files,
                },
            )
    except IntegrityError:
        return created_by_the_other_request(Model, project, name, client_token, fingerprint), False
    return model, True


def model_trust(*, model: Model, user: AbstractBaseUser) -> Model:
    """A project admin vouches for the pickles in an uploaded model; recorded in the audit log."""
    if not role_allows(project_role(user, model.project), Permission.MANAGE):
        raise PermissionDenied("Only a project admin can trust a model's pickled files.")
    if not model.pickle_files:
        raise ValidationError({"model": f"Model {model.name} has no pickled files to trust."})
    with transaction.atomic():
        model.trusted_by, model.trusted_at = user, timezone.now()
        model.save(update_fields=["trusted_by", "trusted_at"])
        audit_record(
            actor=user,
            action="trust",
            target_type="model",
            target_name=model.name,
            project=model.project,
            details={
                "artifact_uri": model.artifact_uri,
                "artifact_sha256": model.artifact_sha256,
                "pickle_files": model.pickle_files,
            },
        )
    return model


def model_delete(*, model: Model, user: AbstractBaseUser | None) -> None:
    """Delete a model no endpoint config uses (its uploaded artifact stays in the store)."""
    try:
        with transaction.atomic():
            model.delete()
            audit_record(
                actor=user,
                action="delete",
                target_type="model",
                target_name=model.name,
                project=model.project,
            )
    except ProtectedError:
        configs = sorted({variant.config.name for variant in model.variants.select_related("config")})
        raise ValidationError(
            {"model": f"Model {model.name} is used by endpoint config(s) {', '.join(configs)}; delete them."}
        ) from None
