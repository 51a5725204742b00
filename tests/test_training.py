"""Training jobs on the local backend: SageMaker's container contract, script mode, user code,
failures, stop, max runtime, out of memory, checkpoints, distributed launch and the API."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import time

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.db import connections

from jobs.backends.local import visible_gpus
from jobs.backends.training_layout import hyperparameter_arguments
from jobs.models import Job, JobStatus
from jobs.runner import job_execute
from jobs.selectors import job_log_read, job_metric_series
from jobs.services import job_stop, training_job_create
from studio.artifacts import store_for
from studio.services import artifact_upload

pytestmark = pytest.mark.django_db(transaction=True)

# A script written for SageMaker script mode, unchanged: argparse hyperparameters, SM_* paths.
SAGEMAKER_SCRIPT = b"""
import argparse, json, os
import pandas as pd

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--learning-rate", type=float, default=0.1)
parser.add_argument("--optimizer", type=str, default="sgd")
parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
parser.add_argument("--train", type=str, default=os.environ["SM_CHANNEL_TRAIN"])
args = parser.parse_args()

frame = pd.read_csv(os.path.join(args.train, "train.csv"), header=None)
weight = 0.0
for epoch in range(args.epochs):
    weight += args.learning_rate
    loss = 1.0 / (epoch + 1)
    print(f"epoch={epoch} train_loss={loss:.4f} weight={weight:.2f}", flush=True)

config_dir = os.environ["SM_INPUT_CONFIG_DIR"]
seen = {
    "rows": len(frame),
    "args": vars(args),
    "env": {key: value for key, value in os.environ.items() if key.startswith(("SM_", "TRAINING_JOB"))},
    "hyperparameters.json": json.load(open(os.path.join(config_dir, "hyperparameters.json"))),
    "inputdataconfig.json": json.load(open(os.path.join(config_dir, "inputdataconfig.json"))),
    "resourceconfig.json": json.load(open(os.path.join(config_dir, "resourceconfig.json"))),
}
with open(os.path.join(args.model_dir, "model.json"), "w") as handle:
    json.dump({"weight": weight, "seen": seen}, handle)
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "notes.txt"), "w") as handle:
    handle.write("trained")
"""
LOSS_METRIC = [{"name": "train:loss", "regex": r"train_loss=([0-9.]+)"}]
TRAINING_HISTORY = [
    ("Pending", "Starting"),
    ("InProgress", "Starting"),
    ("InProgress", "Downloading"),
    ("InProgress", "Training"),
    ("InProgress", "Uploading"),
    ("Completed", "Completed"),
]


@pytest.fixture
def train_csv(project, admin_user):
    rng = np.random.default_rng(0)
    rows = "\n".join(f"{int(x > 0)},{x:.4f},{y:.4f}" for x, y in rng.normal(size=(200, 2)))
    return artifact_upload(
        project=project, user=admin_user, path="data/train/train.csv", stream=io.BytesIO(rows.encode())
    )


def create(project, user, name="train-1", script=SAGEMAKER_SCRIPT, filename="train.py", **extra) -> Job:
    extra.setdefault("channels", [{"name": "train", "source_uri": extra.pop("train_uri")}])
    job, created = training_job_create(
        project=project,
        user=user,
        name=name,
        source_file=io.BytesIO(script),
        source_filename=filename,
        **extra,
    )
    assert created
    return job


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def read_tar_member(uri: str, name: str) -> bytes:
    with store_for(uri).open(uri) as stream, tarfile.open(fileobj=stream, mode="r|gz") as archive:
        for member in archive:
            if member.name == name:
                return archive.extractfile(member).read()
    raise AssertionError(f"{name} not in {uri}")


def test_a_sagemaker_script_runs_unchanged(project, admin_user, train_csv):
    job = create(
        project,
        admin_user,
        train_uri=train_csv.uri.rsplit("/", 1)[0],
        hyperparameters={"epochs": 3, "learning-rate": 0.5, "optimizer": "adam"},
        metric_definitions=LOSS_METRIC,
    )
    job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.failure_reason
    assert [(e.status, e.secondary_status) for e in job.events.all()] == TRAINING_HISTORY

    # model/ was packed into model.tar.gz, recorded with the SHA-256 of what is in the store.
    model = next(item for item in job.outputs if item["name"] == "model")
    assert model["uri"].endswith("/training-jobs/train-1/output/model.tar.gz")
    with store_for(model["uri"]).open(model["uri"]) as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == model["sha256"]
    assert project.artifacts.filter(uri=model["uri"], sha256=model["sha256"]).exists()
    assert (
        read_tar_member(next(o["uri"] for o in job.outputs if o["name"] == "output"), "notes.txt")
        == b"trained"
    )
    saved = json.loads(read_tar_member(model["uri"], "model.json"))
    seen = saved["seen"]

    # Hyperparameters arrive as --name value arguments, in hyperparameters.json as strings.
    assert seen["args"]["epochs"] == 3
    assert seen["args"]["learning_rate"] == 0.5
    assert seen["args"]["optimizer"] == "adam"
    assert seen["hyperparameters.json"] == {"epochs": "3", "learning-rate": "0.5", "optimizer": "adam"}
    assert seen["rows"] == 200
    env = seen["env"]
    assert json.loads(env["SM_CHANNELS"]) == ["train"]
    assert env["SM_CHANNEL_TRAIN"].endswith("/input/data/train")
    assert env["SM_MODEL_DIR"].endswith("/model")
    assert env["SM_OUTPUT_DATA_DIR"].endswith("/output/data")
    assert json.loads(env["SM_HPS"]) == {"epochs": 3, "learning-rate": 0.5, "optimizer": "adam"}
    assert env["SM_HP_LEARNING-RATE"] == "0.5"
    assert env["SM_HP_OPTIMIZER"] == "adam"
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"]
    assert env["SM_CURRENT_HOST"] == "algo-1"
    assert int(env["SM_NUM_CPUS"]) >= 1
    assert env["SM_NUM_GPUS"] == "0"
    assert env["TRAINING_JOB_NAME"] == "train-1"
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["channel_input_dirs"] == {"train": env["SM_CHANNEL_TRAIN"]}
    assert training_env["is_master"] is True
    assert training_env["hyperparameters"]["epochs"] == 3
    assert seen["resourceconfig.json"]["hosts"] == ["algo-1"]
    assert seen["inputdataconfig.json"]["train"]["TrainingInputMode"] == "File"

    # The metric definitions picked the losses out of the log, one point per epoch.
    series = job_metric_series(job)
    assert [point["value"] for point in series["train:loss"]] == [1.0, 0.5, 0.3333]


def test_hyperparameter_arguments_follow_the_toolkit():
    decoded = {"b": True, "a-rate": 0.1, "layers": [1, 2], "opts": {"x": 1, "y": 2}, "name": "adam"}
    assert hyperparameter_arguments(decoded) == [
        "--a-rate", "0.1", "-b", "True", "--layers", "[1, 2]", "--name", "adam", "--opts", "x=1,y=2",
    ]  # fmt: skip


def test_the_failure_file_becomes_the_reason(project, admin_user, train_csv):
    script = b"""import os, sys
open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w").write("ClientError: label column is text")
sys.exit(3)
"""
    job = create(project, admin_user, script=script, train_uri=train_csv.uri)
    job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.failure_reason == "ClientError: label column is text"
    assert job.exit_code == 3


def test_a_script_that_exits_non_zero_fails_with_its_output(project, admin_user, train_csv):
    job = create(project, admin_user, script=b"raise ValueError('bad shapes')\n", train_uri=train_csv.uri)
    job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.failure_reason.startswith("AlgorithmError: the script exited with code 1")
    assert "ValueError: bad shapes" in job.failure_reason


def test_running_out_of_memory_is_named(project, admin_user, train_csv):
    # ml.t3.medium allows 4 GiB; the script asks for 6.
    job = create(
        project,
        admin_user,
        script=b"block = bytearray(6 * 1024**3)\n",
        train_uri=train_csv.uri,
        instance_type="ml.t3.medium",
    )
    job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.failure_reason.startswith(
        "OutOfMemory: the process ran out of memory (ml.t3.medium allows 4 GiB)"
    )


def test_max_runtime_stops_the_job_with_that_reason(project, admin_user, train_csv, settings):
    settings.STUDIO_STOP_GRACE_SECONDS = 0.5
    job = create(
        project,
        admin_user,
        script=b"import time\ntime.sleep(60)\n",
        train_uri=train_csv.uri,
        max_runtime_seconds=1,
    )
    job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED
    assert job.secondary_status == "MaxRuntimeExceeded"
    assert job.failure_reason.startswith("MaxRuntimeExceeded")
    assert job.duration_seconds < 15


def _run_in_thread(job: Job) -> threading.Thread:
    def run() -> None:
        try:
            job_execute(job_id=job.pk)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _wait_for(job: Job, predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if predicate(job):
            return
        time.sleep(0.1)
    raise AssertionError(f"{job.name} stayed {job.status}/{job.secondary_status}")


def test_stop_ends_a_running_training_job_and_keeps_its_model(project, admin_user, train_csv, settings):
    settings.STUDIO_STOP_GRACE_SECONDS = 1
    script = b"""import os, time
open(os.path.join(os.environ["SM_MODEL_DIR"], "partial.txt"), "w").write("epoch 1")
print("started", flush=True)
time.sleep(60)
"""
    job = create(project, admin_user, script=script, train_uri=train_csv.uri)
    thread = _run_in_thread(job)
    _wait_for(job, lambda j: "started" in job_log_read(j)["text"])
    job_stop(job=job, user=admin_user)
    thread.join(timeout=30)
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED
    assert job.secondary_status == "Stopped"
    # As on SageMaker, a stopped job keeps the model it had saved.
    model = next(item for item in job.outputs if item["name"] == "model")
    assert read_tar_member(model["uri"], "partial.txt") == b"epoch 1"


CHECKPOINT_SCRIPT = b"""
import os, sys
folder = os.environ["SM_CHECKPOINT_DIR"]
path = os.path.join(folder, "state.txt")
start = int(open(path).read()) if os.path.exists(path) else 0
print(f"resumed from epoch {start}", flush=True)
for epoch in range(start, start + 2):
    with open(path, "w") as handle:
        handle.write(str(epoch + 1))
if start == 0:
    sys.exit("interrupted")  # the first run dies after saving its checkpoint
"""


def test_checkpoints_are_restored_when_the_job_is_run_again(project, admin_user, train_csv):
    checkpoints = f"{train_csv.uri.rsplit('/data/', 1)[0]}/checkpoints/run-a"
    first = create(
        project, admin_user, script=CHECKPOINT_SCRIPT, train_uri=train_csv.uri, checkpoint_uri=checkpoints
    )
    job_execute(job_id=first.pk)
    first.refresh_from_db()
    assert first.status == JobStatus.FAILED
    assert "resumed from epoch 0" in job_log_read(first)["text"]
    second = create(
        project,
        admin_user,
        name="train-2",
        script=CHECKPOINT_SCRIPT,
        train_uri=train_csv.uri,
        checkpoint_uri=checkpoints,
    )
    job_execute(job_id=second.pk)
    second.refresh_from_db()
    assert second.status == JobStatus.COMPLETED, second.failure_reason
    log = job_log_read(second)["text"]
    assert "Restored 1 checkpoint file(s)" in log
    assert "resumed from epoch 2" in log


def test_a_source_archive_with_requirements_runs_in_a_cached_environment(
    project, admin_user, train_csv, settings, tmp_path
):
    settings.STUDIO_CODE_ENV_DIR = tmp_path / "envs"
    archive = tarball(
        {
            "helpers.py": b"GREETING = 'hello from helpers'\n",
            "train.py": b"import helpers\nimport numpy\nprint(helpers.GREETING, numpy.__name__)\n",
            "requirements.txt": b"numpy\n",
        }
    )
    jobs = []
    for name in ("code-1", "code-2"):
        job = create(
            project,
            admin_user,
            name=name,
            script=archive,
            filename="sourcedir.tar.gz",
            entry_point="train.py",
            train_uri=train_csv.uri,
        )
        job_execute(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED, job.failure_reason
        jobs.append(job_log_read(job)["text"])
    assert "hello from helpers numpy" in jobs[0]
    assert "requirements.txt: building environment" in jobs[0]
    assert "requirements.txt: using the cached environment" in jobs[1]


def test_requirements_that_fail_to_install_fail_the_job(project, admin_user, train_csv, settings, tmp_path):
    settings.STUDIO_CODE_ENV_DIR = tmp_path / "envs"
    archive = tarball(
        {"train.py": b"print('never')\n", "requirements.txt": b"studio-no-such-package-anywhere==0.0.1\n"}
    )
    job = create(
        project,
        admin_user,
        script=archive,
        filename="code.tar.gz",
        entry_point="train.py",
        train_uri=train_csv.uri,
    )
    job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.failure_reason.startswith("ClientError: requirements.txt failed to install")


@pytest.mark.skipif(bool(visible_gpus()), reason="this machine has a GPU")
def test_a_gpu_instance_type_without_gpus_is_a_clear_error(project, admin_user, train_csv):
    job = create(project, admin_user, train_uri=train_csv.uri, instance_type="ml.g5.xlarge")
    job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "ml.g5.xlarge has 1 GPU(s) per instance" in job.failure_reason
    assert "has no GPU(s)" in job.failure_reason


DISTRIBUTED_SCRIPT = b"""
import os
import torch
import torch.distributed as dist

dist.init_process_group("gloo")
rank = dist.get_rank()
value = torch.tensor([rank + 1.0])
dist.all_reduce(value)
host = os.environ["SM_CURRENT_HOST"]
print(f"host={host} rank={rank} world={dist.get_world_size()} sum={value.item():.0f}", flush=True)
dist.destroy_process_group()
"""


def test_instance_count_two_runs_a_real_distributed_launch(project, admin_user, train_csv):
    pytest.importorskip("torch")
    job = create(project, admin_user, script=DISTRIBUTED_SCRIPT, train_uri=train_csv.uri, instance_count=2)
    job_execute(job_id=job.pk)
    job.refresh_from_db()
    log = job_log_read(job)["text"]
    assert job.status == JobStatus.COMPLETED, job.failure_reason + log
    assert "host=algo-1 rank=0 world=2 sum=3" in log
    assert "host=algo-2 rank=1 world=2 sum=3" in log


class TestBadRequests:
    """Each a 400 naming the field, and nothing stored."""

    def post(self, client, **fields):
        body = {"name": "bad-1", "channels": [], **fields}
        return client.post("/api/v1/projects/vision/training-jobs/", body, format="json")

    @pytest.mark.parametrize(
        ("fields", "field", "message"),
        [
            ({"algorithm": "deep-forest"}, "algorithm", "Unknown algorithm 'deep-forest'"),
            (
                {"algorithm": "xgboost", "hyperparameters": {"num_round": 10, "eta": 3}},
                "hyperparameters",
                "eta",
            ),
            (
                {"algorithm": "xgboost", "hyperparameters": {"num_round": "many"}},
                "hyperparameters",
                "num_round: expected an integer",
            ),
            (
                {"algorithm": "xgboost", "hyperparameters": {}},
                "hyperparameters",
                "num_round: This hyperparameter is required",
            ),
            (
                {"algorithm": "xgboost", "hyperparameters": {"num_round": 5}},
                "channels",
                "needs a 'train' channel",
            ),
            (
                {"algorithm": "xgboost", "instance_type": "ml.z9.huge"},
                "instance_type",
                "Unknown instance type",
            ),
            ({"algorithm": "xgboost", "instance_count": 0}, "instance_count", "between 1 and"),
            ({"algorithm": "xgboost", "instance_count": 2}, "instance_count", "trains on one instance"),
            ({}, "algorithm", "Name a built-in algorithm"),
        ],
    )
    def test_bad_fields(self, api, project, fields, field, message):
        response = self.post(api, **fields)
        assert response.status_code == 400, response.data
        assert message in " ".join(map(str, response.data[field]))
        assert not Job.objects.filter(project=project).exists()

    def test_a_channel_pointing_at_nothing(self, api, project):
        response = self.post(
            api,
            algorithm="xgboost",
            hyperparameters={"num_round": 5},
            channels=[{"name": "train", "source_uri": "dataset://no-such-dataset"}],
        )
        assert response.status_code == 400
        assert "Channel 'train'" in str(response.data["channels"])

    def test_pipe_mode_is_refused_on_the_local_backend(self, api, project, train_csv):
        response = self.post(
            api,
            algorithm="xgboost",
            hyperparameters={"num_round": 5},
            channels=[{"name": "train", "source_uri": train_csv.uri, "input_mode": "Pipe"}],
        )
        assert response.status_code == 400
        assert "Pipe input mode is not available on the local backend" in str(response.data["channels"])

    def test_an_entry_point_missing_from_the_archive(self, api, project, train_csv):
        upload = io.BytesIO(tarball({"train.py": b"print(1)\n"}))
        upload.name = "sourcedir.tar.gz"
        response = api.post(
            "/api/v1/projects/vision/training-jobs/",
            {
                "name": "bad-2",
                "source": upload,
                "entry_point": "main.py",
                "channels": json.dumps([{"name": "train", "source_uri": train_csv.uri}]),
            },
            format="multipart",
        )
        assert response.status_code == 400
        assert "'main.py' is not in the archive (it has train.py)" in str(response.data["entry_point"])

    def test_a_builtin_takes_no_metric_definitions(self, api, train_csv):
        response = self.post(
            api,
            algorithm="xgboost",
            hyperparameters={"num_round": 5},
            channels=[{"name": "train", "source_uri": train_csv.uri}],
            metric_definitions=LOSS_METRIC,
        )
        assert response.status_code == 400
        assert "metric_definitions" in response.data


def test_the_api_creates_and_reports_a_training_job(api, project, train_csv):
    upload = io.BytesIO(SAGEMAKER_SCRIPT)
    upload.name = "train.py"
    response = api.post(
        "/api/v1/projects/vision/training-jobs/",
        {
            "name": "api-train",
            "source": upload,
            "channels": json.dumps([{"name": "train", "source_uri": train_csv.uri.rsplit("/", 1)[0]}]),
            "hyperparameters": json.dumps({"epochs": 2}),
            "metric_definitions": json.dumps(LOSS_METRIC),
            "tags": json.dumps({"team": "vision"}),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.data
    assert response.data["code"]["entry_point"] == "train.py"
    assert response.data["hyperparameters"] == {"epochs": "2"}
    assert response.data["tags"] == {"team": "vision"}
    job_execute(job_id=Job.objects.get(name="api-train").pk)
    detail = api.get("/api/v1/projects/vision/training-jobs/api-train/").data
    assert detail["status"] == "Completed"
    assert detail["model_artifact"]["uri"].endswith("model.tar.gz")
    assert [m["metric_name"] for m in detail["final_metrics"]] == ["train:loss"]
    assert detail["has_evaluation"] is False
    metrics = api.get("/api/v1/projects/vision/training-jobs/api-train/metrics/").data
    assert [p["value"] for p in metrics["metrics"]["train:loss"]] == [1.0, 0.5]
    assert api.get("/api/v1/projects/vision/training-jobs/api-train/evaluation/").status_code == 404
    listing = api.get("/api/v1/projects/vision/training-jobs/").data
    assert [item["name"] for item in listing["results"]] == ["api-train"]


def test_the_algorithm_catalogue_is_public(client):
    listing = client.get("/api/v1/algorithms/").json()
    names = {item["name"] for item in listing}
    assert names >= {
        "xgboost",
        "linear-learner",
        "k-means",
        "pca",
        "random-cut-forest",
        "knn",
        "lightgbm",
        "mlp",
    }
    xgboost = client.get("/api/v1/algorithms/xgboost/").json()
    num_round = next(hp for hp in xgboost["hyperparameters"] if hp["name"] == "num_round")
    assert num_round["required"] is True
    assert client.get("/api/v1/algorithms/nope/").status_code == 404


def test_a_reused_client_token_returns_the_same_job(project, admin_user, train_csv):
    fields = {
        "project": project,
        "user": admin_user,
        "name": "token-1",
        "algorithm": "xgboost",
        "hyperparameters": {"num_round": 3},
        "channels": [{"name": "train", "source_uri": train_csv.uri}],
        "client_token": "abc",
    }
    first, created = training_job_create(**fields)
    again, created_again = training_job_create(**fields)
    assert created
    assert not created_again
    assert again.pk == first.pk
    with pytest.raises(ValidationError) as error:
        training_job_create(**{**fields, "hyperparameters": {"num_round": 4}})
    assert "client_token" in error.value.message_dict


def test_a_stop_during_the_requirements_install_ends_the_job_stopped(
    project, admin_user, train_csv, settings, tmp_path, monkeypatch
):
    from jobs.backends import training_layout

    settings.STUDIO_CODE_ENV_DIR = tmp_path / "envs"
    archive = tarball({"train.py": b"print('never')\n", "requirements.txt": b"numpy\n"})
    job = create(
        project,
        admin_user,
        script=archive,
        filename="code.tar.gz",
        entry_point="train.py",
        train_uri=train_csv.uri,
    )
    installing = threading.Event()
    real_run_reporting = training_layout._run_reporting

    def slow_pip(command, cwd, report, heartbeat):
        # pip that takes its time: the user's stop arrives while it runs.
        installing.set()
        return real_run_reporting(["sleep", "30"], cwd, report, heartbeat)

    monkeypatch.setattr(training_layout, "_run_reporting", slow_pip)
    thread = _run_in_thread(job)
    assert installing.wait(timeout=30)
    job_stop(job=job, user=admin_user)
    thread.join(timeout=30)
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED
    assert "while requirements.txt was being installed" in job_log_read(job)["text"]
    assert not any((tmp_path / "envs").glob("*/bin"))  # the half-built environment is gone


def test_checkpoints_reach_the_store_while_the_job_runs(project, admin_user, train_csv, settings):
    settings.STUDIO_CHECKPOINT_SYNC_SECONDS = 0.2
    settings.STUDIO_STOP_GRACE_SECONDS = 1
    checkpoints = f"{train_csv.uri.rsplit('/data/', 1)[0]}/checkpoints/live"
    script = b"""import os, time
open(os.path.join(os.environ["SM_CHECKPOINT_DIR"], "epoch-1.txt"), "w").write("saved")
print("saved", flush=True)
time.sleep(60)
"""
    job = create(project, admin_user, script=script, train_uri=train_csv.uri, checkpoint_uri=checkpoints)
    thread = _run_in_thread(job)
    uploaded = f"{checkpoints}/epoch-1.txt"
    deadline = time.monotonic() + 30
    while not store_for(uploaded).exists(uploaded) and time.monotonic() < deadline:
        time.sleep(0.1)
    job.refresh_from_db()
    assert job.status == JobStatus.IN_PROGRESS  # uploaded before the job ended
    assert store_for(uploaded).exists(uploaded)
    job_stop(job=job, user=admin_user)
    thread.join(timeout=30)
