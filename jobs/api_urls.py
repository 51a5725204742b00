from django.urls import path

from jobs import api

urlpatterns = [
    path("processing-jobs/", api.ProcessingJobListApi.as_view(), name="api-processing-jobs"),
    path("processing-jobs/<str:name>/", api.ProcessingJobDetailApi.as_view(), name="api-processing-job"),
    path(
        "processing-jobs/<str:name>/stop/", api.ProcessingJobStopApi.as_view(), name="api-processing-job-stop"
    ),
    path(
        "processing-jobs/<str:name>/logs/", api.ProcessingJobLogsApi.as_view(), name="api-processing-job-logs"
    ),
    path(
        "processing-jobs/<str:name>/metrics/",
        api.ProcessingJobMetricsApi.as_view(),
        name="api-processing-job-metrics",
    ),
]
