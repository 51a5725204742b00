from django.urls import path

from jobs import views

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
]
