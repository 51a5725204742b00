"""Processing-job pages: the launch form, and the live detail page with its fragment, stop button and
"Run on SageMaker"."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from frontend.views import form_data
from jobs import selectors, services
from jobs.forms import JobCloneForm, ProcessingJobForm
from jobs.models import Job, JobKind
from jobs.views.common import (
    ARTIFACT_HINTS,
    job_clone_view,
    job_for,
    job_launch,
    job_stop_view,
    live_context,
    log_context,
    sagemaker_context,
)
from studio.models import Project
from studio.roles import Permission
from studio.selectors import artifacts_of, project_get_for


@login_required
def processing_job_create(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.CREATE)
    form = ProcessingJobForm(*form_data(request))
    created = job_launch(request, form, create=services.processing_job_create, project=project_obj)
    if created is not None:
        return created
    context = {
        "project": project_obj,
        "form": form,
        "artifact_uris": artifacts_of(project_obj).values_list("uri", flat=True)[:ARTIFACT_HINTS],
        "nav_section": "jobs",
    }
    return render(request, "jobs/processing_job_form.html", context)


def _detail_page(
    request: HttpRequest, project: Project, job: Job, *, clone_form: JobCloneForm | None = None
) -> HttpResponse:
    context = {
        **live_context(project, job),
        **log_context(job),
        **sagemaker_context(project, job, clone_form),
        "metrics": selectors.job_metric_series(job),
        "nav_section": "jobs",
    }
    return render(request, "jobs/processing_job_detail.html", context)


@login_required
def processing_job_detail(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj, job = job_for(request, project, JobKind.PROCESSING, name)
    return _detail_page(request, project_obj, job)


@login_required
def processing_job_fragment(request: HttpRequest, project: str, name: str) -> HttpResponse:
    """The live part of the detail page (header, facts, timeline), polled while the job runs."""
    project_obj, job = job_for(request, project, JobKind.PROCESSING, name)
    return render(request, "jobs/_processing_job_live.html", live_context(project_obj, job))


@login_required
@require_POST
def processing_job_stop(request: HttpRequest, project: str, name: str) -> HttpResponse:
    return job_stop_view(request, project, name, kind=JobKind.PROCESSING, stop=services.job_stop)


@login_required
@require_POST
def processing_job_clone(request: HttpRequest, project: str, name: str) -> HttpResponse:
    return job_clone_view(request, project, name, kind=JobKind.PROCESSING, detail=_detail_page)
