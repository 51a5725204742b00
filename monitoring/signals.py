"""Receivers connected in ``MonitoringConfig.ready``."""

from __future__ import annotations

from django_celery_beat.models import PeriodicTask

from monitoring.models import MonitoringSchedule


def schedule_deleted(sender: type, instance: MonitoringSchedule, **kwargs: object) -> None:
    """Delete the schedule's beat entry however the schedule goes (its own delete, or a cascade
    from its endpoint or project): the task is SET_NULL on the schedule's side, so it would stay
    enabled and beat would keep sending runs for a schedule that no longer exists. A model
    delete (not a queryset one) so beat's change marker moves."""
    task_id = instance.periodic_task_id
    if not task_id:
        return
    _periodic_task_delete(task_id)


def _periodic_task_delete(task_id: int) -> None:
    for task in PeriodicTask.objects.filter(pk=task_id):
        task.delete()
