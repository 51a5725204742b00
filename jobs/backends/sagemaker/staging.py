"""Moving files between Studio's artifact store and the project's S3 bucket.

SageMaker reads its inputs from S3 in the project's account and writes its outputs there; Studio's
own store is ``file://`` (embedded mode) or an S3 bucket that may sit on another endpoint. A
``Stager`` copies what a job reads to ``<s3_root>/staged/<key>/...`` (skipping objects already there
with the same SHA-256), or reads it in place when Studio's store *is* the project's S3;
``fetch_to_store`` brings what a job wrote back into Studio's store.

Every copy streams through a temporary file, so memory stays bounded whatever the object's size.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from django.conf import settings

from cloud.clients import aws_client
from cloud.errors import AWS_ERRORS, aws_failure
from cloud.models import AwsSettings
from jobs.backends.base import BackendError
from studio.artifacts import (
    CHUNK_SIZE,
    ArtifactError,
    ObjectInfo,
    StoredObject,
    join_uri,
    normalize_uri,
    relative_key,
    store_for,
)

MB = 1024 * 1024
# Multipart above 8 MB, in 8 MB parts (boto3's managed transfer).
TRANSFER_CONFIG = TransferConfig(multipart_threshold=8 * MB, multipart_chunksize=8 * MB, max_concurrency=4)
# The object metadata that says which bytes an object holds (S3's ETag is not a content hash).
SHA256_METADATA = "studio-sha256"


class RetryLater(BackendError):
    """AWS throttled the request or failed transiently: the same call may succeed later."""


def backend_error(exc: Exception, *, action: str) -> BackendError:
    """An AWS error as the job's reason: RetryLater when trying again can help."""
    if isinstance(exc, S3UploadFailedError):
        # boto3's transfer manager wraps the ClientError that tells what happened.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, AWS_ERRORS):
            exc = cause
        else:
            return BackendError(f"{action}: {exc}")
    failure = aws_failure(exc, action=action)
    return RetryLater(failure.reason) if failure.retryable else BackendError(failure.reason)


def split_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise BackendError(f"{uri!r} is not an s3://bucket/key URI")
    return parsed.netloc, parsed.path.lstrip("/")


def human_size(size: float) -> str:
    if size < 1000:
        return f"{int(size)} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            return f"{size:.1f} {unit}" if size < 10 else f"{size:.0f} {unit}"
    raise AssertionError("unreachable")


def _same_endpoint(studio_endpoint: str | None, project_endpoint: str | None) -> bool:
    """Both empty is AWS itself; otherwise the URLs must match."""
    return (studio_endpoint or "").rstrip("/") == (project_endpoint or "").rstrip("/")


@dataclass(frozen=True)
class StagedInput:
    """Where SageMaker reads one input, and what it holds."""

    uri: str  # an object URI, or a prefix URI without a trailing slash
    is_prefix: bool
    relative_paths: tuple[str, ...]  # of the objects below ``uri`` (the file name for an object)
    size: int
    in_place: bool  # Studio's own S3 URI, read where it is
    # The objects in Studio's store behind it, in the order of ``relative_paths``.
    objects: tuple[ObjectInfo, ...] = ()

    @property
    def s3_data_uri(self) -> str:
        """The URI for an ``S3Prefix`` data source: a prefix ends with "/", so ``.../versions/1``
        never also reads ``.../versions/10``."""
        return self.uri + "/" if self.is_prefix else self.uri


class Stager:
    """Moves Studio's files to the project's S3, or (dry_run=True) only says where they would go."""

    def __init__(
        self, aws: AwsSettings, *, dry_run: bool = False, log: Callable[[str], None] | None = None
    ) -> None:
        self.aws = aws
        self.dry_run = dry_run
        self.log = log or (lambda line: None)
        self._client = None

    @property
    def client(self):
        if self._client is None:
            try:
                self._client = aws_client(self.aws, "s3")
            except AWS_ERRORS as exc:
                raise backend_error(exc, action="connecting to S3") from exc
        return self._client

    def s3_uri(self, *parts: str) -> str:
        """``parts`` joined under the project's S3 root (``s3://bucket/prefix/<project>``)."""
        return join_uri(self.aws.s3_root, *parts)

    @property
    def reads_studio_store_in_place(self) -> bool:
        """Studio's store and the project's S3 are one endpoint: its s3:// URIs need no copy."""
        return _same_endpoint(settings.AWS_ENDPOINT_URL, self.aws.s3_endpoint_url or self.aws.endpoint_url)

    def stage_input(self, uri: str, *, key: str, label: str = "", expected_sha256: str = "") -> StagedInput:
        """A Studio URI (an object or a prefix) as an s3:// URI SageMaker can read, with the details:
        whether it is a prefix, its files and size.

        ``label`` names the input in the log ("channel train"); ``expected_sha256`` refuses a single
        object whose bytes changed since Studio recorded them (checked when it is copied; a prefix,
        or an object read in place, is not checked).
        """
        label = label or key
        try:
            source = normalize_uri(uri)
            objects = list(store_for(source).list(source))
        except ArtifactError as exc:
            raise BackendError(f"{label.capitalize()}: {exc}") from exc
        if not objects:
            raise BackendError(f"{label.capitalize()}: nothing found at {source}")
        is_prefix = not (len(objects) == 1 and normalize_uri(objects[0].uri) == source)
        relative = tuple(relative_key(info.uri, source) for info in objects)
        size = sum(info.size for info in objects)
        what = f"{len(objects)} file(s), {human_size(size)}"
        if source.startswith("s3://") and self.reads_studio_store_in_place:
            self.log(f"{label.capitalize()}: read in place from {source} ({what}; Studio's store is this S3)")
            return StagedInput(source, is_prefix, relative, size, in_place=True, objects=tuple(objects))
        target = self.s3_uri("staged", key) if is_prefix else self.s3_uri("staged", key, relative[0])
        staged = StagedInput(target, is_prefix, relative, size, in_place=False, objects=tuple(objects))
        if self.dry_run:
            self.log(f"Would stage {label}: {what} to {target}")
            return staged
        skipped = 0
        for info, path in zip(objects, relative, strict=True):
            destination = join_uri(self.s3_uri("staged", key), path)
            checked = "" if is_prefix else expected_sha256
            if not self._copy_in(info, destination, label=label, expected_sha256=checked):
                skipped += 1
        removed = self._remove_stale(target, set(relative), label=label) if is_prefix else 0
        line = f"Staged {label}: {what} to {target}"
        if skipped:
            line += f"; {skipped} already there"
        if removed:
            line += f"; {removed} stale file(s) removed"
        self.log(line)
        return staged

    def put_bytes(self, data: bytes, key: str) -> str:
        """Upload ``data`` to ``s3_uri(key)`` unless the same bytes are there; returns the URI."""
        uri = self.s3_uri(key)
        if self.dry_run:
            return uri
        digest = hashlib.sha256(data).hexdigest()
        bucket, object_key = split_s3_uri(uri)
        if self._stored_sha256(bucket, object_key, action=f"checking {uri}") == digest:
            return uri
        try:
            self.client.put_object(
                Bucket=bucket,
                Key=object_key,
                Body=data,
                ChecksumAlgorithm="SHA256",
                Metadata={SHA256_METADATA: digest},
            )
        except AWS_ERRORS as exc:
            raise backend_error(exc, action=f"uploading {uri}") from exc
        return uri

    # --- copies ---------------------------------------------------------------------------------

    def _stored_sha256(self, bucket: str, key: str, *, action: str) -> str | None:
        """The studio-sha256 of the object at ``key``, or None when there is none."""
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except AWS_ERRORS as exc:
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise backend_error(exc, action=action) from exc
        return head.get("Metadata", {}).get(SHA256_METADATA)

    def _copy_in(self, info: ObjectInfo, destination: str, *, label: str, expected_sha256: str) -> bool:
        """Copy one Studio object to ``destination``; False when the same bytes were already there."""
        bucket, key = split_s3_uri(destination)
        with _local_copy(info.uri, label) as (path, digest):
            if expected_sha256 and digest != expected_sha256:
                raise BackendError(
                    f"{label.capitalize()}: {info.uri} changed since Studio recorded it (SHA-256 "
                    f"{digest[:12]}…, expected {expected_sha256[:12]}…); refusing to send it."
                )
            if self._stored_sha256(bucket, key, action=f"checking {destination}") == digest:
                return False
            try:
                self.client.upload_file(
                    str(path),
                    bucket,
                    key,
                    ExtraArgs={"ChecksumAlgorithm": "SHA256", "Metadata": {SHA256_METADATA: digest}},
                    Config=TRANSFER_CONFIG,
                )
            except (*AWS_ERRORS, S3UploadFailedError) as exc:
                raise backend_error(exc, action=f"uploading {label} to {destination}") from exc
        return True

    def _remove_stale(self, prefix_uri: str, keep: set[str], *, label: str) -> int:
        """Delete objects left under a staged prefix by an earlier run that the input no longer has,
        so SageMaker reads exactly the input's files."""
        bucket, prefix = split_s3_uri(prefix_uri)
        listed = _list_keys(self.client, bucket, prefix, action=label)
        stale = [(key, relative) for key, relative in listed if relative not in keep]
        try:
            for start in range(0, len(stale), 1000):
                batch = [{"Key": key} for key, _ in stale[start : start + 1000]]
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        except AWS_ERRORS as exc:
            raise backend_error(exc, action=f"removing stale files of {label}") from exc
        return len(stale)


@contextlib.contextmanager
def _local_copy(uri: str, label: str) -> Iterator[tuple[Path, str]]:
    """A local file with ``uri``'s bytes and their SHA-256: the file itself for file://, else a
    temporary download (streamed, so memory stays bounded)."""
    with tempfile.TemporaryDirectory(dir=settings.DATA_DIR) as scratch:
        digest = hashlib.sha256()
        try:
            if uri.startswith("file://"):
                path = Path(urlparse(normalize_uri(uri)).path)
                with open(path, "rb") as handle:
                    while chunk := handle.read(CHUNK_SIZE):
                        digest.update(chunk)
            else:
                path = Path(scratch) / "object"
                with store_for(uri).open(uri) as source, open(path, "wb") as target:
                    while chunk := source.read(CHUNK_SIZE):
                        digest.update(chunk)
                        target.write(chunk)
        except (ArtifactError, OSError) as exc:
            raise BackendError(f"{label.capitalize()}: {uri} could not be read: {exc}") from exc
        except AWS_ERRORS as exc:  # Studio's own store is S3
            raise backend_error(exc, action=f"reading {uri} ({label})") from exc
        yield path, digest.hexdigest()


def _list_keys(client, bucket: str, prefix: str, *, action: str) -> list[tuple[str, str]]:
    """``(key, path relative to prefix)`` of the objects at or below ``prefix``: the object at that
    exact key (relative path "") and those below it as a folder ("data" never matches "data-old/x");
    folder markers are skipped."""
    folder = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    found = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key == prefix and not key.endswith("/"):
                    found.append((key, ""))
                elif key.startswith(folder) and not key.endswith("/"):
                    found.append((key, key[len(folder) :]))
    except AWS_ERRORS as exc:
        raise backend_error(exc, action=f"listing s3://{bucket}/{prefix} ({action})") from exc
    return found


def fetch_to_store(aws: AwsSettings, s3_uri: str, studio_uri: str) -> list[StoredObject]:
    """Copy what the project's S3 holds at ``s3_uri`` into Studio's store: an object to
    ``studio_uri`` itself, or every object under a prefix to ``studio_uri/<relative path>``.
    Returns what was stored; [] when nothing is there."""
    try:
        client = aws_client(aws, "s3")
    except AWS_ERRORS as exc:
        raise backend_error(exc, action="connecting to S3") from exc
    bucket, prefix = split_s3_uri(s3_uri)
    stored = []
    for key, relative in _list_keys(client, bucket, prefix, action=f"fetching {s3_uri}"):
        destination = join_uri(studio_uri, relative) if relative else studio_uri
        with tempfile.TemporaryDirectory(dir=settings.DATA_DIR) as scratch:
            path = Path(scratch) / "object"
            try:
                client.download_file(bucket, key, str(path), Config=TRANSFER_CONFIG)
            except AWS_ERRORS as exc:
                raise backend_error(exc, action=f"downloading s3://{bucket}/{key}") from exc
            try:
                stored.append(store_for(destination).put_file(destination, path))
            except (ArtifactError, OSError) as exc:
                raise BackendError(f"Storing {destination}: {exc}") from exc
            except AWS_ERRORS as exc:  # Studio's own store is S3 too
                raise backend_error(exc, action=f"storing {destination}") from exc
    return stored
