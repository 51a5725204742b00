"""Thin Celery tasks for alert deliveries: take an id, call one service. The delivery row is the
truth, not the broker: a lost message is found again by the ``monitoring.retry_deliveries`` sweep."""

from __future__ import annotations

import logging

from celery import shared_task

from monitoring.alerts import alert_deliveries_due
from monitoring.notifications import alert_delivery_send

logger = logging.getLogger(__name__)


@shared_task(name="monitoring.deliver_alert", ignore_result=True)
def deliver_alert(delivery_id: int) -> float | None:
    """One attempt at a delivery; a failure sends the next attempt with its back-off as countdown.

    Not acks_late: a redelivered message is harmless (sending claims the row first), and a lost one
    is the sweep's business. Returns the countdown it asked for (None when it asked for none).
    """
    countdown = alert_delivery_send(delivery_id=delivery_id)
    if countdown is None:
        return None
    try:
        deliver_alert.apply_async(args=[delivery_id], countdown=countdown)
    except Exception:
        # The row keeps next_attempt_at: the sweep sends it once that has passed.
        logger.exception("could not reach the broker", extra={"delivery": delivery_id})
    return countdown


@shared_task(name="monitoring.retry_deliveries", ignore_result=True)
def retry_deliveries() -> int:
    """Beat, every minute: send again the Pending deliveries whose next attempt is overdue."""
    ids = alert_deliveries_due()
    deliveries_enqueue(ids)
    return len(ids)


def deliveries_enqueue(ids: list[int]) -> None:
    """Send a task per delivery (called after commit). A broker that is down loses nothing: the
    rows stay Pending with next_attempt_at set, and the sweep picks them up."""
    for delivery_id in ids:
        try:
            deliver_alert.delay(delivery_id)
        except Exception:
            logger.exception("could not reach the broker", extra={"delivery": delivery_id})
