"""Your code in one of SageMaker's framework containers: the ``framework`` and ``framework_version``
of a training or tuning definition, checked by the services, carried by the definition (clone,
tuning and its trials, the API, the forms), and turned into the image of the SageMaker request.
The local backend runs your code in Studio's own Python and ignores them."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from jobs.backends.sagemaker.requests import job_request
from jobs.backends.sagemaker.staging import Stager
from jobs.models import Backend, Job, JobKind, JobStatus
from jobs.runner import job_execute
from jobs.services.clone import job_clone
from jobs.services.training import training_definition_of, training_job_create
from jobs.services.tuning import tuning_job_create
from tests.test_browser import browser, log_in, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

SCRIPT = b"""
import json, os
print("loss=0.25", flush=True)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as handle:
    json.dump({"trained": True}, handle)
"""
LOSS = [{"name": "loss", "regex": r"loss=([0-9.]+)"}]
TORCH_GPU_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.2.0-gpu-py310"


@pytest.fixture(autouse=True)
def no_workers(monkeypatch) -> list[Job]:
    """Created jobs stay Pending: nothing is sent to a worker."""
    queued: list[Job] = []
    monkeypatch.setattr("jobs.services.common.job_enqueue", queued.append)
    return queued


def own_code(project, user, name: str = "torch-1", **extra) -> Job:
    job, created = training_job_create(
        project=project,
        user=user,
        name=name,
        source_file=io.BytesIO(SCRIPT),
        source_filename="train.py",
        **extra,
    )
    assert created
    return job


def code_form(name: str, train: str, **extra: object) -> dict:
    """What the browser posts for your code (a built-in's hyperparameter fields left out)."""
    source = io.BytesIO(SCRIPT)
    source.name = "train.py"
    data: dict = {
        "name": name,
        "source_kind": "code",
        "algorithm": "xgboost",
        "source": source,
        "entry_point": "",
        "source_uri": "",
        "channel_train_uri": train,
        "channel_train_content_type": "text/csv",
        "instance_type": "ml.m5.large",
        "instance_count": "1",
        "hyperparameters": "epochs=2",
        "metric_definitions": "",
        "environment": "",
        "checkpoint_uri": "",
    }
    return {**data, **extra}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- The service ------------------------------------------------------------------------------------


def test_the_framework_and_its_version_are_kept_in_the_definition(project, admin_user):
    """A version may be given as the SDK's alias (2.2); the definition keeps the full one."""
    job = own_code(project, admin_user, framework="pytorch", framework_version="2.2")

    assert (job.spec["framework"], job.spec["framework_version"]) == ("pytorch", "2.2.0")
    definition = training_definition_of(job)
    assert (definition["framework"], definition["framework_version"]) == ("pytorch", "2.2.0")


def test_without_a_framework_your_code_gets_the_newest_scikit_learn(project, admin_user):
    job = own_code(project, admin_user)
    assert (job.spec["framework"], job.spec["framework_version"]) == ("sklearn", "1.2-1")

    newest = own_code(project, admin_user, "tf-1", framework="tensorflow")
    assert (newest.spec["framework"], newest.spec["framework_version"]) == ("tensorflow", "2.14.1")


def test_a_built_in_keeps_no_framework(project, admin_user, csv_artifact):
    job, _ = training_job_create(
        project=project,
        user=admin_user,
        name="xgb-1",
        algorithm="xgboost",
        channels=[{"name": "train", "source_uri": csv_artifact.uri}],
        hyperparameters={"num_round": 5},
    )
    assert (job.spec["framework"], job.spec["framework_version"]) == (None, None)


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        (
            {"framework": "jax"},
            "framework",
            "Unknown framework 'jax'; SageMaker's script-mode containers offered are sklearn, pytorch, "
            "tensorflow, xgboost.",
        ),
        (
            {"framework": "pytorch", "framework_version": "1.13"},
            "framework_version",
            "PyTorch 1.13 is not offered; choose one of 2.1.0, 2.2.0, 2.3.0.",
        ),
        (
            {"framework_version": "2.2.0"},
            "framework_version",
            "scikit-learn 2.2.0 is not offered; choose one of 1.0-1, 1.2-1.",
        ),
    ],
)
def test_a_framework_or_version_not_offered_is_refused_on_its_field(
    project, admin_user, arguments, field, message
):
    with pytest.raises(ValidationError) as caught:
        own_code(project, admin_user, **arguments)

    assert caught.value.message_dict == {field: [message]}
    assert not Job.objects.exists()


def test_a_built_in_with_a_framework_is_refused_on_framework(project, admin_user, csv_artifact):
    with pytest.raises(ValidationError) as caught:
        training_job_create(
            project=project,
            user=admin_user,
            name="xgb-1",
            algorithm="xgboost",
            channels=[{"name": "train", "source_uri": csv_artifact.uri}],
            hyperparameters={"num_round": 5},
            framework="pytorch",
        )

    assert caught.value.message_dict == {
        "framework": [
            "A built-in algorithm runs in its own SageMaker image; framework and framework_version are "
            "for your own code."
        ]
    }


def test_a_retried_request_with_another_framework_is_another_request(project, admin_user):
    own_code(project, admin_user, framework="pytorch", client_token="token-1")

    with pytest.raises(ValidationError, match="used for a different request"):
        own_code(project, admin_user, "torch-1", framework="tensorflow", client_token="token-1")


# --- Clone and tuning carry it --------------------------------------------------------------------------


def test_a_clone_a_tuning_job_and_its_trials_carry_the_framework(project, admin_user, csv_artifact):
    channels = [{"name": "train", "source_uri": csv_artifact.uri}]
    job = own_code(project, admin_user, framework="tensorflow", framework_version="2.13", channels=channels)

    clone = job_clone(job=job, user=admin_user, name="torch-1-again", backend=Backend.LOCAL)
    assert (clone.spec["framework"], clone.spec["framework_version"]) == ("tensorflow", "2.13.0")

    tuning, _ = tuning_job_create(
        project=project,
        user=admin_user,
        name="tf-tune",
        source_file=io.BytesIO(SCRIPT),
        source_filename="train.py",
        channels=channels,
        metric_definitions=LOSS,
        objective_metric="loss",
        objective_type="Minimize",
        parameter_ranges={
            "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.01", "MaxValue": "0.1"}]
        },
        max_training_jobs=2,
        framework="tensorflow",
        framework_version="2.13.0",
    )
    definition = tuning.spec["training_definition"]
    assert (definition["framework"], definition["framework_version"]) == ("tensorflow", "2.13.0")

    job_execute(job_id=tuning.pk)  # a worker's claim launches the first trial
    trial = Job.objects.get(tuning_job=tuning)
    assert (trial.spec["framework"], trial.spec["framework_version"]) == ("tensorflow", "2.13.0")


def test_tuning_refuses_a_version_not_offered_on_its_field(project, admin_user, csv_artifact):
    with pytest.raises(ValidationError) as caught:
        tuning_job_create(
            project=project,
            user=admin_user,
            name="torch-tune",
            source_file=io.BytesIO(SCRIPT),
            source_filename="train.py",
            channels=[{"name": "train", "source_uri": csv_artifact.uri}],
            metric_definitions=LOSS,
            objective_metric="loss",
            objective_type="Minimize",
            parameter_ranges={
                "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.01", "MaxValue": "0.1"}]
            },
            max_training_jobs=2,
            framework="pytorch",
            framework_version="9.9",
        )
    assert caught.value.message_dict == {
        "framework_version": ["PyTorch 9.9 is not offered; choose one of 2.1.0, 2.2.0, 2.3.0."]
    }


# --- The SageMaker request -------------------------------------------------------------------------------


def test_the_request_runs_your_code_in_the_frameworks_image(aws_project, project, admin_user, csv_artifact):
    """The image follows the framework, its version and the instance's GPUs; script mode's
    hyperparameters are the same in every framework container."""
    channels = [{"name": "train", "source_uri": csv_artifact.uri}]
    torch = own_code(
        project,
        admin_user,
        framework="pytorch",
        framework_version="2.2.0",
        channels=channels,
        hyperparameters={"epochs": 2},
        instance_type="ml.g5.xlarge",
    )
    plain = own_code(project, admin_user, "plain-1", channels=channels, hyperparameters={"epochs": 2})

    _, request = job_request(torch, aws_project, Stager(aws_project, dry_run=True))
    _, sklearn = job_request(plain, aws_project, Stager(aws_project, dry_run=True))

    assert request["AlgorithmSpecification"]["TrainingImage"] == TORCH_GPU_IMAGE
    assert sklearn["AlgorithmSpecification"]["TrainingImage"].endswith(
        "/sagemaker-scikit-learn:1.2-1-cpu-py3"
    )
    script_mode = {"epochs", "sagemaker_container_log_level", "sagemaker_job_name", "sagemaker_program",
                   "sagemaker_region", "sagemaker_submit_directory"}  # fmt: skip
    assert set(request["HyperParameters"]) == set(sklearn["HyperParameters"]) == script_mode
    assert request["HyperParameters"]["sagemaker_program"] == '"train.py"'


def test_a_job_made_before_the_choice_runs_in_scikit_learn(aws_project, project, admin_user):
    job = own_code(project, admin_user)
    for key in ("framework", "framework_version"):
        del job.spec[key]

    _, request = job_request(job, aws_project, Stager(aws_project, dry_run=True))
    assert request["AlgorithmSpecification"]["TrainingImage"] == (
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    )


def test_a_tuning_jobs_training_definition_runs_in_the_frameworks_image(
    aws_project, project, admin_user, csv_artifact, sagemaker
):
    tuning, _ = tuning_job_create(
        project=project,
        user=admin_user,
        name="tf-tune",
        source_file=io.BytesIO(SCRIPT),
        source_filename="train.py",
        channels=[{"name": "train", "source_uri": csv_artifact.uri}],
        metric_definitions=LOSS,
        objective_metric="loss",
        objective_type="Minimize",
        parameter_ranges={
            "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.01", "MaxValue": "0.1"}]
        },
        max_training_jobs=2,
        instance_type="ml.g4dn.xlarge",
        framework="tensorflow",
        framework_version="2.14",
        backend=Backend.SAGEMAKER,
    )

    operation, request = job_request(tuning, aws_project, Stager(aws_project))

    assert operation == "CreateHyperParameterTuningJob"
    definition = request["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"]["TrainingImage"] == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.14.1-gpu-py310"
    )
    assert json.loads(definition["StaticHyperParameters"]["sagemaker_program"]) == "train.py"
    sagemaker.create_hyper_parameter_tuning_job(**request)
    described = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="vision-tf-tune")
    assert described["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"].endswith(
        "/tensorflow-training:2.14.1-gpu-py310"
    )


def test_moto_accepts_a_pytorch_training_job(aws_project, project, admin_user, csv_artifact, sagemaker):
    job = own_code(
        project,
        admin_user,
        framework="pytorch",
        framework_version="2.2",
        channels=[{"name": "train", "source_uri": csv_artifact.uri}],
        instance_type="ml.g5.xlarge",
        backend=Backend.SAGEMAKER,
    )
    _, request = job_request(job, aws_project, Stager(aws_project))

    sagemaker.create_training_job(**request)
    described = sagemaker.describe_training_job(TrainingJobName="vision-torch-1")
    assert described["AlgorithmSpecification"]["TrainingImage"] == TORCH_GPU_IMAGE


# --- The API ---------------------------------------------------------------------------------------------


def test_the_api_creates_a_job_with_a_framework_and_its_dry_run_shows_the_image(
    api, aws_project, project, csv_artifact
):
    upload = io.BytesIO(SCRIPT)
    upload.name = "train.py"
    response = api.post(
        "/api/v1/projects/vision/training-jobs/",
        {
            "name": "torch-1",
            "source": upload,
            "channels": json.dumps([{"name": "train", "source_uri": csv_artifact.uri}]),
            "framework": "pytorch",
            "framework_version": "2.2",
            "instance_type": "ml.g5.xlarge",
        },
        format="multipart",
    )

    assert response.status_code == 201, response.data
    assert (response.data["framework"], response.data["framework_version"]) == ("pytorch", "2.2.0")
    detail = api.get("/api/v1/projects/vision/training-jobs/torch-1/").json()
    assert (detail["framework"], detail["framework_version"]) == ("pytorch", "2.2.0")
    preview = api.get("/api/v1/projects/vision/training-jobs/torch-1/sagemaker-request/").json()
    assert preview["error"] == ""
    assert preview["request"]["AlgorithmSpecification"]["TrainingImage"] == TORCH_GPU_IMAGE


def test_the_api_refuses_a_version_not_offered_on_its_field(api, project, csv_artifact):
    response = api.post(
        "/api/v1/projects/vision/training-jobs/",
        {
            "name": "torch-1",
            "source_uri": csv_artifact.uri.rsplit("/", 1)[0] + "/nope.py",
            "framework": "pytorch",
            "framework_version": "1.0",
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.data["framework_version"] == [
        "PyTorch 1.0 is not offered; choose one of 2.1.0, 2.2.0, 2.3.0."
    ]
    assert not Job.objects.exists()


def test_a_built_in_has_no_framework_in_the_api(api, project, csv_artifact):
    training_job_create(
        project=project,
        user=None,
        name="xgb-1",
        algorithm="xgboost",
        channels=[{"name": "train", "source_uri": csv_artifact.uri}],
        hyperparameters={"num_round": 5},
    )
    detail = api.get("/api/v1/projects/vision/training-jobs/xgb-1/").json()
    assert (detail["framework"], detail["framework_version"]) == (None, None)


def test_the_tuning_api_takes_the_framework_and_describes_it(api, project, csv_artifact):
    response = api.post(
        "/api/v1/projects/vision/tuning-jobs/",
        {
            "name": "torch-tune",
            "source_uri": own_code(project, None).spec["code"]["uri"],
            "channels": [{"name": "train", "source_uri": csv_artifact.uri}],
            "metric_definitions": LOSS,
            "objective": {"type": "Minimize", "metric_name": "loss"},
            "parameter_ranges": {
                "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.01", "MaxValue": "0.1"}]
            },
            "resource_limits": {"max_number_of_training_jobs": 2},
            "framework": "pytorch",
            "framework_version": "2.1",
        },
        format="json",
    )

    assert response.status_code == 201, response.data
    definition = api.get("/api/v1/projects/vision/tuning-jobs/torch-tune/").json()["training_job_definition"]
    assert (definition["framework"], definition["framework_version"]) == ("pytorch", "2.1.0")


# --- The local backend ignores it --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_local_backend_runs_your_code_whatever_the_framework(project, admin_user, csv_artifact):
    job = own_code(
        project,
        admin_user,
        framework="pytorch",
        framework_version="2.3",
        channels=[{"name": "train", "source_uri": csv_artifact.uri}],
        metric_definitions=LOSS,
    )

    job_execute(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.failure_reason
    assert job.backend == Backend.LOCAL
    assert any(item["name"] == "model" for item in job.outputs)


# --- The forms ---------------------------------------------------------------------------------------------


def test_the_training_form_offers_the_framework_for_your_code(project, editor_user):
    html = client_for(editor_user).get(reverse("jobs:training-create", args=["vision"])).content.decode()

    assert "Framework (on SageMaker)" in html
    select = html.split('<select name="framework"', 1)[1].split("</select>", 1)[0]
    options = re.findall(r'<option value="([^"]+)"( selected)?>([^<]+)</option>', select)
    assert options == [
        ("sklearn", " selected", "scikit-learn"),
        ("pytorch", "", "PyTorch"),
        ("tensorflow", "", "TensorFlow"),
        ("xgboost", "", "XGBoost"),
    ]
    assert '<datalist id="framework-versions-pytorch"><option value="2.3.0">' in html
    assert "ignores it" in html  # the local backend does
    # The fields sit with the other user-code fields, hidden while a built-in is chosen.
    code = html.split('<div data-source-kind="code"', 1)[1].split("</fieldset>", 1)[0]
    assert 'name="framework"' in code
    assert 'name="framework_version"' in code


def test_the_training_form_launches_and_clones_a_framework_choice(project, editor_user, csv_artifact):
    client = client_for(editor_user)
    data = code_form("torch-1", csv_artifact.uri, framework="pytorch", framework_version="2.1")

    response = client.post(reverse("jobs:training-create", args=["vision"]), data)

    assert response.status_code == 302, response.context["form"].errors
    job = Job.objects.get(name="torch-1")
    assert (job.spec["framework"], job.spec["framework_version"]) == ("pytorch", "2.1.0")
    clone = client.get(reverse("jobs:training-create", args=["vision"]), {"clone": "torch-1"})
    assert clone.context["form"].initial["framework"] == "pytorch"
    assert clone.context["form"].initial["framework_version"] == "2.1.0"
    assert '<option value="pytorch" selected>' in clone.content.decode()


def test_the_training_form_shows_a_version_not_offered_on_its_field(project, editor_user, csv_artifact):
    data = code_form("torch-1", csv_artifact.uri, framework="tensorflow", framework_version="1.15")

    response = client_for(editor_user).post(reverse("jobs:training-create", args=["vision"]), data)

    assert response.context["form"].errors["framework_version"] == [
        "TensorFlow 1.15 is not offered; choose one of 2.13.0, 2.14.1."
    ]
    assert not Job.objects.filter(kind=JobKind.TRAINING).exists()


def test_the_tuning_form_offers_the_framework_for_your_code(project, editor_user):
    html = client_for(editor_user).get(reverse("jobs:tuning-create", args=["vision"])).content.decode()

    assert "Framework (on SageMaker)" in html
    assert '<select name="framework"' in html
    assert "<div data-own-code>" in html  # your code is the form's first choice
    assert "jobs/framework.js" in html


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_a_browser_the_framework_fields_follow_the_code_and_suggest_the_frameworks_versions(
    live_server,
    page,  # noqa: F811
    project,
    admin_user,
):
    log_in(page, live_server, "alice")
    version = page.locator("input[name=framework_version]")

    page.goto(f"{live_server.url}/projects/vision/jobs/new/training/")
    assert not page.locator("select[name=framework]").is_visible()  # a built-in is the default
    page.check("input[name=source_kind][value=code]")
    assert page.locator("select[name=framework]").is_visible()
    assert (version.get_attribute("list"), version.get_attribute("placeholder")) == (
        "framework-versions-sklearn",
        "1.2-1",
    )
    page.select_option("select[name=framework]", "tensorflow")
    assert (version.get_attribute("list"), version.get_attribute("placeholder")) == (
        "framework-versions-tensorflow",
        "2.14.1",
    )

    page.goto(f"{live_server.url}/projects/vision/jobs/new/tuning/")
    assert page.locator("select[name=framework]").is_visible()  # your code is the first choice
    page.select_option("select[name=algorithm]", "xgboost")
    assert not page.locator("select[name=framework]").is_visible()
    page.select_option("select[name=algorithm]", "")
    page.select_option("select[name=framework]", "pytorch")
    assert version.get_attribute("placeholder") == "2.3.0"
