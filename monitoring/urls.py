"""Model Monitor pages. Forms live under ``new/`` so every valid schedule or baseline name has its page."""

from django.urls import path

from monitoring.views import alerts, baselines, reports, schedules

app_name = "monitoring"
urlpatterns = [
    path("projects/<str:project>/monitoring/", schedules.monitoring_home, name="home"),
    path(
        "projects/<str:project>/monitoring/new/schedule/",
        schedules.schedule_create_view,
        name="schedule-create",
    ),
    path(
        "projects/<str:project>/monitoring/new/baseline/",
        schedules.baseline_create_view,
        name="baseline-create",
    ),
    path(
        "projects/<str:project>/monitoring/new/report/",
        reports.drift_report_create_view,
        name="drift-report-create",
    ),
    path(
        "projects/<str:project>/monitoring/schedules/<str:name>/",
        schedules.schedule_detail,
        name="schedule-detail",
    ),
    path(
        "projects/<str:project>/monitoring/schedules/<str:name>/run/",
        schedules.schedule_run_view,
        name="schedule-run",
    ),
    path(
        "projects/<str:project>/monitoring/schedules/<str:name>/stop/",
        schedules.schedule_stop_view,
        name="schedule-stop",
    ),
    path(
        "projects/<str:project>/monitoring/schedules/<str:name>/start/",
        schedules.schedule_start_view,
        name="schedule-start",
    ),
    path(
        "projects/<str:project>/monitoring/schedules/<str:name>/delete/",
        schedules.schedule_delete_view,
        name="schedule-delete",
    ),
    path(
        "projects/<str:project>/monitoring/endpoints/<str:name>/",
        schedules.endpoint_monitoring,
        name="endpoint-monitoring",
    ),
    path("projects/<str:project>/monitoring/baselines/", baselines.baseline_list, name="baseline-list"),
    path(
        "projects/<str:project>/monitoring/baselines/<str:name>/",
        baselines.baseline_detail,
        name="baseline-latest",
    ),
    path(
        "projects/<str:project>/monitoring/baselines/<str:name>/v<int:version>/",
        baselines.baseline_detail,
        name="baseline-detail",
    ),
    path(
        "projects/<str:project>/monitoring/baselines/<str:name>/v<int:version>/constraints/",
        baselines.baseline_constraints_view,
        name="baseline-constraints",
    ),
    path("projects/<str:project>/monitoring/reports/", reports.drift_report_list, name="drift-report-list"),
    path(
        "projects/<str:project>/monitoring/reports/<uuid:report>/",
        reports.drift_report_detail,
        name="drift-report-detail",
    ),
    path("projects/<str:project>/monitoring/alerts/", alerts.alert_list, name="alert-list"),
    path(
        "projects/<str:project>/monitoring/alerts/<int:alert_id>/acknowledge/",
        alerts.alert_acknowledge_view,
        name="alert-acknowledge",
    ),
]
