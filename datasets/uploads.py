"""Uploads: bytes in (chunked and resumable, or in one go), checked, staged for review, committed.

The life of an upload:

1. ``upload_create``: a row and an empty staging file under ``DATA_DIR/uploads``.
2. ``upload_receive`` (repeatable): a chunk at the offset the server has reached; a chunk at any
   other offset is refused with the server's offset, so a client that lost its connection asks,
   then resumes. Bytes go from the request to the staging file in bounded reads.
3. ``upload_complete``: the staging file is checked (format sniffed, every line and row checked,
   schema inferred over every chunk, rows counted) and only then copied to the store (hashed
   while copying; archives are extracted member by member). Bad data: the upload fails with a
   message naming the line or member, and nothing of it is kept.
4. ``upload_commit``: the user's (possibly edited) schema is checked against the data, and the
   version is recorded. The data was stored before, so a version appears whole or not at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, TypedDict
from urllib.parse import urlparse

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from datasets.formats import (
    ArchiveLimits,
    FormatError,
    InspectLimits,
    Sniffed,
    check_schema_fits,
    inspect_table,
    iter_archive,
    list_archive,
    sniff,
)
from datasets.models import DatasetVersion, Upload, UploadStatus, VersionOrigin
from datasets.readers import ReadError
from datasets.schema import SchemaError, validate_schema
from datasets.services import dataset_get_or_create, dataset_name_check, dataset_prefix, version_create
from studio.artifacts import (
    ArtifactError,
    ObjectInfo,
    join_uri,
    relative_key,
    sha256_of_stream,
    store_for,
)
from studio.models import Project

logger = logging.getLogger(__name__)

READ_BYTES = 1024 * 1024  # one read from the request body or a file: memory stays flat
PREVIEW_ROWS = 20
OPTION_KEYS = {"encoding", "delimiter", "header", "sheet"}
TABULAR_FORMATS = ("csv", "tsv", "parquet", "jsonl", "xlsx")
# A registered folder is read as a table only if every file in it has one of these extensions;
# anything else (images, text documents) is a collection of files, like an extracted archive.
TABULAR_EXTENSIONS = (".csv", ".tsv", ".tab", ".parquet", ".pq", ".jsonl", ".ndjson", ".xlsx")
ACTIVE = (UploadStatus.RECEIVING, UploadStatus.INSPECTING, UploadStatus.STAGED)


class Inspection(TypedDict, total=False):
    format: str
    read_options: dict
    schema: list[dict]
    row_count: int
    column_count: int | None
    file_count: int
    size_bytes: int
    sha256: str
    preview: dict


class UploadConflict(Exception):
    """A chunk that does not start where the server is; carries the offset to resume from."""

    def __init__(self, message: str, *, received_bytes: int, status: str) -> None:
        super().__init__(message)
        self.received_bytes = received_bytes
        self.status = status


# --- Settings, read at call time -------------------------------------------------------------------


def max_upload_bytes() -> int:
    return int(settings.STUDIO_UPLOAD_MAX_BYTES)


def max_line_bytes() -> int:
    return int(settings.STUDIO_UPLOAD_MAX_LINE_BYTES)


def archive_limits() -> ArchiveLimits:
    return ArchiveLimits(
        max_files=int(settings.STUDIO_ARCHIVE_MAX_FILES),
        max_total_bytes=int(settings.STUDIO_ARCHIVE_MAX_BYTES),
        max_ratio=float(settings.STUDIO_ARCHIVE_MAX_RATIO),
        max_member_bytes=int(settings.STUDIO_ARCHIVE_MAX_MEMBER_BYTES),
    )


def staging_dir() -> Path:
    path = Path(settings.DATA_DIR) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def staging_path(upload: Upload) -> Path:
    """The upload's bytes while they arrive: in a folder of its own, under the user's file name
    (safely reduced), since some readers go by the extension (openpyxl)."""
    return staging_dir() / str(upload.uuid) / safe_filename(upload.filename)


def upload_prefix(upload: Upload) -> str:
    """Where a staged upload's data goes in the store; committed, it stays there as the version's data."""
    return join_uri(dataset_prefix(upload.project), "uploads", str(upload.uuid))


def safe_filename(filename: str) -> str:
    """The user's file name, reduced to a safe single path segment."""
    base = re.split(r"[\\/]", filename or "")[-1].strip()
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".")[:200]
    return base or "data"


# --- Receiving ----------------------------------------------------------------------------------


def _user_or_none(user: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return user if user is not None and user.is_authenticated else None


def _clean_options(options: dict | None) -> dict:
    options = dict(options or {})
    unknown = set(options) - OPTION_KEYS
    if unknown:
        raise ValidationError({"options": f"Unknown reading options: {', '.join(sorted(unknown))}."})
    if "header" in options and not isinstance(options["header"], bool):
        raise ValidationError({"options": "header must be true or false."})
    if options.get("delimiter") is not None and (
        not isinstance(options["delimiter"], str) or len(options["delimiter"]) != 1
    ):
        raise ValidationError({"options": "delimiter must be one character."})
    if options.get("encoding"):
        import codecs

        try:
            codecs.lookup(str(options["encoding"]))
        except LookupError as exc:
            raise ValidationError({"encoding": f"Unknown encoding {options['encoding']!r}."}) from exc
    return {key: value for key, value in options.items() if value not in (None, "")}


def upload_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    filename: str,
    total_size: int | None = None,
    content_type: str = "",
    options: dict | None = None,
) -> Upload:
    """Start an upload: a row, and an empty staging file its chunks are appended to."""
    filename = (filename or "").strip()
    if not filename:
        raise ValidationError({"filename": "Give the file's name (it helps tell its format)."})
    if len(filename) > 255:
        raise ValidationError({"filename": "A file name has at most 255 characters."})
    if total_size is not None:
        if total_size < 0:
            raise ValidationError({"total_size": "The size cannot be negative."})
        if total_size == 0:
            raise ValidationError({"total_size": "The file is empty."})
        if total_size > max_upload_bytes():
            raise ValidationError(
                {"total_size": f"The file is larger than the upload limit ({max_upload_bytes()} bytes)."}
            )
    upload = Upload.objects.create(
        project=project,
        filename=filename,
        content_type=(content_type or "")[:255],
        total_size=total_size,
        options=_clean_options(options),
        created_by=_user_or_none(user),
    )
    path = staging_path(upload)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    Upload.objects.filter(pk=upload.pk).update(staging_path=str(path))
    upload.staging_path = str(path)
    return upload


class _LockBusy(Exception):
    """Another request is writing this upload's staging file right now."""


class _StagingGone(Exception):
    """The upload's staging folder is gone: it was cancelled, expired or failed meanwhile."""


@contextlib.contextmanager
def _staging_lock(upload: Upload, *, wait: bool = True) -> Iterator[Path]:
    """Hold the upload's lock while a chunk is written or the upload completes, so a retry racing
    its original never writes the same bytes twice. A chunk does not wait (``wait=False``): if its
    connection hangs, a retry must not hang behind it, so it is told to come back instead."""
    folder = staging_dir() / str(upload.uuid)
    try:
        lock = open(folder / ".lock", "a+b")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        raise _StagingGone from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _LockBusy from None
        try:
            yield staging_path(upload)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def upload_receive(
    *,
    upload: Upload,
    stream: BinaryIO,
    offset: int,
    length: int | None,
    total: int | None = None,
) -> Upload:
    """Append ``length`` bytes of ``stream`` at ``offset``.

    ``offset`` must be exactly what the server has received (UploadConflict otherwise: nothing is
    written, and the client resumes from ``received_bytes``). A chunk that arrives short (the
    connection dropped) is dropped whole; the offset stays where it was.
    """
    if offset < 0 or (length is not None and length < 0):
        raise ValidationError({"content_range": "Offsets and lengths cannot be negative."})
    try:
        return _receive_locked(upload=upload, stream=stream, offset=offset, length=length, total=total)
    except (_LockBusy, _StagingGone):
        current = Upload.objects.get(pk=upload.pk)
        busy = current.status == UploadStatus.RECEIVING
        raise UploadConflict(
            "Another request is writing to this upload right now; retry in a moment from received_bytes."
            if busy
            else f"This upload is {current.status}; it takes no more data.",
            received_bytes=current.received_bytes,
            status=current.status,
        ) from None


def _receive_locked(
    *, upload: Upload, stream: BinaryIO, offset: int, length: int | None, total: int | None
) -> Upload:
    with _staging_lock(upload, wait=False) as path:
        current = Upload.objects.get(pk=upload.pk)
        if current.status != UploadStatus.RECEIVING:
            raise UploadConflict(
                f"This upload is {current.status}; it takes no more data.",
                received_bytes=current.received_bytes,
                status=current.status,
            )
        if offset != current.received_bytes:
            raise UploadConflict(
                f"The chunk starts at byte {offset} but the server has {current.received_bytes} bytes; "
                f"resume from byte {current.received_bytes}.",
                received_bytes=current.received_bytes,
                status=current.status,
            )
        total_size = current.total_size
        if total is not None:
            if total_size is not None and total != total_size:
                raise ValidationError(
                    {"content_range": f"The total size {total} differs from the declared {total_size}."}
                )
            total_size = total
        limit = min(total_size if total_size is not None else max_upload_bytes(), max_upload_bytes())
        if length is not None and offset + length > limit:
            raise ValidationError(
                {"content_range": f"The chunk ends at byte {offset + length}, past the file's end ({limit})."}
            )
        written = _write_at(path, stream, offset, length, limit)
        updated = Upload.objects.filter(
            pk=upload.pk, status=UploadStatus.RECEIVING, received_bytes=offset
        ).update(received_bytes=offset + written, total_size=total_size, updated_at=timezone.now())
        if not updated:  # only possible if the row was changed without the lock (an operator)
            _truncate(path, offset)
            current.refresh_from_db()
            raise UploadConflict(
                "The upload changed while this chunk was written; resume.",
                received_bytes=current.received_bytes,
                status=current.status,
            )
    current.refresh_from_db()
    return current


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(size)


def _write_at(path: Path, stream: BinaryIO, offset: int, length: int | None, limit: int) -> int:
    """Copy the chunk from ``stream`` to ``path`` at ``offset``, in bounded reads; the byte count."""
    if not path.exists():
        path.touch()  # the folder exists: the lock file in it was just opened
    written = 0
    with open(path, "r+b") as handle:
        # Bytes past the recorded offset belong to a chunk that never finished (a crash between the
        # write and the row update): the recorded offset is the truth.
        handle.truncate(offset)
        handle.seek(offset)
        try:
            while length is None or written < length:
                want = READ_BYTES if length is None else min(READ_BYTES, length - written)
                data = stream.read(want)
                if not data:
                    break
                written += len(data)
                if offset + written > limit:
                    raise ValidationError(
                        {
                            "content_range": "The data goes past the file's end or the upload limit "
                            f"({limit} bytes)."
                        }
                    )
                handle.write(data)
        except (OSError, ValidationError):
            handle.truncate(offset)
            raise
        if length is not None and written != length:
            handle.truncate(offset)
            raise ValidationError(
                {"content_range": f"The chunk ended after {written} of {length} bytes; send it again."}
            )
    return written


# --- Completing: check, inspect, store -------------------------------------------------------------


def upload_complete(*, upload: Upload, user: AbstractBaseUser | None = None) -> Upload:
    """Check and inspect the received file, copy it to the store, and stage it for review.

    On bad data the upload is marked failed with the reason, its staging file and anything
    stored are removed, and ValidationError is raised.
    """
    try:
        path, current = _claim_for_inspection(upload)
    except _StagingGone:
        upload.refresh_from_db()
        raise ValidationError({"upload": f"This upload is {upload.status}, not receiving."}) from None
    prefix = upload_prefix(current)
    try:
        inspection, staged_uri = _inspect_and_store(current, path, prefix)
    except (FormatError, SchemaError, ReadError, ArtifactError, ValueError, OSError) as exc:
        message = str(exc)
        _discard_stored(prefix)
        _fail(current, message)
        raise ValidationError({"file": f"{current.filename}: {message}"}) from exc
    except BaseException:
        _discard_stored(prefix)
        _fail(current, "The upload could not be completed (an internal error); start again.")
        raise
    Upload.objects.filter(pk=current.pk).update(
        status=UploadStatus.STAGED,
        staged_uri=staged_uri,
        sha256=inspection["sha256"],
        inspection=inspection,
        error="",
        updated_at=timezone.now(),
    )
    current.refresh_from_db()
    return current


def _claim_for_inspection(upload: Upload) -> tuple[Path, Upload]:
    """Under the lock (after any chunk still being written): check every byte arrived, then move
    the upload to inspecting, so a second complete (a retried request) stops here."""
    with _staging_lock(upload) as path:
        current = Upload.objects.get(pk=upload.pk)
        if current.status != UploadStatus.RECEIVING:
            raise ValidationError({"upload": f"This upload is {current.status}, not receiving."})
        if current.total_size is not None and current.received_bytes != current.total_size:
            raise ValidationError(
                {
                    "upload": f"Only {current.received_bytes} of {current.total_size} bytes have arrived; "
                    "send the rest first."
                }
            )
        if current.received_bytes == 0 or not path.exists():
            _fail(current, "The file is empty.")
            raise ValidationError({"file": "The file is empty."})
        claimed = Upload.objects.filter(pk=current.pk, status=UploadStatus.RECEIVING).update(
            status=UploadStatus.INSPECTING, updated_at=timezone.now()
        )
        if not claimed:
            raise ValidationError({"upload": "This upload is already being completed."})
    current.status = UploadStatus.INSPECTING
    return path, current


def _fail(upload: Upload, message: str) -> None:
    _remove_staging(upload)
    Upload.objects.filter(pk=upload.pk).update(
        status=UploadStatus.FAILED, error=message, updated_at=timezone.now()
    )
    upload.status, upload.error = UploadStatus.FAILED, message


def _remove_staging(upload: Upload) -> None:
    shutil.rmtree(staging_dir() / str(upload.uuid), ignore_errors=True)


def _discard_stored(prefix: str) -> None:
    """Remove whatever an upload stored; best effort, since this runs on the way out of a failure."""
    with contextlib.suppress(ArtifactError, OSError, Exception):
        store_for(prefix).delete_prefix(prefix)


def _inspect_and_store(upload: Upload, path: Path, prefix: str) -> tuple[Inspection, str]:
    sniffed = sniff(path, upload.filename, upload.options)
    if sniffed.format == "archive":
        return _store_archive(path, sniffed, prefix)
    uri = join_uri(prefix, safe_filename(upload.filename))
    if _in_child([path]):
        # A large file: the child reads it while this process copies it to the store (hashing it),
        # so the two passes over the file overlap instead of adding up.
        child = _start_child([path], sniffed, inspect_limits(), preview_rows=PREVIEW_ROWS)
        try:
            stored = store_for(uri).put_file(uri, path)
        except BaseException:
            child.kill()
            raise
        inspection = _inspection_from(_finish_child(child, [path]))
    else:
        inspection = inspect_tabular(path, sniffed)
        stored = store_for(uri).put_file(uri, path)
    inspection["sha256"] = stored.sha256
    inspection["size_bytes"] = stored.size
    return inspection, stored.uri


def inspect_limits() -> InspectLimits:
    return InspectLimits(max_line_bytes=max_line_bytes(), archive=archive_limits())


def _in_child(paths: list[Path]) -> bool:
    threshold = int(settings.STUDIO_UPLOAD_INSPECT_IN_PROCESS_BYTES)
    return sum(path.stat().st_size for path in paths) >= threshold


def inspect_files(paths: list[Path], sniffed: Sniffed, *, names: list[str] | None = None) -> Inspection:
    """:func:`datasets.formats.inspect_table` on local files: here for small data, in a child
    process for large data, so the web process never grows with a file (pandas and Arrow keep
    memory they have used; a child gives it all back when it exits)."""
    limits = inspect_limits()
    if not _in_child(paths):
        result = inspect_table(paths, sniffed.format, sniffed.read_options, limits, names=names)
        return Inspection(**result)  # type: ignore[typeddict-item]
    child = _start_child(paths, sniffed, limits, names=names, preview_rows=PREVIEW_ROWS)
    return _inspection_from(_finish_child(child, paths))


def _inspection_from(answer: dict) -> Inspection:
    if "error" in answer:
        raise FormatError(answer["error"])
    return Inspection(**answer["result"])  # type: ignore[typeddict-item]


@dataclasses.dataclass
class _Child:
    """A running ``python -m datasets.formats`` and the file its stderr goes to."""

    process: subprocess.Popen
    errors: BinaryIO

    def kill(self) -> None:
        self.process.kill()
        self.process.communicate()
        self.errors.close()


def _start_child(paths: list[Path], sniffed: Sniffed, limits: InspectLimits, **extra: object) -> _Child:
    """Start ``python -m datasets.formats`` on ``paths``; :func:`_finish_child` reads its answer."""
    request = {
        "paths": [str(path) for path in paths],
        "format": sniffed.format,
        "read_options": sniffed.read_options,
        "limits": {
            "max_line_bytes": limits.max_line_bytes,
            "archive": dataclasses.asdict(limits.archive),
            "chunk_bytes": limits.chunk_bytes,
        },
        **extra,
    }
    # Warnings go to a file, not a pipe: a chatty reader must never block on a full pipe while
    # this process is busy copying.
    errors = tempfile.TemporaryFile(dir=staging_dir())  # noqa: SIM115 - closed by _finish_child or kill
    process = subprocess.Popen(
        [sys.executable, "-m", "datasets.formats"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=errors,
        cwd=settings.BASE_DIR,  # where the datasets package is, installed or not
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(request).encode())
    process.stdin.close()
    process.stdin = None  # written and closed: communicate() must not flush it again
    return _Child(process, errors)


def _finish_child(child: _Child, paths: list[Path]) -> dict:
    """The child's JSON answer; FormatError if it ran too long or died."""
    timeout = float(settings.STUDIO_UPLOAD_INSPECT_TIMEOUT_SECONDS)
    process, errors = child.process, child.errors
    try:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            process.communicate()
            raise FormatError(f"Reading the file took longer than {timeout:.0f} s; it was stopped.") from exc
        if process.returncode != 0:
            errors.seek(0)
            detail = errors.read()[-3000:].decode(errors="replace")
            logger.error("reading %s in a child process failed: %s", paths, detail)
            # Killed by the kernel (out of memory) or crashed in a reader: the data is what broke it.
            raise FormatError(
                f"The file could not be read (the reader stopped with code {process.returncode})."
            )
        return json.loads(output)
    finally:
        errors.close()


def _run_child(paths: list[Path], sniffed: Sniffed, limits: InspectLimits, **extra: object) -> dict:
    return _finish_child(_start_child(paths, sniffed, limits, **extra), paths)


def inspect_tabular(path: Path, sniffed: Sniffed) -> Inspection:
    """Check, infer and count one tabular file (see :func:`inspect_files`)."""
    return inspect_files([path], sniffed)


def _store_archive(path: Path, sniffed: Sniffed, prefix: str) -> tuple[Inspection, str]:
    limits = archive_limits()
    members = list_archive(path, sniffed.archive, limits)  # every member checked before any is written
    files_prefix = join_uri(prefix, "files")
    store = store_for(files_prefix)
    total = 0
    for member, stream in iter_archive(path, sniffed.archive, limits):
        stored = store.put(join_uri(files_prefix, member.name), stream)
        total += stored.size
    kinds: dict[str, int] = {}
    for member in members:
        extension = Path(member.name).suffix.lower() or "(none)"
        kinds[extension] = kinds.get(extension, 0) + 1
    inspection = Inspection(
        format="archive",
        read_options={"archive": sniffed.archive, "kinds": kinds},
        schema=[],
        row_count=len(members),
        column_count=None,
        file_count=len(members),
        size_bytes=total,
        sha256=_sha256_file(path),
        preview={
            "columns": ["path", "size_bytes"],
            "rows": [[member.name, member.size] for member in members[:PREVIEW_ROWS]],
        },
    )
    return inspection, files_prefix


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return sha256_of_stream(handle)


# --- Committing -----------------------------------------------------------------------------------


def check_schema_edit(inferred: list[dict], schema: object) -> list[dict]:
    """The edited schema, if it keeps the inferred columns (names and order) and uses known types."""
    try:
        columns = validate_schema(schema)
    except SchemaError as exc:
        raise ValidationError({"schema": str(exc)}) from exc
    names = [column["name"] for column in inferred]
    if [column["name"] for column in columns] != names:
        raise ValidationError(
            {
                "schema": f"The schema must list the file's columns in order ({', '.join(names)}); "
                "change only their types."
            }
        )
    return [dict(column) for column in columns]


def upload_commit(
    *,
    upload: Upload,
    user: AbstractBaseUser | None,
    dataset_name: str,
    schema: list[dict] | None = None,
    description: str = "",
) -> DatasetVersion:
    """Make a staged upload a version of the dataset ``dataset_name`` (created if new).

    An edited schema is checked against every row first (ValidationError naming the column that
    does not fit); the upload stays staged then, so the user can fix the schema and commit again.
    """
    name = dataset_name_check(dataset_name)
    upload.refresh_from_db()
    if upload.status == UploadStatus.COMMITTED:
        raise ValidationError({"upload": "This upload is already committed."})
    if upload.status != UploadStatus.STAGED:
        raise ValidationError(
            {"upload": f"This upload is {upload.status}; complete it before committing (it must be staged)."}
        )
    inspection: Inspection = upload.inspection  # type: ignore[assignment]
    inferred = inspection.get("schema", [])
    final_schema = inferred if schema is None else check_schema_edit(inferred, schema)
    changed = [column for column, before in zip(final_schema, inferred, strict=True) if column != before]
    if changed:
        _check_schema_fits(upload, inspection, changed)
    with transaction.atomic():
        locked = Upload.objects.select_for_update().get(pk=upload.pk)
        if locked.status != UploadStatus.STAGED:
            raise ValidationError({"upload": f"This upload is {locked.status}; it cannot be committed."})
        dataset = dataset_get_or_create(project=upload.project, name=name, user=user)
        version = version_create(
            dataset=dataset,
            uri=locked.staged_uri,
            fmt=inspection["format"],
            read_options=inspection.get("read_options", {}),
            schema=final_schema,
            origin=VersionOrigin.UPLOAD,
            size_bytes=inspection.get("size_bytes", locked.received_bytes),
            content_sha256=locked.sha256,
            row_count=inspection.get("row_count"),
            column_count=inspection.get("column_count"),
            file_count=inspection.get("file_count", 1),
            user=user,
            description=description,
        )
        locked.status = UploadStatus.COMMITTED
        locked.version = version
        locked.save(update_fields=["status", "version", "updated_at"])
    # The data lives in the store; the staging copy is only a local convenience (were an outer
    # transaction to roll back, a staged upload reads its data from the store instead).
    _remove_staging(locked)
    upload.status, upload.version = UploadStatus.COMMITTED, version
    return version


def _check_schema_fits(upload: Upload, inspection: Inspection, columns: list[dict]) -> None:
    """Cast every row to the edited columns' types, streaming (in a child process for large data);
    ValidationError names the first column that does not fit."""
    sniffed = Sniffed(inspection["format"], inspection.get("read_options", {}))
    with upload_local_copy(upload) as path:
        if _in_child([path]):
            answer = _run_child([path], sniffed, inspect_limits(), check_schema=columns)
            if "schema_error" in answer:
                raise ValidationError({"schema": answer["schema_error"]})
            if "error" in answer:
                raise ValidationError({"file": answer["error"]})
            return
        try:
            check_schema_fits([path], sniffed.format, sniffed.read_options, columns)
        except SchemaError as exc:
            raise ValidationError({"schema": str(exc)}) from exc
        except (ReadError, FormatError) as exc:
            raise ValidationError({"file": str(exc)}) from exc


@contextlib.contextmanager
def upload_local_copy(upload: Upload) -> Iterator[Path]:
    """The staged data as a local file: the staging file if this machine still has it, else a
    temporary download from the store."""
    path = staging_path(upload)
    if path.exists() and path.stat().st_size == upload.received_bytes:
        yield path
        return
    with tempfile.TemporaryDirectory(dir=staging_dir()) as tmp:
        local = Path(tmp) / safe_filename(upload.filename)
        store_for(upload.staged_uri).get_file(upload.staged_uri, local)
        yield local


def upload_abort(*, upload: Upload, user: AbstractBaseUser | None = None) -> Upload:
    """Cancel an upload that is not committed: its staging file and stored data are removed."""
    # No lock: a chunk being written finds the status changed when it records its bytes, and stops.
    updated = Upload.objects.filter(
        pk=upload.pk, status__in=[UploadStatus.RECEIVING, UploadStatus.STAGED, UploadStatus.FAILED]
    ).update(status=UploadStatus.ABORTED, updated_at=timezone.now())
    upload.refresh_from_db()
    if not updated and upload.status != UploadStatus.ABORTED:
        raise ValidationError({"upload": f"This upload is {upload.status}; it cannot be cancelled."})
    _discard_stored(upload_prefix(upload))
    _remove_staging(upload)
    return upload


def uploads_expire(*, older_than: timedelta | None = None) -> int:
    """Abort uploads left unfinished (receiving, inspecting or staged) for longer than ``older_than``
    (STUDIO_UPLOAD_EXPIRE_HOURS, 48 h by default): their staging files and stored data go.
    Meant for a periodic (beat) task."""
    if older_than is None:
        older_than = timedelta(hours=float(settings.STUDIO_UPLOAD_EXPIRE_HOURS))
    stale = Upload.objects.filter(
        status__in=ACTIVE, updated_at__lt=timezone.now() - older_than
    ).select_related("project")
    count = 0
    for upload in stale:
        updated = Upload.objects.filter(
            pk=upload.pk, status=upload.status, updated_at=upload.updated_at
        ).update(
            status=UploadStatus.ABORTED, error="Expired before it was committed.", updated_at=timezone.now()
        )
        if updated:
            _discard_stored(upload_prefix(upload))
            _remove_staging(upload)
            count += 1
    return count


# --- One shot: a whole file in one request ----------------------------------------------------------


def upload_from_stream(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    dataset_name: str,
    filename: str,
    stream: BinaryIO,
    length: int | None = None,
    content_type: str = "",
    description: str = "",
    options: dict | None = None,
) -> DatasetVersion:
    """Upload, check and commit a whole file at once (multipart or raw body): the same path as a
    chunked upload, with the inferred schema. On any error nothing is left behind."""
    dataset_name_check(dataset_name)
    if length == 0:
        raise ValidationError({"file": "The file is empty."})
    upload = upload_create(
        project=project,
        user=user,
        filename=filename,
        total_size=length,
        content_type=content_type,
        options=options,
    )
    try:
        upload_receive(upload=upload, stream=stream, offset=0, length=length)
        upload = upload_complete(upload=upload, user=user)
        return upload_commit(upload=upload, user=user, dataset_name=dataset_name, description=description)
    except BaseException:
        upload.refresh_from_db()
        if upload.status != UploadStatus.COMMITTED:
            if upload.status != UploadStatus.FAILED:
                Upload.objects.filter(pk=upload.pk).update(
                    status=UploadStatus.ABORTED, updated_at=timezone.now()
                )
            _discard_stored(upload_prefix(upload))
            _remove_staging(upload)
        raise


# --- Registered data: already in the store or under an import root -------------------------------------


def inspect_objects(uri: str, objects: list[ObjectInfo]) -> Inspection:
    """Inspect data that is already stored at ``uri`` (a file or a prefix), without copying it there.

    A file, or a folder of tabular files of one format, is read as a table (every file checked,
    one schema over all); any other folder is a collection of files. Objects in S3 are downloaded
    one at a time to a temporary file and removed after.
    """
    tabular = len(objects) == 1 or all(info.uri.lower().endswith(TABULAR_EXTENSIONS) for info in objects)
    if not tabular:
        return _inspect_collection(uri, objects)
    manifest = hashlib.sha256()
    digest = ""
    fmt, options = "", {}
    try:
        with contextlib.ExitStack() as stack:
            locals_: list[Path] = []
            for info in objects:
                local = stack.enter_context(_local_object(info.uri))
                name = relative_key(info.uri, uri)
                sniffed = sniff(local, info.uri.rsplit("/", 1)[-1])
                if sniffed.format == "archive":
                    raise FormatError("An archive cannot be registered as it is; upload it to extract it.")
                if fmt and (sniffed.format, sniffed.read_options) != (fmt, options):
                    raise FormatError(
                        f"{name} is {sniffed.format} {sniffed.read_options}, unlike the first file "
                        f"({fmt} {options}); a folder's files must share one format."
                    )
                fmt, options = sniffed.format, sniffed.read_options
                digest = _sha256_file(local)
                manifest.update(f"{name}\t{info.size}\t{digest}\n".encode())
                locals_.append(local)
            inspection = inspect_files(
                locals_, Sniffed(fmt, options), names=[relative_key(info.uri, uri) for info in objects]
            )
    except (FormatError, ArtifactError) as exc:
        raise ValidationError({"source_uri": str(exc)}) from exc
    inspection["size_bytes"] = sum(info.size for info in objects)
    # One file: its own hash, as for an upload; a folder: the hash of its manifest of files.
    inspection["sha256"] = digest if len(objects) == 1 else manifest.hexdigest()
    return inspection


def _inspect_collection(uri: str, objects: list[ObjectInfo]) -> Inspection:
    manifest = hashlib.sha256()
    kinds: dict[str, int] = {}
    store = store_for(uri)
    for info in objects:
        with store.open(info.uri) as handle:
            digest = sha256_of_stream(handle)
        manifest.update(f"{relative_key(info.uri, uri)}\t{info.size}\t{digest}\n".encode())
        extension = Path(urlparse(info.uri).path).suffix.lower() or "(none)"
        kinds[extension] = kinds.get(extension, 0) + 1
    return Inspection(
        format="archive",
        read_options={"kinds": kinds},
        schema=[],
        row_count=len(objects),
        column_count=None,
        file_count=len(objects),
        size_bytes=sum(info.size for info in objects),
        sha256=manifest.hexdigest(),
        preview={
            "columns": ["path", "size_bytes"],
            "rows": [[relative_key(info.uri, uri), info.size] for info in objects[:PREVIEW_ROWS]],
        },
    )


@contextlib.contextmanager
def _local_object(uri: str) -> Iterator[Path]:
    """A local path for one stored object: the file itself for file://, a temporary download for s3://."""
    if uri.startswith("file://"):
        yield Path(urlparse(uri).path)
        return
    with tempfile.TemporaryDirectory(dir=staging_dir()) as tmp:
        local = Path(tmp) / safe_filename(uri.rsplit("/", 1)[-1])
        store_for(uri).get_file(uri, local)
        yield local


__all__ = [
    "Inspection",
    "UploadConflict",
    "inspect_objects",
    "inspect_tabular",
    "upload_abort",
    "upload_commit",
    "upload_complete",
    "upload_create",
    "upload_from_stream",
    "upload_receive",
    "uploads_expire",
]
