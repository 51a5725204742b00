"""A model's files: what an uploaded ``model.tar.gz`` holds, and the unpacked folder a serving
process or a transform job loads (fetched from the store, checked against its SHA-256, cached)."""

from __future__ import annotations

import fcntl
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from datasets.formats import ArchiveLimits, FormatError, extract_archive
from endpoints.inference.handlers import DEFAULT_PROGRAM, PICKLED_MODEL_FILES
from endpoints.models import Model
from jobs.backends.base import BackendError
from jobs.backends.training_layout import fetch_verified

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav")
READY_MARKER = ".studio-ready"


class ModelFilesError(Exception):
    """The artifact or its code cannot be fetched, verified or unpacked; the message says why."""


@dataclass(frozen=True)
class ArchiveContents:
    names: list[str]
    pickle_files: list[str]
    is_builtin: bool
    has_program: bool


def _limits() -> ArchiveLimits:
    return ArchiveLimits(max_total_bytes=settings.STUDIO_ARCHIVE_MAX_BYTES)


def _is_pickle(path: Path, name: str) -> bool:
    if name.lower().endswith(PICKLE_SUFFIXES):
        return True
    with open(path, "rb") as handle:
        head = handle.read(2)
    # Pickle protocols 2-5 start with PROTO (0x80) and the protocol number; torch's zip files do not.
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def inspect_model_archive(path: Path) -> ArchiveContents:
    """What a ``model.tar.gz`` holds; refuses archives that are not gzipped tars or are unsafe."""
    with tempfile.TemporaryDirectory(dir=settings.DATA_DIR) as scratch:
        try:
            names = extract_archive(path, "tar", Path(scratch), _limits())
        except (FormatError, tarfile.TarError, OSError, EOFError) as exc:
            raise ModelFilesError(f"not a readable model.tar.gz: {exc}") from None
        pickles = [name for name in names if _is_pickle(Path(scratch) / name, name)]
    return ArchiveContents(
        names=names,
        pickle_files=sorted(pickles),
        is_builtin="algorithm.json" in names,
        has_program=f"code/{DEFAULT_PROGRAM}" in names or DEFAULT_PROGRAM in names,
    )


def has_default_model_file(contents: ArchiveContents) -> bool:
    return any(name in contents.names for name in PICKLED_MODEL_FILES)


def model_environment(model: Model) -> dict[str, str]:
    """The model's environment, with ``SAGEMAKER_PROGRAM`` naming added code's entry point."""
    environment = dict(model.environment)
    if model.code.get("entry_point"):
        environment.setdefault("SAGEMAKER_PROGRAM", model.code["entry_point"])
    return environment


def model_snapshot(model: Model) -> dict:
    """The model as a job or a SageMaker request takes it: what it serves, fixed at that moment."""
    return {
        "name": model.name,
        "uuid": str(model.uuid),
        "algorithm": model.algorithm,
        "artifact_uri": model.artifact_uri,
        "artifact_sha256": model.artifact_sha256,
        "code": model.code,
        "environment": model_environment(model),
    }


def _cache_root() -> Path:
    return settings.STUDIO_SERVING_DIR / "models"


def model_dir_path(model: Model) -> Path:
    """Where the unpacked model lives: one folder per artifact and code, shared by its users."""
    key = model.artifact_sha256[:24]
    if model.code:
        key += "-" + model.code["sha256"][:16]
    return _cache_root() / key


def prepare_model_dir(model: Model) -> Path:
    """The model unpacked under the cache (fetched and verified once; later calls reuse it)."""
    target = model_dir_path(model)
    if (target / READY_MARKER).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / READY_MARKER).exists():
            return target
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".unpack-"))
        try:
            _unpack(model, staging)
            (staging / READY_MARKER).touch()
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _unpack(model: Model, staging: Path) -> None:
    download = staging / ".download" / "model.tar.gz"
    download.parent.mkdir()
    model_dir = staging
    try:
        fetch_verified(model.artifact_uri, model.artifact_sha256, download, "Model artifact")
        extract_archive(download, "tar", model_dir, _limits())
        if model.code:
            code = model.code
            code_download = staging / ".download" / code["filename"]
            fetch_verified(code["uri"], code["sha256"], code_download, "Inference code")
            code_dir = model_dir / "code"
            code_dir.mkdir(exist_ok=True)
            if code.get("archive"):
                kind = "zip" if code["filename"].endswith(".zip") else "tar"
                extract_archive(code_download, kind, code_dir, _limits())
            else:
                shutil.copyfile(code_download, code_dir / code["filename"])
    except BackendError as exc:
        raise ModelFilesError(str(exc)) from None
    except (FormatError, tarfile.TarError, OSError, EOFError) as exc:
        raise ModelFilesError(f"the model could not be unpacked: {exc}") from None
    finally:
        shutil.rmtree(staging / ".download", ignore_errors=True)
