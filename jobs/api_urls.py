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
    path("training-jobs/", api.TrainingJobListApi.as_view(), name="api-training-jobs"),
    path("training-jobs/<str:name>/", api.TrainingJobDetailApi.as_view(), name="api-training-job"),
    path("training-jobs/<str:name>/stop/", api.TrainingJobStopApi.as_view(), name="api-training-job-stop"),
    path("training-jobs/<str:name>/logs/", api.TrainingJobLogsApi.as_view(), name="api-training-job-logs"),
    path(
        "training-jobs/<str:name>/metrics/",
        api.TrainingJobMetricsApi.as_view(),
        name="api-training-job-metrics",
    ),
    path(
        "training-jobs/<str:name>/evaluation/",
        api.TrainingJobEvaluationApi.as_view(),
        name="api-training-job-evaluation",
    ),
]
