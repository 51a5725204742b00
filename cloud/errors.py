"""AWS errors in a user's words, and whether trying again later can help."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from cloud.crypto import SecretUnreadable

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
    }
)
TRANSIENT_CODES = frozenset({"InternalFailure", "InternalError", "ServiceUnavailable", "RequestTimeout"})
ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
    }
)


@dataclass(frozen=True)
class AwsFailure:
    code: str
    reason: str
    retryable: bool


def aws_failure(exc: Exception, *, action: str) -> AwsFailure:
    """``action`` names what Studio was doing ("CreateTrainingJob", "uploading channel train")."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", "")).strip() or str(exc)
        if code in THROTTLING_CODES:
            return AwsFailure(code, f"{action}: AWS throttled the request ({code}): {message}", True)
        if (
            code in TRANSIENT_CODES
            or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
        ):
            return AwsFailure(code, f"{action}: AWS had a transient error ({code}): {message}", True)
        if code in ACCESS_CODES:
            return AwsFailure(
                code,
                f"{action}: access denied ({code}): {message}. Check the credentials and the IAM policy "
                "of the project's AWS settings.",
                False,
            )
        if code == "ResourceLimitExceeded":
            return AwsFailure(
                code,
                f"{action}: an AWS service quota is reached ({code}): {message}. Stop other jobs or "
                "endpoints, or ask AWS for a higher quota.",
                False,
            )
        if "role" in message.lower() and code == "ValidationException":
            return AwsFailure(
                code,
                f"{action}: SageMaker cannot use the execution role: {message}. Check the role ARN in the "
                "project's AWS settings and that it trusts sagemaker.amazonaws.com.",
                False,
            )
        return AwsFailure(code, f"{action}: {code}: {message}", False)
    if isinstance(exc, NoCredentialsError):
        return AwsFailure(
            "NoCredentials",
            f"{action}: no AWS credentials were found: store an access key in the project's AWS settings "
            "or give the workers credentials (environment, profile or instance role).",
            False,
        )
    if isinstance(exc, SecretUnreadable):
        return AwsFailure("SecretUnreadable", f"{action}: {exc}", False)
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return AwsFailure("Connection", f"{action}: AWS could not be reached: {exc}", True)
    if isinstance(exc, BotoCoreError):
        return AwsFailure(type(exc).__name__, f"{action}: {exc}", False)
    raise TypeError(f"not an AWS error: {exc!r}")


AWS_ERRORS = (ClientError, BotoCoreError, SecretUnreadable)
