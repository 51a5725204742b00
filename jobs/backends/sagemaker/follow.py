"""What following a resource on SageMaker needs, for jobs and endpoints alike: one chain of Celery
steps per resource (a token in its ``remote`` JSON), back-off between polls, and the few AWS
answers that mean "it is already there"."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone


def chain_start(model: type[models.Model], pk: int, **extra: object) -> tuple[str, dict]:
    """Give the row a new chain token (so any other chain ends at its next step); returns the token
    and the row's new ``remote``."""
    token = uuid.uuid4().hex
    with transaction.atomic():
        current = model.objects.select_for_update().filter(pk=pk).values_list("remote", flat=True).first()
        remote = {**(current or {}), **extra, "chain": token}
        model.objects.filter(pk=pk).update(remote=remote)
    return token, remote


def next_poll_delay(last_delay: float, *, changed: bool) -> float:
    """Poll soon while things happen; double the wait while nothing does, up to the maximum."""
    first = settings.STUDIO_SAGEMAKER_POLL_SECONDS
    if changed or last_delay <= 0:
        return first
    return min(settings.STUDIO_SAGEMAKER_POLL_MAX_SECONDS, max(first, last_delay * 2))


def boto3_method(operation: str) -> str:
    """CreateEndpointConfig → create_endpoint_config."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def error_of(exc: Exception) -> tuple[str, str]:
    """An AWS error's code and message ("" for anything else)."""
    error = getattr(exc, "response", {}).get("Error", {})
    return str(error.get("Code", "")), str(error.get("Message", ""))


def already_exists(exc: Exception) -> bool:
    code, message = error_of(exc)
    return code == "ResourceInUse" or "already exist" in message.lower()


def aware_time(value: datetime | None) -> datetime:
    """A time from an AWS answer (botocore gives aware datetimes; a stub may not), or now."""
    if value is None:
        return timezone.now()
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
