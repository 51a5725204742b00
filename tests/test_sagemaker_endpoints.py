"""Models and endpoints on Amazon SageMaker (``backend="sagemaker"``), against moto's server on
127.0.0.1 (never AWS), with botocore's Stubber where moto lacks a failure that must be forced.

Studio's API creates, updates, re-weights and deletes an endpoint; a chain of steps (the
``endpoints.sagemaker_sync`` task, driven here step by step without the waits) sends CreateModel,
CreateEndpointConfig, CreateEndpoint, UpdateEndpoint, DeleteEndpoint... and follows
DescribeEndpoint; what moto received is read back with its own Describe calls. Invocations go
through Studio's invocation URL to sagemaker-runtime's InvokeEndpoint.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from django.db import OperationalError
from django.urls import reverse

from cloud.models import AwsSettings
from endpoints.gateway.app import Gateway, Invocation
from endpoints.gateway.routes import EndpointRoute, SageMakerTarget, VariantRoute
from endpoints.models import Endpoint, EndpointEvent, EndpointStatus, ServingInstance
from endpoints.services import sagemaker as sagemaker_service
from endpoints.services.sagemaker import (
    endpoint_sagemaker_sync,
    endpoints_sagemaker_reap,
    sagemaker_name,
)
from endpoints.serving.supervisor import Supervisor
from endpoints.tasks import sagemaker_sync
from jobs.backends.sagemaker.requests import SAGEMAKER_NAME
from studio.services import api_key_create
from tests.aws_support import ROLE_ARN
from tests.conftest import PASSWORD, api_client_for
from tests.moto_extensions import moto_sagemaker  # noqa: F401 (a fixture: moto with UpdateEndpoint)
from tests.serving_support import constant_handler_archive, wait_until

BASE = "/api/v1/projects/vision"
ARN = "arn:aws:sagemaker:us-east-1:123456789012"


# --- helpers -----------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def sent(monkeypatch) -> list[tuple[list, dict]]:
    """The ``endpoints.sagemaker_sync`` tasks Studio sent, kept here instead of going to a broker."""
    calls: list[tuple[list, dict]] = []
    monkeypatch.setattr(sagemaker_sync, "apply_async", lambda args, **options: calls.append((args, options)))
    return calls


def drive(endpoint: Endpoint, *, max_steps: int = 25) -> Endpoint | None:
    """Run the endpoint's chain step by step, as the worker would without the waits, until it ends;
    the row then (None once deleted)."""
    delay = 0.0
    for _ in range(max_steps):
        row = Endpoint.objects.filter(pk=endpoint.pk).first()
        if row is None or not row.remote.get("chain"):
            return row
        delay = endpoint_sagemaker_sync(endpoint_id=row.pk, chain=row.remote["chain"], last_delay=delay)
        if delay is None:
            return Endpoint.objects.filter(pk=endpoint.pk).first()
    raise AssertionError(f"{endpoint.name} still moving after {max_steps} steps")


def upload_model(api, name: str = "scorer", answer: str = "0.5") -> dict:
    archive = constant_handler_archive(answer)
    response = api.post(f"{BASE}/models/", {"name": name, "model_file": archive}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def create_config(api, name: str, variants: list[dict], **extra) -> dict:
    response = api.post(
        f"{BASE}/endpoint-configs/", {"name": name, "variants": variants, **extra}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def create_endpoint(api, name: str, config: str, backend: str = "sagemaker") -> dict:
    response = api.post(
        f"{BASE}/endpoints/", {"name": name, "endpoint_config": config, "backend": backend}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def operations(endpoint: Endpoint) -> list[str]:
    return [entry["operation"] for entry in endpoint.remote.get("requests", [])]


def sagemaker_raises(call, *args, **kwargs) -> str:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]["Message"]


@pytest.fixture
def stubbed(monkeypatch) -> Iterator[Stubber]:
    """SageMaker's control plane as botocore's Stubber answers it (S3 staging still goes to moto)."""
    client = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    real = sagemaker_service.aws_client
    monkeypatch.setattr(
        sagemaker_service,
        "aws_client",
        lambda aws, service, **kwargs: client if service == "sagemaker" else real(aws, service, **kwargs),
    )
    with Stubber(client) as stubber:
        yield stubber


def described(name: str, status: str, *, config: str = "", reason: str = "") -> dict:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    answer = {
        "EndpointName": name,
        "EndpointArn": f"{ARN}:endpoint/{name}",
        "EndpointStatus": status,
        "CreationTime": now,
        "LastModifiedTime": now,
    }
    if config:
        answer["EndpointConfigName"] = config
    if reason:
        answer["FailureReason"] = reason
    return answer


def stub_creates(stubber: Stubber, name: str) -> None:
    stubber.add_response("create_model", {"ModelArn": f"{ARN}:model/m"})
    stubber.add_response("create_endpoint_config", {"EndpointConfigArn": f"{ARN}:endpoint-config/c"})
    stubber.add_response("create_endpoint", {"EndpointArn": f"{ARN}:endpoint/{name}"})


@pytest.fixture
def deployed(aws_project, moto_sagemaker, api):  # noqa: F811 (the fixture imported above)
    """A model, a one-variant config and a SageMaker endpoint row (Creating, nothing sent yet)."""
    upload_model(api)
    create_config(api, "live-config", [{"name": "main", "model": "scorer", "instance_type": "ml.m5.large"}])
    create_endpoint(api, "live", "live-config")
    return Endpoint.objects.get(name="live")


# --- names -------------------------------------------------------------------------------------------


def test_names_fit_sagemakers_rules_and_long_ones_stay_distinct():
    assert sagemaker_name("vision", "churn-live") == "vision-churn-live"
    long_a = sagemaker_name("a" * 40, "b" * 40, "config-1")
    long_b = sagemaker_name("a" * 40, "b" * 40, "config-2")

    assert len(long_a) <= 63
    assert SAGEMAKER_NAME.match(long_a)
    assert SAGEMAKER_NAME.match(long_b)
    assert long_a != long_b
    assert SAGEMAKER_NAME.match(sagemaker_name("x" * 62 + "-", "y"))


# --- the whole life of an endpoint, on moto ----------------------------------------------------------


@pytest.mark.fullstack
@pytest.mark.django_db
def test_a_model_and_an_endpoint_are_created_updated_reweighted_and_deleted_on_sagemaker(
    aws_project,
    moto_sagemaker,  # noqa: F811
    sagemaker,
    api,
):
    upload_model(api)
    create_config(
        api,
        "live-config",
        [{"name": "main", "model": "scorer", "instance_type": "ml.m5.large", "instance_count": 2}],
        data_capture={"sampling_percentage": 50, "capture_modes": ["Input", "Output"]},
    )
    created = create_endpoint(api, "live", "live-config")
    assert created["backend"] == "sagemaker"
    assert created["status"] == "Creating"

    endpoint = drive(Endpoint.objects.get(name="live"))

    assert endpoint.status == EndpointStatus.IN_SERVICE, endpoint.failure_reason
    assert operations(endpoint) == ["CreateModel", "CreateEndpointConfig", "CreateEndpoint"]
    names = endpoint.remote
    assert names["endpoint_name"] == "vision-live"
    model = sagemaker.describe_model(ModelName=names["models"]["scorer"])
    sent_model = endpoint.remote["requests"][0]["request"]
    assert model["PrimaryContainer"]["Image"] == sent_model["PrimaryContainer"]["Image"]
    assert ".dkr.ecr.us-east-1.amazonaws.com/" in model["PrimaryContainer"]["Image"]
    assert model["ExecutionRoleArn"] == ROLE_ARN
    assert model["PrimaryContainer"]["ModelDataUrl"].startswith(f"s3://{aws_project.bucket}/studio/vision/")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=names["endpoint_config_name"])
    [variant] = config["ProductionVariants"]
    assert variant["VariantName"] == "main"
    assert variant["ModelName"] == names["models"]["scorer"]
    assert variant["InstanceType"] == "ml.m5.large"
    assert variant["InitialInstanceCount"] == 2
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == 50
    assert capture["DestinationS3Uri"] == f"s3://{aws_project.bucket}/studio/vision/data-capture"
    assert [option["CaptureMode"] for option in capture["CaptureOptions"]] == ["Input", "Output"]
    assert capture["CaptureContentTypeHeader"]["CsvContentTypes"] == ["text/csv"]
    on_sagemaker = sagemaker.describe_endpoint(EndpointName="vision-live")
    assert on_sagemaker["EndpointStatus"] == "InService"
    assert on_sagemaker["EndpointConfigName"] == names["endpoint_config_name"]
    detail = api.get(f"{BASE}/endpoints/live/").json()
    assert detail["sagemaker"]["endpoint_arn"] == on_sagemaker["EndpointArn"]
    assert [event["status"] for event in detail["events"]] == ["Creating", "InService"]
    assert detail["production_variants"][0]["current_instance_count"] == 2

    # Blue/green to a config with two variants: Updating while SageMaker updates, then the swap.
    create_config(
        api,
        "live-config-2",
        [
            {"name": "a", "model": "scorer", "instance_type": "ml.c5.xlarge"},
            {"name": "b", "model": "scorer", "instance_type": "ml.m5.xlarge", "initial_weight": 3},
        ],
    )
    response = api.patch(f"{BASE}/endpoints/live/", {"endpoint_config": "live-config-2"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "Updating"
    old_config = names["endpoint_config_name"]

    endpoint = drive(endpoint)

    assert endpoint.status == EndpointStatus.IN_SERVICE, endpoint.failure_reason
    assert endpoint.config.name == "live-config-2"
    assert endpoint.pending_config is None
    assert endpoint.weights == {"a": 1.0, "b": 3.0}
    assert operations(endpoint)[3:] == ["CreateEndpointConfig", "UpdateEndpoint", "DeleteEndpointConfig"]
    on_sagemaker = sagemaker.describe_endpoint(EndpointName="vision-live")
    assert on_sagemaker["EndpointConfigName"] == endpoint.remote["endpoint_config_name"] != old_config
    new_config = sagemaker.describe_endpoint_config(
        EndpointConfigName=endpoint.remote["endpoint_config_name"]
    )
    assert [v["InstanceType"] for v in new_config["ProductionVariants"]] == ["ml.c5.xlarge", "ml.m5.xlarge"]
    assert "DataCaptureConfig" not in new_config or not new_config["DataCaptureConfig"]
    assert "Could not find" in sagemaker_raises(
        sagemaker.describe_endpoint_config, EndpointConfigName=old_config
    )
    assert "SageMaker endpoint vision-live runs live-config-2" in endpoint.events.last().message

    # New weights go to SageMaker at once.
    response = api.post(f"{BASE}/endpoints/live/weights/", {"weights": {"a": 2, "b": 0}}, format="json")
    assert response.status_code == 200, response.content
    weights = {
        v["VariantName"]: v["CurrentWeight"]
        for v in sagemaker.describe_endpoint(EndpointName="vision-live")["ProductionVariants"]
    }
    assert weights == {"a": 2.0, "b": 0.0}
    endpoint.refresh_from_db()
    assert endpoint.weights == {"a": 2.0, "b": 0.0}
    assert endpoint.remote["requests"][-1]["request"]["DesiredWeightsAndCapacities"] == [
        {"VariantName": "a", "DesiredWeight": 2.0},
        {"VariantName": "b", "DesiredWeight": 0.0},
    ]

    # Delete: gone on SageMaker (endpoint and Studio's configs), then in Studio.
    assert api.delete(f"{BASE}/endpoints/live/").status_code == 202
    assert Endpoint.objects.get(pk=endpoint.pk).status == EndpointStatus.DELETING

    assert drive(endpoint) is None

    assert "Could not find" in sagemaker_raises(sagemaker.describe_endpoint, EndpointName="vision-live")
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert api.get(f"{BASE}/endpoints/live/").status_code == 404


@pytest.mark.django_db
def test_creating_is_sent_after_commit_and_the_task_follows_with_back_off(
    aws_project,
    moto_sagemaker,  # noqa: F811
    api,
    sent,
    django_capture_on_commit_callbacks,
    settings,
):
    upload_model(api)
    create_config(api, "live-config", [{"name": "main", "model": "scorer"}])
    with django_capture_on_commit_callbacks(execute=True):
        create_endpoint(api, "live", "live-config")
    endpoint = Endpoint.objects.get(name="live")
    [(args, options)] = sent
    assert args == [endpoint.pk, endpoint.remote["chain"]]
    assert options == {}

    sagemaker_sync(*args)  # CreateModel, CreateEndpointConfig, CreateEndpoint: poll soon after

    assert sent[-1] == (
        [endpoint.pk, args[1], settings.STUDIO_SAGEMAKER_POLL_SECONDS],
        {"countdown": settings.STUDIO_SAGEMAKER_POLL_SECONDS},
    )
    sagemaker_sync(*sent[-1][0])  # InService: the chain ends
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.IN_SERVICE
    assert "chain" not in endpoint.remote
    assert len(sent) == 2

    sagemaker_sync(*args)  # a stale step (redelivered) does nothing
    assert len(sent) == 2
    assert endpoint.events.count() == 2


@pytest.mark.django_db
def test_a_delete_while_creating_takes_over_the_creates_chain(deployed, sagemaker, api):
    create_chain = deployed.remote["chain"]
    assert endpoint_sagemaker_sync(endpoint_id=deployed.pk, chain=create_chain) is not None  # sent
    assert api.delete(f"{BASE}/endpoints/live/").status_code == 202

    assert endpoint_sagemaker_sync(endpoint_id=deployed.pk, chain=create_chain) is None  # ended
    assert drive(deployed) is None
    assert "Could not find" in sagemaker_raises(sagemaker.describe_endpoint, EndpointName="vision-live")


# --- invocations through Studio's URL ----------------------------------------------------------------


@pytest.mark.fullstack
def test_invocations_reach_sagemaker_through_studios_invocation_url(
    project,
    admin_user,
    aws_project,
    moto_sagemaker,  # noqa: F811
    serving,
):
    api = api_client_for(admin_user)
    upload_model(api)
    create_config(
        api, "live-config", [{"name": "main", "model": "scorer"}], data_capture={"sampling_percentage": 100}
    )
    create_endpoint(api, "live", "live-config")
    endpoint = drive(Endpoint.objects.get(name="live"))
    assert endpoint.status == EndpointStatus.IN_SERVICE, endpoint.failure_reason
    moto_sagemaker.queue_result("0.42\n", "text/csv", "main", "trace=1")
    _, raw_key = api_key_create(user=admin_user, name="invoke")
    url = serving.invocations("vision", "live")

    with serving.client(raw_key) as http:
        wait_until(lambda: serving_ready(http, url), 10, "the gateway routes the endpoint")
        response = http.post(
            url,
            content=b"1,2,3\n",
            headers={
                "Content-Type": "text/csv",
                "Accept": "text/csv",
                "X-Amzn-SageMaker-Custom-Attributes": "trace=1",
                "X-Amzn-SageMaker-Target-Variant": "main",
                "X-Amzn-SageMaker-Inference-Id": "req-7",
            },
        )

    assert response.status_code == 200, response.text
    assert response.text == "0.42\n"
    assert response.headers["content-type"] == "text/csv"
    assert response.headers["x-amzn-invoked-production-variant"] == "main"
    assert response.headers["x-amzn-sagemaker-custom-attributes"] == "trace=1"
    call = moto_sagemaker.invocations[-1]
    assert call["endpoint"] == "vision-live"
    assert call["body"] == b"1,2,3\n"
    assert call["headers"]["content-type"] == "text/csv"
    assert call["headers"]["accept"] == "text/csv"
    assert call["headers"]["x-amzn-sagemaker-target-variant"] == "main"
    assert call["headers"]["x-amzn-sagemaker-inference-id"] == "req-7"
    assert call["headers"]["x-amzn-sagemaker-custom-attributes"] == "trace=1"
    wait_until(
        lambda: sum(m.invocations for m in endpoint.metrics.all()) >= 1, 10, "the invocation is counted"
    )
    assert not ServingInstance.objects.filter(endpoint=endpoint).exists()


def serving_ready(http, url: str) -> bool:
    """True once the gateway's table routes ``url`` (a probe to an unknown variant is refused with a
    400 naming the variants, not a 404 or a not-InService 400)."""
    response = http.post(url, content=b"x", headers={"X-Amzn-SageMaker-Target-Variant": "probe"})
    return response.status_code == 400 and "has no variant" in response.text


def sagemaker_route(aws: AwsSettings) -> EndpointRoute:
    return EndpointRoute.build(
        (VariantRoute("main", 1.0, (), "scorer"),),
        endpoint_id=1,
        project="vision",
        name="live",
        status="InService",
        shadow=None,
        capture={"enabled": True},
        sagemaker=SageMakerTarget("vision-live", aws, "v1"),
    )


@pytest.mark.parametrize(
    ("code", "status", "http", "error", "words"),
    [
        (
            "ModelError",
            424,
            424,
            "ModelError",
            "answered with an error: Received client error (400) from primary",
        ),
        ("ValidationError", 400, 400, "ValidationError", "Received client error (400) from primary"),
        ("ThrottlingException", 400, 429, "ThrottlingException", "Rate exceeded"),
        ("ModelNotReadyException", 429, 429, "ModelNotReadyException", ""),
        ("AccessDeniedException", 400, 502, "AccessDeniedException", "access denied"),
        ("ServiceUnavailable", 503, 503, "ServiceUnavailable", "transient error"),
    ],
)
def test_sagemaker_runtime_errors_reach_the_caller_in_their_words(code, status, http, error, words):
    aws = AwsSettings(pk=1, region="us-east-1", role_arn=ROLE_ARN, bucket="b", access_key_id="k")
    client = boto3.client(
        "sagemaker-runtime", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    gateway = Gateway()
    gateway.routes.table = {("vision", "live"): sagemaker_route(aws)}
    gateway.sagemaker.client = lambda target: client
    message = {
        "ThrottlingException": "Rate exceeded",
        "AccessDeniedException": "not authorized to perform: sagemaker:InvokeEndpoint",
    }.get(code, 'Received client error (400) from primary with message "bad row"')
    try:
        with Stubber(client) as stubber:
            stubber.add_client_error(
                "invoke_endpoint",
                service_error_code=code,
                service_message=message,
                http_status_code=status,
                expected_params={
                    "EndpointName": "vision-live",
                    "Body": b"1,2",
                    "ContentType": "text/csv",
                    "InferenceId": "r1",
                },
            )
            outcome = asyncio.run(gateway.invoke(Invocation("vision", "live", b"1,2", inference_id="r1"), {}))
            stubber.assert_no_pending_responses()
    finally:
        gateway.sagemaker.stop()

    assert outcome.status == http
    answer = json.loads(outcome.body)
    assert answer["error"] == error
    assert words.lower() in answer["message"].lower()
    minute = next(iter(gateway.metrics.minutes.values()))
    assert minute.invocations == 1
    assert (minute.errors_4xx, minute.errors_5xx) == ((1, 0) if http < 500 else (0, 1))


def test_one_runtime_client_per_aws_settings_rebuilt_when_they_change(monkeypatch):
    from endpoints.gateway import sagemaker as runtime_module

    built = []
    monkeypatch.setattr(
        runtime_module, "aws_client", lambda aws, service, config: built.append(aws) or object()
    )
    runtime = runtime_module.SageMakerRuntime(threads=1)
    aws = AwsSettings(pk=7, region="us-east-1")
    try:
        first = runtime.client(SageMakerTarget("e", aws, "v1"))
        assert runtime.client(SageMakerTarget("f", aws, "v1")) is first
        assert runtime.client(SageMakerTarget("e", aws, "v2")) is not first
    finally:
        runtime.stop()
    assert len(built) == 2


# --- failures, forced with the Stubber ---------------------------------------------------------------


@pytest.mark.django_db
def test_access_denied_on_create_endpoint_fails_it_with_a_readable_reason(deployed, stubbed):
    stubbed.add_response("create_model", {"ModelArn": f"{ARN}:model/m"})
    stubbed.add_response("create_endpoint_config", {"EndpointConfigArn": f"{ARN}:endpoint-config/c"})
    stubbed.add_client_error(
        "create_endpoint",
        service_error_code="AccessDeniedException",
        service_message="User: arn:aws:iam::123456789012:user/studio is not authorized to perform: "
        "sagemaker:CreateEndpoint",
        http_status_code=400,
    )

    endpoint = drive(deployed)

    assert endpoint.status == EndpointStatus.FAILED
    assert endpoint.failure_reason.startswith(
        "CreateEndpoint vision-live: access denied (AccessDeniedException)"
    )
    assert "not authorized to perform: sagemaker:CreateEndpoint" in endpoint.failure_reason
    assert "IAM policy" in endpoint.failure_reason
    assert endpoint.remote["requests"][-1]["error"] == "AccessDeniedException"
    assert "chain" not in endpoint.remote
    stubbed.assert_no_pending_responses()


@pytest.mark.django_db
def test_a_resource_limit_fails_the_endpoint_and_says_what_to_do(deployed, stubbed):
    stubbed.add_response("create_model", {"ModelArn": f"{ARN}:model/m"})
    stubbed.add_client_error(
        "create_endpoint_config",
        service_error_code="ResourceLimitExceeded",
        service_message="The account-level service limit 'ml.m5.large for endpoint usage' is 0 Instances",
        http_status_code=400,
    )

    endpoint = drive(deployed)

    assert endpoint.status == EndpointStatus.FAILED
    assert "service quota is reached" in endpoint.failure_reason
    assert "ml.m5.large for endpoint usage" in endpoint.failure_reason


@pytest.mark.django_db
def test_throttling_is_retried_later_and_the_endpoint_then_comes_into_service(deployed, stubbed):
    stubbed.add_client_error(
        "create_model",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
        http_status_code=400,
    )
    first = endpoint_sagemaker_sync(endpoint_id=deployed.pk, chain=deployed.remote["chain"])
    deployed.refresh_from_db()
    assert first is not None  # tried again later, not failed
    assert deployed.status == EndpointStatus.CREATING
    assert "throttled" in deployed.remote["last_retry_reason"]
    assert deployed.remote["retries"] == 1

    stub_creates(stubbed, "vision-live")
    stubbed.add_response("describe_endpoint", described("vision-live", "Creating"))
    stubbed.add_response("describe_endpoint", described("vision-live", "InService"))
    endpoint = drive(deployed)

    assert endpoint.status == EndpointStatus.IN_SERVICE
    assert operations(endpoint) == ["CreateModel", "CreateModel", "CreateEndpointConfig", "CreateEndpoint"]
    assert "retries" not in endpoint.remote
    stubbed.assert_no_pending_responses()


@pytest.mark.django_db
def test_existing_models_are_reused_but_someone_elses_endpoint_name_is_refused(deployed, stubbed):
    stubbed.add_client_error(
        "create_model",
        service_error_code="ValidationException",
        service_message=f'Cannot create already existing model "{ARN}:model/m".',
        http_status_code=400,
    )
    stubbed.add_response("create_endpoint_config", {"EndpointConfigArn": f"{ARN}:endpoint-config/c"})
    stubbed.add_client_error(
        "create_endpoint",
        service_error_code="ValidationException",
        service_message="Cannot create already existing endpoint.",
        http_status_code=400,
    )
    stubbed.add_response("describe_endpoint", described("vision-live", "InService", config="not-studios"))

    endpoint = drive(deployed)

    assert endpoint.status == EndpointStatus.FAILED
    assert "already exists in the account and was not made by this Studio endpoint" in endpoint.failure_reason
    assert list(endpoint.remote["models"]) == ["scorer"]  # made before: not made again
    assert operations(endpoint) == ["CreateModel", "CreateEndpointConfig", "CreateEndpoint"]
    stubbed.assert_no_pending_responses()


@pytest.mark.django_db
def test_a_failed_endpoint_on_sagemaker_fails_with_its_failure_reason(deployed, stubbed):
    stub_creates(stubbed, "vision-live")
    reason = "The primary container for production variant main did not pass the ping health check."
    stubbed.add_response("describe_endpoint", described("vision-live", "Failed", reason=reason))

    endpoint = drive(deployed)

    assert endpoint.status == EndpointStatus.FAILED
    assert endpoint.failure_reason == f"SageMaker endpoint vision-live failed: {reason}"
    assert EndpointEvent.objects.filter(endpoint=endpoint, status="Failed", message__contains=reason).exists()


@pytest.mark.django_db
def test_a_refused_update_leaves_the_endpoint_serving_its_old_config(deployed, stubbed, api):
    stub_creates(stubbed, "vision-live")
    stubbed.add_response("describe_endpoint", described("vision-live", "InService"))
    drive(deployed)
    create_config(api, "bigger", [{"name": "main", "model": "scorer", "instance_type": "ml.m5.4xlarge"}])
    assert (
        api.patch(f"{BASE}/endpoints/live/", {"endpoint_config": "bigger"}, format="json").status_code == 200
    )
    stubbed.add_response("create_endpoint_config", {"EndpointConfigArn": f"{ARN}:endpoint-config/b"})
    stubbed.add_client_error(
        "update_endpoint",
        service_error_code="ResourceLimitExceeded",
        service_message="The account-level service limit 'ml.m5.4xlarge for endpoint usage' is 0 Instances",
        http_status_code=400,
    )

    endpoint = drive(deployed)

    assert endpoint.status == EndpointStatus.IN_SERVICE
    assert endpoint.config.name == "live-config"
    assert endpoint.pending_config is None
    assert endpoint.failure_reason.startswith(
        "Update to bigger failed, still serving live-config: UpdateEndpoint"
    )
    assert "service quota is reached" in endpoint.failure_reason


@pytest.mark.django_db
def test_weights_sagemaker_refuses_are_a_502_with_the_reason_and_change_nothing(deployed, stubbed, api):
    stub_creates(stubbed, "vision-live")
    stubbed.add_response("describe_endpoint", described("vision-live", "InService"))
    drive(deployed)
    stubbed.add_client_error(
        "update_endpoint_weights_and_capacities",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform: sagemaker:UpdateEndpointWeightsAndCapacities",
        http_status_code=400,
    )

    response = api.post(f"{BASE}/endpoints/live/weights/", {"weights": {"main": 2}}, format="json")

    assert response.status_code == 502
    assert "access denied" in response.json()["weights"][0]
    deployed.refresh_from_db()
    assert deployed.weights == {"main": 1.0}
    assert deployed.remote["requests"][-1]["error"] == "AccessDeniedException"


@pytest.mark.django_db
def test_deleting_an_endpoint_that_never_reached_sagemaker_needs_no_aws(deployed, api):
    AwsSettings.objects.filter(project=deployed.project).delete()

    assert api.delete(f"{BASE}/endpoints/live/").status_code == 202
    assert drive(deployed) is None


# --- what Studio refuses, and what ignores SageMaker endpoints ----------------------------------------


@pytest.mark.django_db
def test_sagemaker_needs_the_projects_ready_aws_settings(project, api, moto_server):
    upload_model(api)
    create_config(api, "c", [{"name": "main", "model": "scorer"}])

    response = api.post(f"{BASE}/endpoints/", {"name": "e", "endpoint_config": "c", "backend": "sagemaker"})
    assert response.status_code == 400
    assert "has no AWS settings" in response.json()["backend"][0]

    AwsSettings.objects.create(project=project, region="us-east-1", bucket="b")
    response = api.post(f"{BASE}/endpoints/", {"name": "e", "endpoint_config": "c", "backend": "sagemaker"})
    assert response.status_code == 400
    assert "execution role ARN" in response.json()["backend"][0]

    response = api.post(f"{BASE}/endpoints/", {"name": "e", "endpoint_config": "c", "backend": "gcp"})
    assert response.status_code == 400
    assert "backend" in response.json()
    assert not Endpoint.objects.exists()


@pytest.mark.django_db
def test_the_serving_supervisor_leaves_sagemaker_endpoints_alone(deployed, settings, tmp_path):
    settings.STUDIO_SERVING_DIR = tmp_path / "serving"
    supervisor = Supervisor(name="test-host")

    supervisor.tick()

    assert supervisor.processes == {}
    assert not ServingInstance.objects.exists()
    deployed.refresh_from_db()
    assert deployed.status == EndpointStatus.CREATING


@pytest.mark.django_db
def test_the_reaper_restarts_a_chain_that_went_quiet(deployed, sent, django_capture_on_commit_callbacks):
    fresh = deployed.remote["chain"]
    assert endpoints_sagemaker_reap() == 0  # polled just now
    Endpoint.objects.filter(pk=deployed.pk).update(
        remote={**deployed.remote, "polled_at": "2020-01-01T00:00:00+00:00"}
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert endpoints_sagemaker_reap() == 1

    deployed.refresh_from_db()
    assert deployed.remote["chain"] != fresh
    assert sent[-1][0] == [deployed.pk, deployed.remote["chain"]]


@pytest.mark.django_db
def test_the_reaper_restarts_at_most_a_batch_the_stalest_first(
    deployed, api, sent, monkeypatch, django_capture_on_commit_callbacks
):
    create_endpoint(api, "other", "live-config")
    other = Endpoint.objects.get(name="other")
    for row, polled in ((deployed, "2020-01-02T00:00:00+00:00"), (other, "2020-01-01T00:00:00+00:00")):
        row.refresh_from_db()
        Endpoint.objects.filter(pk=row.pk).update(remote={**row.remote, "polled_at": polled})
    monkeypatch.setattr(sagemaker_service, "REAP_BATCH", 1)

    with django_capture_on_commit_callbacks(execute=True):
        assert endpoints_sagemaker_reap() == 1
    assert sent[-1][0] == [other.pk, Endpoint.objects.get(pk=other.pk).remote["chain"]]
    with django_capture_on_commit_callbacks(execute=True):
        assert endpoints_sagemaker_reap() == 1
    assert sent[-1][0] == [deployed.pk, Endpoint.objects.get(pk=deployed.pk).remote["chain"]]
    assert endpoints_sagemaker_reap() == 0


@pytest.mark.django_db
def test_a_broker_down_between_steps_leaves_the_chain_to_the_reaper(deployed, monkeypatch, caplog):
    def refuse(args, **options):
        raise OSError("Connection refused")

    monkeypatch.setattr(sagemaker_sync, "apply_async", refuse)
    chain = deployed.remote["chain"]

    sagemaker_sync(deployed.pk, chain)  # CreateEndpoint sent; the next step cannot be queued

    deployed.refresh_from_db()
    assert deployed.status == EndpointStatus.CREATING
    assert deployed.remote["endpoint_sent"] is True
    assert deployed.remote["chain"] == chain
    assert "could not reach the broker" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("error", "fails"), [(OperationalError("database is locked"), False), (RuntimeError("a bug"), True)]
)
def test_a_database_error_propagates_without_failing_the_endpoint(deployed, monkeypatch, error, fails):
    def broken(self, last_delay: float) -> float | None:
        raise error

    monkeypatch.setattr(sagemaker_service._Sync, "create", broken)
    chain = deployed.remote["chain"]

    with pytest.raises(type(error)):
        endpoint_sagemaker_sync(endpoint_id=deployed.pk, chain=chain)

    deployed.refresh_from_db()
    if fails:  # truly unexpected: Failed with the reason, and raised for the worker's log
        assert deployed.status == EndpointStatus.FAILED
        assert "Internal error in Studio's SageMaker endpoint sync: RuntimeError: a bug" in (
            deployed.failure_reason
        )
    else:  # the database: nothing marked, the next step (or the reaper) tries again
        assert deployed.status == EndpointStatus.CREATING
        assert deployed.failure_reason == ""
        assert deployed.remote["chain"] == chain


# --- a delete racing a create or an update; AWS settings that change ----------------------------------


def interleave(monkeypatch, operation: str, meanwhile) -> list[str]:
    """Make ``meanwhile()`` run once, just before the step sends ``operation`` (its request already
    built): what happens when a user acts while a chain's call is in flight."""
    real_call = sagemaker_service._Sync.call
    done: list[str] = []

    def call(self, name: str, request: dict, *, record: bool = True) -> dict:
        if name == operation and not done:
            done.append(name)
            meanwhile()
        return real_call(self, name, request, record=record)

    monkeypatch.setattr(sagemaker_service._Sync, "call", call)
    return done


@pytest.mark.django_db
@pytest.mark.parametrize("delete_finishes", [True, False], ids=["row-gone", "row-deleting"])
def test_a_delete_while_create_endpoint_is_in_flight_deletes_what_the_create_made(
    deployed, sagemaker, api, monkeypatch, delete_finishes
):
    def delete() -> None:
        assert api.delete(f"{BASE}/endpoints/live/").status_code == 202
        if delete_finishes:  # DeleteEndpoint: not found; no configs known; the row goes
            assert drive(deployed) is None

    done = interleave(monkeypatch, "CreateEndpoint", delete)

    # CreateEndpoint succeeds after the delete: the step finds its chain taken and deletes again.
    assert endpoint_sagemaker_sync(endpoint_id=deployed.pk, chain=deployed.remote["chain"]) is None

    assert done == ["CreateEndpoint"]
    assert "Could not find" in sagemaker_raises(sagemaker.describe_endpoint, EndpointName="vision-live")
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    if not delete_finishes:
        row = Endpoint.objects.get(pk=deployed.pk)
        assert row.status == EndpointStatus.DELETING
        assert operations(row)[-2:] == ["DeleteEndpoint", "DeleteEndpointConfig"]
        assert drive(row) is None
    # The name is free again: deploying it anew works.
    create_endpoint(api, "live", "live-config")
    endpoint = drive(Endpoint.objects.get(name="live"))
    assert endpoint.status == EndpointStatus.IN_SERVICE, endpoint.failure_reason


@pytest.mark.django_db
def test_a_chain_taken_over_by_another_create_leaves_what_it_made_to_it(deployed, sagemaker, monkeypatch):
    interleave(monkeypatch, "CreateEndpoint", lambda: sagemaker_service.sagemaker_follow(deployed))

    assert endpoint_sagemaker_sync(endpoint_id=deployed.pk, chain=deployed.remote["chain"]) is None

    assert sagemaker.describe_endpoint(EndpointName="vision-live")["EndpointStatus"] == "InService"
    endpoint = drive(deployed)  # the new chain: everything "already exists", and is its own
    assert endpoint.status == EndpointStatus.IN_SERVICE, endpoint.failure_reason


@pytest.mark.django_db
def test_a_delete_while_update_endpoint_is_in_flight_deletes_the_config_the_update_made(
    deployed, sagemaker, api, monkeypatch
):
    assert drive(deployed).status == EndpointStatus.IN_SERVICE
    create_config(api, "bigger", [{"name": "main", "model": "scorer", "instance_type": "ml.m5.xlarge"}])
    assert (
        api.patch(f"{BASE}/endpoints/live/", {"endpoint_config": "bigger"}, format="json").status_code == 200
    )
    update_chain = Endpoint.objects.get(pk=deployed.pk).remote["chain"]

    def delete() -> None:
        assert api.delete(f"{BASE}/endpoints/live/").status_code == 202
        assert drive(deployed) is None  # the endpoint and the config it knew of are deleted

    interleave(monkeypatch, "UpdateEndpoint", delete)

    # UpdateEndpoint: not found; the config made for it is unknown to the delete: deleted here.
    assert endpoint_sagemaker_sync(endpoint_id=deployed.pk, chain=update_chain) is None

    assert "Could not find" in sagemaker_raises(sagemaker.describe_endpoint, EndpointName="vision-live")
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []


@pytest.mark.django_db
def test_an_endpoint_sent_to_sagemaker_keeps_its_row_when_the_project_loses_its_aws_settings(
    deployed, sagemaker, api
):
    assert drive(deployed).status == EndpointStatus.IN_SERVICE
    AwsSettings.objects.filter(project=deployed.project).delete()

    assert api.delete(f"{BASE}/endpoints/live/").status_code == 202
    endpoint = drive(deployed)

    assert endpoint is not None
    assert endpoint.status == EndpointStatus.FAILED
    reason = endpoint.failure_reason
    assert reason.startswith("Could not delete SageMaker endpoint vision-live: Project vision has no AWS")
    assert "may still run (and cost) in us-east-1" in reason
    assert "aws sagemaker delete-endpoint --endpoint-name vision-live --region us-east-1" in reason
    assert sagemaker.describe_endpoint(EndpointName="vision-live")["EndpointStatus"] == "InService"


@pytest.mark.django_db
def test_following_and_deleting_need_no_role_or_bucket_and_go_to_the_region_sent_to(
    deployed, aws_project, sagemaker, api
):
    assert drive(deployed).remote["region"] == "us-east-1"
    AwsSettings.objects.filter(pk=aws_project.pk).update(region="eu-west-1", role_arn="", bucket="")

    response = api.post(f"{BASE}/endpoints/live/weights/", {"weights": {"main": 2}}, format="json")
    assert response.status_code == 200, response.content
    [variant] = sagemaker.describe_endpoint(EndpointName="vision-live")["ProductionVariants"]
    assert variant["CurrentWeight"] == 2.0

    assert api.delete(f"{BASE}/endpoints/live/").status_code == 202
    assert drive(deployed) is None
    assert "Could not find" in sagemaker_raises(sagemaker.describe_endpoint, EndpointName="vision-live")


# --- pages -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_endpoint_page_shows_where_it_runs_and_the_requests_sent(deployed, client, admin_user):
    drive(deployed)
    client.login(username=admin_user.username, password=PASSWORD)

    html = client.get(reverse("endpoints:endpoint-detail", args=["vision", "live"])).content.decode()

    assert "Amazon SageMaker (us-east-1)" in html
    assert 'id="sagemaker-endpoint-name">vision-live<' in html
    assert "arn:aws:sagemaker:us-east-1:123456789012:endpoint/vision-live" in html
    assert "&quot;operation&quot;: &quot;CreateEndpoint&quot;" in html
    assert "No serving supervisor is running." not in html


@pytest.mark.django_db
def test_the_deploy_form_offers_sagemaker_and_says_what_is_missing(project, client, admin_user, api):
    upload_model(api)
    client.login(username=admin_user.username, password=PASSWORD)
    url = reverse("endpoints:deploy", args=["vision"])
    assert "Amazon SageMaker" in client.get(url).content.decode()

    response = client.post(
        url,
        {
            "model": "scorer",
            "variant_name": "AllTraffic",
            "instance_type": "ml.m5.large",
            "instance_count": "1",
            "backend": "sagemaker",
        },
    )

    assert response.status_code == 200
    assert "has no AWS settings" in " ".join(response.context["form"].errors["backend"])
    assert not Endpoint.objects.exists()
