"""Invocations of endpoints on Amazon SageMaker: sagemaker-runtime's InvokeEndpoint, called from a
thread pool (boto3 blocks; the gateway's event loop must not), with one client per project's AWS
settings, built once and rebuilt when those settings change.

SageMaker's answers come back as they are; its errors become the gateway's in a caller's words:
the model's own error is a 424 with its message, a bad request a 400, throttling a 429, and what
Studio's AWS settings cause (access denied, no credentials) a 502 that says what to fix.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from botocore.config import Config
from django.conf import settings

from cloud.clients import aws_client, retry_config
from cloud.errors import ACCESS_CODES, AWS_ERRORS, THROTTLING_CODES, aws_failure
from endpoints.gateway.routes import SageMakerTarget

logger = logging.getLogger(__name__)

# Calls in flight at once per gateway process (each holds a thread and a pooled connection).
INVOKE_THREADS = 32
# botocore's own tries of one invocation (throttling, transient errors) before the caller hears.
INVOKE_MAX_ATTEMPTS = 3
CONNECT_TIMEOUT_SECONDS = 5.0


@dataclass
class RuntimeAnswer:
    """What InvokeEndpoint said, or the error the caller gets instead (``status`` ≠ 200)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    variant: str = ""
    custom_attributes: str = ""
    model_ms: float = 0.0
    error: str = ""  # the error code
    message: str = ""
    retry_after: bool = False

    @classmethod
    def refused(cls, status: int, error: str, message: str, *, retry_after: bool = False) -> RuntimeAnswer:
        return cls(status, b"", error=error, message=message, retry_after=retry_after)


def invoke_request(
    target: SageMakerTarget,
    *,
    body: bytes,
    content_type: str,
    accept: str = "",
    custom_attributes: str = "",
    target_variant: str = "",
    inference_id: str = "",
) -> dict:
    """InvokeEndpoint's arguments: the caller's headers passed through, the empty ones left out."""
    request = {"EndpointName": target.endpoint_name, "Body": body, "ContentType": content_type}
    optional = {
        "Accept": accept,
        "CustomAttributes": custom_attributes,
        "TargetVariant": target_variant,
        "InferenceId": inference_id,
    }
    request.update({key: value for key, value in optional.items() if value})
    return request


def error_answer(exc: Exception, endpoint: str) -> RuntimeAnswer:
    """An InvokeEndpoint failure as the status, code and message the caller gets."""
    failure = aws_failure(exc, action=f"Invoking SageMaker endpoint {endpoint}")
    response = getattr(exc, "response", {}) or {}
    message = str(response.get("Error", {}).get("Message", "")) or failure.reason
    http = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    code = failure.code
    if code == "ModelError":
        log = response.get("LogStreamArn")
        return RuntimeAnswer.refused(424, "ModelError", f"{message} (log stream {log})" if log else message)
    if code in THROTTLING_CODES or code == "ModelNotReadyException":
        return RuntimeAnswer.refused(429, code, message, retry_after=True)
    if code in ("ValidationError", "ValidationException"):
        return RuntimeAnswer.refused(400, "ValidationError", message)
    if code in ACCESS_CODES or code in ("NoCredentials", "SecretUnreadable"):
        return RuntimeAnswer.refused(502, "AccessDeniedException", failure.reason)
    if failure.retryable:
        return RuntimeAnswer.refused(503, "ServiceUnavailable", failure.reason, retry_after=True)
    if 400 <= http < 500:
        return RuntimeAnswer.refused(http, code, message)
    return RuntimeAnswer.refused(502, code or "InternalFailure", failure.reason)


class SageMakerRuntime:
    """sagemaker-runtime clients by AWS settings, and the threads that call them."""

    def __init__(self, threads: int = INVOKE_THREADS) -> None:
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sagemaker-invoke")
        self._threads = threads
        self._clients: dict[int, tuple[str, object]] = {}
        self._lock = threading.Lock()

    def client(self, target: SageMakerTarget):
        """The cached client for the target's settings, rebuilt once they changed."""
        key = target.aws.pk
        with self._lock:
            cached = self._clients.get(key)
        if cached is not None and cached[0] == target.version:
            return cached[1]
        config = retry_config().merge(
            Config(
                retries={
                    "mode": "standard",
                    "max_attempts": min(INVOKE_MAX_ATTEMPTS, settings.STUDIO_AWS_MAX_ATTEMPTS),
                },
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                read_timeout=settings.STUDIO_INVOCATION_TIMEOUT_SECONDS,
                max_pool_connections=self._threads,
            )
        )
        client = aws_client(target.aws, "sagemaker-runtime", config=config)
        with self._lock:
            self._clients[key] = (target.version, client)
        return client

    def invoke(self, target: SageMakerTarget, request: dict) -> RuntimeAnswer:
        """One InvokeEndpoint (blocking: run it in ``pool``)."""
        if target.aws is None:
            return RuntimeAnswer.refused(
                503,
                "ServiceUnavailable",
                "The project has no AWS settings any more; Studio cannot reach SageMaker.",
            )
        started = time.perf_counter()
        try:
            response = self.client(target).invoke_endpoint(**request)
            body = response["Body"].read()
        except AWS_ERRORS as exc:
            answer = error_answer(exc, target.endpoint_name)
            answer.model_ms = (time.perf_counter() - started) * 1000
            return answer
        except Exception as exc:  # a broken answer must still reach the caller as one
            logger.exception("InvokeEndpoint failed", extra={"endpoint": target.endpoint_name})
            return RuntimeAnswer.refused(502, "InternalFailure", f"Calling SageMaker failed: {exc}")
        return RuntimeAnswer(
            200,
            body,
            response.get("ContentType") or "application/octet-stream",
            response.get("InvokedProductionVariant", ""),
            response.get("CustomAttributes", ""),
            (time.perf_counter() - started) * 1000,
        )

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
