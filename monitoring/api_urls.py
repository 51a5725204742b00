"""Model Monitor's API routes, under /api/v1/projects/{project}/."""

from django.urls import include, path

from monitoring import api

urlpatterns = [
    path("monitoring-baselines/", api.BaselineListApi.as_view(), name="api-monitoring-baselines"),
    path("monitoring-baselines/<str:name>/", api.BaselineDetailApi.as_view(), name="api-monitoring-baseline"),
    path(
        "monitoring-baselines/<str:name>/versions/",
        api.BaselineVersionListApi.as_view(),
        name="api-monitoring-baseline-versions",
    ),
    path(
        "monitoring-baselines/<str:name>/versions/<int:version>/",
        api.BaselineVersionDetailApi.as_view(),
        name="api-monitoring-baseline-version",
    ),
    path(
        "monitoring-baselines/<str:name>/constraints/",
        api.BaselineConstraintsApi.as_view(),
        name="api-monitoring-baseline-constraints",
    ),
    path("monitoring-schedules/", api.ScheduleListApi.as_view(), name="api-monitoring-schedules"),
    path("monitoring-schedules/<str:name>/", api.ScheduleDetailApi.as_view(), name="api-monitoring-schedule"),
    path(
        "monitoring-schedules/<str:name>/stop/",
        api.ScheduleStopApi.as_view(),
        name="api-monitoring-schedule-stop",
    ),
    path(
        "monitoring-schedules/<str:name>/start/",
        api.ScheduleStartApi.as_view(),
        name="api-monitoring-schedule-start",
    ),
    path(
        "monitoring-schedules/<str:name>/run/",
        api.ScheduleRunApi.as_view(),
        name="api-monitoring-schedule-run",
    ),
    path(
        "monitoring-schedules/<str:name>/executions/",
        api.ScheduleExecutionListApi.as_view(),
        name="api-monitoring-schedule-executions",
    ),
    path(
        "monitoring-executions/<uuid:execution_uuid>/",
        api.ExecutionDetailApi.as_view(),
        name="api-monitoring-execution",
    ),
    path("drift-reports/", api.DriftReportListApi.as_view(), name="api-drift-reports"),
    path("drift-reports/<uuid:report_uuid>/", api.DriftReportDetailApi.as_view(), name="api-drift-report"),
    path(
        "endpoints/<str:name>/ground-truth/", api.GroundTruthApi.as_view(), name="api-endpoint-ground-truth"
    ),
    path("", include("monitoring.api_alert_urls")),
]
