"""Tuning-job pages: the launch form, and the live detail page with its trials, charts and "Run on
SageMaker".

The detail page polls its fragment until the job ends; the charts are ``jobs.charts.tuning``'s.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from frontend.views import PAGE_SIZE, form_data, format_duration
from jobs.algorithms.registry import ALGORITHMS
from jobs.charts.common import format_metric
from jobs.charts.tuning import tuning_figures
from jobs.forms import JobCloneForm, TuningJobForm
from jobs.models import Job, JobKind
from jobs.services.tuning import parameter_ranges_dict, tuning_job_create, tuning_job_stop
from jobs.tuning import tuning_overview, tuning_trials
from jobs.views.common import (
    can_stop,
    job_clone_view,
    job_for,
    job_launch,
    job_stop_view,
    sagemaker_context,
)
from studio.models import Project
from studio.roles import Permission
from studio.selectors import project_get_for

TRIAL_ORDERS = {
    "": "Launch order",
    "objective": "Best objective first",
    "-objective": "Worst objective first",
}


@login_required
def tuning_job_create_view(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.CREATE)
    form = TuningJobForm(*form_data(request))
    created = job_launch(request, form, create=tuning_job_create, project=project_obj)
    if created is not None:
        return created
    metric_names = sorted(
        {
            f"{channel}:{metric.name}"
            for algorithm in ALGORITHMS.values()
            for channel in algorithm.channels
            for metric in algorithm.metrics
        }
    )
    context = {"project": project_obj, "form": form, "metric_names": metric_names, "nav_section": "jobs"}
    return render(request, "jobs/tuning_job_form.html", context)


def training_job_url(project: str, name: str) -> str:
    """The training job's page, or its API description where this install has no such page."""
    try:
        return reverse("jobs:training-detail", kwargs={"project": project, "name": name})
    except NoReverseMatch:
        return reverse("api-training-job", kwargs={"project": project, "name": name})


def _tuning_live_context(request: HttpRequest, project: Project, job: Job) -> dict:
    """The live part: header, counters, best job, charts and trials; the page and its fragment share it."""
    config = job.spec
    overview = tuning_overview(job)
    order = request.GET.get("order", "")
    order = order if order in TRIAL_ORDERS else ""
    page = Paginator(tuning_trials(job, order=order), PAGE_SIZE).get_page(request.GET.get("page"))
    for trial in page.object_list:
        trial.duration_display = format_duration(trial.duration_seconds)  # type: ignore[attr-defined]
        trial.url = training_job_url(project.name, trial.name)  # type: ignore[attr-defined]
        trial.tuned = (trial.spec.get("tuning") or {}).get("parameters", {})  # type: ignore[attr-defined]
        trial.objective_display = format_metric(trial.objective)  # type: ignore[attr-defined]
    best = overview["best_training_job"]
    if best:
        best = {
            **best,
            "url": training_job_url(project.name, best["training_job_name"]),
            "value": format_metric(best["final_objective_metric"]["value"]),
        }
    hyperband = (config.get("strategy_config") or {}).get("hyperband")
    return {
        "project": project,
        "job": job,
        "config": config,
        "definition": config["training_definition"],
        "parameter_ranges": parameter_ranges_dict(config["ranges"]),
        "hyperband": hyperband,
        "warm_start": config.get("warm_start"),
        "training_counters": overview["training_job_status_counters"],
        "objective_counters": overview["objective_status_counters"],
        "launched": len(overview["trials"]),
        "best": best,
        "importances": overview["importances"],
        "figures": tuning_figures(config, overview["trials"], overview["importances"]),
        "page": page,
        "order": order,
        "orders": TRIAL_ORDERS,
        "duration": format_duration(job.duration_seconds),
        "can_stop": can_stop(project, job),
    }


def _detail_page(
    request: HttpRequest, project: Project, job: Job, *, clone_form: JobCloneForm | None = None
) -> HttpResponse:
    names = {"project": project.name, "name": job.name}
    context = {
        **_tuning_live_context(request, project, job),
        **sagemaker_context(project, job, clone_form),
        "fragment_url": reverse("jobs:tuning-fragment", kwargs=names),
        "api_url": reverse("api-tuning-job", kwargs=names),
        "nav_section": "jobs",
    }
    return render(request, "jobs/tuning_job_detail.html", context)


@login_required
def tuning_job_detail(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj, job = job_for(request, project, JobKind.TUNING, name)
    return _detail_page(request, project_obj, job)


@login_required
def tuning_job_fragment(request: HttpRequest, project: str, name: str) -> HttpResponse:
    """The live part of the detail page, polled while the tuning job runs."""
    project_obj, job = job_for(request, project, JobKind.TUNING, name)
    return render(request, "jobs/tuning_job_live.html", _tuning_live_context(request, project_obj, job))


@login_required
@require_POST
def tuning_job_stop_view(request: HttpRequest, project: str, name: str) -> HttpResponse:
    return job_stop_view(request, project, name, kind=JobKind.TUNING, stop=tuning_job_stop)


@login_required
@require_POST
def tuning_job_clone_view(request: HttpRequest, project: str, name: str) -> HttpResponse:
    return job_clone_view(request, project, name, kind=JobKind.TUNING, detail=_detail_page)
