from django.urls import path

from jobs import views, views_tuning

app_name = "jobs"
urlpatterns = [
    path("projects/<str:project>/jobs/", views.job_list, name="list"),
    # Outside processing/<name>/, so every valid job name (even "new") has its page.
    path(
        "projects/<str:project>/jobs/new/processing/", views.processing_job_create, name="processing-create"
    ),
    path(
        "projects/<str:project>/jobs/processing/<str:name>/",
        views.processing_job_detail,
        name="processing-detail",
    ),
    path(
        "projects/<str:project>/jobs/processing/<str:name>/fragment/",
        views.processing_job_fragment,
        name="processing-fragment",
    ),
    path(
        "projects/<str:project>/jobs/processing/<str:name>/stop/",
        views.processing_job_stop,
        name="processing-stop",
    ),
    # Training: the form and the comparison sit outside training/<name>/, so a job may be named
    # "new" or "compare" and still have its page.
    path("projects/<str:project>/jobs/new/training/", views.training_job_create, name="training-create"),
    path(
        "projects/<str:project>/jobs/compare/training/", views.training_job_compare, name="training-compare"
    ),
    path(
        "projects/<str:project>/jobs/training/<str:name>/", views.training_job_detail, name="training-detail"
    ),
    path(
        "projects/<str:project>/jobs/training/<str:name>/fragment/",
        views.training_job_fragment,
        name="training-fragment",
    ),
    path(
        "projects/<str:project>/jobs/training/<str:name>/stop/", views.training_job_stop, name="training-stop"
    ),
    path(
        "projects/<str:project>/jobs/training/<str:name>/outputs/<str:output>/",
        views.training_job_output,
        name="training-output",
    ),
    path(
        "projects/<str:project>/jobs/new/tuning/",
        views_tuning.tuning_job_create_view,
        name="tuning-create",
    ),
    path(
        "projects/<str:project>/jobs/tuning/<str:name>/",
        views_tuning.tuning_job_detail,
        name="tuning-detail",
    ),
    path(
        "projects/<str:project>/jobs/tuning/<str:name>/fragment/",
        views_tuning.tuning_job_fragment,
        name="tuning-fragment",
    ),
    path(
        "projects/<str:project>/jobs/tuning/<str:name>/stop/",
        views_tuning.tuning_job_stop_view,
        name="tuning-stop",
    ),
]
