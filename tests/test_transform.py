"""Batch transform jobs: SageMaker's CreateTransformJob rules, the runtime (splits, batch strategies,
filters, joins, assembly, gzip, failed lines), jobs run to the end on the local backend, the API and
the pages."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import joblib
import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from sklearn.linear_model import LogisticRegression

from datasets.uploads import upload_from_stream
from endpoints.inference import codecs
from endpoints.inference.transform import (
    FilterError,
    Settings,
    apply_path,
    check_filter,
    fast_csv_encode,
    file_pieces,
    parse_path,
    piece_bytes,
    stream_pieces,
)
from endpoints.services.models import model_create, model_trust
from jobs.models import Job, JobKind, JobStatus
from jobs.runner import job_execute
from jobs.selectors import job_log_read
from jobs.services import job_stop
from jobs.services.transform import transform_job_create
from studio.artifacts import join_uri, project_prefix, store_for
from studio.models import Artifact
from studio.services import artifact_upload
from tests.conftest import api_client_for

ROOT = Path(__file__).resolve().parent.parent
DB = pytest.mark.django_db

# (status, secondary status) of a transform job that ran to completion, in order.
TRANSFORM_HISTORY = [
    ("Pending", "Starting"),
    ("InProgress", "Starting"),
    ("InProgress", "Downloading"),
    ("InProgress", "Transforming"),
    ("InProgress", "Uploading"),
    ("Completed", "Completed"),
]

# A model with its own handler functions and no pickle: the weighted sum of each row's values.
INFERENCE_CODE = b"""import json

def model_fn(model_dir):
    with open(f"{model_dir}/weights.json") as handle:
        return json.load(handle)

def input_fn(body, content_type):
    text = body.decode()
    if content_type == "application/jsonlines":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if content_type == "application/json":
        return json.loads(text)
    return [[float(value) for value in line.split(",")] for line in text.splitlines() if line.strip()]

def predict_fn(rows, weights):
    return [sum(w * x for w, x in zip(weights, row)) for row in rows]

def output_fn(predictions, accept):
    if accept == "application/json":
        return json.dumps(predictions), accept
    return "".join(f"{p}\\n" for p in predictions), "text/csv"
"""
WEIGHTS = [1, 10, 100]


def weighted(row) -> float:
    return float(sum(w * x for w, x in zip(WEIGHTS, row, strict=True)))


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def fitted_classifier() -> LogisticRegression:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 3))
    return LogisticRegression().fit(features, (features[:, 0] + features[:, 1] > 0).astype(int))


def joblib_bytes(estimator) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    return buffer.getvalue()


def rows(count: int, seed: int = 1) -> np.ndarray:
    return np.round(np.random.default_rng(seed).normal(size=(count, 3)), 3)


def csv_text(matrix, ids: bool = False) -> bytes:
    lines = [
        ",".join(([str(i)] if ids else []) + [repr(float(v)) for v in row]) for i, row in enumerate(matrix)
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def classifier(project, admin_user) -> LogisticRegression:
    """A trusted scikit-learn model "clf" (a pickle, so an admin trusted it)."""
    estimator = fitted_classifier()
    archive = io.BytesIO(tarball({"model.joblib": joblib_bytes(estimator)}))
    model, _ = model_create(project=project, user=admin_user, name="clf", model_file=archive)
    model_trust(model=model, user=admin_user)
    return estimator


@pytest.fixture
def weighted_model(project, admin_user):
    """A model "weighted" answered by its own code/inference.py (no pickle: nothing to trust)."""
    archive = tarball({"code/inference.py": INFERENCE_CODE, "weights.json": json.dumps(WEIGHTS).encode()})
    model, _ = model_create(project=project, user=admin_user, name="weighted", model_file=io.BytesIO(archive))
    return model


@pytest.fixture(autouse=True)
def no_workers(monkeypatch) -> list[Job]:
    """Created jobs stay Pending until a test runs them with job_execute."""
    queued: list[Job] = []
    monkeypatch.setattr("jobs.services.common.job_enqueue", queued.append)
    return queued


def upload(project, user, path: str, content: bytes) -> str:
    return artifact_upload(project=project, user=user, path=path, stream=io.BytesIO(content)).uri


def create(project, user, name="score-1", model="clf", **extra) -> Job:
    job, created = transform_job_create(project=project, user=user, name=name, model=model, **extra)
    assert created
    return job


def run(job: Job) -> Job:
    job_execute(job_id=job.pk)
    job.refresh_from_db()
    return job


def read(uri: str) -> bytes:
    with store_for(uri).open(uri) as stream:
        return stream.read()


# --- The runtime, on its own: every split, strategy, filter, join and assembly ---------------------


def run_runtime(tmp_path: Path, model_files: dict[str, bytes], inputs: dict[str, bytes], **options):
    """``python -m endpoints.inference.transform`` on ``inputs``: its exit code, the files it wrote
    ({name: bytes}), its report, its failure reason and its output."""
    model_dir, input_dir, out = tmp_path / "model", tmp_path / "input", tmp_path / "out"
    for root, files in ((model_dir, model_files), (input_dir, inputs)):
        for name, content in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(content)
    config = {
        "input_dir": str(input_dir),
        "output_dir": str(out / "data"),
        "scratch_dir": str(out / "scratch"),
        "report_file": str(out / "report.json"),
        "failure_file": str(out / "failure"),
        "model_dir": str(model_dir),
        "max_concurrent_transforms": 2,
        "accept": "text/csv",
        **options,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, "-m", "endpoints.inference.transform", "--config", str(tmp_path / "config.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    written = {
        path.relative_to(out / "data").as_posix(): path.read_bytes()
        for path in sorted((out / "data").rglob("*"))
        if path.is_file()
    }
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else None
    failure = (out / "failure").read_text() if (out / "failure").exists() else ""
    return result.returncode, written, report, failure, result.stdout + result.stderr


CODE_MODEL = {"code/inference.py": INFERENCE_CODE, "weights.json": json.dumps(WEIGHTS).encode()}
DATA = rows(7)
PLAIN = csv_text(DATA)
WITH_IDS = csv_text(DATA, ids=True)
JSON_RECORDS = b"".join(
    json.dumps({"id": i, "features": row.tolist()}).encode() + b"\n" for i, row in enumerate(DATA)
)
ARRAY_RECORDS = b"".join(json.dumps(row.tolist()).encode() + b"\n" for row in DATA)


def lines_of(values) -> bytes:
    return "".join(f"{value}\n" for value in values).encode()


SCORES = [weighted(row) for row in DATA]
CSV = {"content_type": "text/csv"}
LINE = {"split_type": "Line", "assemble_with": "Line"}

# (id, input, settings, expected .out)
COMBINATIONS = [
    ("line-multi", PLAIN, {**CSV, **LINE, "batch_strategy": "MultiRecord"}, lines_of(SCORES)),
    ("line-single", PLAIN, {**CSV, **LINE, "batch_strategy": "SingleRecord"}, lines_of(SCORES)),
    (
        "line-single-assemble-none",
        PLAIN,
        {**CSV, "split_type": "Line", "batch_strategy": "SingleRecord", "assemble_with": "None"},
        lines_of(SCORES),
    ),
    ("split-none", PLAIN, {**CSV, "split_type": "None", "batch_strategy": "SingleRecord"}, lines_of(SCORES)),
    (
        "tiny-payloads",  # several payloads per file, answered by two workers, kept in order
        PLAIN,
        {**CSV, **LINE, "batch_strategy": "MultiRecord", "max_payload_bytes": 64},
        lines_of(SCORES),
    ),
    (
        "input-filter",
        WITH_IDS,
        {**CSV, **LINE, "batch_strategy": "MultiRecord", "input_filter": "$[1:]"},
        lines_of(SCORES),
    ),
    (
        "join-input",
        WITH_IDS,
        {**CSV, **LINE, "batch_strategy": "MultiRecord", "input_filter": "$[1:]", "join_source": "Input"},
        b"".join(
            line + f",{score}\n".encode() for line, score in zip(WITH_IDS.splitlines(), SCORES, strict=True)
        ),
    ),
    (
        "join-output-filter-multi",
        WITH_IDS,
        {
            **CSV,
            **LINE,
            "batch_strategy": "MultiRecord",
            "input_filter": "$[1:]",
            "join_source": "Input",
            "output_filter": "$[0,-1]",
        },
        lines_of(f"{i},{score}" for i, score in enumerate(SCORES)),
    ),
    (
        "join-output-filter-single",
        WITH_IDS,
        {
            **CSV,
            **LINE,
            "batch_strategy": "SingleRecord",
            "input_filter": "$[1:]",
            "join_source": "Input",
            "output_filter": "$[0,-1]",
        },
        lines_of(f"{i},{score}" for i, score in enumerate(SCORES)),
    ),
    (
        "output-filter-without-join",
        PLAIN,
        {**CSV, **LINE, "batch_strategy": "MultiRecord", "output_filter": "$[0]"},
        lines_of(SCORES),
    ),
    (
        "json-answer-joined-to-csv",
        WITH_IDS,
        {
            **CSV,
            **LINE,
            "batch_strategy": "MultiRecord",
            "accept": "application/json",
            "input_filter": "$[1:]",
            "join_source": "Input",
            "output_filter": "$[0,-1]",
        },
        lines_of(f"{i},{score}" for i, score in enumerate(SCORES)),
    ),
    (
        "json-lines-join-object",
        JSON_RECORDS,
        {
            "content_type": "application/jsonlines",
            **LINE,
            "batch_strategy": "MultiRecord",
            "accept": "application/json",
            "input_filter": "$.features",
            "join_source": "Input",
            "output_filter": "$['id','SageMakerOutput']",
        },
        lines_of(json.dumps({"id": i, "SageMakerOutput": score}) for i, score in enumerate(SCORES)),
    ),
    (
        "json-lines-join-array",
        ARRAY_RECORDS,
        {
            "content_type": "application/jsonlines",
            **LINE,
            "batch_strategy": "SingleRecord",
            "join_source": "Input",
        },
        lines_of(
            json.dumps({"SageMakerInput": row.tolist(), "SageMakerOutput": score})
            for row, score in zip(DATA, SCORES, strict=True)
        ),
    ),
    (
        "json-whole-file-joined",
        json.dumps({"instances": DATA.tolist()}).encode(),
        {
            "content_type": "application/json",
            "split_type": "None",
            "batch_strategy": "SingleRecord",
            "accept": "application/json",
            "input_filter": "$.instances",
            "join_source": "Input",
            "output_filter": "$.SageMakerOutput",
        },
        json.dumps(SCORES).encode(),
    ),
]


@pytest.mark.parametrize(
    ("data", "options", "expected"),
    [case[1:] for case in COMBINATIONS],
    ids=[case[0] for case in COMBINATIONS],
)
def test_each_combination_writes_what_sagemaker_writes(tmp_path, data, options, expected):
    code, written, report, failure, output = run_runtime(tmp_path, CODE_MODEL, {"part-1": data}, **options)

    assert code == 0, output
    assert written == {"part-1.out": expected}
    assert report["files"][0]["records"] == (1 if options["split_type"] == "None" else len(DATA))
    assert failure == ""


@pytest.mark.parametrize(
    ("strategy", "accept"),
    [
        ("MultiRecord", "text/csv"),
        ("SingleRecord", "application/json"),
        ("MultiRecord", "application/jsonlines"),
    ],
)
def test_a_scikit_learn_model_answers_as_the_endpoint_codecs_do(tmp_path, strategy, accept):
    """Batchable handlers take the fast path (pandas, one predict per payload); the bytes are the
    codecs' own, so a transform answers exactly as an endpoint would for each payload."""
    estimator = fitted_classifier()
    data = rows(300)
    code, written, _, _, output = run_runtime(
        tmp_path,
        {"model.joblib": joblib_bytes(estimator)},
        {"a.csv": csv_text(data)},
        content_type="text/csv",
        split_type="Line",
        batch_strategy=strategy,
        accept=accept,
        assemble_with="None",
    )

    assert code == 0, output
    predictions = estimator.predict(data)
    if strategy == "MultiRecord":  # one payload for the whole (small) file
        expected = codecs.encode_array(predictions, accept)
    else:
        expected = b"".join(codecs.encode_array(predictions[i : i + 1], accept) for i in range(len(data)))
    assert written == {"a.csv.out": expected}


def test_gzip_input_is_read_as_a_stream(tmp_path):
    code, written, _, _, output = run_runtime(
        tmp_path,
        CODE_MODEL,
        {"data/part.csv.gz": gzip.compress(PLAIN)},
        content_type="text/csv",
        compression="Gzip",
        split_type="Line",
        batch_strategy="MultiRecord",
        max_payload_bytes=40,
        assemble_with="Line",
    )

    assert code == 0, output
    assert written == {"data/part.csv.gz.out": lines_of(SCORES)}


def test_bad_lines_fail_their_file_only_and_are_each_named(tmp_path):
    lines = PLAIN.splitlines()
    lines[3] = b"1,x,3"
    lines[5] = b"oops"
    bad = b"\n".join(lines) + b"\n"

    code, written, report, failure, output = run_runtime(
        tmp_path,
        CODE_MODEL,
        {"good.csv": PLAIN, "bad.csv": bad},
        content_type="text/csv",
        split_type="Line",
        batch_strategy="MultiRecord",
        assemble_with="Line",
    )

    assert code == 1
    assert written["good.csv.out"] == lines_of(SCORES)
    assert "bad.csv.out" not in written
    errors = [json.loads(line) for line in written["bad.csv.errors.jsonl"].splitlines()]
    assert [error["line"] for error in errors] == [4, 6]
    assert "could not convert string to float: 'x'" in errors[0]["error"]
    assert failure.startswith("2 of 7 records failed in bad.csv: line 4: ValueError: could not convert")
    assert "line 6:" in failure
    assert "FAILED bad.csv line 4" in output
    assert {item["input"]: item["failed"] for item in report["files"]} == {"bad.csv": 2, "good.csv": 0}


def test_a_line_longer_than_the_payload_limit_is_a_failed_record(tmp_path):
    data = PLAIN + b"1," + b"0" * 300 + b",2\n" + PLAIN
    code, written, report, failure, _ = run_runtime(
        tmp_path,
        CODE_MODEL,
        {"a.csv": data},
        content_type="text/csv",
        split_type="Line",
        batch_strategy="MultiRecord",
        max_payload_bytes=200,
        assemble_with="Line",
    )

    assert code == 1
    assert report["files"][0]["records"] == 15
    assert failure.startswith(
        "1 of 15 records failed in a.csv: line 8: the line is larger than MaxPayloadInMB"
    )
    assert list(written) == ["a.csv.errors.jsonl"]


def test_blank_lines_are_not_records_but_still_count_as_lines(tmp_path):
    data = b"\n" + PLAIN.replace(b"\n", b"\n\n", 2) + b"1,x,3\n  \n"

    code, written, report, failure, _ = run_runtime(
        tmp_path, CODE_MODEL, {"a.csv": data}, content_type="text/csv", split_type="Line",
        batch_strategy="MultiRecord", assemble_with="Line",
    )  # fmt: skip

    assert code == 1
    assert report["files"][0]["records"] == len(DATA) + 1
    assert failure.startswith("1 of 8 records failed in a.csv: line 11: ValueError")
    assert list(written) == ["a.csv.errors.jsonl"]


def test_workers_that_load_the_model_each_answer_the_same(tmp_path):
    """GPU instance types cannot fork a loaded model: each worker loads its own."""
    code, written, _, _, output = run_runtime(
        tmp_path, CODE_MODEL, {"a.csv": PLAIN, "b.csv": PLAIN}, content_type="text/csv", split_type="Line",
        batch_strategy="MultiRecord", assemble_with="Line", share_model=False,
    )  # fmt: skip

    assert code == 0, output
    assert written == {"a.csv.out": lines_of(SCORES), "b.csv.out": lines_of(SCORES)}


def test_a_worker_that_dies_fails_the_job_saying_so(tmp_path):
    dying = {
        "code/inference.py": INFERENCE_CODE.replace(
            b"def predict_fn(rows, weights):", b"def predict_fn(rows, weights):\n    import os; os._exit(9)"
        ),
        "weights.json": b"[1, 1, 1]",
    }

    code, _, report, failure, _ = run_runtime(tmp_path, dying, {"a.csv": PLAIN}, split_type="Line")

    assert code == 1
    assert report is None
    assert failure.startswith("A transform worker process died while answering")


def test_a_model_that_does_not_load_fails_the_job_with_its_error(tmp_path):
    broken = {"code/inference.py": b"def model_fn(model_dir):\n    raise RuntimeError('no weights')\n"}

    code, written, report, failure, _ = run_runtime(tmp_path, broken, {"a.csv": PLAIN}, split_type="Line")

    assert code == 1
    assert written == {}
    assert report is None
    assert failure == "ModelLoadError: model_fn failed: RuntimeError: no weights"


@pytest.mark.parametrize("gzipped", [False, True])
def test_blocks_hold_whole_lines_and_never_more_than_a_payload(tmp_path, gzipped):
    """Blocks aim at a size below the payload limit; a longer line still goes whole in one, and a line
    longer than a payload is a record of its own (None), read through and not kept."""
    lines = [b"a" * size for size in (5, 40, 10, 95, 3, 150, 20, 60, 0, 7)]
    content = b"\n".join(lines)  # the last line has no newline
    path = tmp_path / "part"
    path.write_bytes(gzip.compress(content) if gzipped else content)
    settings = Settings(
        input_dir=tmp_path, output_dir=tmp_path, scratch_dir=tmp_path, report_file=tmp_path / "r",
        failure_file=tmp_path / "f", model_dir=tmp_path, split_type="Line",
        compression="Gzip" if gzipped else "None", max_payload_bytes=100,
    )  # fmt: skip

    read = stream_pieces if gzipped else file_pieces
    blocks = [None if piece is None else piece_bytes(piece) for piece in read(path, settings, 30)]

    assert blocks.count(None) == 1
    assert b"".join(block for block in blocks if block) == b"\n".join(lines[:5]) + b"\n" + b"\n".join(
        lines[6:]
    )
    assert all(len(block) <= 100 and block.endswith(b"\n") for block in blocks[:-1] if block is not None)
    assert sum(block.count(b"\n") if block is not None else 1 for block in blocks) == len(lines) - 1


# --- JSONPath subset and the fast codec ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("$", [1, 2], [1, 2]),
        ("$[1:]", ["id", "a", "b"], ["a", "b"]),
        ("$[:-1]", ["a", "b", "label"], ["a", "b"]),
        ("$[0,2]", ["a", "b", "c"], ["a", "c"]),
        ("$[0,3:]", ["a", "b", "c", "d", "e"], ["a", "d", "e"]),
        ("$[-1]", ["a", "b"], "b"),
        ("$[*]", {"a": 1, "b": 2}, [1, 2]),
        ("$.features", {"features": [1, 2]}, [1, 2]),
        ("$.data.features[1:]", {"data": {"features": [1, 2, 3]}}, [2, 3]),
        (
            "$['id','SageMakerOutput']",
            {"id": 1, "x": 2, "SageMakerOutput": 3},
            {"id": 1, "SageMakerOutput": 3},
        ),
        ("$[*].score", [{"score": 1}, {"score": 2}], [1, 2]),
    ],
)
def test_the_jsonpath_subset_selects_as_sagemaker_documents(path, value, expected):
    assert apply_path(parse_path(path), value) == expected


@pytest.mark.parametrize("path", ["features", "$.", "$[a]", "$[1", "$['a','b'].c", "$..x"])
def test_paths_outside_the_subset_are_refused(path):
    with pytest.raises(FilterError):
        parse_path(path)


def test_csv_records_take_index_paths_only():
    check_filter("$[1:]", csv_records=True)
    with pytest.raises(FilterError, match="index paths"):
        check_filter("$.features", csv_records=True)


@pytest.mark.parametrize(
    "predictions",
    [
        np.array([0, 1, 1]),
        np.array([0.1, 1e-20, 3.0, np.float32(0.3)]),
        np.array([0.1, 0.2], dtype=np.float32),
        np.array([[0.1, 0.9], [1.0, 0.0]]),
        np.array([True, False]),
        np.array(["cat", "dog"]),
    ],
)
def test_the_fast_csv_encoder_writes_the_codecs_bytes(predictions):
    assert fast_csv_encode(predictions) == codecs.encode_array(predictions, codecs.CSV)


# --- Creating a job: every SageMaker rule, each error naming its field -----------------------------


@DB
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"name": "bad name!"}, "name"),
        ({"model": "nope"}, "model"),
        ({"model": ""}, "model"),
        ({"input_uri": ""}, "input_uri"),
        ({"input_uri": "dataset://missing/1"}, "input_uri"),
        ({"input_uri": "file:///etc/passwd"}, "input_uri"),
        ({"content_type": "csv"}, "content_type"),
        ({"accept": "not a type"}, "accept"),
        ({"split_type": "Word"}, "split_type"),
        ({"split_type": "RecordIO"}, "split_type"),
        ({"compression": "Zip"}, "compression"),
        ({"batch_strategy": "Batch"}, "batch_strategy"),
        ({"batch_strategy": "MultiRecord", "split_type": "None"}, "batch_strategy"),
        ({"max_payload_mb": 0}, "max_payload_mb"),
        ({"max_payload_mb": 101}, "max_payload_mb"),
        ({"max_concurrent_transforms": 0}, "max_concurrent_transforms"),
        ({"max_payload_mb": 6, "max_concurrent_transforms": 17}, "max_concurrent_transforms"),
        ({"assemble_with": "Comma"}, "assemble_with"),
        ({"join_source": "Output"}, "join_source"),
        ({"input_filter": "features"}, "input_filter"),
        ({"input_filter": "$.features"}, "input_filter"),  # CSV records are arrays
        ({"output_filter": "$[0", "join_source": "Input"}, "output_filter"),
        ({"join_source": "Input", "content_type": "application/x-npy"}, "join_source"),
        ({"input_filter": "$[1:]", "split_type": "None", "batch_strategy": "SingleRecord"}, "split_type"),
        ({"join_source": "Input", "assemble_with": "None"}, "assemble_with"),
        ({"output_filter": "$[0]"}, "output_filter"),  # no accept: the answer's format is unknown
        ({"output_uri": "file:///tmp/elsewhere"}, "output_uri"),
        ({"instance_type": "ml.nope"}, "instance_type"),
        ({"instance_type": "ml.t3.medium"}, "instance_type"),  # not a transform instance type
        ({"instance_count": 2}, "instance_count"),
        ({"max_runtime_seconds": 0}, "max_runtime_seconds"),
        ({"environment": {"1BAD": "x"}}, "environment"),
        ({"environment": {f"V{i}": "x" for i in range(17)}}, "environment"),
        ({"tags": {"": "x"}}, "tags"),
    ],
)
def test_each_invalid_request_is_refused_naming_its_field(project, admin_user, classifier, extra, field):
    uri = upload(project, admin_user, "data/in.csv", PLAIN)
    request = {"name": "score-1", "model": "clf", "input_uri": uri, "split_type": "Line", **extra}

    with pytest.raises(ValidationError) as caught:
        transform_job_create(project=project, user=admin_user, **request)

    assert field in caught.value.message_dict, caught.value.message_dict
    assert not Job.objects.filter(kind=JobKind.TRANSFORM).exists()


@DB
def test_a_model_whose_pickles_nobody_trusted_is_refused(project, admin_user):
    archive = io.BytesIO(tarball({"model.joblib": joblib_bytes(fitted_classifier())}))
    model_create(project=project, user=admin_user, name="untrusted", model_file=archive)
    uri = upload(project, admin_user, "data/in.csv", PLAIN)

    with pytest.raises(ValidationError) as caught:
        create(project, admin_user, model="untrusted", input_uri=uri, split_type="Line")

    assert "must trust it" in caught.value.message_dict["model"][0]


@DB
def test_a_request_gets_sagemakers_defaults_and_a_retry_gets_the_same_job(project, admin_user, classifier):
    uri = upload(project, admin_user, "data/in.csv", PLAIN)

    job, created = transform_job_create(
        project=project, user=admin_user, name="score-1", model="clf", input_uri=uri, split_type="Line",
        client_token="tok-1",
    )  # fmt: skip
    again, created_again = transform_job_create(
        project=project, user=admin_user, name="score-1", model="clf", input_uri=uri, split_type="Line",
        client_token="tok-1",
    )  # fmt: skip

    assert (created, created_again, again.pk) == (True, False, job.pk)
    assert job.spec["batch_strategy"] == "MultiRecord"
    assert job.spec["max_payload_mb"] == 6
    assert job.spec["max_concurrent_transforms"] is None
    assert job.spec["output"] == {
        "uri": join_uri(project_prefix("vision"), "transform-jobs", "score-1", "output"),
        "accept": "",
        "assemble_with": "None",
    }
    assert job.spec["model"]["artifact_sha256"]
    assert job.status == JobStatus.PENDING


# --- Jobs run to the end on the local backend ------------------------------------------------------


@DB
def test_a_transform_job_scores_every_file_of_a_prefix(project, admin_user, classifier):
    first, second = rows(120, seed=2), rows(30, seed=3)
    upload(project, admin_user, "batch/in/a.csv", csv_text(first))
    upload(project, admin_user, "batch/in/more/b.csv", csv_text(second))
    job = create(
        project,
        admin_user,
        input_uri=join_uri(project_prefix("vision"), "batch/in"),
        content_type="text/csv",
        split_type="Line",
        accept="text/csv",
        assemble_with="Line",
        max_concurrent_transforms=2,
    )

    job = run(job)

    assert job.status == JobStatus.COMPLETED, job.failure_reason
    assert [(event.status, event.secondary_status) for event in job.events.all()] == TRANSFORM_HISTORY
    outputs = {item["name"]: item for item in job.outputs}
    assert set(outputs) == {"a.csv.out", "more/b.csv.out"}
    base = join_uri(project_prefix("vision"), "transform-jobs", "score-1", "output")
    assert outputs["more/b.csv.out"]["uri"] == join_uri(base, "more/b.csv.out")
    assert read(outputs["a.csv.out"]["uri"]) == lines_of(classifier.predict(first).tolist())
    assert read(outputs["more/b.csv.out"]["uri"]) == lines_of(classifier.predict(second).tolist())
    assert outputs["a.csv.out"]["records"] == 120
    assert Artifact.objects.filter(project=project, origin="transform-job/score-1").count() == 2
    log = job_log_read(job)["text"]
    assert "[progress] 150 records (0 failed), 2/2 file(s)" in log
    assert "2 file(s)" in log


@DB
def test_a_dataset_version_and_gzip_input(project, admin_user, weighted_model):
    version = upload_from_stream(
        project=project, user=admin_user, dataset_name="readings", filename="readings.csv",
        stream=io.BytesIO(PLAIN),
    )  # fmt: skip
    job = create(
        project, admin_user, name="from-dataset", model="weighted", input_uri="dataset://readings/1",
        split_type="Line", assemble_with="Line", accept="text/csv",
    )  # fmt: skip
    packed = create(
        project, admin_user, name="from-gzip", model="weighted",
        input_uri=upload(project, admin_user, "packed/part.csv.gz", gzip.compress(PLAIN)),
        split_type="Line", compression="Gzip", assemble_with="Line", accept="text/csv",
    )  # fmt: skip

    job, packed = run(job), run(packed)

    assert (job.spec["input"]["dataset"], job.spec["input"]["version"]) == ("readings", version.number)
    assert job.status == JobStatus.COMPLETED, job.failure_reason
    assert [read(item["uri"]) for item in job.outputs] == [lines_of(SCORES)]
    assert packed.status == JobStatus.COMPLETED, packed.failure_reason
    assert packed.outputs[0]["name"] == "part.csv.gz.out"
    assert read(packed.outputs[0]["uri"]) == lines_of(SCORES)


@DB
def test_a_file_with_bad_lines_fails_the_job_naming_them_and_the_others_are_kept(
    project, admin_user, weighted_model
):
    good = csv_text(rows(300, seed=4))
    lines = csv_text(rows(300, seed=5)).splitlines()
    lines[16] = b"1,x,3"
    lines[99] = b"1,2,y"
    upload(project, admin_user, "lines/part-0.csv", good)
    upload(project, admin_user, "lines/part-1.csv", b"\n".join(lines) + b"\n")
    job = create(
        project,
        admin_user,
        model="weighted",
        input_uri=join_uri(project_prefix("vision"), "lines"),
        split_type="Line",
        assemble_with="Line",
        accept="text/csv",
    )

    job = run(job)

    assert job.status == JobStatus.FAILED
    assert job.failure_reason.startswith(
        "2 of 300 records failed in part-1.csv: line 17: ValueError: could not convert string to float: 'x'"
    )
    assert "line 100:" in job.failure_reason
    outputs = {item["name"]: item for item in job.outputs}
    assert set(outputs) == {"part-0.csv.out", "part-1.csv.errors.jsonl"}
    assert read(outputs["part-0.csv.out"]["uri"]) == lines_of(weighted(row) for row in rows(300, seed=4))
    errors = [json.loads(line) for line in read(outputs["part-1.csv.errors.jsonl"]["uri"]).splitlines()]
    assert [item["line"] for item in errors] == [17, 100]
    assert outputs["part-1.csv.errors.jsonl"]["failures"] == errors
    assert not store_for(outputs["part-0.csv.out"]["uri"]).exists(
        outputs["part-0.csv.out"]["uri"].replace("part-0", "part-1")
    )
    log = job_log_read(job)["text"]
    assert "FAILED part-1.csv line 17: ValueError" in log
    assert "FAILED part-1.csv line 100: ValueError" in log


# --- API ---------------------------------------------------------------------------------------------

API = "/api/v1/projects/vision/transform-jobs/"


@DB
def test_the_api_creates_describes_stops_and_reads_logs(project, admin_user, classifier):
    api = api_client_for(admin_user)
    uri = upload(project, admin_user, "data/in.csv", PLAIN)

    response = api.post(
        API,
        {"name": "api-1", "model": "clf", "input_uri": uri, "split_type": "Line", "environment": {"A": "1"}},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["model_name"] == "clf"
    assert body["transform_input"]["split_type"] == "Line"
    assert body["batch_strategy"] == "MultiRecord"
    assert body["status_history"][0]["status"] == "Pending"
    assert api.get(API + "api-1/").json()["environment"] == {"A": "1"}
    assert api.get(API + "api-1/logs/").json()["text"] == ""
    assert api.post(API + "api-1/stop/").json()["status"] == "Stopped"

    refused = api.post(
        API, {"name": "api-2", "model": "clf", "input_uri": uri, "max_payload_mb": 0}, format="json"
    )
    assert refused.status_code == 400
    assert "max_payload_mb" in refused.json()


@DB
def test_listing_transform_jobs_runs_a_fixed_number_of_queries(
    project, admin_user, editor_user, classifier, django_assert_max_num_queries
):
    uri = upload(project, admin_user, "data/in.csv", PLAIN)
    for index in range(30):
        create(project, admin_user if index % 2 else editor_user, name=f"job-{index}", input_uri=uri)
    api = api_client_for(editor_user)
    api.get(API)  # the first call also stamps the key's last_used_at

    # 1 the API key with its user, 2 the project, 3 the caller's membership,
    # 4 the count for the paginator, 5 the page of jobs with creator and project joined in.
    with django_assert_max_num_queries(5):
        response = api.get(API, {"page_size": 30})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 30
    assert {item["created_by"] for item in response.json()["results"]} == {"alice", "erin"}


# --- Pages -------------------------------------------------------------------------------------------


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@DB
def test_the_form_creates_a_job_and_its_errors_land_on_their_fields(
    project, editor_user, admin_user, classifier
):
    uri = upload(project, admin_user, "data/in.csv", PLAIN)
    client = client_for(editor_user)
    url = reverse("jobs:transform-create", args=["vision"])
    form = {
        "name": "form-1", "model": "clf", "input_uri": uri, "content_type": "text/csv", "split_type": "Line",
        "compression": "None", "batch_strategy": "MultiRecord", "max_payload_mb": "6", "accept": "text/csv",
        "assemble_with": "Line", "input_filter": "$", "join_source": "None", "output_filter": "$",
        "instance_type": "ml.m5.large", "environment": "LOG=debug",
    }  # fmt: skip

    page = client.get(url)
    invalid = client.post(url, {**form, "join_source": "Input", "input_filter": "$.x"})
    created = client.post(url, form)

    assert page.status_code == 200
    assert invalid.status_code == 200
    assert "index paths" in invalid.content.decode()
    assert created.status_code == 302
    assert created["Location"] == reverse("jobs:transform-detail", args=["vision", "form-1"])
    job = Job.objects.get(kind=JobKind.TRANSFORM, name="form-1")
    assert job.spec["environment"] == {"LOG": "debug"}
    assert job.created_by == editor_user


@DB
def test_the_detail_page_shows_outputs_failed_lines_and_downloads(
    project, admin_user, viewer_user, weighted_model
):
    upload(project, admin_user, "pages/ok.csv", PLAIN)
    upload(project, admin_user, "pages/bad.csv", PLAIN.replace(b"\n", b"\nnope\n", 1))
    job = run(
        create(
            project,
            admin_user,
            name="paged",
            model="weighted",
            input_uri=join_uri(project_prefix("vision"), "pages"),
            split_type="Line",
            assemble_with="Line",
            accept="text/csv",
        )
    )
    client = client_for(viewer_user)

    html = client.get(reverse("jobs:transform-detail", args=["vision", "paged"])).content.decode()
    fragment = client.get(reverse("jobs:transform-fragment", args=["vision", "paged"])).content.decode()
    download = client.get(reverse("jobs:transform-output", args=["vision", "paged", "ok.csv.out"]))
    listing = client.get(reverse("jobs:list", args=["vision"])).content.decode()

    assert job.status == JobStatus.FAILED
    for text in (html, fragment):
        assert "ok.csv.out" in text
        assert "bad.csv.errors.jsonl" in text
        assert "1 of 8 records failed" in text
    assert "ValueError: could not convert string to float: &#x27;nope&#x27;" in html
    assert b"".join(download.streaming_content) == lines_of(SCORES)
    assert (
        client.get(reverse("jobs:transform-output", args=["vision", "paged", "nope.out"])).status_code == 404
    )
    assert reverse("jobs:transform-detail", args=["vision", "paged"]) in listing
    assert reverse("jobs:transform-create", args=["vision"]) not in listing  # a viewer creates nothing
    assert (
        "Batch transform"
        in client_for(admin_user).get(reverse("jobs:list", args=["vision"])).content.decode()
    )


@DB
def test_a_viewer_can_neither_create_nor_stop(project, admin_user, viewer_user, classifier):
    uri = upload(project, admin_user, "data/in.csv", PLAIN)
    create(project, admin_user, name="guarded", input_uri=uri)
    client = client_for(viewer_user)

    assert client.get(reverse("jobs:transform-create", args=["vision"])).status_code == 403
    assert client.post(reverse("jobs:transform-stop", args=["vision", "guarded"])).status_code == 403
    assert job_stop(job=Job.objects.get(name="guarded"), user=admin_user).status == JobStatus.STOPPED


@DB
def test_the_openapi_schema_describes_the_transform_routes():
    schema = api_client_for(None).get("/api/schema/", {"format": "json"}).json()

    create = schema["paths"]["/api/v1/projects/{project}/transform-jobs/"]["post"]
    assert "/api/v1/projects/{project}/transform-jobs/{name}/stop/" in schema["paths"]
    request = create["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"model", "input_uri", "split_type", "join_source"} <= set(
        schema["components"]["schemas"][request]["properties"]
    )
