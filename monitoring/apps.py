from django.apps import AppConfig
from django.db.models.signals import post_delete


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Model Monitor"

    def ready(self) -> None:
        from monitoring.models import MonitoringSchedule
        from monitoring.signals import schedule_deleted

        post_delete.connect(
            schedule_deleted, sender=MonitoringSchedule, dispatch_uid="monitoring-schedule-periodic-task"
        )
