from django.urls import path

from jobs import api, api_tuning

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
    path("tuning-jobs/", api_tuning.TuningJobListApi.as_view(), name="api-tuning-jobs"),
    path("tuning-jobs/<str:name>/", api_tuning.TuningJobDetailApi.as_view(), name="api-tuning-job"),
    path("tuning-jobs/<str:name>/stop/", api_tuning.TuningJobStopApi.as_view(), name="api-tuning-job-stop"),
    path(
        "tuning-jobs/<str:name>/trials/",
        api_tuning.TuningJobTrialListApi.as_view(),
        name="api-tuning-job-trials",
    ),
]
