"""Endpoint pages: the deploy form (model, endpoint config and endpoint in one step), the list, the
detail page with its live fragment, weights, blue/green update and delete, and the metrics JSON."""

from __future__ import annotations

import contextlib
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from endpoints import selectors
from endpoints.charts import metric_figures
from endpoints.forms import ConsoleForm, DeployForm, EndpointUpdateForm, WeightsForm
from endpoints.models import Endpoint, EndpointStatus
from endpoints.serializers import SAGEMAKER_FIELDS
from endpoints.services.configs import endpoint_config_create
from endpoints.services.endpoints import (
    endpoint_create,
    endpoint_delete,
    endpoint_update,
    endpoint_update_weights,
)
from endpoints.services.models import model_create
from endpoints.views.common import CHOICES_LIMIT, may, page_context
from frontend.views import PAGE_SIZE, form_data
from jobs import selectors as job_selectors
from jobs.models import Backend, JobKind
from monitoring import selectors as monitoring_selectors
from studio.models import Project
from studio.roles import Permission
from studio.selectors import project_get_for

# The page polls its fragment while the endpoint is moving; these statuses stay until someone acts.
STABLE = frozenset({EndpointStatus.IN_SERVICE, EndpointStatus.FAILED})
TIMELINE_EVENTS = 100
SAMPLES = 20
DEFAULT_MINUTES = 60
MINUTE_CHOICES = (15, 60, 180, 720, 1440)


# --- Deploy ---------------------------------------------------------------------------------------


def _deploy_initial(request: HttpRequest, project: Project) -> dict:
    """The form's starting values: the training job's (new) model or the ``?model=`` one, with names."""
    job_name, model_name = request.GET.get("training_job", ""), request.GET.get("model", "")
    initial: dict = {}
    base = model_name
    if job_name:
        job = job_selectors.job_get(project, JobKind.TRAINING, job_name)
        existing = selectors.model_from_training_job(project, job.name)
        if existing is not None:  # deployed before: reuse its model rather than make another
            initial["model"] = base = existing.name
        else:
            base = selectors.model_free_name(project, job.name)
            initial.update(training_job=job.name, model_name=base)
    elif model_name:
        initial["model"] = model_name
    if base:
        endpoint_name = selectors.endpoint_free_name(project, base)
        initial.update(
            endpoint_name=endpoint_name,
            config_name=selectors.config_free_name(project, f"{endpoint_name}-config"),
        )
    return initial


def _deploy(form: DeployForm, project: Project, request: HttpRequest) -> Endpoint | None:
    """Model (from a training job), endpoint config and endpoint, all or nothing; None with the
    services' errors on the form."""
    data, user, stage = form.cleaned_data, request.user, "model"
    try:
        with transaction.atomic():
            model_name = data["model"]
            if data["training_job"]:
                model_name = model_create(project=project, user=user, **form.model_arguments())[0].name
            endpoint_name = data["endpoint_name"] or selectors.endpoint_free_name(project, model_name)
            config_name = data["config_name"] or selectors.config_free_name(
                project, f"{endpoint_name}-config"
            )
            stage = "config"
            config, _ = endpoint_config_create(
                project=project, user=user, **form.config_arguments(model=model_name, name=config_name)
            )
            stage = "endpoint"
            endpoint, _ = endpoint_create(
                project=project,
                user=user,
                name=endpoint_name,
                endpoint_config=config.name,
                backend=data["backend"],
            )
    except ValidationError as exc:
        form.add_stage_errors(stage, exc)
        return None
    return endpoint


@login_required
def endpoint_deploy(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.OPERATE)
    initial = _deploy_initial(request, project_obj) if request.method != "POST" else {}
    models = selectors.model_choices(project_obj, CHOICES_LIMIT)
    form = DeployForm(*form_data(request), initial=initial, models=models)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["training_job"] and not may(project_obj, Permission.CREATE):
            raise PermissionDenied(f"Your role in {project_obj.name} does not allow creating models.")
        endpoint = _deploy(form, project_obj, request)
        if endpoint is not None:
            messages.success(request, f"Endpoint {endpoint.name} is {endpoint.status}.")
            return redirect("endpoints:endpoint-detail", project=project_obj.name, name=endpoint.name)
    job_url = ""
    if job_name := form["training_job"].value():
        with contextlib.suppress(NoReverseMatch):  # a posted name no job could have
            job_url = reverse("jobs:training-detail", args=[project_obj.name, job_name])
    return render(
        request, "endpoints/deploy_form.html", page_context(project_obj, form=form, job_url=job_url)
    )


# --- List and detail ------------------------------------------------------------------------------


@login_required
def endpoint_list(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    page = Paginator(selectors.endpoints_of_project(project_obj), PAGE_SIZE).get_page(request.GET.get("page"))
    context = page_context(project_obj, page=page, can_deploy=may(project_obj, Permission.OPERATE))
    return render(request, "endpoints/endpoint_list.html", context)


def _sagemaker_context(endpoint: Endpoint) -> dict | None:
    """An endpoint on SageMaker: its names there, ARN, last status and the requests sent (as JSON)."""
    if endpoint.backend != Backend.SAGEMAKER:
        return None
    remote = endpoint.remote
    return {
        **{field: remote.get(field) for field in SAGEMAKER_FIELDS},
        "variants": remote.get("variants", []),
        "requests_json": json.dumps(remote.get("requests", []), indent=2, default=str),
    }


def _live_context(project: Project, endpoint: Endpoint) -> dict:
    """The header, status, timeline and instances: the page and its polled fragment share them."""
    events = list(endpoint.events.order_by("-created_at", "-id")[:TIMELINE_EVENTS])
    sagemaker = _sagemaker_context(endpoint)
    return page_context(
        project,
        endpoint=endpoint,
        stable=endpoint.status in STABLE,
        events=events[::-1],
        instances=[] if sagemaker else list(endpoint.instances.select_related("config")),
        sagemaker=sagemaker,
        can_operate=may(project, Permission.OPERATE),
    )


def _monitoring_context(endpoint: Endpoint) -> dict:
    """The endpoint's monitoring schedules and their alerts counted (one query), for its banner."""
    schedules = monitoring_selectors.endpoint_monitoring_summary(endpoint)
    return {
        "schedules": schedules,
        "open_alerts": sum(schedule.open_alerts for schedule in schedules),  # type: ignore[attr-defined]
        "acknowledged_alerts": sum(schedule.acknowledged_alerts for schedule in schedules),  # type: ignore[attr-defined]
    }


def _detail_context(
    request: HttpRequest,
    project: Project,
    endpoint: Endpoint,
    *,
    weights_form: WeightsForm | None = None,
    update_form: EndpointUpdateForm | None = None,
) -> dict:
    variants = list(endpoint.config.variants.all())
    production = [variant.name for variant in variants if not variant.is_shadow]
    series = selectors.endpoint_metric_series(endpoint, minutes=DEFAULT_MINUTES)
    names = {"project": project.name, "name": endpoint.name}
    return {
        **_live_context(project, endpoint),
        "variants": [
            {"variant": variant, "weight": endpoint.weights.get(variant.name)} for variant in variants
        ],
        "pending_variants": list(endpoint.pending_config.variants.select_related("model"))
        if endpoint.pending_config_id
        else [],
        "capture": endpoint.config.data_capture if endpoint.config.capture_enabled else None,
        "weights_form": weights_form or WeightsForm(weights=endpoint.weights),
        "update_form": update_form
        or EndpointUpdateForm(configs=selectors.config_names_for_update(endpoint, CHOICES_LIMIT)),
        "console_form": ConsoleForm(variants=production),
        "can_invoke": may(project, Permission.INVOKE),
        "shadow": selectors.endpoint_shadow_summary(endpoint),
        "samples": selectors.recent_capture_samples(endpoint, limit=SAMPLES),
        "figures": metric_figures(series),
        "monitoring": _monitoring_context(endpoint),
        "minute_choices": MINUTE_CHOICES,
        "default_minutes": DEFAULT_MINUTES,
        "fragment_url": reverse("endpoints:endpoint-fragment", kwargs=names),
        "metrics_url": reverse("endpoints:endpoint-metrics", kwargs=names),
        "invoke_url": reverse("endpoints:endpoint-invoke", kwargs=names),
        "list_url": reverse("endpoints:endpoint-list", args=[project.name]),
        "invocation_url": f"/api/v1/projects/{project.name}/endpoints/{endpoint.name}/invocations",
    }


def _endpoint_for(
    request: HttpRequest, project: str, name: str, permission: Permission
) -> tuple[Project, Endpoint]:
    project_obj = project_get_for(request.user, project, permission)
    return project_obj, selectors.endpoint_get(project_obj, name)


@login_required
def endpoint_detail(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj, endpoint = _endpoint_for(request, project, name, Permission.VIEW)
    return render(request, "endpoints/endpoint_detail.html", _detail_context(request, project_obj, endpoint))


@login_required
def endpoint_fragment(request: HttpRequest, project: str, name: str) -> HttpResponse:
    """The live part of the detail page, polled while the endpoint is Creating, Updating or Deleting."""
    project_obj, endpoint = _endpoint_for(request, project, name, Permission.VIEW)
    return render(request, "endpoints/_endpoint_live.html", _live_context(project_obj, endpoint))


@login_required
def endpoint_metrics(request: HttpRequest, project: str, name: str) -> JsonResponse:
    """The per-minute series and their charts (``?minutes=``, 1 to 1440), and the shadow summary."""
    _, endpoint = _endpoint_for(request, project, name, Permission.VIEW)
    raw = request.GET.get("minutes", "")
    minutes = int(raw) if raw.isdigit() and 1 <= int(raw) <= 1440 else DEFAULT_MINUTES
    series = selectors.endpoint_metric_series(endpoint, minutes=minutes)
    return JsonResponse(
        {
            "series": series,
            "figures": metric_figures(series),
            "shadow": selectors.endpoint_shadow_summary(endpoint),
        }
    )


# --- Changes --------------------------------------------------------------------------------------


@login_required
@require_POST
def endpoint_weights(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj, endpoint = _endpoint_for(request, project, name, Permission.OPERATE)
    form = WeightsForm(request.POST, weights=endpoint.weights)
    if form.is_valid():
        try:
            endpoint_update_weights(endpoint=endpoint, user=request.user, weights=form.weights())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"New weights of {endpoint.name} are in effect.")
            return redirect("endpoints:endpoint-detail", project=project_obj.name, name=endpoint.name)
    context = _detail_context(request, project_obj, endpoint, weights_form=form)
    return render(request, "endpoints/endpoint_detail.html", context)


@login_required
@require_POST
def endpoint_update_view(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj, endpoint = _endpoint_for(request, project, name, Permission.OPERATE)
    configs = selectors.config_names_for_update(endpoint, CHOICES_LIMIT)
    form = EndpointUpdateForm(request.POST, configs=configs)
    if form.is_valid():
        try:
            endpoint_update(
                endpoint=endpoint, user=request.user, endpoint_config=form.cleaned_data["endpoint_config"]
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(
                request, f"Updating {endpoint.name}: the old config serves until the new one is ready."
            )
            return redirect("endpoints:endpoint-detail", project=project_obj.name, name=endpoint.name)
    context = _detail_context(request, project_obj, endpoint, update_form=form)
    return render(request, "endpoints/endpoint_detail.html", context)


@login_required
@require_POST
def endpoint_delete_view(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj, endpoint = _endpoint_for(request, project, name, Permission.OPERATE)
    endpoint_delete(endpoint=endpoint, user=request.user)
    if not Endpoint.objects.filter(pk=endpoint.pk).exists():
        messages.success(request, f"Endpoint {name} deleted.")
        return redirect("endpoints:endpoint-list", project=project_obj.name)
    first = (
        "SageMaker deletes it first"
        if endpoint.backend == Backend.SAGEMAKER
        else "its serving processes stop first"
    )
    messages.success(request, f"Endpoint {name} is Deleting: {first}.")
    return redirect("endpoints:endpoint-detail", project=project_obj.name, name=name)
