"""Job pages: the list, the processing-job launch form, and the live detail page with its fragment."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from frontend.views import PAGE_SIZE, form_data, format_duration, with_durations
from jobs import selectors, services
from jobs.forms import JobFilterForm, ProcessingJobForm
from jobs.models import Job, JobKind, JobStatus
from studio.models import Project
from studio.roles import Permission, role_allows
from studio.selectors import artifacts_of, project_get_for

# The first page shows the end of the log; the rest is a click (or an API call) away.
LOG_TAIL_CHARS = 64 * 1024
ARTIFACT_HINTS = 200
STOPPABLE = frozenset({JobStatus.PENDING, JobStatus.IN_PROGRESS})


@login_required
def job_list(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    filters = JobFilterForm(request.GET)
    filters.is_valid()  # an unknown status is ignored by the selector; the form only echoes the values
    page = Paginator(selectors.jobs_of(project_obj, filters=request.GET), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    with_durations(page.object_list)
    context = {
        "project": project_obj,
        "page": page,
        "filters": filters,
        "filtered": bool(request.GET.get("status") or request.GET.get("name")),
        "can_create": role_allows(project_obj.user_role, Permission.CREATE),
        "nav_section": "jobs",
    }
    return render(request, "jobs/job_list.html", context)


@login_required
def processing_job_create(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.CREATE)
    form = ProcessingJobForm(*form_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            job, _ = services.processing_job_create(
                project=project_obj, user=request.user, **form.service_arguments()
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Processing job {job.name} created.")
            return redirect("jobs:processing-detail", project=project, name=job.name)
    context = {
        "project": project_obj,
        "form": form,
        "artifact_uris": artifacts_of(project_obj).values_list("uri", flat=True)[:ARTIFACT_HINTS],
        "nav_section": "jobs",
    }
    return render(request, "jobs/processing_job_form.html", context)


def _live_context(project: Project, job: Job) -> dict:
    """What the header, facts and timeline need: the page and its polled fragment share it."""
    return {
        "project": project,
        "job": job,
        "events": list(job.events.all()),
        "duration": format_duration(job.duration_seconds),
        "max_runtime": format_duration(job.max_runtime_seconds),
        "can_stop": job.status in STOPPABLE and role_allows(project.user_role, Permission.OPERATE),
        "configured_outputs": job.spec.get("outputs", []),
        "input_channels": job.spec.get("inputs", []),
    }


@login_required
def processing_job_detail(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    job = selectors.job_get(project_obj, JobKind.PROCESSING, name)
    log = selectors.job_log_read(job, offset=max(0, job.log_size - LOG_TAIL_CHARS), limit=LOG_TAIL_CHARS)
    names = {"project": project, "name": name}
    context = {
        **_live_context(project_obj, job),
        "log": log,
        "log_truncated": log["offset"] > 0,
        "metrics": selectors.job_metric_series(job),
        "fragment_url": reverse("jobs:processing-fragment", kwargs=names),
        "logs_url": reverse("api-processing-job-logs", kwargs=names),
        "metrics_url": reverse("api-processing-job-metrics", kwargs=names),
        "nav_section": "jobs",
    }
    return render(request, "jobs/processing_job_detail.html", context)


@login_required
def processing_job_fragment(request: HttpRequest, project: str, name: str) -> HttpResponse:
    """The live part of the detail page (header, facts, timeline), polled while the job runs."""
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    job = selectors.job_get(project_obj, JobKind.PROCESSING, name)
    return render(request, "jobs/_processing_job_live.html", _live_context(project_obj, job))


@login_required
@require_POST
def processing_job_stop(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.OPERATE)
    job = selectors.job_get(project_obj, JobKind.PROCESSING, name)
    try:
        job = services.job_stop(job=job, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Stop requested: {job.name} is {job.status}.")
    return redirect("jobs:processing-detail", project=project, name=name)
