from django.urls import path

from jobs.api import processing, training, transform, tuning

urlpatterns = [
    path("processing-jobs/", processing.ProcessingJobListApi.as_view(), name="api-processing-jobs"),
    path(
        "processing-jobs/<str:name>/", processing.ProcessingJobDetailApi.as_view(), name="api-processing-job"
    ),
    path(
        "processing-jobs/<str:name>/stop/",
        processing.ProcessingJobStopApi.as_view(),
        name="api-processing-job-stop",
    ),
    path(
        "processing-jobs/<str:name>/logs/",
        processing.ProcessingJobLogsApi.as_view(),
        name="api-processing-job-logs",
    ),
    path(
        "processing-jobs/<str:name>/metrics/",
        processing.ProcessingJobMetricsApi.as_view(),
        name="api-processing-job-metrics",
    ),
    path("training-jobs/", training.TrainingJobListApi.as_view(), name="api-training-jobs"),
    path("training-jobs/<str:name>/", training.TrainingJobDetailApi.as_view(), name="api-training-job"),
    path(
        "training-jobs/<str:name>/stop/", training.TrainingJobStopApi.as_view(), name="api-training-job-stop"
    ),
    path(
        "training-jobs/<str:name>/logs/", training.TrainingJobLogsApi.as_view(), name="api-training-job-logs"
    ),
    path(
        "training-jobs/<str:name>/metrics/",
        training.TrainingJobMetricsApi.as_view(),
        name="api-training-job-metrics",
    ),
    path(
        "training-jobs/<str:name>/evaluation/",
        training.TrainingJobEvaluationApi.as_view(),
        name="api-training-job-evaluation",
    ),
    path("transform-jobs/", transform.TransformJobListApi.as_view(), name="api-transform-jobs"),
    path("transform-jobs/<str:name>/", transform.TransformJobDetailApi.as_view(), name="api-transform-job"),
    path(
        "transform-jobs/<str:name>/stop/",
        transform.TransformJobStopApi.as_view(),
        name="api-transform-job-stop",
    ),
    path(
        "transform-jobs/<str:name>/logs/",
        transform.TransformJobLogsApi.as_view(),
        name="api-transform-job-logs",
    ),
    path(
        "transform-jobs/<str:name>/metrics/",
        transform.TransformJobMetricsApi.as_view(),
        name="api-transform-job-metrics",
    ),
    path("tuning-jobs/", tuning.TuningJobListApi.as_view(), name="api-tuning-jobs"),
    path("tuning-jobs/<str:name>/", tuning.TuningJobDetailApi.as_view(), name="api-tuning-job"),
    path("tuning-jobs/<str:name>/stop/", tuning.TuningJobStopApi.as_view(), name="api-tuning-job-stop"),
    path(
        "tuning-jobs/<str:name>/trials/",
        tuning.TuningJobTrialListApi.as_view(),
        name="api-tuning-job-trials",
    ),
    # Every kind: run it again under a new name, on either backend; its SageMaker request (sent, or a
    # dry run).
    path(
        "processing-jobs/<str:name>/clone/",
        processing.ProcessingJobCloneApi.as_view(),
        name="api-processing-job-clone",
    ),
    path(
        "processing-jobs/<str:name>/sagemaker-request/",
        processing.ProcessingJobSageMakerRequestApi.as_view(),
        name="api-processing-job-sagemaker-request",
    ),
    path(
        "training-jobs/<str:name>/clone/",
        training.TrainingJobCloneApi.as_view(),
        name="api-training-job-clone",
    ),
    path(
        "training-jobs/<str:name>/sagemaker-request/",
        training.TrainingJobSageMakerRequestApi.as_view(),
        name="api-training-job-sagemaker-request",
    ),
    path(
        "transform-jobs/<str:name>/clone/",
        transform.TransformJobCloneApi.as_view(),
        name="api-transform-job-clone",
    ),
    path(
        "transform-jobs/<str:name>/sagemaker-request/",
        transform.TransformJobSageMakerRequestApi.as_view(),
        name="api-transform-job-sagemaker-request",
    ),
    path("tuning-jobs/<str:name>/clone/", tuning.TuningJobCloneApi.as_view(), name="api-tuning-job-clone"),
    path(
        "tuning-jobs/<str:name>/sagemaker-request/",
        tuning.TuningJobSageMakerRequestApi.as_view(),
        name="api-tuning-job-sagemaker-request",
    ),
]
