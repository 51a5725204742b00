"""What the job pages share: the job list, the live context of a detail page and its fragment,
the log tail, launching from a form, the stop button, and the SageMaker card ("Run on SageMaker",
its dry run, fetched only when the reader opens it, or the request sent)."""

from __future__ import annotations

import json
from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.dateparse import parse_datetime

from cloud.clients import AwsNotConfigured, aws_settings_of
from frontend.views import PAGE_SIZE, format_duration, with_durations
from jobs import selectors
from jobs.forms import JobCloneForm, JobFilterForm
from jobs.models import Backend, Job, JobKind, JobStatus
from jobs.services.clone import clone_name_suggestion, job_clone
from studio.artifacts import ArtifactError, project_prefix, store_for, uri_is_under
from studio.models import Project
from studio.roles import Permission, role_allows
from studio.selectors import project_get_for

# The first page shows the end of the log; the rest is a click (or an API call) away.
LOG_TAIL_CHARS = 64 * 1024
ARTIFACT_HINTS = 200
STOPPABLE = frozenset({JobStatus.PENDING, JobStatus.IN_PROGRESS})
# A metric chart draws each series downsampled to about this many points.
CHART_MAX_POINTS = selectors.DEFAULT_MAX_POINTS


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
        "filtered": any(request.GET.get(key) for key in ("status", "name", "kind")),
        "can_create": role_allows(project_obj.user_role, Permission.CREATE),
        "nav_section": "jobs",
    }
    return render(request, "jobs/job_list.html", context)


def job_for(
    request: HttpRequest, project: str, kind: str, name: str, permission: Permission = Permission.VIEW
) -> tuple[Project, Job]:
    """The project, if the user may do ``permission`` in it, and its job of ``kind`` named ``name``."""
    project_obj = project_get_for(request.user, project, permission)
    return project_obj, selectors.job_get(project_obj, kind, name)


def can_stop(project: Project, job: Job) -> bool:
    """Whether the page offers the stop button: the job may still stop and the user may operate."""
    return job.status in STOPPABLE and role_allows(project.user_role, Permission.OPERATE)


def live_context(project: Project, job: Job) -> dict:
    """What the header, facts and timeline need: the page and its polled fragment share it."""
    return {
        "project": project,
        "job": job,
        "events": list(job.events.all()),
        "duration": format_duration(job.duration_seconds),
        "max_runtime": format_duration(job.max_runtime_seconds),
        "can_stop": can_stop(project, job),
        "configured_outputs": job.spec.get("outputs", []),
        "input_channels": job.spec.get("inputs", []),
    }


def log_context(job: Job) -> dict:
    """The log's tail and the URLs a detail page polls: its fragment (``jobs:<kind>-fragment``), and
    the job's logs and metrics in the API (``api-<kind>-job-logs``, ``api-<kind>-job-metrics``)."""
    log = selectors.job_log_read(job, offset=max(0, job.log_size - LOG_TAIL_CHARS), limit=LOG_TAIL_CHARS)
    names = {"project": job.project.name, "name": job.name}
    return {
        "log": log,
        "log_truncated": log["offset"] > 0,
        "fragment_url": reverse(f"jobs:{job.kind}-fragment", kwargs=names),
        "logs_url": reverse(f"api-{job.kind}-job-logs", kwargs=names),
        "metrics_url": reverse(f"api-{job.kind}-job-metrics", kwargs=names),
    }


def job_launch(
    request: HttpRequest, form: forms.Form, *, create: Callable, project: Project
) -> HttpResponse | None:
    """Create the job a bound, valid ``form`` describes; the redirect to its page (``jobs:<kind>-detail``),
    or None to show the form again (unbound, invalid, or with the service's errors on its fields)."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        job, _ = create(project=project, user=request.user, **form.service_arguments())  # type: ignore[attr-defined]
    except ValidationError as exc:
        form.add_service_errors(exc)  # type: ignore[attr-defined]
        return None
    messages.success(request, f"{JobKind(job.kind).label} {job.name} created.")
    return redirect(f"jobs:{job.kind}-detail", project=project.name, name=job.name)


def job_stop_view(
    request: HttpRequest, project: str, name: str, *, kind: str, stop: Callable
) -> HttpResponse:
    """Ask ``stop`` to stop the job; back to its page (``jobs:<kind>-detail``) with what happened."""
    _, job = job_for(request, project, kind, name, Permission.OPERATE)
    try:
        job = stop(job=job, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Stop requested: {job.name} is {job.status}.")
    return redirect(f"jobs:{kind}-detail", project=project, name=name)


def _pretty_json(value: object) -> str:
    return json.dumps(value, indent=2, default=str)


def _aws_settings_url(project: Project) -> str:
    """The project's AWS settings page, or "" where this install has none."""
    try:
        return reverse("cloud:aws-settings", kwargs={"project": project.name})
    except NoReverseMatch:
        return ""


def _sent_request(job: Job) -> dict | None:
    """The request the driver recorded as sent for ``job``, or None when none was sent."""
    if not job.remote.get("request"):
        return None
    return {
        "operation": job.remote["operation"],
        "request_json": _pretty_json(job.remote["request"]),
        "prerequisites": [
            {"operation": item["operation"], "json": _pretty_json(item["request"])}
            for item in job.remote.get("prerequisites", [])
        ],
    }


def _operation_of(job: Job) -> str:
    """The SageMaker call that sends a job of this kind ("" for a kind that never runs there)."""
    from jobs.backends.sagemaker.requests import BUILDERS

    operation, _ = BUILDERS.get(JobKind(job.kind), ("", None))
    return operation


def sagemaker_context(project: Project, job: Job, clone_form: JobCloneForm | None = None) -> dict:
    """The SageMaker card: where the job runs there (name, ARN, region), the request sent or the
    place of its dry run, and for whoever may create jobs the form that runs it again on the other
    backend (``clone_form``: a bound one with its errors).

    Cheap on every view: a sent job shows what it recorded; the dry run (which lists the job's
    inputs and reads a transform job's model) is built only when the reader opens it
    (``job_sagemaker_dry_run``). Only missing AWS settings are said at once."""
    remote = selectors.job_sagemaker_of(job)
    if remote and remote["sent_at"]:
        remote["sent_at"] = parse_datetime(remote["sent_at"])
    sent = _sent_request(job)
    error = ""
    if sent is None:
        try:
            aws_settings_of(project)
        except AwsNotConfigured as exc:
            error = str(exc)
    other = Backend.LOCAL if job.backend == Backend.SAGEMAKER else Backend.SAGEMAKER
    if clone_form is None and role_allows(project.user_role, Permission.CREATE):
        clone_form = JobCloneForm(initial={"name": clone_name_suggestion(job, other), "backend": other})
    names = {"project": project.name, "name": job.name}
    return {
        "sagemaker": {
            "on_sagemaker": job.backend == Backend.SAGEMAKER,
            "remote": remote,
            "sent": sent,
            "error": error,
            "operation": sent["operation"] if sent else _operation_of(job),
            "dry_run_url": reverse(f"jobs:{job.kind}-sagemaker-dry-run", kwargs=names),
            "request_api_url": reverse(f"api-{job.kind}-job-sagemaker-request", kwargs=names),
            "aws_settings_url": _aws_settings_url(project),
            "other_backend": other,
            "clone_form": clone_form,
            "clone_url": reverse(f"jobs:{job.kind}-clone", kwargs=names),
        }
    }


@login_required
def job_sagemaker_dry_run(request: HttpRequest, project: str, name: str, *, kind: str) -> HttpResponse:
    """The body of the card's "Dry run": the request that would be sent (built without uploading or
    sending anything), or why none can be built; a job sent since shows the request it sent."""
    from jobs.backends.sagemaker.driver import sagemaker_request_preview  # the driver imports services

    project_obj, job = job_for(request, project, kind, name)
    preview = sagemaker_request_preview(job)
    context = {
        "preview": preview,
        "request_json": _pretty_json(preview["request"]) if preview["request"] is not None else "",
        "prerequisites": [
            {"operation": item["operation"], "json": _pretty_json(item["request"])}
            for item in preview["prerequisites"]
        ],
        "aws_settings_url": _aws_settings_url(project_obj),
    }
    return render(request, "jobs/_job_sagemaker_dry_run.html", context)


def job_clone_view(
    request: HttpRequest,
    project: str,
    name: str,
    *,
    kind: str,
    detail: Callable[..., HttpResponse],
) -> HttpResponse:
    """Run the job again on the backend the form names (``job_clone``): the new job's page
    (``jobs:<kind>-detail``), or the job's page again (``detail(request, project, job, clone_form=)``)
    with the form's errors."""
    project_obj, job = job_for(request, project, kind, name, Permission.CREATE)
    form = JobCloneForm(request.POST)
    if form.is_valid():
        try:
            clone = job_clone(job=job, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            where = "Amazon SageMaker" if clone.backend == Backend.SAGEMAKER else "this machine"
            messages.success(request, f"{JobKind(kind).label} {clone.name} created, on {where}.")
            return redirect(f"jobs:{kind}-detail", project=project, name=clone.name)
    return detail(request, project_obj, job, clone_form=form)


def job_output_response(project: Project, job: Job, output: str, *, filename: str = "") -> FileResponse:
    """Download the job's output named ``output`` from the store (as ``filename``, by default the
    last part of its URI); 404 for one the job does not have, outside the project, or gone."""
    item = next((item for item in job.outputs if item.get("name") == output), None)
    if item is None or not uri_is_under(item["uri"], project_prefix(project.name)):
        raise Http404(f"{JobKind(job.kind).label} {job.name!r} has no output {output!r}.")
    try:
        stream = store_for(item["uri"]).open(item["uri"])
    except (ArtifactError, OSError) as exc:
        raise Http404(f"The output {output!r} is no longer in the store.") from exc
    return FileResponse(stream, as_attachment=True, filename=filename or item["uri"].rsplit("/", 1)[-1])
