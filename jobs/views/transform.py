"""Batch transform job pages: the launch form, the live detail page (with its outputs and the records
that failed), its fragment, stop button and "Run on SageMaker", and the download of an output file."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from endpoints.models import Model
from frontend.views import form_data
from jobs import services
from jobs.forms import JobCloneForm
from jobs.forms.transform import TransformJobForm
from jobs.models import Job, JobKind
from jobs.services.transform import transform_job_create
from jobs.views.common import (
    ARTIFACT_HINTS,
    job_clone_view,
    job_for,
    job_launch,
    job_output_response,
    job_stop_view,
    live_context,
    log_context,
    sagemaker_context,
)
from jobs.views.training import _dataset_version_choices
from studio.models import Project
from studio.roles import Permission
from studio.selectors import artifacts_of, project_get_for

MODEL_CHOICES = 500


def _model_choices(project: Project) -> list[tuple[str, str]]:
    """The project's models, newest first; one whose pickles nobody trusted yet says so."""
    rows = Model.objects.filter(project=project).values_list("name", "pickle_files", "trusted_at")
    return [
        (name, f"{name} (an admin must trust its pickles)" if pickles and trusted_at is None else name)
        for name, pickles, trusted_at in rows[:MODEL_CHOICES]
    ]


@login_required
def transform_job_create_view(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.CREATE)
    initial = {"model": request.GET.get("model", "")}
    form = TransformJobForm(*form_data(request), initial=initial, models=_model_choices(project_obj))
    created = job_launch(request, form, create=transform_job_create, project=project_obj)
    if created is not None:
        return created
    context = {
        "project": project_obj,
        "form": form,
        "input_uris": [
            *(value for value, _ in _dataset_version_choices(project_obj)),
            *artifacts_of(project_obj).values_list("uri", flat=True)[:ARTIFACT_HINTS],
        ],
        "nav_section": "jobs",
    }
    return render(request, "jobs/transform_job_form.html", context)


def _transform_live_context(project: Project, job: Job) -> dict:
    """The header, facts, timeline, output files and failed records: the page and its fragment share them."""
    files, failed = [], []
    for item in job.outputs:
        link = reverse("jobs:transform-output", args=[project.name, job.name, item["name"]])
        (failed if item.get("kind") == "errors" else files).append({**item, "download": link})
    return {**live_context(project, job), "output_files": files, "failed_files": failed}


def _detail_page(
    request: HttpRequest, project: Project, job: Job, *, clone_form: JobCloneForm | None = None
) -> HttpResponse:
    context = {
        **_transform_live_context(project, job),
        **log_context(job),
        **sagemaker_context(project, job, clone_form),
        "nav_section": "jobs",
    }
    return render(request, "jobs/transform_job_detail.html", context)


@login_required
def transform_job_detail(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj, job = job_for(request, project, JobKind.TRANSFORM, name)
    return _detail_page(request, project_obj, job)


@login_required
def transform_job_fragment(request: HttpRequest, project: str, name: str) -> HttpResponse:
    """The live part of the detail page, polled while the job runs."""
    project_obj, job = job_for(request, project, JobKind.TRANSFORM, name)
    return render(request, "jobs/_transform_job_live.html", _transform_live_context(project_obj, job))


@login_required
@require_POST
def transform_job_stop(request: HttpRequest, project: str, name: str) -> HttpResponse:
    return job_stop_view(request, project, name, kind=JobKind.TRANSFORM, stop=services.job_stop)


@login_required
@require_POST
def transform_job_clone(request: HttpRequest, project: str, name: str) -> HttpResponse:
    return job_clone_view(request, project, name, kind=JobKind.TRANSFORM, detail=_detail_page)


@login_required
def transform_job_output(request: HttpRequest, project: str, name: str, path: str) -> FileResponse:
    """Download one of the job's files (``<input>.out`` or ``<input>.errors.jsonl``) from the store."""
    project_obj, job = job_for(request, project, JobKind.TRANSFORM, name)
    return job_output_response(project_obj, job, path, filename=path.rsplit("/", 1)[-1])
