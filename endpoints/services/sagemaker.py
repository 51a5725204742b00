"""The SageMaker side of endpoints (``backend="sagemaker"``): models, endpoint configs and endpoints
in the project's AWS account, followed by a chain of Celery tasks that poll with back-off.

Studio's own services (``endpoints.services.endpoints``) write what should happen (a Creating,
Updating or Deleting row) and start a chain here; ``endpoint_sagemaker_sync`` is one step of it:

* Creating: CreateModel for each variant's model, CreateEndpointConfig, CreateEndpoint, then
  DescribeEndpoint until InService (or Failed, with SageMaker's FailureReason);
* Updating: a new endpoint config and UpdateEndpoint (blue/green on SageMaker's side: the old
  config serves until the new one is in service), then the same swap the local path makes; a
  refused or rolled-back update leaves the endpoint InService on its old config, with the reason;
* Deleting: DeleteEndpoint, DescribeEndpoint until it is gone, DeleteEndpointConfig of the
  configs made for this endpoint, then the row goes.

SageMaker's names are account-wide, so each is derived from the project and Studio's names
(``sagemaker_name``); every name and every request sent are kept in ``Endpoint.remote``. Only one
chain follows an endpoint: each carries a token kept in ``remote["chain"]``, and a step whose token
is no longer the endpoint's (an update or delete started a new chain) ends its chain; if a delete
took over while it was creating, it first deletes again what it had just made (the delete could not
know of it). Following and deleting need only the project's AWS access, not its role and bucket, and
go to the region the endpoint was sent to; an endpoint sent to SageMaker keeps its row (Failed,
saying how to delete it there) when Studio can no longer reach the account. Throttling
and transient errors are retried on a later step (botocore has retried them already); access
denied, quotas and invalid requests end the action with the reason in a user's words.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.db.models import F, Q, TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone

from cloud.clients import AwsNotConfigured, aws_client, aws_settings_of, in_region
from cloud.errors import AWS_ERRORS, aws_failure
from endpoints.models import Endpoint, EndpointConfig, EndpointStatus, Model
from endpoints.services.model_files import model_snapshot
from jobs.backends.base import BackendError
from jobs.backends.sagemaker.follow import (
    already_exists,
    boto3_method,
    chain_start,
    error_of,
    next_poll_delay,
)
from jobs.backends.sagemaker.requests import fitted_name, model_name, model_request
from jobs.backends.sagemaker.staging import RetryLater, Stager
from jobs.models import Backend
from studio.models import Project

if TYPE_CHECKING:
    from cloud.models import AwsSettings

logger = logging.getLogger(__name__)

MAX_NAME = 63
# The requests kept in ``remote["requests"]`` (the newest): creates, updates, weights, deletes.
MAX_REQUESTS_KEPT = 100
MOVING = (EndpointStatus.CREATING, EndpointStatus.UPDATING, EndpointStatus.DELETING)
# SageMaker's endpoint statuses while it works on an update.
UPDATE_MOVING = frozenset({"Updating", "SystemUpdating", "RollingBack"})
# A chain not heard from for this many longest waits is taken over by the reaper.
STALE_POLLS = 5
# The most endpoints one run of the reaper restarts (the stalest first); the next run takes the rest.
REAP_BATCH = 500


class RemoteRequest(TypedDict, total=False):
    operation: str
    request: dict
    at: str
    error: str


class SageMakerError(ValidationError):
    """A call to SageMaker made while answering a request (new weights) failed; says why."""


# --- names ------------------------------------------------------------------------------------------


def sagemaker_name(*parts: str) -> str:
    """``parts`` joined by hyphens as a SageMaker name (≤63 characters, letters, digits and hyphens,
    starting and ending with a letter or digit); a longer one is cut and ends with a hash of the
    whole, so two long names stay distinct."""
    cleaned = [re.sub(r"[^a-zA-Z0-9-]", "-", part).strip("-") for part in parts]
    name = "-".join(part for part in cleaned if part) or "studio"
    return fitted_name(name, name, MAX_NAME)


def sagemaker_endpoint_name(endpoint: Endpoint) -> str:
    return sagemaker_name(endpoint.project.name, endpoint.name)


def sagemaker_model_name(project: Project, model: Model) -> str:
    """One SageMaker model per Studio model, shared with its transform jobs."""
    return model_name(project.name, model_snapshot(model))


def sagemaker_config_name(endpoint: Endpoint, config: EndpointConfig) -> str:
    """Each endpoint has its own SageMaker configs (deleted with it), so no two endpoints share one."""
    return sagemaker_name(endpoint.project.name, endpoint.name, config.name, endpoint.uuid.hex[:8])


def sagemaker_initial_remote(endpoint: Endpoint) -> dict:
    """What a new SageMaker endpoint row holds before anything is sent: the names it will use."""
    return {
        "endpoint_name": sagemaker_endpoint_name(endpoint),
        "endpoint_config_name": sagemaker_config_name(endpoint, endpoint.config),
        "models": {},
        "endpoint_configs": [],
        "requests": [],
    }


# --- requests ---------------------------------------------------------------------------------------


def _sampling_percentage(value: float) -> int:
    """SageMaker takes a whole percentage: round, but never turn a small sample into none."""
    return 0 if value <= 0 else max(1, min(100, round(value)))


def data_capture_request(capture: dict, destination: str, aws: AwsSettings) -> dict | None:
    """``DataCaptureConfig`` from a config's ``data_capture``; SageMaker writes the files itself."""
    if not capture:
        return None
    modes = [
        mode for mode, on in (("Input", "capture_input"), ("Output", "capture_output")) if capture.get(on)
    ]
    request: dict[str, Any] = {
        "EnableCapture": bool(capture.get("enabled", True)),
        "InitialSamplingPercentage": _sampling_percentage(float(capture.get("sampling_percentage", 100))),
        "DestinationS3Uri": destination,
        "CaptureOptions": [{"CaptureMode": mode} for mode in modes or ("Input", "Output")],
    }
    header = {}
    if capture.get("csv_content_types"):
        header["CsvContentTypes"] = list(capture["csv_content_types"])
    if capture.get("json_content_types"):
        header["JsonContentTypes"] = list(capture["json_content_types"])
    if header:
        request["CaptureContentTypeHeader"] = header
    if aws.kms_key_id:
        request["KmsKeyId"] = aws.kms_key_id
    return request


def _variant_request(variant, model_name: str) -> dict:
    return {
        "VariantName": variant.name,
        "ModelName": model_name,
        "InitialInstanceCount": variant.instance_count,
        "InstanceType": variant.instance_type,
        "InitialVariantWeight": variant.initial_weight,
    }


def endpoint_config_request(
    endpoint: Endpoint,
    config: EndpointConfig,
    aws: AwsSettings,
    model_names: dict[str, str],
    capture_uri: str,
) -> dict:
    """CreateEndpointConfig's arguments: the production variants, the shadow (if any) and capture."""
    variants = list(config.variants.all())
    request: dict[str, Any] = {
        "EndpointConfigName": sagemaker_config_name(endpoint, config),
        "ProductionVariants": [
            _variant_request(variant, model_names[variant.model.name])
            for variant in variants
            if not variant.is_shadow
        ],
        "Tags": _tags(endpoint, config=config.name),
    }
    shadows = [_variant_request(v, model_names[v.model.name]) for v in variants if v.is_shadow]
    if shadows:
        request["ShadowProductionVariants"] = shadows
    capture = data_capture_request(config.data_capture, capture_uri, aws)
    if capture is not None:
        request["DataCaptureConfig"] = capture
    return request


def _tags(endpoint: Endpoint, **extra: str) -> list[dict[str, str]]:
    values = {"project": endpoint.project.name, "endpoint": endpoint.name, **extra}
    return [{"Key": f"studio:{key}", "Value": value} for key, value in values.items()]


def _is_not_found(exc: Exception) -> bool:
    code, message = error_of(exc)
    return code in ("ValidationException", "ResourceNotFound") and (
        "could not find" in message.lower() or "does not exist" in message.lower()
    )


# --- starting a chain --------------------------------------------------------------------------------


def sagemaker_follow(endpoint: Endpoint) -> str:
    """Give the endpoint a new chain token (ending any other chain) and send the chain's first step
    once the caller's transaction commits. Returns the token."""
    token, endpoint.remote = chain_start(Endpoint, endpoint.pk, polled_at=timezone.now().isoformat())
    endpoint_id = endpoint.pk

    def send() -> None:
        from endpoints.tasks import sagemaker_sync

        try:
            sagemaker_sync.apply_async(args=[endpoint_id, token])
        except Exception:
            # The row keeps its status; the reaper starts a chain again once it sees it stale.
            logger.exception("could not reach the broker", extra={"endpoint": endpoint_id})

    transaction.on_commit(send)
    return token


def sagemaker_backend_check(project: Project) -> str:
    """Why ``project`` cannot deploy to SageMaker now ("" when it can)."""
    try:
        aws_settings_of(project)
    except AwsNotConfigured as exc:
        return str(exc)
    return ""


# --- one step ----------------------------------------------------------------------------------------


def endpoint_sagemaker_sync(*, endpoint_id: int, chain: str, last_delay: float = 0.0) -> float | None:
    """One step of following a SageMaker endpoint; the seconds until the next, or None when done."""
    endpoint = (
        Endpoint.objects.select_related("project", "config", "pending_config")
        .filter(pk=endpoint_id, backend=Backend.SAGEMAKER)
        .first()
    )
    if endpoint is None or endpoint.remote.get("chain") != chain:
        return None
    step = _Sync(endpoint, chain)
    try:
        return step.run(last_delay)
    except RetryLater as exc:
        return step.retry_later(str(exc), last_delay)
    except AwsNotConfigured as exc:
        step.fail(str(exc), configured=False)
    except BackendError as exc:
        step.fail(str(exc))
    except AWS_ERRORS as exc:
        failure = aws_failure(exc, action=step.action)
        if failure.retryable:
            return step.retry_later(failure.reason, last_delay)
        step.fail(failure.reason)
    except DatabaseError:
        # Studio's database, not the endpoint, is in trouble: nothing is marked; the next step (or
        # the reaper, once the chain goes quiet) tries again.
        raise
    except Exception as exc:
        logger.exception("sagemaker endpoint sync crashed", extra={"endpoint": endpoint.name})
        step.fail(f"Internal error in Studio's SageMaker endpoint sync: {type(exc).__name__}: {exc}")
        raise
    return None


class _Sync:
    def __init__(self, endpoint: Endpoint, chain: str) -> None:
        self.endpoint = endpoint
        self.chain = chain
        self.remote = {**sagemaker_initial_remote(endpoint), **endpoint.remote}
        self.name = self.remote["endpoint_name"]
        self.action = f"Following SageMaker endpoint {self.name}"
        self._aws: AwsSettings | None = None
        self._client = None
        # What this step made on SageMaker that the row does not record until the step saves: made
        # again by name if another chain creates, deleted again if the endpoint is deleted meanwhile.
        self.made_endpoint = False
        self.made_configs: list[str] = []

    # --- plumbing -------------------------------------------------------------------------------

    @property
    def aws(self) -> AwsSettings:
        """The project's AWS settings. Following or deleting what exists needs no role or bucket;
        only creating does (``ready_aws``)."""
        if self._aws is None:
            self._aws = aws_settings_of(self.endpoint.project, require_ready=False)
        return self._aws

    def ready_aws(self) -> AwsSettings:
        """The settings, for creating models and configs (they need the role and the bucket); the
        region things are first created in is recorded, and every later call goes there."""
        if not self.aws.is_ready:
            aws_settings_of(self.endpoint.project)  # raises AwsNotConfigured, saying what is missing
        self.remote.setdefault("region", self.aws.region)
        return self.aws

    @property
    def client(self):
        if self._client is None:
            self._client = aws_client(in_region(self.aws, self.remote.get("region", "")), "sagemaker")
        return self._client

    @property
    def sent(self) -> bool:
        """Whether CreateEndpoint reached SageMaker: the endpoint may run (and cost) there."""
        return bool(self.remote.get("endpoint_sent") or self.remote.get("endpoint_arn"))

    def save(self) -> bool:
        """Write ``remote`` unless another chain took the endpoint over meanwhile."""
        self.remote["polled_at"] = timezone.now().isoformat()
        updated = Endpoint.objects.filter(pk=self.endpoint.pk, remote__chain=self.chain).update(
            remote=self.remote
        )
        self.endpoint.remote = self.remote
        if not updated:
            self._chain_lost()
        return bool(updated)

    def _chain_lost(self) -> None:
        """Another chain took the endpoint over while this step ran. If it is a delete (the row is
        Deleting, or already gone), what this step made on SageMaker is unknown to it: delete it
        again here, or an endpoint no row knows would run (and cost) there and keep its name taken.
        Under any other status the chain that took over follows the endpoint and finds what this
        step made by its names."""
        if not (self.made_endpoint or self.made_configs):
            return
        status = Endpoint.objects.filter(pk=self.endpoint.pk).values_list("status", flat=True).first()
        if status is not None and status != EndpointStatus.DELETING:
            return
        undo: list[tuple[str, dict]] = []
        if self.made_endpoint:
            undo.append(("DeleteEndpoint", {"EndpointName": self.name}))
        undo += [("DeleteEndpointConfig", {"EndpointConfigName": name}) for name in self.made_configs]
        self.made_endpoint, self.made_configs = False, []
        why = "being deleted" if status is not None else "deleted"
        for operation, request in undo:
            self._undo(operation, request, why)

    def _undo(self, operation: str, request: dict, why: str) -> None:
        """Best effort: a failure is logged (with what to delete by hand) and recorded on the row
        while it is there."""
        target = request.get("EndpointName") or request.get("EndpointConfigName")
        entry: RemoteRequest = {"operation": operation, "request": request, "at": timezone.now().isoformat()}
        try:
            getattr(self.client, boto3_method(operation))(**request)
        except AWS_ERRORS as exc:
            if not _is_not_found(exc):
                entry["error"] = error_of(exc)[0] or type(exc).__name__
                logger.error(
                    "could not delete %s made while its endpoint was %s (delete it on SageMaker, "
                    "region %s): %s",
                    target,
                    why,
                    self.remote.get("region") or self.aws.region,
                    exc,
                    extra={"endpoint": self.endpoint.name},
                )
        else:
            logger.warning(
                "%s %s: it was made while its endpoint was %s",
                operation,
                target,
                why,
                extra={"endpoint": self.endpoint.name},
            )
        _remember(self.endpoint, entry)

    def call(self, operation: str, request: dict, *, record: bool = True) -> dict:
        """Send ``operation``, keeping the exact request (and the error code, when it fails)."""
        target = request.get("EndpointName") or request.get("EndpointConfigName") or request.get("ModelName")
        self.action = f"{operation} {target or ''}".strip()
        entry: RemoteRequest = {"operation": operation, "request": request, "at": timezone.now().isoformat()}
        if record:
            requests = self.remote.setdefault("requests", [])
            requests.append(entry)
            del requests[:-MAX_REQUESTS_KEPT]
        try:
            return getattr(self.client, boto3_method(operation))(**request)
        except AWS_ERRORS as exc:
            entry["error"] = error_of(exc)[0] or type(exc).__name__
            raise

    def describe(self) -> dict | None:
        """DescribeEndpoint, or None when SageMaker has no such endpoint."""
        try:
            described = self.call("DescribeEndpoint", {"EndpointName": self.name}, record=False)
        except AWS_ERRORS as exc:
            if _is_not_found(exc):
                return None
            raise
        if described.get("EndpointArn"):
            self.remote["endpoint_arn"] = described["EndpointArn"]
        self.remote["variants"] = [
            {
                key: variant.get(key)
                for key in (
                    "VariantName",
                    "CurrentWeight",
                    "DesiredWeight",
                    "CurrentInstanceCount",
                    "DesiredInstanceCount",
                )
            }
            for variant in described.get("ProductionVariants", [])
        ]
        return described

    def _status_changed(self, status: str) -> bool:
        changed = self.remote.get("last_status") != status
        self.remote["last_status"] = status
        return changed

    def retry_later(self, reason: str, last_delay: float) -> float | None:
        self.remote["retries"] = self.remote.get("retries", 0) + 1
        self.remote["last_retry_reason"] = reason[:2048]
        logger.warning("retrying a SageMaker call later: %s", reason, extra={"endpoint": self.endpoint.name})
        delay = next_poll_delay(last_delay, changed=False)
        return delay if self.save() else None

    def transition(self, status: str, message: str, *, expected: tuple[str, ...], **fields: object) -> bool:
        # Imported here: endpoints.services.endpoints imports this module.
        from endpoints.services.endpoints import endpoint_transition

        self.remote.pop("chain", None)
        self.remote.pop("retries", None)
        self.remote.pop("last_retry_reason", None)
        self.remote["polled_at"] = timezone.now().isoformat()
        with transaction.atomic():
            # Only while this chain still owns the endpoint (a delete may have taken it over).
            if (
                Endpoint.objects.select_for_update()
                .filter(pk=self.endpoint.pk, remote__chain=self.chain)
                .exists()
            ):
                return endpoint_transition(
                    self.endpoint, status, message, expected=expected, remote=self.remote, **fields
                )
        self._chain_lost()
        return False

    def fail(self, reason: str, *, configured: bool = True) -> None:
        """End what this chain was doing with ``reason``: a failed create fails the endpoint, a
        failed update leaves it serving its old config, a failed delete leaves it Failed (deleting it
        again retries) unless no endpoint reached SageMaker. ``configured=False``: the project lost
        its AWS settings; an endpoint sent to SageMaker keeps its row, which says how to delete it
        there."""
        endpoint = self.endpoint
        if not configured and self.sent and endpoint.status != EndpointStatus.UPDATING:
            reason = f"{reason} {self._still_running()}"
        if endpoint.status == EndpointStatus.CREATING:
            self.transition(
                EndpointStatus.FAILED,
                reason,
                expected=(EndpointStatus.CREATING,),
                failure_reason=reason[:2048],
            )
        elif endpoint.status == EndpointStatus.UPDATING:
            new = endpoint.pending_config.name if endpoint.pending_config_id else "the new config"
            message = f"Update to {new} failed, still serving {endpoint.config.name}: {reason}"
            self.remote.pop("update_sent", None)
            self.transition(
                EndpointStatus.IN_SERVICE,
                message,
                expected=(EndpointStatus.UPDATING,),
                pending_config=None,
                failure_reason=message[:2048],
            )
        elif endpoint.status == EndpointStatus.DELETING:
            if not self.sent and not (configured and self.remote.get("endpoint_configs")):
                # No endpoint reached SageMaker (configs cost nothing when Studio cannot reach them).
                logger.warning(
                    "deleting endpoint without SageMaker: %s", reason, extra={"endpoint": endpoint.name}
                )
                self._delete_row()
                return
            if configured:
                message = (
                    f"Could not delete SageMaker endpoint {self.name}: {reason} It may still run (and "
                    "cost); delete again once this is fixed."
                )
            else:
                message = f"Could not delete SageMaker endpoint {self.name}: {reason}"
            self.transition(
                EndpointStatus.FAILED,
                message,
                expected=(EndpointStatus.DELETING,),
                failure_reason=message[:2048],
            )

    def _still_running(self) -> str:
        region = self.remote.get("region", "")
        where = f" in {region}" if region else ""
        flag = f" --region {region}" if region else ""
        return (
            f"SageMaker endpoint {self.name} may still run (and cost){where}: delete it in the SageMaker "
            f"console or with `aws sagemaker delete-endpoint --endpoint-name {self.name}{flag}`, or "
            "restore the project's AWS settings and delete it here again."
        )

    def _delete_row(self) -> None:
        with transaction.atomic():
            if (
                Endpoint.objects.select_for_update()
                .filter(pk=self.endpoint.pk, remote__chain=self.chain)
                .exists()
            ):
                self.endpoint.delete()
                return
        self._chain_lost()

    # --- the step -------------------------------------------------------------------------------

    def run(self, last_delay: float) -> float | None:
        status = self.endpoint.status
        if status == EndpointStatus.CREATING:
            return self.create(last_delay)
        if status == EndpointStatus.UPDATING:
            return self.update(last_delay)
        if status == EndpointStatus.DELETING:
            return self.delete(last_delay)
        self.remote.pop("chain", None)
        self.save()
        return None

    def _stager(self) -> Stager:
        aws = self.ready_aws()
        return Stager(aws, log=lambda line: logger.info(line, extra={"endpoint": self.endpoint.name}))

    def create_models(self, config: EndpointConfig, stager: Stager) -> dict[str, str]:
        """CreateModel for each model of ``config`` not made yet; {Studio name: SageMaker name}."""
        project = self.endpoint.project
        made = self.remote.setdefault("models", {})
        for variant in config.variants.select_related("model"):
            model = variant.model
            name = sagemaker_model_name(project, model)
            if made.get(model.name) == name:
                continue
            self.action = f"Preparing model {model.name} for SageMaker"
            request = model_request(model_snapshot(model), self.aws, stager, name=name)
            self._create("CreateModel", request)
            made[model.name] = name
        return {studio: made[studio] for studio in made}

    def create_config(self, config: EndpointConfig, stager: Stager) -> str:
        model_names = self.create_models(config, stager)
        name = sagemaker_config_name(self.endpoint, config)
        made = self.remote.setdefault("endpoint_configs", [])
        if name not in made:
            request = endpoint_config_request(
                self.endpoint, config, self.aws, model_names, stager.s3_uri("data-capture")
            )
            self._create("CreateEndpointConfig", request)
            made.append(name)
            self.made_configs.append(name)
        return name

    def _create(self, operation: str, request: dict) -> dict:
        """A create whose answer was lost is retried: "already exists" then means it worked (the
        names of models and configs are Studio's own)."""
        try:
            return self.call(operation, request)
        except AWS_ERRORS as exc:
            if already_exists(exc):
                logger.info("%s: it exists already", operation, extra={"endpoint": self.endpoint.name})
                return {}
            raise

    def create(self, last_delay: float) -> float | None:
        if not self.remote.get("endpoint_sent"):
            stager = self._stager()
            config_name = self.create_config(self.endpoint.config, stager)
            request = {
                "EndpointName": self.name,
                "EndpointConfigName": config_name,
                "Tags": _tags(self.endpoint),
            }
            try:
                response = self.call("CreateEndpoint", request)
            except AWS_ERRORS as exc:
                if not already_exists(exc):
                    raise
                existing = self.describe()
                if existing is None or existing.get("EndpointStatus") == "Deleting":
                    raise RetryLater(
                        f"SageMaker is still deleting an earlier endpoint named {self.name}"
                    ) from exc
                if existing.get("EndpointConfigName") != config_name:
                    raise BackendError(
                        f"A SageMaker endpoint named {self.name} already exists in the account and was not "
                        "made by this Studio endpoint: delete it there, or deploy under another name."
                    ) from exc
                response = {"EndpointArn": existing.get("EndpointArn", "")}
            self.made_endpoint = True
            self.remote.update(
                endpoint_sent=True,
                endpoint_arn=response.get("EndpointArn", ""),
                endpoint_config_name=config_name,
            )
            return settings.STUDIO_SAGEMAKER_POLL_SECONDS if self.save() else None
        described = self.describe()
        if described is None:
            raise BackendError(f"SageMaker has no endpoint named {self.name} any more.")
        status = described["EndpointStatus"]
        changed = self._status_changed(status)
        if status == "InService":
            self.transition(
                EndpointStatus.IN_SERVICE,
                f"SageMaker endpoint {self.name} is InService",
                expected=(EndpointStatus.CREATING,),
            )
            return None
        if status == "Failed":
            reason = described.get("FailureReason") or "SageMaker gave no reason."
            self.fail(f"SageMaker endpoint {self.name} failed: {reason}")
            return None
        delay = next_poll_delay(last_delay, changed=changed)
        return delay if self.save() else None

    def update(self, last_delay: float) -> float | None:
        from endpoints.services.endpoints import initial_weights  # (a cycle at import time)

        endpoint = self.endpoint
        new = endpoint.pending_config
        if new is None:
            self.transition(
                EndpointStatus.IN_SERVICE, "Nothing to update to", expected=(EndpointStatus.UPDATING,)
            )
            return None
        config_name = sagemaker_config_name(endpoint, new)
        if self.remote.get("update_sent") != config_name:
            config_name = self.create_config(new, self._stager())
            self.call("UpdateEndpoint", {"EndpointName": self.name, "EndpointConfigName": config_name})
            self.remote.update(update_sent=config_name, update_moved=False)
            return settings.STUDIO_SAGEMAKER_POLL_SECONDS if self.save() else None
        described = self.describe()
        if described is None:
            self.transition(
                EndpointStatus.FAILED,
                f"SageMaker has no endpoint named {self.name} any more.",
                expected=(EndpointStatus.UPDATING,),
                pending_config=None,
                failure_reason=f"SageMaker has no endpoint named {self.name} any more.",
            )
            return None
        status = described["EndpointStatus"]
        changed = self._status_changed(status)
        if status in UPDATE_MOVING:
            self.remote["update_moved"] = True
        elif status == "InService" and described.get("EndpointConfigName") == config_name:
            old = self.remote.get("endpoint_config_name", "")
            self.remote["endpoint_config_name"] = config_name
            self.remote.pop("update_sent", None)
            self.remote.pop("update_moved", None)
            self._forget_config(old)
            self.transition(
                EndpointStatus.IN_SERVICE,
                f"SageMaker endpoint {self.name} runs {new.name} ({config_name})",
                expected=(EndpointStatus.UPDATING,),
                config=new,
                pending_config=None,
                weights=initial_weights(new),
                failure_reason="",
            )
            return None
        elif status == "InService" and (self.remote.get("update_moved") or described.get("FailureReason")):
            self.fail(
                f"SageMaker rolled the update back: {described.get('FailureReason') or 'no reason given'}"
            )
            return None
        elif status in ("Failed", "UpdateRollbackFailed", "OutOfService"):
            why = described.get("FailureReason") or "no reason given"
            reason = f"SageMaker endpoint {self.name} is {status}: {why}"
            self.transition(
                EndpointStatus.FAILED,
                reason,
                expected=(EndpointStatus.UPDATING,),
                pending_config=None,
                failure_reason=reason[:2048],
            )
            return None
        delay = next_poll_delay(last_delay, changed=changed)
        return delay if self.save() else None

    def _forget_config(self, name: str) -> None:
        """DeleteEndpointConfig of a config no longer used; a failure only leaves it behind."""
        if not name or name not in self.remote.get("endpoint_configs", []):
            return
        try:
            self.call("DeleteEndpointConfig", {"EndpointConfigName": name})
        except AWS_ERRORS as exc:
            if not _is_not_found(exc):
                logger.warning("could not delete endpoint config %s: %s", name, exc)
                return
        self.remote["endpoint_configs"].remove(name)

    def delete(self, last_delay: float) -> float | None:
        if not self.remote.get("delete_sent"):
            try:
                self.call("DeleteEndpoint", {"EndpointName": self.name})
            except AWS_ERRORS as exc:
                if not _is_not_found(exc):
                    raise
            self.remote["delete_sent"] = True
        described = self.describe()
        if described is not None:
            status = described["EndpointStatus"]
            changed = self._status_changed(status)
            if status != "Deleting":
                self.remote["delete_sent"] = False  # not taken (yet): ask again on the next step
            delay = next_poll_delay(last_delay, changed=changed)
            return delay if self.save() else None
        for name in list(self.remote.get("endpoint_configs", [])):
            self._forget_config(name)
        self._delete_row()
        return None


# --- weights (at once, from the request) ------------------------------------------------------------


def sagemaker_weights_update(*, endpoint: Endpoint, weights: dict[str, float]) -> None:
    """UpdateEndpointWeightsAndCapacities with every production variant's weight. Raises
    ``SageMakerError`` (on ``weights``) with the reason when SageMaker refuses or cannot be reached."""
    remote = {**sagemaker_initial_remote(endpoint), **endpoint.remote}
    request = {
        "EndpointName": remote["endpoint_name"],
        "DesiredWeightsAndCapacities": [
            {"VariantName": variant, "DesiredWeight": float(weight)} for variant, weight in weights.items()
        ],
    }
    entry: RemoteRequest = {
        "operation": "UpdateEndpointWeightsAndCapacities",
        "request": request,
        "at": timezone.now().isoformat(),
    }
    try:
        aws = aws_settings_of(endpoint.project, require_ready=False)
        client = aws_client(in_region(aws, remote.get("region", "")), "sagemaker")
        client.update_endpoint_weights_and_capacities(**request)
    except AwsNotConfigured as exc:
        raise SageMakerError({"weights": [str(exc)]}) from exc
    except AWS_ERRORS as exc:
        failure = aws_failure(exc, action="UpdateEndpointWeightsAndCapacities")
        entry["error"] = failure.code
        _remember(endpoint, entry)
        hint = " Try again in a moment." if failure.retryable else ""
        raise SageMakerError({"weights": [failure.reason + hint]}) from exc
    _remember(endpoint, entry)


def _remember(endpoint: Endpoint, entry: RemoteRequest) -> None:
    """Add a request to ``remote["requests"]`` without overwriting what a chain wrote meanwhile."""
    with transaction.atomic():
        current = (
            Endpoint.objects.select_for_update()
            .filter(pk=endpoint.pk)
            .values_list("remote", flat=True)
            .first()
        )
        if current is None:
            return
        requests = [*current.get("requests", []), entry][-MAX_REQUESTS_KEPT:]
        remote = {**current, "requests": requests}
        Endpoint.objects.filter(pk=endpoint.pk).update(remote=remote)
    endpoint.remote = remote


# --- the reaper -------------------------------------------------------------------------------------


def endpoints_sagemaker_reap() -> int:
    """Start a new chain for each moving SageMaker endpoint whose chain went quiet (a lost task or a
    broker that was down); returns how many."""
    stale_before = timezone.now() - timedelta(
        seconds=settings.STUDIO_SAGEMAKER_POLL_MAX_SECONDS * STALE_POLLS
    )
    # ``polled_at`` is always timezone.now().isoformat() (UTC): as text it sorts as the time does.
    quiet = (
        Endpoint.objects.filter(backend=Backend.SAGEMAKER, status__in=MOVING)
        .annotate(polled=Cast(KT("remote__polled_at"), TextField()))
        .filter(Q(polled__isnull=True) | Q(polled__lt=stale_before.isoformat()))
        .order_by(F("polled").asc(nulls_first=True), "pk")
        .only("id")[:REAP_BATCH]
    )
    restarted = 0
    for endpoint in quiet:
        sagemaker_follow(endpoint)
        restarted += 1
    return restarted
