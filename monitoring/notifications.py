"""Sending an alert delivery: email through Django's mail backend, webhooks as a JSON POST (Slack's
incoming-webhook body plus Studio's fields). A failure is retried with exponential back-off, then the
delivery is recorded as Failed with its payload kept, so nothing is lost."""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from monitoring.alerts import WEBHOOK_SCHEMES, webhook_target_refusal
from monitoring.models import AlertDelivery, ChannelKind, DeliveryStatus

logger = logging.getLogger(__name__)

USER_AGENT = "Studio-Alerts/1"
# Line breaks and other control characters: a header line cannot hold them (feature names come from
# captured JSON keys), and Django refuses a subject with a newline.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_warned_relative_links = False


class DeliveryError(Exception):
    """The receiver did not take the message (a non-2xx answer, a network or SMTP error)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a delivery: urllib would turn the POST into a GET without body."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: base * 2^(attempts-1), capped."""
    base = settings.STUDIO_ALERT_RETRY_BASE_SECONDS
    return float(min(base * 2 ** max(attempts - 1, 0), settings.STUDIO_ALERT_RETRY_MAX_SECONDS))


def email_message(payload: dict) -> tuple[str, str]:
    """(subject, text body) naming the endpoint, schedule, check, feature, description and link."""
    subject_check = payload.get("check_type", "")
    if payload.get("feature"):
        subject_check += f" on {payload['feature']}"
    subject = f"[Studio] {payload.get('project')}/{payload.get('endpoint')}: {subject_check}"
    subject = CONTROL_CHARACTERS.sub(" ", subject).strip()
    lines = [
        f"A monitoring check is failing on endpoint {payload.get('endpoint')} "
        f"(project {payload.get('project')}).",
        "",
        f"Schedule:    {payload.get('schedule')}",
        f"Check:       {payload.get('check_type')}",
        f"Feature:     {payload.get('feature') or '-'}",
        f"Description: {payload.get('description')}",
        f"Status:      {payload.get('status')}",
        f"First seen:  {payload.get('first_seen')}",
        f"Last seen:   {payload.get('last_seen')}",
        "",
        f"Details: {payload.get('url')}",
    ]
    return subject, "\n".join(lines) + "\n"


def send_email(target: str, payload: dict) -> None:
    subject, body = email_message(payload)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [target], fail_silently=False)


def send_webhook(url: str, payload: dict) -> None:
    if urllib.parse.urlsplit(url).scheme not in WEBHOOK_SCHEMES:
        raise DeliveryError(f"webhook: refusing to send to a non-http(s) URL {url!r}")
    refusal = webhook_target_refusal(url)
    if refusal:
        raise DeliveryError(f"webhook: refused: {refusal}")
    # The scheme is checked just above (and when the channel is saved): no file:// or custom schemes.
    request = urllib.request.Request(  # noqa: S310
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        method="POST",
    )
    try:
        with _OPENER.open(request, timeout=settings.STUDIO_ALERT_WEBHOOK_TIMEOUT_SECONDS) as response:
            code = response.status
            response.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        # Only the status: the body is the receiver's (or, through a redirect, anyone's) and the error
        # is shown to the project's viewers.
        raise DeliveryError(f"webhook: HTTP {exc.code} {exc.reason}".strip()) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"webhook: {reason}") from exc
    if not 200 <= code < 300:
        raise DeliveryError(f"webhook: HTTP {code}")


def _warn_relative_links() -> None:
    global _warned_relative_links  # warned once per process
    if not settings.STUDIO_PUBLIC_URL and not _warned_relative_links:
        _warned_relative_links = True
        logger.warning("STUDIO_PUBLIC_URL is not set: the links in alert emails and webhooks are relative")


def _send(delivery: AlertDelivery) -> None:
    """Send once; any failure (SMTP, a bad header, a receiver that does not speak HTTP) is a
    DeliveryError, so the attempt is counted and retried instead of leaving the row claimed."""
    _warn_relative_links()
    kind = "email" if delivery.channel.kind == ChannelKind.EMAIL else "webhook"
    try:
        if kind == "email":
            send_email(delivery.channel.target, delivery.payload)
        else:
            send_webhook(delivery.channel.target, delivery.payload)
    except DeliveryError:
        raise
    except Exception as exc:  # every failure to send is recorded on the delivery
        raise DeliveryError(f"{kind}: {type(exc).__name__}: {exc}") from exc


def alert_delivery_send(*, delivery_id: int, now: datetime | None = None) -> float | None:
    """Make one attempt at a Pending delivery that is due. Returns the seconds until the next
    attempt when it should be retried, else None (delivered, failed for good, or not ours to send).

    The row is claimed first with a compare-and-swap on ``next_attempt_at`` (moved past the send's
    timeout), so a duplicate task or the sweep cannot send the same delivery twice at once.
    """
    now = now or timezone.now()
    delivery = AlertDelivery.objects.select_related("channel").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None
    # A task may arrive a little early (clock skew); one far too early belongs to another claim.
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + timedelta(seconds=1):
        return None
    lease = now + timedelta(seconds=settings.STUDIO_ALERT_WEBHOOK_TIMEOUT_SECONDS + 30)
    claimed = AlertDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, next_attempt_at=delivery.next_attempt_at
    ).update(next_attempt_at=lease)
    if not claimed:
        return None

    attempts = delivery.attempts + 1
    try:
        _send(delivery)
    except DeliveryError as exc:
        error = str(exc)[:1024]
        if attempts >= settings.STUDIO_ALERT_MAX_ATTEMPTS:
            AlertDelivery.objects.filter(pk=delivery.pk, next_attempt_at=lease).update(
                status=DeliveryStatus.FAILED, attempts=attempts, last_error=error, next_attempt_at=None
            )
            logger.warning("alert delivery failed for good", extra={"delivery": delivery.pk, "error": error})
            return None
        delay = retry_delay(attempts)
        AlertDelivery.objects.filter(pk=delivery.pk, next_attempt_at=lease).update(
            attempts=attempts, last_error=error, next_attempt_at=now + timedelta(seconds=delay)
        )
        logger.info("alert delivery will be retried", extra={"delivery": delivery.pk, "error": error})
        return delay
    AlertDelivery.objects.filter(pk=delivery.pk, next_attempt_at=lease).update(
        status=DeliveryStatus.DELIVERED, attempts=attempts, delivered_at=timezone.now(), next_attempt_at=None
    )
    return None
