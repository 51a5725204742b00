"""Use cases of datasets and their versions: create a dataset, record a version, register a URI.

Uploads (receiving bytes, sniffing, staging, committing) live in ``datasets/uploads.py``; both
end in :func:`version_create`, the one place a version row is written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from datasets.formats import frame_preview
from datasets.models import Dataset, DatasetVersion, VersionOrigin
from datasets.readers import ReadError, iter_frames
from studio.artifacts import (
    ArtifactError,
    download_prefix,
    join_uri,
    normalize_uri,
    project_prefix,
    relative_key,
    store_for,
    uri_is_under,
)
from studio.models import Project, name_validator
from studio.services import audit_record

# Names that are page paths under /projects/<p>/datasets/, so no dataset may take them.
RESERVED_NAMES = frozenset({"upload", "uploads"})
# Versions are numbered under a lock; a concurrent writer on a database without row locks may
# still collide on the unique constraint, and then simply takes the next number.
VERSION_NUMBER_ATTEMPTS = 5


def _user_or_none(user: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return user if user is not None and user.is_authenticated else None


def dataset_name_check(name: str, *, field: str = "dataset") -> str:
    """``name`` if it is a valid dataset name, else ValidationError on ``field``."""
    name = (name or "").strip()
    if len(name) > 63:
        raise ValidationError({field: "A dataset name has at most 63 characters."})
    try:
        name_validator(name)
    except ValidationError as exc:
        raise ValidationError(
            {field: f"{name!r} is not a valid dataset name: {' '.join(exc.messages)}"}
        ) from exc
    if name.lower() in RESERVED_NAMES:
        raise ValidationError({field: f"{name!r} is reserved; choose another name."})
    return name


def dataset_create(
    *,
    project: Project,
    name: str,
    user: AbstractBaseUser | None,
    description: str = "",
    field: str = "dataset",
) -> Dataset:
    """A new, empty dataset; ValidationError on ``field`` if the name is bad or taken."""
    name = dataset_name_check(name, field=field)
    try:
        with transaction.atomic():
            dataset = Dataset.objects.create(
                project=project, name=name, description=description, created_by=_user_or_none(user)
            )
    except IntegrityError as exc:
        raise ValidationError({field: f"A dataset named {name!r} already exists."}) from exc
    audit_record(actor=user, action="create", target_type="dataset", target_name=name, project=project)
    return dataset


def dataset_get_or_create(
    *, project: Project, name: str, user: AbstractBaseUser | None, description: str = ""
) -> Dataset:
    """The dataset named ``name`` in ``project``, created if new (returns the Dataset, not a tuple).

    Safe against a concurrent create of the same name: the loser reads the winner's row.
    """
    name = dataset_name_check(name)
    existing = Dataset.objects.filter(project=project, name=name).first()
    if existing is not None:
        return existing
    try:
        return dataset_create(project=project, name=name, user=user, description=description)
    except ValidationError:
        existing = Dataset.objects.filter(project=project, name=name).first()
        if existing is None:
            raise
        return existing


def dataset_update(*, dataset: Dataset, description: str, user: AbstractBaseUser | None) -> Dataset:
    dataset.description = description
    dataset.save(update_fields=["description"])
    audit_record(
        actor=user, action="update", target_type="dataset", target_name=dataset.name, project=dataset.project
    )
    return dataset


def version_create(
    *,
    dataset: Dataset,
    uri: str,
    fmt: str,
    read_options: dict,
    schema: list[dict],
    origin: str,
    size_bytes: int,
    content_sha256: str,
    row_count: int | None,
    column_count: int | None,
    file_count: int = 1,
    parent: DatasetVersion | None = None,
    job=None,
    recipe=None,
    role: str = "",
    user: AbstractBaseUser | None = None,
    description: str = "",
) -> DatasetVersion:
    """Record a new version of ``dataset`` whose data is already completely stored at ``uri``.

    Numbers are 1, 2, 3... per dataset. Two writers at once never get the same number: the
    dataset row is locked (PostgreSQL) or the write lock is taken up front (SQLite's IMMEDIATE
    transactions), and a unique-constraint collision retries with the next number.
    """
    if origin not in VersionOrigin.values:
        raise ValueError(f"unknown version origin {origin!r}")
    for attempt in range(VERSION_NUMBER_ATTEMPTS):
        try:
            with transaction.atomic():
                Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
                last = (
                    DatasetVersion.objects.filter(dataset=dataset)
                    .order_by("-number")
                    .values_list("number", flat=True)
                    .first()
                )
                version = DatasetVersion.objects.create(
                    dataset=dataset,
                    number=(last or 0) + 1,
                    uri=uri,
                    format=fmt,
                    read_options=read_options or {},
                    schema=list(schema or []),
                    origin=origin,
                    size_bytes=size_bytes,
                    content_sha256=content_sha256,
                    row_count=row_count,
                    column_count=column_count,
                    file_count=file_count,
                    parent=parent,
                    job=job,
                    recipe=recipe,
                    role=role,
                    description=description,
                    created_by=_user_or_none(user),
                )
            break
        except IntegrityError:
            if attempt == VERSION_NUMBER_ATTEMPTS - 1:
                raise
    audit_record(
        actor=user,
        action="create-version",
        target_type="dataset",
        target_name=f"{dataset.name}/v{version.number}",
        project=dataset.project,
        details={"uri": uri, "sha256": content_sha256, "origin": origin},
    )
    return version


def dataset_prefix(project: Project) -> str:
    """Where the project's dataset data lives in the store."""
    return join_uri(project_prefix(project.name), "datasets")


# --- Registering data that is already somewhere -------------------------------------------------


def check_import_uri(project: Project, uri: str) -> str:
    """``uri`` normalized, if the project may register it; ValidationError on ``source_uri`` otherwise.

    Allowed: the project's own prefix and the operator's STUDIO_IMPORT_ROOTS. A ``file://`` path
    is checked after resolving symbolic links, so a link inside a root that leads out is refused.
    """
    raw = (uri or "").strip()
    parsed = urlparse(raw)
    if parsed.scheme not in {"file", "s3"}:
        raise ValidationError({"source_uri": "Give an s3:// or file:// URI."})
    # '..' is refused outright, before any normalization could fold it away.
    if ".." in parsed.path.split("/") or ".." in parsed.netloc.split("/"):
        raise ValidationError({"source_uri": "A URI with '..' segments is not accepted."})
    try:
        normalized = normalize_uri(raw)
    except ArtifactError as exc:
        raise ValidationError({"source_uri": str(exc)}) from exc
    roots = [project_prefix(project.name), *settings.STUDIO_IMPORT_ROOTS]
    if parsed.scheme == "file":
        real = "file://" + os.path.realpath(urlparse(normalized).path)
        real_roots = [
            "file://" + os.path.realpath(urlparse(normalize_uri(root)).path)
            for root in roots
            if urlparse(root).scheme == "file"
        ]
        allowed = any(uri_is_under(normalized, root) for root in roots) and any(
            uri_is_under(real, root) for root in real_roots
        )
        if allowed:
            _refuse_links_out(Path(urlparse(real).path), real_roots)
    else:
        allowed = any(uri_is_under(normalized, root) for root in roots if root.startswith("s3://"))
    if not allowed:
        raise ValidationError(
            {
                "source_uri": f"{raw} is outside this project's data and the import roots the operator "
                "allows (STUDIO_IMPORT_ROOTS)."
            }
        )
    return normalized


def _refuse_links_out(path: Path, real_roots: list[str]) -> None:
    """A folder may hold links too: every file below it must also resolve inside a root."""
    if not path.is_dir():
        return
    for dirpath, _dirnames, filenames in os.walk(path):
        for filename in filenames:
            real = "file://" + os.path.realpath(os.path.join(dirpath, filename))
            if not any(uri_is_under(real, root) for root in real_roots):
                raise ValidationError(
                    {"source_uri": f"{os.path.join(dirpath, filename)} links outside the allowed roots."}
                )


def version_register(
    *,
    project: Project,
    dataset_name: str,
    source_uri: str,
    user: AbstractBaseUser | None,
    description: str = "",
) -> DatasetVersion:
    """Record data already in the store (or under an import root) as a new version, without copying.

    The data is read once, streaming: format sniffed, schema inferred, rows counted, hashed.
    """
    from datasets import uploads  # uploads imports this module

    uri = check_import_uri(project, source_uri)
    name = dataset_name_check(dataset_name)
    store = store_for(uri)
    objects = [info for info in store.list(uri) if not _hidden(info.uri)]
    if not objects:
        raise ValidationError({"source_uri": f"Nothing found at {uri}."})
    inspection = uploads.inspect_objects(uri, objects)
    dataset = dataset_get_or_create(project=project, name=name, user=user)
    return version_create(
        dataset=dataset,
        uri=uri,
        fmt=inspection["format"],
        read_options=inspection["read_options"],
        schema=inspection["schema"],
        origin=VersionOrigin.REGISTERED,
        size_bytes=inspection["size_bytes"],
        content_sha256=inspection["sha256"],
        row_count=inspection["row_count"],
        column_count=inspection["column_count"],
        file_count=inspection["file_count"],
        user=user,
        description=description,
    )


def _hidden(uri: str) -> bool:
    """Dot files (.DS_Store, a store's own temporary files) are not data."""
    return uri.rsplit("/", 1)[-1].startswith(".")


# --- Reading a version's data ------------------------------------------------------------------------

PREVIEW_MAX_PAGE_SIZE = 500
PREVIEW_CHUNK_ROWS = 10_000


def version_cache_dir() -> Path:
    return Path(settings.DATA_DIR) / "cache" / "datasets"


@contextmanager
def version_local_path(version: DatasetVersion) -> Iterator[Path]:
    """The version's data as a local file or folder, for the readers (which read paths).

    ``file://`` data is read where it is. Anything else is downloaded once into a cache under
    DATA_DIR/cache (keyed by the version, whose data never changes), kept within
    STUDIO_DATASET_CACHE_BYTES by removing the least recently used copies.
    """
    if version.uri.startswith("file://"):
        yield Path(urlparse(version.uri).path)
        return
    root = version_cache_dir()
    target = root / str(version.uuid)
    name = safe_name(version.uri.rstrip("/").rsplit("/", 1)[-1]) or "data"
    local = target / name
    if not local.exists():
        root.mkdir(parents=True, exist_ok=True)
        # Download beside the cache entry and rename, so a concurrent reader never sees half of it.
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".download-"))
        try:
            store = store_for(version.uri)
            objects = [info for info in store.list(version.uri) if not _hidden(info.uri)]
            if not objects:
                raise ArtifactError(f"The data of {version} is missing at {version.uri}.")
            if len(objects) == 1 and normalize_uri(objects[0].uri) == normalize_uri(version.uri):
                store.get_file(version.uri, tmp / name)
            else:
                download_prefix(version.uri, tmp / name)
            target.mkdir(exist_ok=True)
            with suppress(OSError):  # another reader got there first: use theirs
                os.replace(tmp / name, local)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _trim_cache(root, keep=target)
    os.utime(target)  # least recently used goes first
    yield local


def _trim_cache(root: Path, *, keep: Path) -> None:
    limit = int(settings.STUDIO_DATASET_CACHE_BYTES)
    entries = []
    for entry in root.iterdir():
        if entry.name.startswith("."):
            continue
        size = sum(path.stat().st_size for path in entry.rglob("*") if path.is_file())
        entries.append((entry.stat().st_mtime, size, entry))
    total = sum(size for _, size, _ in entries)
    for _, size, entry in sorted(entries):
        if total <= limit:
            break
        if entry != keep:
            shutil.rmtree(entry, ignore_errors=True)
            total -= size


def safe_name(name: str) -> str:
    return "".join(char if char.isalnum() or char in "._-" else "_" for char in name).lstrip(".")


def version_preview(version: DatasetVersion, *, page: int = 1, page_size: int = 50) -> dict:
    """One page of the version's rows (or, for a collection of files, of its file list).

    Rows are read in chunks from the start up to the page, never the whole data at once.
    """
    page = max(int(page), 1)
    page_size = min(max(int(page_size), 1), PREVIEW_MAX_PAGE_SIZE)
    start = (page - 1) * page_size
    if version.format == "archive":
        return _files_page(version, start=start, page=page, page_size=page_size)
    columns = [column["name"] for column in version.schema]
    rows: list[list] = []
    seen = 0
    has_next = False
    with version_local_path(version) as path:
        try:
            for frame in iter_frames(
                path, version.format, version.read_options, chunk_rows=PREVIEW_CHUNK_ROWS
            ):
                if not columns:
                    columns = [str(name) for name in frame.columns]
                end = seen + len(frame)
                if end > start:
                    # One row more than the page says whether there is a next page.
                    wanted = frame.iloc[max(start - seen, 0) : start - seen + page_size + 1]
                    rows.extend(frame_preview(wanted)["rows"])
                seen = end
                if len(rows) > page_size:
                    has_next = True
                    rows = rows[:page_size]
                    break
        except ReadError as exc:
            raise ValidationError({"data": str(exc)}) from exc
    if version.row_count is not None:
        has_next = start + len(rows) < version.row_count
    return {
        "columns": columns,
        "rows": rows,
        "page": page,
        "page_size": page_size,
        "total_rows": version.row_count,
        "has_next": has_next,
    }


def _files_page(version: DatasetVersion, *, start: int, page: int, page_size: int) -> dict:
    store = store_for(version.uri)
    rows = []
    has_next = False
    for index, info in enumerate(store.list(version.uri)):
        if index < start:
            continue
        if len(rows) == page_size:
            has_next = True
            break
        rows.append([relative_key(info.uri, version.uri), info.size])
    return {
        "columns": ["path", "size_bytes"],
        "rows": rows,
        "page": page,
        "page_size": page_size,
        "total_rows": version.file_count,
        "has_next": has_next,
    }
