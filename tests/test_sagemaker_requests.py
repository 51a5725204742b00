"""The sagemaker backend's requests: what Studio's jobs and models become as SageMaker calls.

Jobs are made by the real services; their files are staged into a bucket on moto's server, and
moto's SageMaker accepts each request and echoes it back. Nothing here reaches AWS.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import re
import sys
import tarfile
import zipfile

import pytest
from botocore.exceptions import ClientError

from cloud.clients import aws_client
from endpoints.services.models import model_create
from jobs.backends.base import BackendError
from jobs.backends.sagemaker.images import algorithm_image, framework_image
from jobs.backends.sagemaker.requests import (
    RetryLater,
    job_request,
    model_request,
    sagemaker_job_name,
    transform_model_name,
)
from jobs.backends.sagemaker.staging import Stager, fetch_to_store
from jobs.models import Backend, Job, JobKind
from jobs.services.processing import processing_job_create
from jobs.services.training import training_job_create
from jobs.services.transform import transform_job_create
from jobs.services.tuning import tuning_job_create
from studio.artifacts import join_uri, project_prefix, store_for
from studio.services import artifact_upload
from tests.aws_support import ROLE_ARN

NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
TRAIN_SCRIPT = b"import sys\nprint('loss=0.5', sys.argv[1:])\n"
PREP_SCRIPT = b"import sys\nprint('rows', sys.argv[1:])\n"
INFERENCE_CODE = (
    b"def model_fn(model_dir):\n    return 'weights'\n\ndef predict_fn(rows, model):\n    return rows\n"
)


@pytest.fixture(autouse=True)
def no_workers(monkeypatch) -> list[Job]:
    """Created jobs stay Pending: nothing is sent to a worker."""
    queued: list[Job] = []
    monkeypatch.setattr("jobs.services.common.job_enqueue", queued.append)
    return queued


def upload(project, user, path: str, content: bytes) -> str:
    return artifact_upload(project=project, user=user, path=path, stream=io.BytesIO(content)).uri


def label_first_csv(rows: int = 40) -> bytes:
    return "".join(f"{i % 2},{i},{i * 0.5}\n" for i in range(rows)).encode()


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def bucket_keys(moto_server, bucket: str) -> dict[str, dict]:
    listing = moto_server["client"].list_objects_v2(Bucket=bucket)
    return {item["Key"]: item for item in listing.get("Contents", [])}


def read_s3(moto_server, uri: str) -> bytes:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return moto_server["client"].get_object(Bucket=bucket, Key=key)["Body"].read()


def sagemaker_of(aws):
    return aws_client(aws, "sagemaker")


@pytest.fixture
def xgboost_job(project, admin_user):
    train = upload(project, admin_user, "data/train.csv", label_first_csv())
    validation = upload(project, admin_user, "data/validation/part-1.csv", label_first_csv(10))
    job, _ = training_job_create(
        project=project,
        user=admin_user,
        name="xgb-1",
        algorithm="xgboost",
        channels=[
            {"name": "train", "source_uri": train},
            {"name": "validation", "source_uri": validation.rsplit("/", 1)[0], "content_type": "text/csv"},
        ],
        hyperparameters={"num_round": 5, "max_depth": 3},
        instance_type="ml.m5.xlarge",
        max_runtime_seconds=1800,
        tags={"team": "vision"},
    )
    return job


# --- Images ------------------------------------------------------------------------------------------


def test_built_in_algorithms_map_to_sagemakers_images_in_each_region():
    assert algorithm_image("xgboost", "us-east-1") == (
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    )
    assert algorithm_image("linear-learner", "us-east-1") == (
        "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
    )
    assert algorithm_image("k-means", "eu-west-1") == "438346466558.dkr.ecr.eu-west-1.amazonaws.com/kmeans:1"
    assert algorithm_image("kmeans", "eu-west-1").endswith("/kmeans:1")
    assert algorithm_image("pca", "us-west-2") == "174872318107.dkr.ecr.us-west-2.amazonaws.com/pca:1"
    assert algorithm_image("random-cut-forest", "us-east-1").endswith("/randomcutforest:1")
    assert (
        algorithm_image("knn", "ap-southeast-2") == "712309505854.dkr.ecr.ap-southeast-2.amazonaws.com/knn:1"
    )
    assert algorithm_image("xgboost", "cn-north-1") == (
        "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:1.7-1"
    )
    assert algorithm_image("xgboost", "us-gov-west-1").startswith("414596584902.dkr.ecr.us-gov-west-1.")
    for purpose in ("training", "processing", "inference"):
        assert framework_image("us-east-1", purpose=purpose) == (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
        )


@pytest.mark.parametrize(
    ("algorithm", "region", "expected"),
    [
        ("lightgbm", "us-east-1", "JumpStart"),
        ("mlp", "us-east-1", "Studio's own algorithm"),
        ("xgboost", "xx-yyyy-1", "xgboost is not offered in region xx-yyyy-1"),
        ("factorization-machines", "us-east-1", "no SageMaker built-in image"),
    ],
)
def test_an_algorithm_sagemaker_cannot_run_is_refused_saying_why(algorithm, region, expected):
    with pytest.raises(BackendError, match=expected):
        algorithm_image(algorithm, region)


def test_the_framework_container_is_refused_where_it_is_not_published():
    """The SDK's sklearn.json lists no mx-central-1 (the Deep Learning Containers do)."""
    with pytest.raises(
        BackendError, match=r"scikit-learn 1.2-1 container .* not offered in region mx-central-1"
    ):
        framework_image("mx-central-1", purpose="training")
    assert framework_image("mx-central-1", purpose="training", framework="pytorch") == (
        "637423239942.dkr.ecr.mx-central-1.amazonaws.com/pytorch-training:2.3.0-cpu-py311"
    )


@pytest.mark.parametrize(
    ("region", "arguments", "expected"),
    [
        (
            "us-east-1",
            {"framework": "pytorch", "version": "2.2.0"},
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.2.0-cpu-py310",
        ),
        (
            "us-east-1",
            {"framework": "pytorch", "version": "2.2"},
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.2.0-cpu-py310",
        ),
        (
            "us-east-1",
            {"framework": "pytorch"},
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.3.0-cpu-py311",
        ),
        (
            "us-east-1",
            {"framework": "pytorch", "version": "2.1.0", "instance_type": "ml.g5.xlarge"},
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1.0-gpu-py310",
        ),
        (
            "eu-west-1",
            {"framework": "pytorch", "instance_type": "ml.p3.2xlarge"},
            "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.3.0-gpu-py311",
        ),
        (
            "eu-central-2",
            {"framework": "pytorch", "version": "2.3"},
            "380420809688.dkr.ecr.eu-central-2.amazonaws.com/pytorch-training:2.3.0-cpu-py311",
        ),
        (
            "cn-north-1",
            {"framework": "pytorch", "version": "2.2.0"},
            "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/pytorch-training:2.2.0-cpu-py310",
        ),
        (
            "us-west-2",
            {"framework": "tensorflow", "version": "2.13", "instance_type": "ml.m5.large"},
            "763104351884.dkr.ecr.us-west-2.amazonaws.com/tensorflow-training:2.13.0-cpu-py310",
        ),
        (
            "us-west-2",
            {"framework": "tensorflow", "instance_type": "ml.g4dn.xlarge"},
            "763104351884.dkr.ecr.us-west-2.amazonaws.com/tensorflow-training:2.14.1-gpu-py310",
        ),
        (
            "us-gov-west-1",
            {"framework": "tensorflow"},
            "442386744353.dkr.ecr.us-gov-west-1.amazonaws.com/tensorflow-training:2.14.1-cpu-py310",
        ),
        (
            "us-east-1",
            {"framework": "xgboost"},
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        ),
        (
            "us-east-1",
            {"framework": "xgboost", "version": "1.5-1", "instance_type": "ml.g5.xlarge"},
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.5-1",
        ),
        (
            "us-east-1",
            {"framework": "sklearn", "version": "1.0-1"},
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.0-1-cpu-py3",
        ),
        # scikit-learn has a CPU image only; on a GPU instance it runs there all the same.
        (
            "us-east-1",
            {"instance_type": "ml.g5.xlarge"},
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        ),
        (
            "il-central-1",
            {},
            "898809789911.dkr.ecr.il-central-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        ),
    ],
)
def test_framework_containers_follow_the_framework_version_region_and_instance(region, arguments, expected):
    assert framework_image(region, purpose="training", **arguments) == expected


def test_framework_inference_images_are_their_own_repositories():
    assert framework_image("us-east-1", purpose="inference", framework="pytorch", version="2.2") == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.2.0-cpu-py310"
    )
    # tensorflow-inference's tags carry no Python version.
    assert (
        framework_image(
            "us-east-1", purpose="inference", framework="tensorflow", instance_type="ml.g5.xlarge"
        )
        == "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.14.1-gpu"
    )
    # Processing runs the training image, as the SDK's framework processors do.
    assert framework_image("us-east-1", purpose="processing", framework="pytorch").endswith(
        "/pytorch-training:2.3.0-cpu-py311"
    )


@pytest.mark.parametrize(
    ("region", "arguments", "expected"),
    [
        (
            "us-east-1",
            {"framework": "jax"},
            r"Unknown framework 'jax'.*sklearn, pytorch, tensorflow, xgboost",
        ),
        (
            "us-east-1",
            {"framework": "pytorch", "version": "1.13.1"},
            r"PyTorch 1.13.1 is not offered; choose one of 2.1.0, 2.2.0, 2.3.0",
        ),
        (
            "us-east-1",
            {"framework": "sklearn", "version": "2.0"},
            r"scikit-learn 2.0 is not offered; choose one of 1.0-1, 1.2-1",
        ),
        (
            "us-east-1",
            {"framework": "pytorch", "instance_type": "ml.trn1.2xlarge"},
            r"PyTorch on ml.trn1.2xlarge .* Neuron",
        ),
        (
            "xx-yyyy-1",
            {"framework": "tensorflow", "version": "2.14"},
            r"TensorFlow 2.14.1 container \(for training\) is not offered in region xx-yyyy-1",
        ),
        (
            "ap-southeast-5",
            {"framework": "xgboost"},
            r"XGBoost 1.7-1 container .* not offered in region ap-southeast-5",
        ),
    ],
)
def test_a_framework_sagemaker_does_not_offer_is_refused_saying_why(region, arguments, expected):
    with pytest.raises(BackendError, match=expected):
        framework_image(region, purpose="training", **arguments)


# --- Names ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_job_names_fit_sagemakers_rules_and_limits(project):
    short = Job(project=project, kind=JobKind.TRAINING, name="xgb-1")
    assert sagemaker_job_name(short) == "vision-xgb-1"
    long_a = Job(project=project, kind=JobKind.TRAINING, name="a" * 60 + "-one")
    long_b = Job(project=project, kind=JobKind.TRAINING, name="a" * 60 + "-two")
    names = [sagemaker_job_name(job) for job in (long_a, long_b)]
    assert names[0] != names[1]
    for name in names:
        assert len(name) == 63
        assert NAME.match(name)
    assert names[0] == sagemaker_job_name(long_a)  # the same job always gets the same name
    tuning = Job(project=project, kind=JobKind.TUNING, name="tune-the-learning-rate-x")
    name = sagemaker_job_name(tuning)
    assert len(name) <= 32
    assert NAME.match(name)
    assert name.startswith("vision-tune-the")
    assert sagemaker_job_name(Job(project=project, kind=JobKind.TUNING, name="t1")) == "vision-t1"


# --- Training --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_built_in_training_job_is_staged_and_moto_accepts_it(aws_project, moto_server, xgboost_job):
    lines: list[str] = []
    operation, request = job_request(xgboost_job, aws_project, Stager(aws_project, log=lines.append))
    root = f"s3://{aws_project.bucket}/studio/vision"

    assert operation == "CreateTrainingJob"
    assert request["TrainingJobName"] == "vision-xgb-1"
    assert request["RoleArn"] == ROLE_ARN
    assert request["AlgorithmSpecification"] == {
        "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        "TrainingInputMode": "File",
    }  # no MetricDefinitions: SageMaker defines a built-in's metrics
    assert request["HyperParameters"] == {"max_depth": "3", "num_round": "5"}
    train, validation = request["InputDataConfig"]
    assert train == {
        "ChannelName": "train",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": f"{root}/staged/training-jobs/xgb-1/input/train/train.csv",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "InputMode": "File",
        # Studio's built-ins read CSV; SageMaker's XGBoost must be told.
        "ContentType": "text/csv",
    }
    # A folder stays a folder, with the "/" that keeps validation/ from also reading validation-old/.
    assert validation["DataSource"]["S3DataSource"]["S3Uri"] == (
        f"{root}/staged/training-jobs/xgb-1/input/validation/"
    )
    assert request["OutputDataConfig"] == {"S3OutputPath": f"{root}/training-jobs"}
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
    }
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800}
    assert {"Key": "studio:project", "Value": "vision"} in request["Tags"]
    assert {"Key": "team", "Value": "vision"} in request["Tags"]
    assert {"Key": "studio:job-uuid", "Value": str(xgboost_job.uuid)} in request["Tags"]
    for absent in ("EnableManagedSpotTraining", "CheckpointConfig", "VpcConfig", "Environment"):
        assert absent not in request

    # The files are in the project's bucket, each with its SHA-256.
    keys = bucket_keys(moto_server, aws_project.bucket)
    staged_train = "studio/vision/staged/training-jobs/xgb-1/input/train/train.csv"
    assert set(keys) == {staged_train, "studio/vision/staged/training-jobs/xgb-1/input/validation/part-1.csv"}
    head = moto_server["client"].head_object(Bucket=aws_project.bucket, Key=staged_train)
    assert head["Metadata"]["studio-sha256"] == hashlib.sha256(label_first_csv()).hexdigest()
    assert lines[0].startswith("Staged channel train: 1 file(s), ")
    assert lines[0].endswith(f"to {root}/staged/training-jobs/xgb-1/input/train/train.csv")

    sagemaker = sagemaker_of(aws_project)
    arn = sagemaker.create_training_job(**request)["TrainingJobArn"]
    assert arn.endswith(":training-job/vision-xgb-1")
    described = sagemaker.describe_training_job(TrainingJobName="vision-xgb-1")
    assert (
        described["AlgorithmSpecification"]["TrainingImage"]
        == request["AlgorithmSpecification"]["TrainingImage"]
    )
    assert described["RoleArn"] == ROLE_ARN
    assert described["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert described["HyperParameters"] == {"max_depth": "3", "num_round": "5"}
    assert [channel["ChannelName"] for channel in described["InputDataConfig"]] == ["train", "validation"]
    assert described["InputDataConfig"][0]["DataSource"] == train["DataSource"]


@pytest.mark.django_db
def test_a_dry_run_uploads_nothing_and_gives_the_request_a_real_run_sends(
    aws_project, moto_server, xgboost_job
):
    lines: list[str] = []
    dry = job_request(xgboost_job, aws_project, Stager(aws_project, dry_run=True, log=lines.append))
    assert bucket_keys(moto_server, aws_project.bucket) == {}
    assert lines[0].startswith("Would stage channel train: 1 file(s)")
    real = job_request(xgboost_job, aws_project, Stager(aws_project))
    assert dry == real
    assert len(bucket_keys(moto_server, aws_project.bucket)) == 2


def built_in_job(project, user, name: str, algorithm: str, hyperparameters: dict, train: dict) -> Job:
    job, _ = training_job_create(
        project=project,
        user=user,
        name=name,
        algorithm=algorithm,
        channels=[{"name": "train", **train}],
        hyperparameters=hyperparameters,
    )
    return job


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("algorithm", "hyperparameters", "content_type", "expected"),
    [
        # Supervised: the label is the first of the 3 columns.
        ("knn", {"k": 3, "predictor_type": "classifier", "sample_size": 20}, "", 2),
        # Unsupervised: no label unless the content type says so.
        ("k-means", {"k": 2}, "", 3),
        ("pca", {"num_components": 1}, "text/csv;label_size=1", 2),
        ("random-cut-forest", {}, "text/csv", 3),
    ],
)
def test_feature_dim_is_read_from_the_train_channels_first_csv_line(
    aws_project, moto_server, project, admin_user, algorithm, hyperparameters, content_type, expected
):
    folder = "data/features"
    upload(project, admin_user, f"{folder}/.hidden.csv", b"1,2,3,4,5,6,7\n")  # skipped, as SageMaker's are
    upload(project, admin_user, f"{folder}/a-empty.csv", b"")  # skipped too: empty
    upload(project, admin_user, f"{folder}/b.csv", label_first_csv())
    # Only the first line of the first file is read.
    source = upload(project, admin_user, f"{folder}/c.csv", b"1,2,3,4,5\n").rsplit("/", 1)[0]
    train = {"source_uri": source, **({"content_type": content_type} if content_type else {})}
    job = built_in_job(project, admin_user, f"{algorithm}-1", algorithm, hyperparameters, train)

    dry = job_request(job, aws_project, Stager(aws_project, dry_run=True))
    assert bucket_keys(moto_server, aws_project.bucket) == {}
    operation, request = job_request(job, aws_project, Stager(aws_project))

    assert (operation, request) == dry  # the dry run says what the real run sends
    assert request["HyperParameters"]["feature_dim"] == str(expected)
    assert list(request["HyperParameters"]) == sorted(request["HyperParameters"])
    sagemaker_of(aws_project).create_training_job(**request)
    described = sagemaker_of(aws_project).describe_training_job(TrainingJobName=f"vision-{algorithm}-1")
    assert described["HyperParameters"]["feature_dim"] == str(expected)


@pytest.mark.django_db
def test_a_feature_dim_the_job_gives_is_kept_and_the_data_not_read(
    aws_project, project, admin_user, monkeypatch
):
    train = {"source_uri": upload(project, admin_user, "data/train.csv", label_first_csv())}
    job = built_in_job(project, admin_user, "km-1", "k-means", {"k": 2, "feature_dim": 2}, train)
    monkeypatch.setattr(
        "jobs.backends.sagemaker.requests._first_line_columns",
        lambda uri: pytest.fail("the data was read for a feature_dim the job gives"),
    )

    _, request = job_request(job, aws_project, Stager(aws_project, dry_run=True))
    assert request["HyperParameters"] == {"feature_dim": "2", "k": "2"}


@pytest.mark.django_db
def test_xgboost_and_linear_learner_get_no_feature_dim(aws_project, project, admin_user, xgboost_job):
    """XGBoost has none; linear-learner's defaults to "auto" (its image reads the width)."""
    train = {"source_uri": upload(project, admin_user, "data/train.csv", label_first_csv())}
    linear = built_in_job(
        project, admin_user, "ll-1", "linear-learner", {"predictor_type": "binary_classifier"}, train
    )
    for job in (xgboost_job, linear):
        _, request = job_request(job, aws_project, Stager(aws_project, dry_run=True))
        assert "feature_dim" not in request["HyperParameters"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("files", "content_type", "reason"),
    [
        ({"part.libsvm": b"1 1:0.5 2:0.25\n"}, "", "the train channel is text/libsvm"),
        ({"part.csv": b"1,2\n", "part.parquet": b"PAR1"}, "", "the train channel mixes formats"),
        ({"part.csv": b"\n1,2,3\n"}, "", "the first line of .*part.csv is empty"),
        ({"part.csv": b"", "other.csv": b""}, "", "the train channel holds only empty files"),
        ({"part.csv": b"1\n"}, "text/csv;label_size=1", r"has 1 column\(s\), none of them a feature"),
    ],
)
def test_a_feature_dim_that_cannot_be_read_refuses_the_request_naming_it(
    aws_project, project, admin_user, files, content_type, reason
):
    for name, content in files.items():
        source = upload(project, admin_user, f"data/odd/{name}", content).rsplit("/", 1)[0]
    job = Job(
        project=project,
        kind=JobKind.TRAINING,
        name="km-odd",
        instance_type="ml.m5.large",
        max_runtime_seconds=60,
        spec={
            "algorithm": {"name": "k-means"},
            "hyperparameters": {"k": "2"},
            "channels": [{"name": "train", "source_uri": source, "content_type": content_type}],
        },
    )
    with pytest.raises(BackendError, match=rf"k-means needs the feature_dim hyperparameter.*{reason}"):
        job_request(job, aws_project, Stager(aws_project, dry_run=True))


@pytest.mark.django_db
def test_a_sagemaker_job_whose_feature_dim_cannot_be_read_is_refused_on_backend(
    api, aws_project, project, admin_user
):
    source = upload(project, admin_user, "data/train.libsvm", b"1 1:0.5 2:0.25\n")
    body = {
        "name": "km-sm",
        "algorithm": "k-means",
        "channels": [{"name": "train", "source_uri": source}],
        "hyperparameters": {"k": "2"},
        "backend": "sagemaker",
    }
    response = api.post("/api/v1/projects/vision/training-jobs/", body, format="json")

    assert response.status_code == 400
    assert "feature_dim" in " ".join(response.json()["backend"])
    assert not Job.objects.filter(name="km-sm").exists()
    response = api.post(
        "/api/v1/projects/vision/training-jobs/",
        {**body, "hyperparameters": {"k": "2", "feature_dim": "2"}},
        format="json",
    )
    assert response.status_code == 201, response.json()


@pytest.mark.django_db
def test_staging_again_skips_what_is_already_there_and_removes_stale_files(
    aws_project, moto_server, project, admin_user
):
    folder = "data/images"
    for name in ("a.csv", "b.csv"):
        upload(project, admin_user, f"{folder}/{name}", label_first_csv(5))
    source = upload(project, admin_user, f"{folder}/c.csv", label_first_csv(6)).rsplit("/", 1)[0]
    Stager(aws_project).stage_input(source, key="some-input")

    store_for(source).delete(f"{source}/b.csv")  # the input lost a file since
    lines: list[str] = []
    stager = Stager(aws_project, log=lines.append)

    def refuse(*args, **kwargs):
        raise AssertionError("an unchanged file was uploaded again")

    stager.client.upload_file = refuse
    uri = stager.stage_input(source, key="some-input").uri
    size = len(label_first_csv(5)) + len(label_first_csv(6))

    assert uri == f"s3://{aws_project.bucket}/studio/vision/staged/some-input"
    assert lines == [
        f"Staged some-input: 2 file(s), {size} bytes to {uri}; 2 already there; 1 stale file(s) removed"
    ]
    assert sorted(bucket_keys(moto_server, aws_project.bucket)) == [
        "studio/vision/staged/some-input/a.csv",
        "studio/vision/staged/some-input/c.csv",
    ]


@pytest.mark.django_db
def test_user_code_runs_in_script_mode_with_its_sourcedir(aws_project, moto_server, project, admin_user):
    data = upload(project, admin_user, "data/train.csv", label_first_csv())
    job, _ = training_job_create(
        project=project,
        user=admin_user,
        name="own-1",
        source_file=io.BytesIO(TRAIN_SCRIPT),
        source_filename="train.py",
        channels=[
            {"name": "train", "source_uri": data, "input_mode": "FastFile"},
            {"name": "stream", "source_uri": data, "input_mode": "Pipe"},  # SageMaker has Pipe mode
        ],
        hyperparameters={"epochs": 3, "optimizer": "adam"},
        metric_definitions=[{"name": "loss", "regex": r"loss=([0-9.]+)"}],
        checkpoint_uri=f"{data.rsplit('/', 2)[0]}/checkpoints/own-1",
        environment={"MODE": "fast"},
        backend=Backend.SAGEMAKER,
        managed_spot=True,
    )
    aws_project.vpc_subnets, aws_project.vpc_security_group_ids = ["subnet-1"], ["sg-1"]
    aws_project.kms_key_id = "alias/studio"

    _, request = job_request(job, aws_project, Stager(aws_project))
    root = f"s3://{aws_project.bucket}/studio/vision"
    source_uri = f"{root}/training-jobs/own-1/source/sourcedir.tar.gz"

    assert request["AlgorithmSpecification"] == {
        "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}],
    }
    assert request["HyperParameters"] == {
        "epochs": "3",
        "optimizer": "adam",
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": '"vision-own-1"',
        "sagemaker_program": '"train.py"',
        "sagemaker_region": '"us-east-1"',
        "sagemaker_submit_directory": json.dumps(source_uri),
    }
    assert [channel["InputMode"] for channel in request["InputDataConfig"]] == ["FastFile", "Pipe"]
    assert "ContentType" not in request["InputDataConfig"][0]  # your code reads what it reads
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": job.max_runtime_seconds,
                                            "MaxWaitTimeInSeconds": 2 * job.max_runtime_seconds}  # fmt: skip
    assert request["CheckpointConfig"] == {
        "S3Uri": f"{root}/training-jobs/own-1/checkpoints",
        "LocalPath": "/opt/ml/checkpoints",
    }
    assert request["Environment"] == {"MODE": "fast"}
    assert request["VpcConfig"] == {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}
    assert request["OutputDataConfig"]["KmsKeyId"] == "alias/studio"
    with tarfile.open(fileobj=io.BytesIO(read_s3(moto_server, source_uri))) as archive:
        assert archive.getnames() == ["train.py"]
        assert archive.extractfile("train.py").read() == TRAIN_SCRIPT

    sagemaker = sagemaker_of(aws_project)
    sagemaker.create_training_job(**request)
    described = sagemaker.describe_training_job(TrainingJobName="vision-own-1")
    assert described["HyperParameters"]["sagemaker_program"] == '"train.py"'
    # (moto answers MetricDefinitions with a fixed list of its own, so they are checked above.)
    assert described["AlgorithmSpecification"]["TrainingImage"].endswith(
        "/sagemaker-scikit-learn:1.2-1-cpu-py3"
    )
    assert described["VpcConfig"] == request["VpcConfig"]

    job.spec["max_wait_seconds"] = 60
    with pytest.raises(BackendError, match="must be at least the job's max runtime"):
        job_request(job, aws_project, Stager(aws_project, dry_run=True))


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_a_source_archive_is_repacked_as_a_sourcedir(aws_project, moto_server, project, admin_user, kind):
    files = {"src/train.py": TRAIN_SCRIPT, "src/util.py": b"X = 1\n", "requirements.txt": b"numpy\n"}
    if kind == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, content in files.items():
                archive.writestr(name, content)
        content = buffer.getvalue()
    else:
        content = tarball(files)
    job, _ = training_job_create(
        project=project,
        user=admin_user,
        name="archive-1",
        source_file=io.BytesIO(content),
        source_filename=f"code.{kind}",
        entry_point="src/train.py",
    )
    _, request = job_request(job, aws_project, Stager(aws_project))

    assert request["HyperParameters"]["sagemaker_program"] == '"src/train.py"'
    assert "InputDataConfig" not in request  # your own code may read no channel at all
    source = read_s3(moto_server, json.loads(request["HyperParameters"]["sagemaker_submit_directory"]))
    with tarfile.open(fileobj=io.BytesIO(source)) as archive:
        assert sorted(archive.getnames()) == sorted(files)
        assert archive.extractfile("src/train.py").read() == TRAIN_SCRIPT


# --- Processing ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_processing_script_gets_its_code_input_and_outputs(
    aws_project, moto_server, project, admin_user, csv_artifact
):
    job, _ = processing_job_create(
        project=project,
        user=admin_user,
        name="prep-1",
        script_file=io.BytesIO(PREP_SCRIPT),
        script_filename="prep.py",
        inputs=[{"name": "data", "source_uri": csv_artifact.uri}],
        outputs=[{"name": "result"}],
        arguments=["--rows", "10"],
        environment={"STAGE": "test"},
        instance_type="ml.m5.large",
        max_runtime_seconds=600,
    )
    operation, request = job_request(job, aws_project, Stager(aws_project))
    root = f"s3://{aws_project.bucket}/studio/vision"

    assert operation == "CreateProcessingJob"
    assert request["AppSpecification"] == {
        "ImageUri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/prep.py"],
        "ContainerArguments": ["--rows", "10"],
    }
    code, data = request["ProcessingInputs"]
    assert code == {
        "InputName": "code",
        "S3Input": {
            "S3Uri": f"{root}/staged/processing-jobs/prep-1/code/prep.py",
            "LocalPath": "/opt/ml/processing/input/code",
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }
    assert data["S3Input"]["LocalPath"] == "/opt/ml/processing/input/data"
    assert data["S3Input"]["S3Uri"] == f"{root}/staged/processing-jobs/prep-1/input/data/train.csv"
    assert request["ProcessingOutputConfig"] == {
        "Outputs": [
            {
                "OutputName": "result",
                "S3Output": {
                    "S3Uri": f"{root}/processing-jobs/prep-1/output/result",
                    "LocalPath": "/opt/ml/processing/output/result",
                    "S3UploadMode": "EndOfJob",
                },
            }
        ]
    }
    assert request["ProcessingResources"] == {
        "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}
    }
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}
    assert request["Environment"] == {"STAGE": "test"}
    assert read_s3(moto_server, code["S3Input"]["S3Uri"]) == PREP_SCRIPT

    sagemaker = sagemaker_of(aws_project)
    sagemaker.create_processing_job(**request)
    described = sagemaker.describe_processing_job(ProcessingJobName="vision-prep-1")
    assert described["AppSpecification"]["ImageUri"] == request["AppSpecification"]["ImageUri"]
    assert described["RoleArn"] == ROLE_ARN
    assert [item["InputName"] for item in described["ProcessingInputs"]] == ["code", "data"]


@pytest.mark.django_db
def test_studios_own_processing_modules_stay_local(aws_project, project):
    job = Job(
        project=project, kind=JobKind.PROCESSING, name="profile-1", instance_type="ml.m5.large",
        max_runtime_seconds=60, spec={"entrypoint": {"module": "datasets.profiling_job"}},
    )  # fmt: skip
    with pytest.raises(
        BackendError, match=r"runs Studio's own datasets\.profiling_job and needs Studio's code"
    ):
        job_request(job, aws_project, Stager(aws_project, dry_run=True))


# --- Transform and models ----------------------------------------------------------------------------------


@pytest.fixture
def coded_model(project, admin_user):
    """A model with its inference code uploaded beside the artifact."""
    model, _ = model_create(
        project=project,
        user=admin_user,
        name="scorer",
        model_file=io.BytesIO(tarball({"weights.json": b"[1, 2]"})),
        code_file=io.BytesIO(INFERENCE_CODE),
        code_filename="inference.py",
        environment={"THRESHOLD": "0.5"},
    )
    return model


@pytest.mark.django_db
def test_a_transform_job_and_its_model_are_accepted_by_moto(
    aws_project, moto_server, project, admin_user, coded_model
):
    data = upload(project, admin_user, "data/score/part-1.csv", b"1,2\n3,4\n")
    job, _ = transform_job_create(
        project=project,
        user=admin_user,
        name="score-1",
        model="scorer",
        input_uri=data.rsplit("/", 1)[0],
        content_type="text/csv",
        split_type="Line",
        accept="text/csv",
        assemble_with="Line",
        max_concurrent_transforms=2,
        environment={"BATCH": "yes"},
    )
    stager = Stager(aws_project)
    model_name = transform_model_name(job)
    model = model_request(job.spec["model"], aws_project, stager, name=model_name)
    operation, request = job_request(job, aws_project, stager)
    root = f"s3://{aws_project.bucket}/studio/vision"
    sha = coded_model.artifact_sha256

    assert model_name.startswith("vision-scorer-")
    assert NAME.match(model_name)
    container = model["PrimaryContainer"]
    assert container["Image"].endswith("/sagemaker-scikit-learn:1.2-1-cpu-py3")
    assert container["ModelDataUrl"] == f"{root}/staged/models/{sha}/model.tar.gz"
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "studio_inference.py"
    assert container["Environment"]["STUDIO_USER_PROGRAM"] == "inference.py"
    assert container["Environment"]["THRESHOLD"] == "0.5"
    assert model["ExecutionRoleArn"] == ROLE_ARN
    with tarfile.open(
        fileobj=io.BytesIO(read_s3(moto_server, container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"]))
    ) as archive:
        assert sorted(archive.getnames()) == ["inference.py", "studio_inference.py"]
    assert hashlib.sha256(read_s3(moto_server, container["ModelDataUrl"])).hexdigest() == sha

    assert operation == "CreateTransformJob"
    assert request == {
        "TransformJobName": "vision-score-1",
        "ModelName": model_name,
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"{root}/staged/transform-jobs/score-1/input/",
                }
            },
            "CompressionType": "None",
            "SplitType": "Line",
            "ContentType": "text/csv",
        },
        "TransformOutput": {
            "S3OutputPath": f"{root}/transform-jobs/score-1/output",
            "AssembleWith": "Line",
            "Accept": "text/csv",
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 6,
        "DataProcessing": {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"},
        "MaxConcurrentTransforms": 2,
        "Environment": {"BATCH": "yes"},
        "Tags": [
            {"Key": "studio:job-uuid", "Value": str(job.uuid)},
            {"Key": "studio:project", "Value": "vision"},
        ],
    }

    sagemaker = sagemaker_of(aws_project)
    sagemaker.create_model(**model)
    sagemaker.create_transform_job(**request)
    assert sagemaker.describe_model(ModelName=model_name)["PrimaryContainer"]["Image"] == container["Image"]
    described = sagemaker.describe_transform_job(TransformJobName="vision-score-1")
    assert described["ModelName"] == model_name
    assert described["TransformInput"]["DataSource"] == request["TransformInput"]["DataSource"]

    # Another artifact is another SageMaker model.
    changed = Job(
        project=project,
        kind=JobKind.TRANSFORM,
        name="x",
        spec={"model": {**job.spec["model"], "artifact_sha256": "0" * 64}},
    )
    assert transform_model_name(changed) != model_name


@pytest.mark.django_db
def test_a_built_in_model_trained_on_sagemaker_uses_its_algorithm_image(aws_project, project, admin_user):
    artifact = upload(project, admin_user, "models/xgb/model.tar.gz", tarball({"xgboost-model": b"booster"}))
    sha = hashlib.sha256(store_for(artifact).open(artifact).read()).hexdigest()
    model = {"name": "xgb", "algorithm": "xgboost", "artifact_uri": artifact, "artifact_sha256": sha,
             "code": {}, "environment": {"SAGEMAKER_INFERENCE_OUTPUT": "predicted_label"}}  # fmt: skip

    request = model_request(model, aws_project, Stager(aws_project, dry_run=True), name="vision-xgb-1234")
    assert request["PrimaryContainer"] == {
        "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        "ModelDataUrl": f"s3://{aws_project.bucket}/studio/vision/staged/models/{sha}/model.tar.gz",
        "Environment": {"SAGEMAKER_INFERENCE_OUTPUT": "predicted_label"},
    }
    with pytest.raises(BackendError, match="changed since Studio recorded it"):
        model_request({**model, "artifact_sha256": "f" * 64}, aws_project, Stager(aws_project), name="m")


@pytest.mark.django_db
def test_the_inference_entry_point_serves_the_models_code_or_its_joblib_file(tmp_path, monkeypatch):
    shim = "jobs/backends/sagemaker/studio_inference.py"
    monkeypatch.setattr(sys, "path", list(sys.path))  # the entry point adds the code's folder

    def load(model_dir):
        monkeypatch.setenv("STUDIO_MODEL_DIR", str(model_dir))
        spec = importlib.util.spec_from_file_location(f"shim_{model_dir.name}", shim)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    coded = tmp_path / "coded"
    (coded / "code").mkdir(parents=True)
    (coded / "code/inference.py").write_bytes(INFERENCE_CODE)
    module = load(coded)
    assert module.model_fn(str(coded)) == "weights"
    assert module.predict_fn([1], None) == [1]
    assert not hasattr(module, "output_fn")  # the container's default stays

    import joblib

    plain = tmp_path / "plain"
    plain.mkdir()
    joblib.dump({"kind": "estimator"}, plain / "model.joblib")
    assert load(plain).model_fn(str(plain)) == {"kind": "estimator"}


# --- Tuning ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_tuning_job_becomes_one_request_with_its_training_definition(
    aws_project, moto_server, project, admin_user
):
    train = upload(project, admin_user, "data/train.csv", label_first_csv())
    validation = upload(project, admin_user, "data/validation.csv", label_first_csv(10))
    job, _ = tuning_job_create(
        project=project,
        user=admin_user,
        name="xgb-tune",
        algorithm="xgboost",
        channels=[{"name": "train", "source_uri": train}, {"name": "validation", "source_uri": validation}],
        static_hyperparameters={"num_round": 20},
        parameter_ranges={
            "ContinuousParameterRanges": [
                {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"}
            ],
            "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "8"}],
        },
        max_training_jobs=6,
        max_parallel_training_jobs=3,
        early_stopping="Auto",
    )
    operation, request = job_request(job, aws_project, Stager(aws_project))

    assert operation == "CreateHyperParameterTuningJob"
    assert request["HyperParameterTuningJobName"] == "vision-xgb-tune"
    assert request["HyperParameterTuningJobConfig"] == {
        "Strategy": "Bayesian",
        "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:rmse"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 3},
        "ParameterRanges": {
            "IntegerParameterRanges": [
                {"Name": "max_depth", "MinValue": "2", "MaxValue": "8", "ScalingType": "Auto"}
            ],
            "ContinuousParameterRanges": [
                {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"}
            ],
        },
        "TrainingJobEarlyStoppingType": "Auto",
    }
    definition = request["TrainingJobDefinition"]
    assert definition["StaticHyperParameters"] == {"num_round": "20"}
    assert definition["AlgorithmSpecification"]["TrainingImage"].endswith("/sagemaker-xgboost:1.7-1")
    assert [channel["ChannelName"] for channel in definition["InputDataConfig"]] == ["train", "validation"]
    assert "TrainingJobName" not in definition
    assert "Tags" not in definition

    sagemaker = sagemaker_of(aws_project)
    sagemaker.create_hyper_parameter_tuning_job(**request)
    described = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="vision-xgb-tune")
    assert described["HyperParameterTuningJobConfig"]["Strategy"] == "Bayesian"
    assert described["TrainingJobDefinition"]["StaticHyperParameters"] == {"num_round": "20"}
    assert described["TrainingJobDefinition"]["RoleArn"] == ROLE_ARN

    # Warm start names the parents' SageMaker jobs, and only SageMaker's own.
    job.spec["warm_start"] = {"parents": [{"name": "older-tune"}], "type": "TransferLearning"}
    Job.objects.create(project=project, kind=JobKind.TUNING, name="older-tune", instance_type="ml.m5.large",
                       max_runtime_seconds=60, backend=Backend.SAGEMAKER)  # fmt: skip
    _, warm = job_request(job, aws_project, Stager(aws_project, dry_run=True))
    assert warm["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "vision-older-tune"}],
        "WarmStartType": "TransferLearning",
    }
    Job.objects.filter(name="older-tune").update(backend=Backend.LOCAL)
    with pytest.raises(BackendError, match="older-tune ran on the local backend"):
        job_request(job, aws_project, Stager(aws_project, dry_run=True))


# --- Moving files ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_studios_own_s3_is_read_in_place_when_it_is_the_projects(s3_store, aws_project, project, admin_user):
    uri = upload(project, admin_user, "data/shared/part-1.csv", label_first_csv(3))
    lines: list[str] = []
    staged = Stager(aws_project, log=lines.append).stage_input(uri.rsplit("/", 1)[0], key="shared")
    assert staged.in_place
    assert staged.uri == uri.rsplit("/", 1)[0]
    assert staged.s3_data_uri == staged.uri + "/"
    assert lines[0].startswith("Shared: read in place from s3://studio-")


@pytest.mark.django_db
def test_outputs_come_back_into_studios_store(aws_project, moto_server, project):
    client = moto_server["client"]
    prefix = "studio/vision/processing-jobs/prep-1/output/result"
    client.put_object(Bucket=aws_project.bucket, Key=f"{prefix}/summary.txt", Body=b"rows=10")
    client.put_object(Bucket=aws_project.bucket, Key=f"{prefix}/parts/1.csv", Body=b"1,2\n")
    client.put_object(Bucket=aws_project.bucket, Key=f"{prefix}-old/stale.txt", Body=b"not mine")
    studio_uri = join_uri(project_prefix(project.name), "processing-jobs/prep-1/output/result")

    stored = fetch_to_store(aws_project, f"s3://{aws_project.bucket}/{prefix}", studio_uri)
    assert sorted(item.uri for item in stored) == [f"{studio_uri}/parts/1.csv", f"{studio_uri}/summary.txt"]
    assert store_for(studio_uri).open(f"{studio_uri}/summary.txt").read() == b"rows=10"

    # An object lands at the URI it is given.
    single = fetch_to_store(
        aws_project, f"s3://{aws_project.bucket}/{prefix}/summary.txt", f"{studio_uri}-copy.txt"
    )
    assert [item.uri for item in single] == [f"{studio_uri}-copy.txt"]
    assert single[0].sha256 == hashlib.sha256(b"rows=10").hexdigest()
    assert fetch_to_store(aws_project, f"s3://{aws_project.bucket}/nothing/here", studio_uri) == []


@pytest.mark.django_db
@pytest.mark.parametrize(("code", "retried"), [("SlowDown", True), ("AccessDenied", False)])
def test_s3_failures_say_whether_trying_later_can_help(aws_project, project, admin_user, code, retried):
    uri = upload(project, admin_user, "data/train.csv", label_first_csv(3))
    stager = Stager(aws_project)

    def fail(**kwargs):
        raise ClientError(
            {"Error": {"Code": code, "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
            "HeadObject",
        )

    stager.client.head_object = fail
    with pytest.raises(BackendError) as raised:
        stager.stage_input(uri, key="x")
    assert isinstance(raised.value, RetryLater) is retried
    assert "checking s3://" in str(raised.value)
