"""Jobs on the `sagemaker` backend: sent to SageMaker (moto's server on 127.0.0.1), followed to
the end, their logs, metrics and outputs brought back; AWS failures (botocore's Stubber) ending
in reasons a user can act on, retried only where retrying is right."""

from __future__ import annotations

import contextlib
import io
import tarfile
import time
from datetime import UTC, datetime

import pytest
from botocore.stub import Stubber

from cloud.clients import aws_client
from jobs.backends.sagemaker import driver
from jobs.backends.sagemaker.requests import sagemaker_job_name
from jobs.models import Job, JobMetric, JobStatus
from jobs.runner import job_execute, jobs_reap
from jobs.selectors import job_log_read
from jobs.services import job_stop, processing_job_create, training_job_create, tuning_job_create
from jobs.services.transform import transform_job_create
from studio.artifacts import store_for
from studio.services import artifact_upload
from tests.aws_support import ROLE_ARN, moto_client

# Also on the full stack: PostgreSQL's JSON lookups follow the chain token; S3 is Studio's store too.
pytestmark = [pytest.mark.django_db, pytest.mark.fullstack]
STARTED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def steps(monkeypatch) -> list[tuple[int, str, float]]:
    """No broker: created jobs wait for ``job_execute``, and a chain's next step is only recorded;
    ``follow`` runs the steps here."""
    monkeypatch.setattr("jobs.services.common.job_enqueue", lambda job: None)
    scheduled: list[tuple[int, str, float]] = []
    monkeypatch.setattr(
        driver,
        "_schedule",
        lambda job_id, chain, delay: scheduled.append((job_id, chain, delay)) if delay is not None else None,
    )
    return scheduled


def follow(job: Job, steps: list, limit: int = 20) -> Job:
    """Claim the job as a worker would, then run its chain's steps until it ends."""
    job_execute(job_id=job.pk)
    for _ in range(limit):
        if not steps:
            break
        driver.sagemaker_step(*steps.pop(0))
    job.refresh_from_db()
    return job


def job_log_text(job: Job) -> str:
    return job_log_read(job, limit=10**9)["text"]


def csv_channel(project, user, name: str = "train", rows: int = 200) -> str:
    lines = "\n".join(f"{i % 2},{i * 0.5:.1f},{(i * 7) % 11}" for i in range(rows))
    return artifact_upload(
        project=project, user=user, path=f"data/{name}.csv", stream=io.BytesIO(lines.encode())
    ).uri


def xgboost_job(project, user, name: str = "xgb-1", **extra) -> Job:
    job, _ = training_job_create(
        project=project,
        user=user,
        name=name,
        algorithm="xgboost",
        channels=[{"name": "train", "source_uri": csv_channel(project, user), "content_type": "text/csv"}],
        hyperparameters={"num_round": 5, "objective": "binary:logistic"},
        instance_type="ml.m5.xlarge",
        backend="sagemaker",
        **extra,
    )
    return job


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def put_s3(aws, uri: str, body: bytes) -> None:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    aws_client(aws, "s3").put_object(Bucket=bucket, Key=key, Body=body)


def write_logs(moto_server, group: str, stream: str, lines: list[str]) -> None:
    logs = moto_client(moto_server, "logs")
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)],
    )


# --- end to end on the moto server --------------------------------------------------------------


def test_a_training_job_is_sent_followed_and_its_model_fetched(
    project, admin_user, aws_project, sagemaker, moto_server, steps
):
    job = xgboost_job(project, admin_user)
    name = sagemaker_job_name(job)
    model_bytes = tarball({"xgboost-model": b"booster"})
    put_s3(aws_project, f"{aws_project.s3_root}/training-jobs/{name}/output/model.tar.gz", model_bytes)
    write_logs(
        moto_server,
        "/aws/sagemaker/TrainingJobs",
        f"{name}/algo-1-1700000000",
        ["[0]#011train-logloss:0.61", "[1]#011train-logloss:0.52"],
    )

    job = follow(job, steps)

    assert job.status == JobStatus.COMPLETED, job.failure_reason
    described = sagemaker.describe_training_job(TrainingJobName=name)
    assert "sagemaker-xgboost" in described["AlgorithmSpecification"]["TrainingImage"]
    assert described["RoleArn"] == ROLE_ARN
    assert described["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    channel = described["InputDataConfig"][0]
    assert channel["ChannelName"] == "train"
    assert channel["DataSource"]["S3DataSource"]["S3Uri"].startswith(f"s3://{aws_project.bucket}/")
    assert described["HyperParameters"]["num_round"] == "5"
    # The request Studio sent is kept on the job, as the page and the API show it.
    assert job.remote["operation"] == "CreateTrainingJob"
    assert job.remote["request"]["TrainingJobName"] == name
    assert job.remote["arn"].endswith(f"training-job/{name}")
    # SageMaker's statuses and messages are the job's timeline; its log lines are the job's log.
    messages = list(job.events.values_list("message", flat=True))
    assert any("Preparing the instances for training" in message for message in messages)
    log = job_log_text(job)
    assert "train-logloss:0.52" in log
    # The final metrics SageMaker reports are recorded; the model is fetched into Studio's store.
    assert JobMetric.objects.filter(job=job, name="train:progress", value=100.0).exists()
    model = next(item for item in job.outputs if item["name"] == "model")
    assert model["fetched"] is True
    assert model["remote_uri"].endswith(f"{name}/output/model.tar.gz")
    with store_for(model["uri"]).open(model["uri"]) as handle:
        assert handle.read() == model_bytes


def test_a_processing_job_brings_back_its_outputs_logs_and_metrics(
    project, admin_user, aws_project, sagemaker, moto_server, steps
):
    data = csv_channel(project, admin_user, "raw")
    job, _ = processing_job_create(
        project=project,
        user=admin_user,
        name="prep-sm",
        script_file=io.BytesIO(b"print('loss=0.25')\n"),
        script_filename="prep.py",
        inputs=[{"name": "data", "source_uri": data}],
        outputs=[{"name": "result"}],
        arguments=["--rows", "200"],
        metric_definitions=[{"name": "loss", "regex": r"loss=([0-9.]+)"}],
        backend="sagemaker",
    )
    name = sagemaker_job_name(job)
    put_s3(
        aws_project, f"{aws_project.s3_root}/processing-jobs/prep-sm/output/result/summary.txt", b"rows=200"
    )
    write_logs(
        moto_server, "/aws/sagemaker/ProcessingJobs", f"{name}/algo-1-1700000000", ["loss=0.25", "loss=0.125"]
    )

    job = follow(job, steps)

    assert job.status == JobStatus.COMPLETED, job.failure_reason
    described = sagemaker.describe_processing_job(ProcessingJobName=name)
    assert described["AppSpecification"]["ContainerEntrypoint"][-1].endswith("/prep.py")
    assert described["AppSpecification"]["ContainerArguments"] == ["--rows", "200"]
    # moto does not echo the resources; the request Studio kept is what it sent.
    assert job.remote["request"]["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.m5.large"
    assert {item["InputName"] for item in described["ProcessingInputs"]} >= {"code", "data"}
    assert [point.value for point in JobMetric.objects.filter(job=job, name="loss")] == [0.25, 0.125]
    output = job.outputs[0]
    assert output["name"] == "result"
    assert output["files"] == 1
    destination = job.spec["outputs"][0]["destination_uri"]
    with store_for(destination).open(f"{destination}/summary.txt") as handle:
        assert handle.read() == b"rows=200"


def test_a_transform_job_creates_its_model_first(project, admin_user, aws_project, sagemaker, steps):
    from endpoints.services.models import model_create

    _model, _ = model_create(
        project=project,
        user=admin_user,
        name="clf",
        model_file=io.BytesIO(tarball({"code/inference.py": b"def model_fn(model_dir):\n    return 1\n"})),
    )
    source = csv_channel(project, admin_user, "score")
    job, _ = transform_job_create(
        project=project,
        user=admin_user,
        name="score-sm",
        model="clf",
        input_uri=source,
        content_type="text/csv",
        split_type="Line",
        instance_type="ml.m5.large",
        instance_count=2,
        backend="sagemaker",
    )
    name = sagemaker_job_name(job)
    put_s3(aws_project, f"{aws_project.s3_root}/transform-jobs/score-sm/output/score.csv.out", b"0.1\n0.9\n")

    job = follow(job, steps)

    assert job.status == JobStatus.COMPLETED, job.failure_reason
    model_name = job.remote["prerequisites"][0]["request"]["ModelName"]
    assert sagemaker.describe_model(ModelName=model_name)["ExecutionRoleArn"] == ROLE_ARN
    described = sagemaker.describe_transform_job(TransformJobName=name)
    assert described["ModelName"] == model_name
    assert described["TransformResources"] == {"InstanceType": "ml.m5.large", "InstanceCount": 2}
    assert described["TransformInput"]["SplitType"] == "Line"
    assert job.outputs[0]["files"] == 1


def test_a_tuning_job_runs_on_sagemaker_and_its_trials_appear(
    project, admin_user, aws_project, sagemaker, steps, monkeypatch
):
    job, _ = tuning_job_create(
        project=project,
        user=admin_user,
        name="tune-sm",
        algorithm="xgboost",
        channels=[
            {"name": "train", "source_uri": csv_channel(project, admin_user), "content_type": "text/csv"},
            {
                "name": "validation",
                "source_uri": csv_channel(project, admin_user, "validation"),
                "content_type": "text/csv",
            },
        ],
        static_hyperparameters={"objective": "binary:logistic"},
        objective_metric="validation:logloss",
        objective_type="Minimize",
        parameter_ranges={
            "IntegerParameterRanges": [{"Name": "num_round", "MinValue": "2", "MaxValue": "9"}]
        },
        max_training_jobs=4,
        max_parallel_training_jobs=2,
        backend="sagemaker",
    )
    name = sagemaker_job_name(job)
    # moto has no ListTrainingJobsForHyperParameterTuningJob: the trials SageMaker would report.
    summaries = [
        {
            "TrainingJobName": f"{name}-001-abcdef01",
            "TrainingJobArn": "arn:1",
            "CreationTime": STARTED,
            "TrainingJobStatus": "Completed",
            "TunedHyperParameters": {"num_round": "3"},
            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:logloss", "Value": 0.4},
        },
        {
            "TrainingJobName": f"{name}-002-abcdef02",
            "TrainingJobArn": "arn:2",
            "CreationTime": STARTED,
            "TrainingJobStatus": "Failed",
            "FailureReason": "AlgorithmError: boom",
            "TunedHyperParameters": {"num_round": "8"},
        },
    ]
    monkeypatch.setattr("jobs.backends.sagemaker.tuning._summaries", lambda client, tuning_name: summaries)

    job = follow(job, steps)

    assert job.status == JobStatus.COMPLETED, job.failure_reason
    described = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    config = described["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {
        "Type": "Minimize",
        "MetricName": "validation:logloss",
    }
    assert config["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 4
    trials = {trial.name: trial for trial in job.trials.all()}
    assert trials[f"{name}-001-abcdef01"].status == JobStatus.COMPLETED
    assert trials[f"{name}-001-abcdef01"].spec["tuning"]["parameters"] == {"num_round": 3}
    assert trials[f"{name}-002-abcdef02"].failure_reason == "AlgorithmError: boom"
    assert JobMetric.objects.get(job=trials[f"{name}-001-abcdef01"], name="validation:logloss").value == 0.4


def test_a_job_for_sagemaker_is_refused_without_aws_settings_or_where_sagemaker_lacks_the_algorithm(
    project, admin_user, aws_project
):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        training_job_create(
            project=project,
            user=admin_user,
            name="lgbm",
            algorithm="lightgbm",
            channels=[
                {"name": "train", "source_uri": csv_channel(project, admin_user), "content_type": "text/csv"}
            ],
            hyperparameters={"objective": "binary"},
            backend="sagemaker",
        )
    assert "lightgbm" in " ".join(refused.value.message_dict["backend"])
    aws_project.delete()
    with pytest.raises(ValidationError) as refused:
        xgboost_job(project, admin_user, name="xgb-none")
    assert "no AWS settings" in " ".join(refused.value.message_dict["backend"])
    assert not Job.objects.filter(name__in=["lgbm", "xgb-none"]).exists()


# --- failures, forced with botocore's Stubber ---------------------------------------------------


@pytest.fixture
def stubbed(aws_project, monkeypatch):
    """The driver's SageMaker client answers from a Stubber; S3 and CloudWatch stay on moto."""
    client = aws_client(aws_project, "sagemaker")
    stubber = Stubber(client)
    real = driver.aws_client
    monkeypatch.setattr(
        driver, "aws_client", lambda aws, service: client if service == "sagemaker" else real(aws, service)
    )
    with stubber:
        yield stubber


def in_progress(name: str, *transitions: tuple[str, str], status: str = "InProgress", **extra) -> dict:
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "ModelArtifacts": {"S3ModelArtifacts": ""},
        "TrainingJobStatus": status,
        "SecondaryStatus": transitions[-1][0] if transitions else "Starting",
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": STARTED,
        "SecondaryStatusTransitions": [
            {"Status": state, "StartTime": STARTED, "StatusMessage": message}
            for state, message in transitions
        ],
        **extra,
    }


def created(name: str) -> dict:
    return {"TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"}


def test_throttling_is_retried_then_the_job_is_sent(project, admin_user, stubbed, steps):
    job = xgboost_job(project, admin_user)
    name = sagemaker_job_name(job)
    stubbed.add_client_error("create_training_job", "ThrottlingException", "Rate exceeded", 400)
    stubbed.add_response("create_training_job", created(name))
    stubbed.add_response(
        "describe_training_job",
        in_progress(name, ("Starting", "Preparing the instances")),
        {"TrainingJobName": name},
    )
    stubbed.add_response(
        "describe_training_job",
        in_progress(name, ("Starting", "Preparing"), ("Completed", "Done"), status="Completed"),
        {"TrainingJobName": name},
    )

    job = follow(job, steps)

    assert job.status == JobStatus.COMPLETED, job.failure_reason
    log = job_log_text(job)
    assert "throttled" in log
    assert "trying again" in log
    assert job.remote["sent"] is True
    stubbed.assert_no_pending_responses()


def test_access_denied_fails_the_job_with_the_message(project, admin_user, stubbed, steps):
    job = xgboost_job(project, admin_user)
    stubbed.add_client_error(
        "create_training_job",
        "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sagemaker:CreateTrainingJob",
        400,
    )

    job = follow(job, steps)

    assert job.status == JobStatus.FAILED
    assert "not authorized to perform: sagemaker:CreateTrainingJob" in job.failure_reason
    assert "access denied" in job.failure_reason
    assert not steps  # nothing left to retry


def test_a_resource_limit_fails_the_job_saying_what_to_do(project, admin_user, stubbed, steps):
    job = xgboost_job(project, admin_user)
    stubbed.add_client_error(
        "create_training_job",
        "ResourceLimitExceeded",
        "The account-level service limit 'ml.p3.2xlarge for training job usage' is 0 Instances",
        400,
    )
    job = follow(job, steps)
    assert job.status == JobStatus.FAILED
    assert "quota" in job.failure_reason
    assert "ml.p3.2xlarge" in job.failure_reason


def test_a_job_that_fails_on_sagemaker_ends_failed_with_its_reason(project, admin_user, stubbed, steps):
    job = xgboost_job(project, admin_user)
    name = sagemaker_job_name(job)
    stubbed.add_response("create_training_job", created(name))
    stubbed.add_response(
        "describe_training_job", in_progress(name, ("Starting", "Preparing the instances for training"))
    )
    stubbed.add_response(
        "describe_training_job",
        in_progress(
            name,
            ("Starting", "Preparing the instances for training"),
            ("Training", "Training image download completed. Training in progress."),
        ),
    )
    stubbed.add_response(
        "describe_training_job",
        in_progress(
            name,
            ("Starting", "Preparing"),
            ("Training", "Training"),
            ("Failed", "Training job failed"),
            status="Failed",
            FailureReason="AlgorithmError: num_class must be set for multi:softmax",
        ),
    )

    job = follow(job, steps)

    assert job.status == JobStatus.FAILED
    assert job.failure_reason == "SageMaker: AlgorithmError: num_class must be set for multi:softmax"
    history = list(job.events.values_list("status", "secondary_status"))
    assert ("InProgress", "Training") in history
    assert history[-1] == ("Failed", "Failed")


def test_a_stop_request_reaches_sagemaker(project, admin_user, stubbed, steps):
    job = xgboost_job(project, admin_user)
    name = sagemaker_job_name(job)
    stubbed.add_response("create_training_job", created(name))
    stubbed.add_response("describe_training_job", in_progress(name, ("Training", "Training")))
    job_execute(job_id=job.pk)
    driver.sagemaker_step(*steps.pop(0))  # the first poll: InProgress

    job_stop(job=job, user=admin_user)
    stubbed.add_response("stop_training_job", {}, {"TrainingJobName": name})
    stubbed.add_response(
        "describe_training_job",
        in_progress(name, ("Training", "Training"), ("Stopping", "Stopping"), status="Stopping"),
    )
    stubbed.add_response(
        "describe_training_job",
        in_progress(
            name,
            ("Training", "Training"),
            ("Stopped", "Stopped"),
            status="Stopped",
            SecondaryStatus="Stopped",
        ),
    )
    # The stop started a new chain; the old one's step finds it is no longer the job's and ends.
    job.refresh_from_db()
    stale = [step for step in steps if step[1] != job.remote["chain"]]
    steps[:] = [(job.pk, job.remote["chain"], 0.0)]
    for step in stale:
        assert driver.sagemaker_advance(*step) is None
    for _ in range(5):
        if steps:
            driver.sagemaker_step(*steps.pop(0))
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED
    assert "asking SageMaker to stop" in job_log_text(job)
    stubbed.assert_no_pending_responses()


def test_the_reaper_follows_a_quiet_sagemaker_job_again_instead_of_failing_it(
    project, admin_user, stubbed, steps, settings
):
    from datetime import timedelta

    from django.utils import timezone

    job = xgboost_job(project, admin_user)
    name = sagemaker_job_name(job)
    stubbed.add_response("create_training_job", created(name))
    job_execute(job_id=job.pk)
    steps.clear()  # the chain's message is lost
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(driver.transaction, "on_commit", lambda callback: callback())
        result = jobs_reap()

    job.refresh_from_db()
    assert result["sagemaker_revived"] == 1
    assert job.status == JobStatus.IN_PROGRESS
    assert steps
    assert steps[0][1] == job.remote["chain"]


def test_a_name_taken_on_sagemaker_by_another_job_fails_this_one(project, admin_user, stubbed, steps):
    job = xgboost_job(project, admin_user)
    name = sagemaker_job_name(job)
    arn = created(name)["TrainingJobArn"]
    stubbed.add_client_error(
        "create_training_job", "ResourceInUse", f"Training job {name} already exists", 400
    )
    stubbed.add_response(
        "describe_training_job", in_progress(name, ("Completed", "Done"), status="Completed")
    )
    stubbed.add_response(
        "list_tags", {"Tags": [{"Key": "studio:job-uuid", "Value": "someone-else"}]}, {"ResourceArn": arn}
    )

    job = follow(job, steps)

    assert job.status == JobStatus.FAILED
    assert "SageMaker never reuses a job name" in job.failure_reason


def test_a_create_whose_answer_was_lost_is_followed_not_sent_twice(project, admin_user, stubbed, steps):
    job = xgboost_job(project, admin_user)
    name = sagemaker_job_name(job)
    arn = created(name)["TrainingJobArn"]
    stubbed.add_client_error(
        "create_training_job", "ResourceInUse", f"Training job {name} already exists", 400
    )
    stubbed.add_response("describe_training_job", in_progress(name, ("Starting", "Preparing")))
    stubbed.add_response("list_tags", {"Tags": [{"Key": "studio:job-uuid", "Value": str(job.uuid)}]})
    stubbed.add_response(
        "describe_training_job",
        in_progress(name, ("Starting", "Preparing"), ("Completed", "Done"), status="Completed"),
    )

    job = follow(job, steps)

    assert job.status == JobStatus.COMPLETED, job.failure_reason
    assert "already exists on SageMaker; following it" in job_log_text(job)
    assert arn  # the job's own ARN was found by its tag
    stubbed.assert_no_pending_responses()


def test_sagemaker_transition_times_and_billing_reach_the_job(project, admin_user, stubbed, steps):
    from datetime import timedelta

    from django.utils import timezone

    job = xgboost_job(project, admin_user, managed_spot=True)
    name = sagemaker_job_name(job)
    training_at = timezone.now() + timedelta(minutes=3)
    stubbed.add_response("create_training_job", created(name))
    described = in_progress(
        name,
        ("Starting", "Preparing"),
        ("Training", "Training"),
        ("Completed", "Done"),
        status="Completed",
        TrainingTimeInSeconds=600,
        BillableTimeInSeconds=240,
    )
    described["SecondaryStatusTransitions"][1]["StartTime"] = training_at
    stubbed.add_response("describe_training_job", described)

    job = follow(job, steps)

    assert job.status == JobStatus.COMPLETED, job.failure_reason
    assert job.events.get(secondary_status="Training").created_at == training_at
    assert job.remote["BillableTimeInSeconds"] == 240
    assert job.remote["request"]["EnableManagedSpotTraining"] is True


def test_a_stop_while_the_job_is_being_sent_still_stops_it_on_sagemaker(
    project, admin_user, stubbed, steps, monkeypatch
):
    """Chain A stages and sends; meanwhile the user stops the job and chain B, finding nothing on
    SageMaker yet, ends it Stopped. A's create then succeeds: A records it and stops it there."""
    job = xgboost_job(project, admin_user)
    name = sagemaker_job_name(job)
    real_request = driver.job_request

    def request_then_stop(job_row, aws, stager):
        built = real_request(job_row, aws, stager)
        job_stop(job=Job.objects.get(pk=job.pk), user=admin_user)
        chain_b = Job.objects.get(pk=job.pk).remote["chain"]
        assert driver.sagemaker_advance(job.pk, chain_b) is None  # B: not there, so Stopped
        return built

    monkeypatch.setattr(driver, "job_request", request_then_stop)
    monkeypatch.setattr(driver.transaction, "on_commit", lambda callback: None)
    stubbed.add_client_error(
        "describe_training_job", "ValidationException", "Requested resource not found", 400
    )
    stubbed.add_response("create_training_job", created(name))
    stubbed.add_response("stop_training_job", {}, {"TrainingJobName": name})

    job = follow(job, steps)

    assert job.status == JobStatus.STOPPED
    assert job.remote["sent"] is True
    assert job.remote["name"] == name
    assert "Asked SageMaker to stop" in job_log_text(job)
    stubbed.assert_no_pending_responses()


def test_a_job_is_followed_to_the_end_without_its_log_when_cloudwatch_refuses(
    project, admin_user, stubbed, steps, monkeypatch
):
    from botocore.exceptions import ClientError

    job = xgboost_job(project, admin_user)
    name = sagemaker_job_name(job)
    refused = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "no logs:GetLogEvents"}}, "GetLogEvents"
    )
    monkeypatch.setattr(driver._Step, "tail_logs", lambda self: (_ for _ in ()).throw(refused))
    stubbed.add_response("create_training_job", created(name))
    stubbed.add_response("describe_training_job", in_progress(name, ("Training", "Training")))
    stubbed.add_response(
        "describe_training_job",
        in_progress(name, ("Training", "Training"), ("Completed", "Done"), status="Completed"),
    )

    job = follow(job, steps)

    assert job.status == JobStatus.COMPLETED, job.failure_reason
    log = job_log_text(job)
    assert log.count("following the job without its log") == 1
    assert "no logs:GetLogEvents" in log


def test_a_sent_job_whose_settings_lost_the_role_is_still_followed_in_its_region(
    project, admin_user, aws_project, stubbed, steps
):
    job = xgboost_job(project, admin_user)
    name = sagemaker_job_name(job)
    stubbed.add_response("create_training_job", created(name))
    job_execute(job_id=job.pk)
    aws_project.role_arn = ""
    aws_project.region = "eu-west-1"
    aws_project.save()
    stubbed.add_response(
        "describe_training_job", in_progress(name, ("Completed", "Done"), status="Completed")
    )

    job = follow(job, steps)

    assert job.status == JobStatus.COMPLETED, job.failure_reason
    assert job.remote["region"] == "us-east-1"


def test_a_failure_while_following_a_sent_job_stops_it_on_sagemaker(project, admin_user, stubbed, steps):
    job = xgboost_job(project, admin_user)
    name = sagemaker_job_name(job)
    stubbed.add_response("create_training_job", created(name))
    stubbed.add_client_error(
        "describe_training_job", "AccessDeniedException", "not authorized: DescribeTrainingJob", 400
    )
    stubbed.add_response("stop_training_job", {}, {"TrainingJobName": name})

    job = follow(job, steps)

    assert job.status == JobStatus.FAILED
    assert "DescribeTrainingJob" in job.failure_reason
    assert job.remote["stop_sent"] is True


def test_studios_own_jobs_stay_local_when_the_install_defaults_to_sagemaker(
    project, admin_user, aws_project, settings
):
    from jobs.services import builtin_job_create

    settings.STUDIO_DEFAULT_BACKEND = "sagemaker"
    profiling = builtin_job_create(
        project=project, user=admin_user, name="profile-raw", module="datasets.profiling_job"
    )
    assert profiling.backend == "local"
    job, _ = training_job_create(
        project=project,
        user=admin_user,
        name="xgb-default",
        algorithm="xgboost",
        channels=[
            {"name": "train", "source_uri": csv_channel(project, admin_user), "content_type": "text/csv"}
        ],
        hyperparameters={"num_round": 5},
    )
    assert job.backend == "sagemaker"


def test_a_clone_to_the_local_backend_is_checked_against_its_limits(project, admin_user, aws_project):
    from django.core.exceptions import ValidationError

    from jobs.services.clone import clone_name_suggestion, job_clone

    data = csv_channel(project, admin_user, "raw")
    job, _ = processing_job_create(
        project=project,
        user=admin_user,
        name="prep-wide",
        script_file=io.BytesIO(b"print('hi')\n"),
        script_filename="prep.py",
        inputs=[{"name": "data", "source_uri": data}],
        instance_count=4,
        backend="sagemaker",
    )
    with pytest.raises(ValidationError) as refused:
        job_clone(job=job, user=admin_user, name="prep-here", backend="local")
    assert "at most 1 instance" in refused.value.message_dict["instance_count"][0]

    first = job_clone(
        job=job, user=admin_user, name=clone_name_suggestion(job, "sagemaker"), backend="sagemaker"
    )
    assert first.name == "prep-wide-sagemaker"
    assert clone_name_suggestion(job, "sagemaker") == "prep-wide-sagemaker-2"


def test_a_role_sagemaker_cannot_assume_fails_the_job_naming_the_settings(
    project, admin_user, stubbed, steps
):
    job = xgboost_job(project, admin_user)
    stubbed.add_client_error(
        "create_training_job",
        "ValidationException",
        "Could not assume role arn:aws:iam::123456789012:role/studio-sagemaker. Please ensure that the role "
        "exists and allows principal 'sagemaker.amazonaws.com' to assume the role.",
        400,
    )

    job = follow(job, steps)

    assert job.status == JobStatus.FAILED
    assert "Could not assume role" in job.failure_reason
    assert "role ARN in the project's AWS settings" in job.failure_reason


def test_a_throttling_storm_that_never_ends_fails_the_job_after_a_few_tries(
    project, admin_user, stubbed, steps
):
    job = xgboost_job(project, admin_user)
    for _ in range(driver.MAX_SUBMIT_TRIES):
        stubbed.add_client_error("create_training_job", "ThrottlingException", "Rate exceeded", 400)

    job = follow(job, steps)

    assert job.status == JobStatus.FAILED
    assert "throttled" in job.failure_reason
    assert f"gave up after {driver.MAX_SUBMIT_TRIES} tries" in job.failure_reason
    assert job_log_text(job).count("trying again in") == driver.MAX_SUBMIT_TRIES - 1
    stubbed.assert_no_pending_responses()


def test_a_model_left_in_s3_is_shown_as_such_not_offered_for_download(
    project, admin_user, aws_project, stubbed, steps, client
):
    from django.urls import reverse

    from tests.conftest import PASSWORD

    job = xgboost_job(project, admin_user)
    name = sagemaker_job_name(job)
    missing = f"{aws_project.s3_root}/training-jobs/{name}/output/model.tar.gz"
    stubbed.add_response("create_training_job", created(name))
    stubbed.add_response(
        "describe_training_job",
        in_progress(
            name, ("Completed", "Done"), status="Completed", ModelArtifacts={"S3ModelArtifacts": missing}
        ),
    )
    job = follow(job, steps)
    assert job.outputs == [{"name": "model", "uri": missing, "remote_uri": missing, "fetched": False}]

    client.login(username=admin_user.username, password=PASSWORD)
    page = client.get(reverse("jobs:training-detail", args=[project.name, job.name])).content.decode()
    assert "In S3 only (not fetched)" in page
    assert reverse("jobs:training-output", args=[project.name, job.name, "model"]) not in page
