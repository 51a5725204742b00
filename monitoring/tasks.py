"""Thin Celery tasks: take an id, call one service. The database row, not the broker, is the truth."""

from __future__ import annotations

from celery import shared_task

from monitoring.models import MonitoringSchedule, ScheduleStatus


@shared_task(name="monitoring.run_schedule", ignore_result=True)
def run_schedule(schedule_id: int) -> str | None:
    """Sent by beat on the schedule's cron. Idempotent: the execution is unique per window, so a
    duplicate delivery finds the one already made. A deleted or stopped schedule is a no-op."""
    from monitoring.services import execution_run

    schedule = (
        MonitoringSchedule.objects.filter(pk=schedule_id, status=ScheduleStatus.SCHEDULED)
        .select_related("project", "endpoint__config", "endpoint__pending_config", "baseline", "created_by")
        .first()
    )
    if schedule is None:
        return None
    return str(execution_run(schedule).uuid)


@shared_task(name="monitoring.reconcile", ignore_result=True)
def reconcile() -> dict[str, int]:
    """Beat, every minute: fail what waits on a job that failed or was stopped."""
    from monitoring.services import monitoring_reconcile

    return monitoring_reconcile()


# Celery autodiscovers ``tasks`` modules only; the alert deliveries' tasks live beside these.
from monitoring import alert_tasks  # noqa: E402, F401
