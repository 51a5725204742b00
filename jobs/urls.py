from django.urls import path

from jobs.views import common, compare, processing, training, transform, tuning

app_name = "jobs"
urlpatterns = [
    path("projects/<str:project>/jobs/", common.job_list, name="list"),
    # Outside processing/<name>/, so every valid job name (even "new") has its page.
    path(
        "projects/<str:project>/jobs/new/processing/",
        processing.processing_job_create,
        name="processing-create",
    ),
    path(
        "projects/<str:project>/jobs/processing/<str:name>/",
        processing.processing_job_detail,
        name="processing-detail",
    ),
    path(
        "projects/<str:project>/jobs/processing/<str:name>/fragment/",
        processing.processing_job_fragment,
        name="processing-fragment",
    ),
    path(
        "projects/<str:project>/jobs/processing/<str:name>/stop/",
        processing.processing_job_stop,
        name="processing-stop",
    ),
    path(
        "projects/<str:project>/jobs/processing/<str:name>/clone/",
        processing.processing_job_clone,
        name="processing-clone",
    ),
    # Training: the form and the comparison sit outside training/<name>/, so a job may be named
    # "new" or "compare" and still have its page.
    path("projects/<str:project>/jobs/new/training/", training.training_job_create, name="training-create"),
    path(
        "projects/<str:project>/jobs/compare/training/", compare.training_job_compare, name="training-compare"
    ),
    path(
        "projects/<str:project>/jobs/training/<str:name>/",
        training.training_job_detail,
        name="training-detail",
    ),
    path(
        "projects/<str:project>/jobs/training/<str:name>/fragment/",
        training.training_job_fragment,
        name="training-fragment",
    ),
    path(
        "projects/<str:project>/jobs/training/<str:name>/stop/",
        training.training_job_stop,
        name="training-stop",
    ),
    path(
        "projects/<str:project>/jobs/training/<str:name>/clone/",
        training.training_job_clone,
        name="training-clone",
    ),
    path(
        "projects/<str:project>/jobs/training/<str:name>/outputs/<str:output>/",
        training.training_job_output,
        name="training-output",
    ),
    path(
        "projects/<str:project>/jobs/new/transform/",
        transform.transform_job_create_view,
        name="transform-create",
    ),
    path(
        "projects/<str:project>/jobs/transform/<str:name>/",
        transform.transform_job_detail,
        name="transform-detail",
    ),
    path(
        "projects/<str:project>/jobs/transform/<str:name>/fragment/",
        transform.transform_job_fragment,
        name="transform-fragment",
    ),
    path(
        "projects/<str:project>/jobs/transform/<str:name>/stop/",
        transform.transform_job_stop,
        name="transform-stop",
    ),
    path(
        "projects/<str:project>/jobs/transform/<str:name>/clone/",
        transform.transform_job_clone,
        name="transform-clone",
    ),
    path(
        "projects/<str:project>/jobs/transform/<str:name>/outputs/<path:path>",
        transform.transform_job_output,
        name="transform-output",
    ),
    path(
        "projects/<str:project>/jobs/new/tuning/",
        tuning.tuning_job_create_view,
        name="tuning-create",
    ),
    path(
        "projects/<str:project>/jobs/tuning/<str:name>/",
        tuning.tuning_job_detail,
        name="tuning-detail",
    ),
    path(
        "projects/<str:project>/jobs/tuning/<str:name>/fragment/",
        tuning.tuning_job_fragment,
        name="tuning-fragment",
    ),
    path(
        "projects/<str:project>/jobs/tuning/<str:name>/stop/",
        tuning.tuning_job_stop_view,
        name="tuning-stop",
    ),
    path(
        "projects/<str:project>/jobs/tuning/<str:name>/clone/",
        tuning.tuning_job_clone_view,
        name="tuning-clone",
    ),
    # The SageMaker card's dry run, fetched when the reader opens it.
    *(
        path(
            f"projects/<str:project>/jobs/{kind}/<str:name>/sagemaker-dry-run/",
            common.job_sagemaker_dry_run,
            {"kind": kind},
            name=f"{kind}-sagemaker-dry-run",
        )
        for kind in ("processing", "training", "transform", "tuning")
    ),
]
