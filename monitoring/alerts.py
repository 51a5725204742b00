"""Alerts: a monitoring execution's violations raise, count on, and clear alerts; channels say where
new alerts are sent. One open alert per schedule, check and feature (or metric) until it clears:
the partial unique constraint ``alert_one_open_per_check`` is what makes that hold under races."""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from datetime import datetime, timedelta
from typing import TypedDict

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from endpoints.models import Endpoint
from monitoring.models import (
    Alert,
    AlertDelivery,
    AlertStatus,
    ChannelKind,
    DeliveryStatus,
    ExecutionStatus,
    MonitoringExecution,
    MonitoringSchedule,
    NotificationChannel,
)
from studio.models import Project
from studio.services import audit_record

OPEN_STATUSES = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
# Only a finished execution says anything about the checks; a failed or running one changes nothing.
EVALUATED_STATUSES = (ExecutionStatus.COMPLETED, ExecutionStatus.COMPLETED_WITH_VIOLATIONS)
# Attempts to settle one violation against concurrent executions (each loss is an IntegrityError
# or a clear between our read and our update); more than this means something else is wrong.
MAX_RACE_ROUNDS = 5
WEBHOOK_SCHEMES = ("http", "https")


def _address_is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def webhook_target_refusal(url: str) -> str | None:
    """Why ``url`` may not be sent to, or None. Unless ``STUDIO_ALERT_ALLOW_PRIVATE_WEBHOOKS``, a host
    that resolves to a loopback, link-local, private, shared or reserved address is refused (a webhook
    must not reach Studio's own network, e.g. 169.254.169.254). A name that does not resolve now is
    not refused here: sending checks again (the name may resolve elsewhere later)."""
    if settings.STUDIO_ALERT_ALLOW_PRIVATE_WEBHOOKS:
        return None
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return None
    internal = sorted({str(info[4][0]) for info in infos if _address_is_internal(str(info[4][0]))})
    if internal:
        return f"{host} resolves to a private or reserved address ({', '.join(internal)})."
    return None


class AlertStateError(ValidationError):
    """The alert's status does not allow this action (HTTP 409)."""


class AlertPayload(TypedDict):
    """What a delivery sends: Slack's incoming-webhook ``text`` plus Studio's own fields. Stored on
    the delivery before the first attempt, so a receiver that is down loses nothing."""

    text: str
    project: str
    endpoint: str
    schedule: str
    monitoring_type: str
    check_type: str
    feature: str
    description: str
    status: str
    occurrences: int
    first_seen: str
    last_seen: str
    url: str


CheckKey = tuple[str, str]  # (constraint_check_type, feature or metric name)


# --- reads ---------------------------------------------------------------------------------------


def alerts_of_project(project: Project, *, status: str | None = None) -> QuerySet[Alert]:
    """The project's alerts, newest activity first, with what their list rows show."""
    # The rows name their executions by uuid: their JSON (statistics with sketches) stays unread.
    heavy = ("violations", "drift", "metrics", "statistics")
    alerts = (
        Alert.objects.filter(project=project)
        .select_related("schedule__endpoint", "acknowledged_by", "first_execution", "last_execution")
        .defer(
            *(
                f"{execution}__{field}"
                for execution in ("first_execution", "last_execution")
                for field in heavy
            )
        )
    )
    if status:
        alerts = alerts.filter(status=status)
    return alerts


def alert_get(project: Project, alert_id: int) -> Alert:
    """One alert of the project with its deliveries (and their channels); 404 if it is not there."""
    return get_object_or_404(alerts_of_project(project).prefetch_related("deliveries__channel"), pk=alert_id)


def alerts_open_for_endpoint(endpoint: Endpoint) -> QuerySet[Alert]:
    """The endpoint's Open and Acknowledged alerts (for its banner), newest activity first."""
    return (
        Alert.objects.filter(schedule__endpoint=endpoint, status__in=OPEN_STATUSES)
        .select_related("schedule", "acknowledged_by")
        .order_by("-last_seen", "-id")
    )


def channels_of_project(project: Project) -> QuerySet[NotificationChannel]:
    return NotificationChannel.objects.filter(project=project)


def channel_get(project: Project, channel_id: int) -> NotificationChannel:
    return get_object_or_404(channels_of_project(project), pk=channel_id)


# --- evaluating an execution --------------------------------------------------------------------


def _violation_keys(violations: list) -> dict[CheckKey, str]:
    """``{(check type, feature or metric): description}``; a check repeated in one execution is one."""
    found: dict[CheckKey, str] = {}
    for violation in violations or []:
        if not isinstance(violation, dict):
            continue
        check_type = str(violation.get("constraint_check_type") or "").strip()
        if not check_type:
            continue
        name = str(violation.get("feature_name") or violation.get("metric_name") or "").strip()
        description = str(violation.get("description") or check_type)
        found.setdefault((check_type[:64], name[:255]), description[:2048])
    return found


def alert_link_path(schedule: MonitoringSchedule) -> str:
    """Where a person looks at the alert: the endpoint's monitoring page."""
    return reverse(
        "monitoring:endpoint-monitoring",
        kwargs={"project": schedule.project.name, "name": schedule.endpoint.name},
    )


def alert_payload(alert: Alert) -> AlertPayload:
    schedule = alert.schedule
    endpoint = schedule.endpoint.name
    subject = f"{alert.check_type} on {alert.feature_name}" if alert.feature_name else alert.check_type
    url = settings.STUDIO_PUBLIC_URL + alert_link_path(schedule)
    return {
        "text": (
            f"[Studio] {alert.status}: {subject} in {schedule.project.name}/{endpoint} "
            f"(schedule {schedule.name}): {alert.description} <{url}>"
        ),
        "project": schedule.project.name,
        "endpoint": endpoint,
        "schedule": schedule.name,
        "monitoring_type": schedule.monitoring_type,
        "check_type": alert.check_type,
        "feature": alert.feature_name,
        "description": alert.description,
        "status": alert.status,
        "occurrences": alert.occurrences,
        "first_seen": alert.first_seen.isoformat(),
        "last_seen": alert.last_seen.isoformat(),
        "url": url,
    }


def _count_on(alert_id: int, *, execution: MonitoringExecution, description: str, now: datetime) -> bool:
    """Add one occurrence to an alert that is still open; False if it was cleared meanwhile."""
    return bool(
        Alert.objects.filter(pk=alert_id, status__in=OPEN_STATUSES).update(
            occurrences=F("occurrences") + 1,
            last_seen=now,
            last_execution=execution,
            description=description,
        )
    )


def _record_violation(
    *,
    schedule: MonitoringSchedule,
    execution: MonitoringExecution,
    key: CheckKey,
    description: str,
    known: Alert | None,
    now: datetime,
) -> tuple[Alert, bool]:
    """Count the violation on the open alert of its check, or raise one. Returns (alert, raised)."""
    check_type, feature_name = key
    for _ in range(MAX_RACE_ROUNDS):
        if known is not None and _count_on(known.pk, execution=execution, description=description, now=now):
            known.refresh_from_db()
            return known, False
        try:
            # A savepoint: losing the race must not break the caller's transaction.
            with transaction.atomic():
                alert = Alert.objects.create(
                    project_id=schedule.project_id,
                    schedule=schedule,
                    check_type=check_type,
                    feature_name=feature_name,
                    description=description,
                    first_execution=execution,
                    last_execution=execution,
                    first_seen=now,
                    last_seen=now,
                )
            return alert, True
        except IntegrityError:
            # Another execution of this schedule raised it between our read and our insert: the
            # partial unique constraint kept one open alert, so count on the winner instead.
            known = Alert.objects.filter(
                schedule=schedule, check_type=check_type, feature_name=feature_name, status__in=OPEN_STATUSES
            ).first()
    raise RuntimeError(f"could not settle the alert of {key} on schedule {schedule.pk}")


def alerts_evaluate(execution: MonitoringExecution) -> list[Alert]:
    """Raise, count on, and clear the schedule's alerts from one finished execution.

    Each violation counts on the open (or acknowledged) alert of its check, or raises a new one and
    queues a delivery to each enabled channel of the project. Acknowledged alerts that keep
    violating are not sent again. Alerts whose check no longer violates are cleared, unless a later
    execution saw them (executions may finish out of order). An execution that saw no records
    (``record_count`` 0 and no violations) clears nothing: no data is not good news. Returns the
    alerts the execution violated, new ones included.
    """
    if execution.status not in EVALUATED_STATUSES:
        return []
    schedule = MonitoringSchedule.objects.select_related("project", "endpoint").get(pk=execution.schedule_id)
    violating = _violation_keys(execution.violations)
    if not violating and execution.record_count == 0:
        return []
    now = timezone.now()
    open_alerts = {
        (alert.check_type, alert.feature_name): alert
        for alert in Alert.objects.filter(schedule=schedule, status__in=OPEN_STATUSES)
    }
    result: list[Alert] = []
    raised: list[Alert] = []
    with transaction.atomic():
        for key, description in violating.items():
            alert, is_new = _record_violation(
                schedule=schedule,
                execution=execution,
                key=key,
                description=description,
                known=open_alerts.get(key),
                now=now,
            )
            alert.schedule = schedule
            result.append(alert)
            if is_new:
                raised.append(alert)
        stale = [alert.pk for key, alert in open_alerts.items() if key not in violating]
        if stale:
            Alert.objects.filter(pk__in=stale, status__in=OPEN_STATUSES).filter(
                Q(last_execution__isnull=True) | Q(last_execution__window_end__lte=execution.window_end)
            ).update(status=AlertStatus.CLEARED, cleared_at=now)
        for alert in raised:
            alert_deliveries_queue(alert)
    return result


# --- deliveries ----------------------------------------------------------------------------------


def alert_deliveries_queue(alert: Alert) -> list[AlertDelivery]:
    """One delivery per enabled channel of the project, its payload stored first; each is sent by
    ``monitoring.deliver_alert`` once the transaction commits (the sweep re-sends lost ones)."""
    channels = list(NotificationChannel.objects.filter(project_id=alert.project_id, enabled=True))
    if not channels:
        return []
    payload = alert_payload(alert)
    now = timezone.now()
    deliveries = AlertDelivery.objects.bulk_create(
        [
            AlertDelivery(alert=alert, channel=channel, payload=payload, next_attempt_at=now, created_at=now)
            for channel in channels
        ]
    )
    if any(delivery.pk is None for delivery in deliveries):  # backends without RETURNING
        deliveries = list(AlertDelivery.objects.filter(alert=alert, created_at=now))
    from monitoring.alert_tasks import deliveries_enqueue

    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: deliveries_enqueue(ids))
    return deliveries


def alert_deliveries_due(*, limit: int = 500) -> list[int]:
    """Pending deliveries whose next attempt is overdue by a grace period: their task was lost (a
    broker restart) or never sent. A duplicate is harmless: sending claims the row first."""
    cutoff = timezone.now() - timedelta(seconds=settings.STUDIO_ALERT_SWEEP_GRACE_SECONDS)
    return list(
        AlertDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


# --- acknowledging -------------------------------------------------------------------------------


def alert_acknowledge(*, alert: Alert, user: AbstractBaseUser) -> Alert:
    """Open → Acknowledged (recorded with who and when); acknowledging again changes nothing. A
    cleared alert cannot be acknowledged (AlertStateError)."""
    now = timezone.now()
    changed = Alert.objects.filter(pk=alert.pk, status=AlertStatus.OPEN).update(
        status=AlertStatus.ACKNOWLEDGED, acknowledged_by=user, acknowledged_at=now
    )
    alert.refresh_from_db()
    if not changed and alert.status == AlertStatus.CLEARED:
        raise AlertStateError({"status": "The alert has cleared; there is nothing to acknowledge."})
    if changed:
        audit_record(
            actor=user,
            action="alert.acknowledge",
            target_type="alert",
            target_name=str(alert),
            project=alert.project,
            details={"alert": alert.pk},
        )
    return alert


# --- channels ------------------------------------------------------------------------------------


def _validated_target(kind: str, target: str) -> str:
    target = (target or "").strip()
    if not target:
        raise ValidationError({"target": "This field is required."})
    if kind == ChannelKind.EMAIL:
        try:
            validate_email(target)
        except ValidationError as exc:
            raise ValidationError({"target": "Enter a valid email address."}) from exc
    else:
        try:
            URLValidator(schemes=list(WEBHOOK_SCHEMES))(target)
        except ValidationError as exc:
            raise ValidationError({"target": "Enter a valid http:// or https:// URL."}) from exc
        refusal = webhook_target_refusal(target)
        if refusal:
            raise ValidationError({"target": f"Refused: {refusal}"})
    if len(target) > NotificationChannel._meta.get_field("target").max_length:
        raise ValidationError({"target": "Too long."})
    return target


def _save_channel(channel: NotificationChannel) -> None:
    try:
        with transaction.atomic():
            channel.save()
    except IntegrityError as exc:
        raise ValidationError(
            {"target": f"The project already has the {channel.kind} channel {channel.target}."}
        ) from exc


def channel_create(
    *, project: Project, user: AbstractBaseUser, kind: str, target: str, enabled: bool = True
) -> NotificationChannel:
    if kind not in ChannelKind.values:
        raise ValidationError({"kind": f"Choose one of {', '.join(ChannelKind.values)}."})
    channel = NotificationChannel(
        project=project, kind=kind, target=_validated_target(kind, target), enabled=enabled
    )
    _save_channel(channel)
    audit_record(
        actor=user,
        action="notification_channel.create",
        target_type="notification_channel",
        target_name=str(channel),
        project=project,
    )
    return channel


def channel_update(
    *,
    channel: NotificationChannel,
    user: AbstractBaseUser,
    target: str | None = None,
    enabled: bool | None = None,
) -> NotificationChannel:
    if target is not None:
        channel.target = _validated_target(channel.kind, target)
    if enabled is not None:
        channel.enabled = enabled
    _save_channel(channel)
    audit_record(
        actor=user,
        action="notification_channel.update",
        target_type="notification_channel",
        target_name=str(channel),
        project=channel.project,
        details={"enabled": channel.enabled},
    )
    return channel


def channel_delete(*, channel: NotificationChannel, user: AbstractBaseUser) -> None:
    """Removes the channel and its delivery history (the alerts stay)."""
    audit_record(
        actor=user,
        action="notification_channel.delete",
        target_type="notification_channel",
        target_name=str(channel),
        project=channel.project,
    )
    channel.delete()
