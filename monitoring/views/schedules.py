"""The monitoring home (schedules, open alerts, the new-schedule and new-baseline forms), a schedule's
page with its drift figures, an endpoint's monitoring page, and the schedule's actions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from frontend.views import form_data
from monitoring import charts, selectors
from monitoring.alerts import alerts_of_project
from monitoring.forms import BaselineForm, ScheduleForm
from monitoring.models import AlertStatus, MonitoringExecution, MonitoringSchedule, MonitoringType
from monitoring.services.baselines import baseline_create
from monitoring.services.executions import schedule_run_now
from monitoring.services.schedules import schedule_create, schedule_delete, schedule_start, schedule_stop
from monitoring.views.common import (
    CHOICES_LIMIT,
    OPEN_ALERTS_SHOWN,
    PAGE_SIZE,
    error_text,
    next_url,
    page_context,
)
from studio.models import Project
from studio.roles import Permission
from studio.selectors import project_get_for

# --- Home ------------------------------------------------------------------------------------------


def _schedule_form(project: Project, request: HttpRequest | None = None) -> ScheduleForm:
    data = form_data(request)[0] if request is not None else None
    return ScheduleForm(
        data,
        endpoints=selectors.endpoints_with_capture(project, CHOICES_LIMIT),
        baselines=selectors.baseline_choices(project, CHOICES_LIMIT),
    )


def _baseline_form(project: Project, request: HttpRequest | None = None) -> BaselineForm:
    data = form_data(request)[0] if request is not None else None
    return BaselineForm(data, versions=selectors.dataset_version_choices(project, CHOICES_LIMIT))


def _home(
    request: HttpRequest,
    project: Project,
    *,
    schedule_form: ScheduleForm | None = None,
    baseline_form: BaselineForm | None = None,
    status: int = 200,
) -> HttpResponse:
    page = Paginator(selectors.schedules_for_list(project), PAGE_SIZE).get_page(request.GET.get("page"))
    selectors.schedules_attach_last_execution(page.object_list)
    open_alerts = alerts_of_project(project, status=AlertStatus.OPEN)
    context = page_context(
        project,
        page=page,
        open_alerts=list(open_alerts[:OPEN_ALERTS_SHOWN]),
        schedule_form=schedule_form,
        baseline_form=baseline_form,
        show_schedule_form=schedule_form is not None and schedule_form.is_bound,
        show_baseline_form=baseline_form is not None and baseline_form.is_bound,
    )
    if context["can_create"]:
        context["schedule_form"] = schedule_form or _schedule_form(project)
        context["baseline_form"] = baseline_form or _baseline_form(project)
    return render(request, "monitoring/monitoring_home.html", context, status=status)


@login_required
def monitoring_home(request: HttpRequest, project: str) -> HttpResponse:
    return _home(request, project_get_for(request.user, project, Permission.VIEW))


@login_required
@require_POST
def schedule_create_view(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.CREATE)
    form = _schedule_form(project_obj, request)
    if form.is_valid():
        data = form.cleaned_data
        endpoint = selectors.endpoint_for_monitoring(project_obj, data["endpoint"])
        baseline = selectors.baseline_by_uuid(project_obj, data["baseline"]) if data["baseline"] else None
        try:
            schedule = schedule_create(
                project=project_obj,
                user=request.user,
                name=data["name"],
                endpoint=endpoint,
                monitoring_type=data["monitoring_type"],
                baseline=baseline,
                schedule_expression=data["schedule_expression"],
                config=form.config(),
                problem_type=data["problem_type"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc, {"schedule_expression": "cron", "config": "threshold_distance"})
        else:
            messages.success(request, f"Schedule {schedule.name} watches {schedule.endpoint.name}.")
            return redirect("monitoring:schedule-detail", project=project_obj.name, name=schedule.name)
    return _home(request, project_obj, schedule_form=form, status=400)


@login_required
@require_POST
def baseline_create_view(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.CREATE)
    form = _baseline_form(project_obj, request)
    if form.is_valid():
        data = form.cleaned_data
        try:
            baseline = baseline_create(
                project=project_obj,
                user=request.user,
                name=data["name"],
                dataset_version=data["dataset_version"],
                target_column=data["target_column"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Baselining {baseline}: statistics and constraints follow.")
            return redirect(
                "monitoring:baseline-detail",
                project=project_obj.name,
                name=baseline.name,
                version=baseline.version,
            )
    return _home(request, project_obj, baseline_form=form, status=400)


# --- A schedule's page -----------------------------------------------------------------------------


def _selected_execution(
    request: HttpRequest, schedule: MonitoringSchedule, executions: list[MonitoringExecution]
) -> MonitoringExecution | None:
    """``?execution=<uuid>`` if it is one of the schedule's, else the newest with drift scores."""
    wanted = request.GET.get("execution", "")
    if wanted:
        chosen = next((execution for execution in executions if str(execution.uuid) == wanted), None)
        return chosen or selectors.execution_of_schedule(schedule, wanted)
    return next(
        (execution for execution in executions if execution.drift), executions[0] if executions else None
    )


def _thresholds(schedule: MonitoringSchedule) -> dict:
    config = schedule.config or {}
    thresholds = config.get("thresholds", config.get("metric_thresholds"))
    return thresholds if isinstance(thresholds, dict) else config


def schedule_context(request: HttpRequest, project: Project, schedule: MonitoringSchedule) -> dict:
    """The schedule page's figures, drift table and executions (shared with the endpoint's page)."""
    recent = selectors.executions_for_figures(schedule)
    selected = _selected_execution(request, schedule, recent)
    figures: dict = {}
    if heatmap := charts.drift_heatmap(recent):
        figures["drift_heatmap"] = heatmap
    if timeline := charts.violations_timeline(recent):
        figures["violations_timeline"] = timeline
    if schedule.monitoring_type == MonitoringType.MODEL_QUALITY and (
        quality := charts.quality_figure(recent, _thresholds(schedule))
    ):
        figures["quality"] = quality
    drift = (selected.drift or {}) if selected else {}
    figures.update(charts.overlay_figures(drift))
    executions = Paginator(selectors.executions_for_table(schedule), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return page_context(
        project,
        schedule=schedule,
        endpoint=schedule.endpoint,
        selected=selected,
        feature_rows=charts.feature_rows(drift),
        score_labels=[label for _, label in charts.SCORES],
        figures=figures,
        page=executions,
        is_quality=schedule.monitoring_type == MonitoringType.MODEL_QUALITY,
        figure_executions=len(recent),
    )


@login_required
def schedule_detail(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    schedule = selectors.schedule_get(project_obj, name)
    return render(
        request, "monitoring/schedule_detail.html", schedule_context(request, project_obj, schedule)
    )


@login_required
def endpoint_monitoring(request: HttpRequest, project: str, name: str) -> HttpResponse:
    """An endpoint's monitoring: its schedules as tabs, the chosen one's (``?schedule=``, else the
    newest) figures, and the endpoint's open alerts."""
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    endpoint = selectors.endpoint_for_monitoring(project_obj, name)
    schedules = list(selectors.schedules_for_list(project_obj, endpoint=endpoint))
    wanted = request.GET.get("schedule", "")
    schedule = next((item for item in schedules if item.name == wanted), schedules[0] if schedules else None)
    if wanted and (schedule is None or schedule.name != wanted):
        raise Http404(f"{endpoint.name} has no schedule {wanted!r}.")
    context = schedule_context(request, project_obj, schedule) if schedule else page_context(project_obj)
    context.update(
        endpoint=endpoint,
        endpoint_schedules=schedules,
        endpoint_alerts=list(
            alerts_of_project(project_obj, status=AlertStatus.OPEN).filter(schedule__endpoint=endpoint)[
                :OPEN_ALERTS_SHOWN
            ]
        ),
    )
    return render(request, "monitoring/endpoint_monitoring.html", context)


# --- Actions ---------------------------------------------------------------------------------------


def _schedule_action(request: HttpRequest, project: str, name: str, action: str) -> HttpResponse:
    # Deleting needs what the API's DELETE needs (admins), not just OPERATE.
    needed = Permission.DELETE if action == "delete" else Permission.OPERATE
    project_obj = project_get_for(request.user, project, needed)
    schedule = selectors.schedule_get(project_obj, name)
    back = next_url(request, reverse("monitoring:schedule-detail", args=[project_obj.name, schedule.name]))
    try:
        if action == "run":
            execution = schedule_run_now(schedule=schedule)
            messages.success(request, f"Ran {schedule.name}: {getattr(execution, 'status', 'queued')}.")
        elif action == "stop":
            schedule_stop(schedule=schedule, user=request.user)
            messages.success(request, f"Schedule {schedule.name} stopped.")
        elif action == "start":
            schedule_start(schedule=schedule, user=request.user)
            messages.success(request, f"Schedule {schedule.name} started.")
        else:
            schedule_delete(schedule=schedule, user=request.user)
            messages.success(request, f"Schedule {schedule.name} deleted.")
            return redirect("monitoring:home", project=project_obj.name)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    return redirect(back)


@login_required
@require_POST
def schedule_run_view(request: HttpRequest, project: str, name: str) -> HttpResponse:
    return _schedule_action(request, project, name, "run")


@login_required
@require_POST
def schedule_stop_view(request: HttpRequest, project: str, name: str) -> HttpResponse:
    return _schedule_action(request, project, name, "stop")


@login_required
@require_POST
def schedule_start_view(request: HttpRequest, project: str, name: str) -> HttpResponse:
    return _schedule_action(request, project, name, "start")


@login_required
@require_POST
def schedule_delete_view(request: HttpRequest, project: str, name: str) -> HttpResponse:
    return _schedule_action(request, project, name, "delete")
