"""Thin Celery tasks for endpoints: take an id, call one service. The row is the truth, not the broker."""

from __future__ import annotations

import logging

from celery import shared_task

from endpoints.services import sagemaker

logger = logging.getLogger(__name__)


@shared_task(name="endpoints.sagemaker_sync", ignore_result=True)
def sagemaker_sync(endpoint_id: int, chain: str, delay: float = 0.0) -> None:
    """One step of following a SageMaker endpoint; the next is sent with back-off until it settles.

    Not acks_late: a redelivered step is harmless (creates tolerate "already exists", and a step
    whose chain token is stale ends), but a lost one is the reaper's business (``sagemaker_reap``).
    """
    next_delay = sagemaker.endpoint_sagemaker_sync(endpoint_id=endpoint_id, chain=chain, last_delay=delay)
    if next_delay is None:
        return
    try:
        sagemaker_sync.apply_async(args=[endpoint_id, chain, next_delay], countdown=next_delay)
    except Exception:
        # The chain pauses; the reaper starts a new one once the endpoint's polled_at is stale.
        logger.exception("could not reach the broker", extra={"endpoint": endpoint_id})


@shared_task(name="endpoints.sagemaker_reap", ignore_result=True)
def sagemaker_reap() -> int:
    """Restart the chain of a SageMaker endpoint whose steps stopped coming (a lost task)."""
    return sagemaker.endpoints_sagemaker_reap()
