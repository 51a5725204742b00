"""The artifact store: one small interface over ``file://`` and ``s3://`` URIs.

Everything streams in fixed-size chunks, so a large file is never held in memory, and every
write returns the SHA-256 computed while writing. Any S3-compatible server works through
``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

import boto3
from botocore.exceptions import ClientError
from django.conf import settings

CHUNK_SIZE = 1024 * 1024


class ArtifactError(Exception):
    """A URI that is malformed, missing, or not this caller's to touch."""


@dataclass(frozen=True)
class StoredObject:
    uri: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    size: int


class _HashingReader:
    """Wraps a stream, hashing and counting what passes through."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(CHUNK_SIZE if size is None or size < 0 else size)
        self.digest.update(data)
        self.size += len(data)
        return data


def sha256_of_stream(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
    return digest.hexdigest()


def join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(part.strip("/") for part in parts if part)])


def normalize_uri(uri: str) -> str:
    """Return the URI in canonical form, refusing anything that could escape its prefix."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        # No percent-decoding: URIs here are built by joining plain names, and decoding would let
        # "..%2f" in a name become a path step.
        path = parsed.path
        if not path.startswith("/"):
            raise ArtifactError(f"{uri!r} is not an absolute file:// URI")
        return "file://" + os.path.normpath(path)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ArtifactError(f"{uri!r} names no bucket")
        key = parsed.path.lstrip("/")
        if any(segment in {"..", "."} for segment in key.split("/")):
            raise ArtifactError(f"{uri!r} contains '.' or '..' segments")
        return f"s3://{parsed.netloc}/{key}"
    raise ArtifactError(f"{uri!r} is not a file:// or s3:// URI")


def uri_is_under(uri: str, prefix: str) -> bool:
    uri, prefix = normalize_uri(uri), normalize_uri(prefix).rstrip("/")
    return uri == prefix or uri.startswith(prefix + "/")


class ArtifactStore:
    """The operations every scheme supports."""

    def put(self, uri: str, stream: BinaryIO) -> StoredObject:
        raise NotImplementedError

    def open(self, uri: str) -> BinaryIO:
        raise NotImplementedError

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        raise NotImplementedError

    def delete(self, uri: str) -> None:
        raise NotImplementedError

    def exists(self, uri: str) -> bool:
        raise NotImplementedError

    def put_file(self, uri: str, path: Path) -> StoredObject:
        with open(path, "rb") as handle:
            return self.put(uri, handle)

    def get_file(self, uri: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.open(uri) as source, open(path, "wb") as target:
            shutil.copyfileobj(source, target, CHUNK_SIZE)

    def delete_prefix(self, prefix: str) -> int:
        objects = list(self.list(prefix))
        for info in objects:
            self.delete(info.uri)
        return len(objects)


class FileStore(ArtifactStore):
    @staticmethod
    def _path(uri: str) -> Path:
        return Path(urlparse(normalize_uri(uri)).path)

    def put(self, uri: str, stream: BinaryIO) -> StoredObject:
        path = self._path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        reader = _HashingReader(stream)
        # Write beside the target and rename, so readers never see half a file.
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".upload-", delete=False) as tmp:
            while chunk := reader.read(CHUNK_SIZE):
                tmp.write(chunk)
        os.replace(tmp.name, path)
        return StoredObject(uri=normalize_uri(uri), size=reader.size, sha256=reader.digest.hexdigest())

    def open(self, uri: str) -> BinaryIO:
        path = self._path(uri)
        if not path.is_file():
            raise ArtifactError(f"{uri} does not exist")
        return open(path, "rb")

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        root = self._path(prefix)
        if root.is_file():
            yield ObjectInfo(uri=f"file://{root}", size=root.stat().st_size)
            return
        if not root.is_dir():
            return
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.startswith(".upload-"):
                yield ObjectInfo(uri=f"file://{path}", size=path.stat().st_size)

    def delete(self, uri: str) -> None:
        self._path(uri).unlink(missing_ok=True)

    def exists(self, uri: str) -> bool:
        return self._path(uri).is_file()


@cache
def _s3_client(endpoint_url: str | None, region: str):
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region)


class S3Store(ArtifactStore):
    @property
    def client(self):
        return _s3_client(settings.AWS_ENDPOINT_URL, settings.AWS_REGION)

    @staticmethod
    def _split(uri: str) -> tuple[str, str]:
        parsed = urlparse(normalize_uri(uri))
        return parsed.netloc, parsed.path.lstrip("/")

    def put(self, uri: str, stream: BinaryIO) -> StoredObject:
        bucket, key = self._split(uri)
        reader = _HashingReader(stream)
        # upload_fileobj streams in multipart chunks; the reader hashes what it sends.
        self.client.upload_fileobj(reader, bucket, key)
        return StoredObject(uri=normalize_uri(uri), size=reader.size, sha256=reader.digest.hexdigest())

    def open(self, uri: str) -> BinaryIO:
        bucket, key = self._split(uri)
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as exc:
            raise ArtifactError(f"{uri} could not be read: {exc.response['Error'].get('Code')}") from exc

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        bucket, key = self._split(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=key):
            for item in page.get("Contents", []):
                # "data" must not match "data-old/x": keep exact keys and keys below a folder.
                if item["Key"] == key or not key or key.endswith("/") or item["Key"].startswith(key + "/"):
                    yield ObjectInfo(uri=f"s3://{bucket}/{item['Key']}", size=item["Size"])

    def delete(self, uri: str) -> None:
        bucket, key = self._split(uri)
        self.client.delete_object(Bucket=bucket, Key=key)

    def exists(self, uri: str) -> bool:
        bucket, key = self._split(uri)
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except ClientError:
            return False
        return True


def store_for(uri: str) -> ArtifactStore:
    scheme = urlparse(uri).scheme
    if scheme == "file":
        return FileStore()
    if scheme == "s3":
        return S3Store()
    raise ArtifactError(f"{uri!r} is not a file:// or s3:// URI")


def relative_key(uri: str, prefix: str) -> str:
    """The part of ``uri`` below ``prefix`` (the file name when ``uri`` is ``prefix`` itself)."""
    uri, prefix = normalize_uri(uri), normalize_uri(prefix).rstrip("/")
    if uri == prefix:
        return uri.rsplit("/", 1)[-1]
    return uri[len(prefix) + 1 :]


def download_prefix(prefix: str, target: Path) -> list[ObjectInfo]:
    """Copy every object under ``prefix`` into ``target``, keeping the relative layout."""
    store = store_for(prefix)
    objects = list(store.list(prefix))
    if not objects:
        raise ArtifactError(f"nothing found at {prefix}")
    for info in objects:
        store.get_file(info.uri, target / relative_key(info.uri, prefix))
    return objects


def upload_directory(source: Path, prefix: str) -> list[StoredObject]:
    """Upload every file below ``source`` to ``prefix``, keeping the relative layout."""
    store = store_for(prefix)
    return [
        store.put_file(join_uri(prefix, path.relative_to(source).as_posix()), path)
        for path in sorted(source.rglob("*"))
        if path.is_file()
    ]


def project_prefix(project_name: str) -> str:
    return join_uri(settings.STUDIO_ARTIFACT_URI, "projects", project_name)


def check_project_uri(project_name: str, uri: str) -> str:
    """Return ``uri`` normalized if the project may read it: its own prefix or an operator import root."""
    normalized = normalize_uri(uri)
    allowed = [project_prefix(project_name), *settings.STUDIO_IMPORT_ROOTS]
    if not any(uri_is_under(normalized, root) for root in allowed):
        raise ArtifactError(
            f"{uri} is outside this project's artifacts ({project_prefix(project_name)}/) "
            "and the import roots the operator allows"
        )
    return normalized
