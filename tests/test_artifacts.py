"""The artifact store on file:// and on s3:// (moto's server on loopback), and the artifact upload API."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from studio.artifacts import (
    CHUNK_SIZE,
    ArtifactError,
    check_project_uri,
    download_prefix,
    join_uri,
    project_prefix,
    store_for,
    upload_directory,
)
from studio.models import Artifact, AuditEvent
from tests.conftest import api_client_for

MiB = 1024 * 1024
# boto3 reads a non-seekable stream one multipart part (8 MiB by default) at a time.
S3_PART_SIZE = 8 * MiB


@pytest.fixture(params=["file", "s3"])
def root(request, settings) -> str:
    """The artifact root of either scheme, fresh for each test."""
    if request.param == "s3":
        request.getfixturevalue("s3_store")
    return settings.STUDIO_ARTIFACT_URI


class GeneratedStream:
    """A file-like object that makes its bytes as they are read, remembering what each read asked for.

    It never holds more than one block plus what the caller asked for, so if the store under test
    reads it in bounded pieces, nothing holds the whole file.
    """

    BLOCK = 64 * 1024

    def __init__(self, size: int) -> None:
        self.size = size
        self.produced = 0
        self.digest = hashlib.sha256()
        self.read_sizes: list[int | None] = []
        self._buffer = b""

    def _block(self) -> bytes:
        index = self.produced // self.BLOCK
        block = (index.to_bytes(8, "big") * (self.BLOCK // 8))[: self.size - self.produced]
        self.produced += len(block)
        self.digest.update(block)
        return block

    def read(self, size: int | None = -1) -> bytes:
        self.read_sizes.append(size)
        wanted = self.size if size is None or size < 0 else size
        while len(self._buffer) < wanted and self.produced < self.size:
            self._buffer += self._block()
        data, self._buffer = self._buffer[:wanted], self._buffer[wanted:]
        return data


def sha256_of(uri: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with store_for(uri).open(uri) as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


# --- put, open, list, delete, exists ---------------------------------------------------------------


def test_put_returns_the_size_and_sha256_and_open_reads_the_same_bytes(root):
    content = b"a,b,c\n" + b"".join(f"{i},{i * i},{i % 7}\n".encode() for i in range(1000))
    uri = join_uri(root, "projects/vision/data/train.csv")

    stored = store_for(uri).put(uri, io.BytesIO(content))

    assert stored.uri == uri
    assert stored.size == len(content)
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    with store_for(uri).open(uri) as handle:
        assert handle.read() == content


def test_put_of_an_empty_file_works(root):
    uri = join_uri(root, "empty.bin")

    stored = store_for(uri).put(uri, io.BytesIO(b""))

    assert (stored.size, stored.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert store_for(uri).exists(uri)


def test_put_over_an_existing_object_replaces_it(root):
    uri = join_uri(root, "model.bin")
    store = store_for(uri)
    store.put(uri, io.BytesIO(b"first version"))

    stored = store.put(uri, io.BytesIO(b"second"))

    assert sha256_of(uri) == (6, stored.sha256)


def test_a_20_mib_file_goes_in_and_out_in_bounded_reads(root, tmp_path):
    uri = join_uri(root, "big/blob.bin")
    stream = GeneratedStream(20 * MiB)

    stored = store_for(uri).put(uri, stream)

    assert stored.size == 20 * MiB
    assert stored.sha256 == stream.digest.hexdigest()
    assert None not in stream.read_sizes
    assert min(stream.read_sizes) >= 0  # never "read everything"
    assert max(stream.read_sizes) <= (S3_PART_SIZE if uri.startswith("s3://") else CHUNK_SIZE)

    target = tmp_path / "copy.bin"
    store_for(uri).get_file(uri, target)
    with open(target, "rb") as handle:
        assert hashlib.file_digest(handle, "sha256").hexdigest() == stored.sha256
    assert sha256_of(uri) == (20 * MiB, stored.sha256)


# Measured in a process of its own: tracemalloc counts every thread's allocations, and threads left by
# other tests (moto's server, live servers) would be counted with the store's.
MEMORY_PROBE = """
import sys, tracemalloc
from pathlib import Path
from studio.artifacts import store_for

class Generated:
    def __init__(self, size):
        self.left = size
    def read(self, size=-1):
        size = self.left if size is None or size < 0 else min(size, self.left)
        self.left -= size
        return bytes(size)

work = Path(sys.argv[1])
uri = f"file://{work}/big/blob.bin"
tracemalloc.start()
store_for(uri).put(uri, Generated(20 * 1024 * 1024))
store_for(uri).get_file(uri, work / "copy.bin")
print(tracemalloc.get_traced_memory()[1])
"""


def test_the_file_store_keeps_memory_far_below_the_file_size(tmp_path):
    """Traced only for file://: moto runs in this process, so on s3:// it would count its own copy."""
    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(tmp_path)], capture_output=True, text=True, check=True
    )

    peak = int(probe.stdout.split()[-1])
    assert peak < 5 * MiB, f"peak {peak / MiB:.1f} MiB while moving a 20 MiB file"
    assert (tmp_path / "copy.bin").stat().st_size == 20 * MiB


def test_list_shows_only_objects_below_the_prefix(root):
    for key in ["data/a.csv", "data/sub/b.csv", "data-old/x", "database.csv", "other/data/c.csv"]:
        uri = join_uri(root, key)
        store_for(uri).put(uri, io.BytesIO(key.encode()))
    prefix = join_uri(root, "data")

    listed = {info.uri: info.size for info in store_for(prefix).list(prefix)}

    assert listed == {join_uri(root, "data/a.csv"): 10, join_uri(root, "data/sub/b.csv"): 14}


def test_list_of_a_single_object_lists_that_object(root):
    uri = join_uri(root, "data/a.csv")
    store_for(uri).put(uri, io.BytesIO(b"1,2\n"))

    assert [(info.uri, info.size) for info in store_for(uri).list(uri)] == [(uri, 4)]


def test_list_of_a_missing_prefix_is_empty(root):
    prefix = join_uri(root, "nothing/here")

    assert list(store_for(prefix).list(prefix)) == []


def test_delete_removes_the_object_and_exists_says_so(root):
    uri = join_uri(root, "tmp/scratch.txt")
    keep = join_uri(root, "tmp/keep.txt")
    store = store_for(uri)
    store.put(uri, io.BytesIO(b"scratch"))
    store.put(keep, io.BytesIO(b"keep"))
    assert store.exists(uri)

    store.delete(uri)

    assert not store.exists(uri)
    assert store.exists(keep)
    with pytest.raises(ArtifactError):
        store.open(uri)
    store.delete(uri)  # deleting what is gone is not an error


def test_exists_is_false_for_a_prefix_that_is_not_an_object(root):
    uri = join_uri(root, "dir/file.txt")
    store_for(uri).put(uri, io.BytesIO(b"x"))

    assert store_for(uri).exists(join_uri(root, "dir")) is False
    assert store_for(uri).exists(join_uri(root, "dir/file.tx")) is False


def test_opening_a_missing_object_is_an_artifact_error(root):
    uri = join_uri(root, "missing.bin")

    with pytest.raises(ArtifactError):
        store_for(uri).open(uri)


def test_upload_directory_and_download_prefix_round_trip(root, tmp_path):
    source = tmp_path / "source"
    files = {"a.txt": b"alpha", "sub/b.bin": bytes(range(256)), "sub/deeper/c.csv": b"x,y\n1,2\n"}
    for name, content in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(content)
    prefix = join_uri(root, "projects/vision/outputs/run-1")

    stored = upload_directory(source, prefix)
    listed = download_prefix(prefix, tmp_path / "target")

    assert {obj.uri: obj.sha256 for obj in stored} == {
        join_uri(prefix, name): hashlib.sha256(content).hexdigest() for name, content in files.items()
    }
    assert len(listed) == 3
    copied = {
        path.relative_to(tmp_path / "target").as_posix(): path.read_bytes()
        for path in (tmp_path / "target").rglob("*")
        if path.is_file()
    }
    assert copied == files


def test_download_prefix_of_nothing_is_an_artifact_error(root, tmp_path):
    with pytest.raises(ArtifactError, match="nothing found"):
        download_prefix(join_uri(root, "empty"), tmp_path / "target")


def test_store_for_refuses_an_unknown_scheme():
    with pytest.raises(ArtifactError):
        store_for("http://example.com/x")


# --- which URIs a project may touch ---------------------------------------------------------------


def test_check_project_uri_accepts_the_projects_own_prefix(root):
    uri = join_uri(project_prefix("vision"), "data/train.csv")

    assert check_project_uri("vision", uri) == uri
    assert check_project_uri("vision", project_prefix("vision")) == project_prefix("vision")


@pytest.mark.parametrize(
    "suffix",
    [
        "projects/other/data/train.csv",  # another project's prefix
        "projects/vision-old/data/train.csv",  # a sibling that starts with the same letters
        "projects/vision/../other/x",  # traversal out of the prefix
        "projects/vision/data/../../other/x",
        "projects/visio",
        "projects",
    ],
)
def test_check_project_uri_refuses_anything_outside_the_prefix(root, suffix):
    with pytest.raises(ArtifactError):
        check_project_uri("vision", f"{root}/{suffix}")


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc/passwd",
        "s3://other-bucket/x",
        "http://example.com/data.csv",
        "ftp://host/x",
        "data/train.csv",
        "",
        "s3:///no-bucket",
        "file://relative/../../etc/passwd",
    ],
)
def test_check_project_uri_refuses_foreign_and_malformed_uris(root, uri):
    with pytest.raises(ArtifactError):
        check_project_uri("vision", uri)


def test_a_percent_encoded_dot_dot_never_leads_outside_the_project(root):
    """Refused, or taken literally: whatever check_project_uri accepts is written inside the project."""
    uri = project_prefix("vision") + "/%2e%2e/other/x"
    try:
        normalized = check_project_uri("vision", uri)
    except ArtifactError:
        return
    store_for(normalized).put(normalized, io.BytesIO(b"x"))

    inside = {info.uri for info in store_for(root).list(project_prefix("vision"))}
    assert normalized in inside
    assert list(store_for(root).list(project_prefix("other"))) == []


def test_check_project_uri_accepts_an_operator_import_root(settings, tmp_path):
    settings.STUDIO_IMPORT_ROOTS = [(tmp_path / "imports").as_uri(), "s3://public-datasets/iris"]

    assert check_project_uri("vision", (tmp_path / "imports/iris/train.csv").as_uri()).endswith(
        "iris/train.csv"
    )
    assert (
        check_project_uri("vision", "s3://public-datasets/iris/train.csv")
        == "s3://public-datasets/iris/train.csv"
    )
    with pytest.raises(ArtifactError):
        check_project_uri("vision", (tmp_path / "imports-private/secret.csv").as_uri())
    with pytest.raises(ArtifactError):
        check_project_uri("vision", (tmp_path / "imports").as_uri() + "/../secret.csv")
    with pytest.raises(ArtifactError):
        check_project_uri("vision", "s3://public-datasets/iris-private/x")


# --- the upload API ---------------------------------------------------------------------------------


def _upload(api, path: str | None, content: bytes, filename: str = "train.csv"):
    body = {"file": SimpleUploadedFile(filename, content)}
    if path is not None:
        body["path"] = path
    return api.post("/api/v1/projects/vision/artifacts/", body, format="multipart")


def test_an_upload_is_stored_under_the_project_with_its_sha256(root, project, editor_user):
    content = b"a,b\n" * 5000

    response = _upload(api_client_for(editor_user), "data/train.csv", content)

    assert response.status_code == 201
    body = response.json()
    expected_uri = join_uri(project_prefix("vision"), "data/train.csv")
    assert body["uri"] == expected_uri
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["created_by"] == "erin"
    assert sha256_of(expected_uri) == (len(content), body["sha256"])
    artifact = Artifact.objects.get(uuid=body["uuid"])
    assert (artifact.project, artifact.sha256, artifact.origin) == (project, body["sha256"], "upload")
    event = AuditEvent.objects.get(action="upload")
    assert (event.target_name, event.actor, event.details["sha256"]) == (
        "data/train.csv",
        editor_user,
        body["sha256"],
    )


def test_an_upload_without_a_path_goes_to_uploads(project, admin_user):
    response = _upload(api_client_for(admin_user), None, b"1\n", filename="labels.csv")

    assert response.status_code == 201
    assert response.json()["uri"] == join_uri(project_prefix("vision"), "uploads/labels.csv")


def test_an_upload_lands_in_the_s3_bucket(s3_store, project, admin_user):
    response = _upload(api_client_for(admin_user), "data/train.csv", b"a,b\n1,2\n")

    assert response.status_code == 201
    assert response.json()["uri"] == f"s3://{s3_store['bucket']}/studio/projects/vision/data/train.csv"
    head = s3_store["client"].head_object(
        Bucket=s3_store["bucket"], Key="studio/projects/vision/data/train.csv"
    )
    assert head["ContentLength"] == 8


@pytest.mark.parametrize(
    "path", ["../other/data.csv", "data/../../other/x", "data/./x.csv", "..", "/", "a//b"]
)
def test_an_upload_path_that_could_escape_is_a_400_naming_path(root, project, admin_user, path):
    files_before = {info.uri for info in store_for(root).list(root)}

    response = _upload(api_client_for(admin_user), path, b"evil")

    assert response.status_code == 400
    assert "path" in response.json()
    assert not Artifact.objects.exists()
    assert {info.uri for info in store_for(root).list(root)} == files_before
    assert not AuditEvent.objects.filter(action="upload").exists()


def test_a_viewer_cannot_upload(project, viewer_user):
    response = _upload(api_client_for(viewer_user), "data/x.csv", b"x")

    assert response.status_code == 403
    assert not Artifact.objects.exists()


def test_the_artifact_list_filters_by_uri_prefix(project, admin_user):
    api = api_client_for(admin_user)
    _upload(api, "data/a.csv", b"a")
    _upload(api, "models/m.bin", b"m")

    response = api.get(
        "/api/v1/projects/vision/artifacts/", {"prefix": join_uri(project_prefix("vision"), "data")}
    )

    assert response.status_code == 200
    assert [item["uri"].rsplit("/", 1)[-1] for item in response.json()["results"]] == ["a.csv"]
