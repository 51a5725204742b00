"""What moto 5.2.5's SageMaker lacks, added to the in-process moto server for one test.

The ``moto_sagemaker`` fixture patches moto's classes (undone after the test, by ``monkeypatch``):

* **UpdateEndpoint**, which moto does not implement: the endpoint moves to the new config's
  variants and capture, and reads ``Updating`` on the next DescribeEndpoint, then ``InService``
  (SageMaker's blue/green update, without the wait);
* a record of each sagemaker-runtime **InvokeEndpoint** moto answers (endpoint name, headers,
  body), since moto keeps none, so a test can check what Studio passed through.

It also empties moto's SageMaker endpoints, configs, models and queued InvokeEndpoint results, which
live as long as the (session-wide) server, so tests do not see each other's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.models import sagemakerruntime_backends
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

ACCOUNT = "123456789012"  # moto's default account, which the key "testing" maps to
REGION = "us-east-1"


@dataclass
class MotoSageMaker:
    endpoint: str
    updating: set[str] = field(default_factory=set)
    invocations: list[dict] = field(default_factory=list)

    @property
    def backend(self) -> SageMakerModelBackend:
        return sagemaker_backends[ACCOUNT][REGION]

    def queue_result(
        self, body: str, content_type: str = "text/csv", variant: str = "", custom_attributes: str = ""
    ) -> None:
        """The answer of the next distinct InvokeEndpoint (moto's own API for canned results)."""
        result = {
            "Body": body,
            "ContentType": content_type,
            "InvokedProductionVariant": variant,
            "CustomAttributes": custom_attributes,
        }
        response = httpx.post(
            f"{self.endpoint}/moto-api/static/sagemaker/endpoint-results",
            json={"account_id": ACCOUNT, "region": REGION, "results": [result]},
        )
        response.raise_for_status()

    def reset(self) -> None:
        backend = self.backend
        backend.endpoints.clear()
        backend.endpoint_configs.clear()
        backend._models.clear()
        runtime = sagemakerruntime_backends[ACCOUNT][REGION]
        runtime.results.clear()
        runtime.results_queue.clear()
        self.updating.clear()
        self.invocations.clear()


def _patch(monkeypatch: pytest.MonkeyPatch, moto: MotoSageMaker) -> None:
    def update_endpoint_response(self: SageMakerResponse) -> ActionResult:
        arn = self.sagemaker_backend.update_endpoint(
            endpoint_name=self._get_param("EndpointName"),
            endpoint_config_name=self._get_param("EndpointConfigName"),
        )
        return ActionResult({"EndpointArn": arn})

    def update_endpoint(self: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str) -> str:
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(message=f"Could not find endpoint '{arn}'.")
        config = self.describe_endpoint_config(endpoint_config_name)  # "Could not find" if missing
        endpoint.endpoint_config_name = endpoint_config_name
        endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
        endpoint.data_capture_config = config["DataCaptureConfig"]
        endpoint.endpoint_status = "Updating"
        endpoint.last_modified_time = utcnow()
        moto.updating.add(endpoint_name)
        return endpoint.arn

    original_describe = SageMakerModelBackend.describe_endpoint

    def describe_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> dict:
        described = original_describe(self, endpoint_name)
        if endpoint_name in moto.updating:  # seen Updating once: the new fleet is in service
            moto.updating.discard(endpoint_name)
            self.endpoints[endpoint_name].endpoint_status = "InService"
        return described

    original_invoke = SageMakerRuntimeResponse.invoke_endpoint

    def invoke_endpoint(self: SageMakerRuntimeResponse):
        body = self.body if isinstance(self.body, bytes) else str(self.body or "").encode()
        moto.invocations.append(
            {
                "endpoint": self.path.split("/")[2],
                "headers": {key.lower(): value for key, value in self.headers.items()},
                "body": body,
            }
        )
        return original_invoke(self)

    monkeypatch.setattr(SageMakerResponse, "update_endpoint", update_endpoint_response, raising=False)
    monkeypatch.setattr(SageMakerModelBackend, "update_endpoint", update_endpoint, raising=False)
    monkeypatch.setattr(SageMakerModelBackend, "describe_endpoint", describe_endpoint)
    monkeypatch.setattr(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint)


@pytest.fixture
def moto_sagemaker(moto_server, monkeypatch) -> Iterator[MotoSageMaker]:
    """moto's SageMaker with UpdateEndpoint and a record of invocations, emptied before the test."""
    moto = MotoSageMaker(endpoint=moto_server["endpoint"])
    moto.reset()
    _patch(monkeypatch, moto)
    yield moto
    moto.reset()
