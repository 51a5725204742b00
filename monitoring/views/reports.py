"""Ad-hoc drift reports: the form (two dataset versions, or a version and an endpoint's capture
window), the list, and a report's page with the same overlays and score table as a schedule's."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from frontend.views import form_data
from monitoring import charts, selectors
from monitoring.forms import DriftReportForm
from monitoring.services.drift_reports import drift_report_create
from monitoring.views.common import CHOICES_LIMIT, PAGE_SIZE, page_context
from studio.models import Project
from studio.roles import Permission
from studio.selectors import project_get_for

# Statuses after which a report's page stops refreshing itself.
TERMINAL = frozenset({"Completed", "CompletedWithViolations", "Failed", "Stopped"})


def _form(project: Project, request: HttpRequest | None = None) -> DriftReportForm:
    return DriftReportForm(
        form_data(request)[0] if request is not None else None,
        versions=selectors.dataset_version_choices(project, CHOICES_LIMIT),
        endpoints=selectors.endpoints_with_capture(project, CHOICES_LIMIT),
    )


def _list(
    request: HttpRequest, project: Project, form: DriftReportForm | None, status: int = 200
) -> HttpResponse:
    page = Paginator(selectors.drift_reports_of(project).defer("drift"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = page_context(project, page=page)
    if context["can_create"]:
        context["form"] = form or _form(project)
    return render(request, "monitoring/drift_report_list.html", context, status=status)


@login_required
def drift_report_list(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    return _list(request, project_obj, None)


@login_required
def drift_report_create_view(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.CREATE)
    form = _form(project_obj, request)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        endpoint = (
            selectors.endpoint_for_monitoring(project_obj, data["endpoint"]) if data["endpoint"] else None
        )
        window: dict = {}
        if endpoint is not None:
            end = timezone.now()
            window = {"window_start": end - timedelta(hours=data["window_hours"]), "window_end": end}
        try:
            report = drift_report_create(
                project=project_obj,
                user=request.user,
                reference=data["reference"],
                current=data["current"],
                endpoint=endpoint,
                **window,
            )
        except ValidationError as exc:
            form.add_service_errors(exc, {"window_start": "window_hours", "window_end": "window_hours"})
        else:
            messages.success(request, f"Comparing {report.reference_label} with {report.current_label}.")
            return redirect("monitoring:drift-report-detail", project=project_obj.name, report=report.uuid)
    return _list(request, project_obj, form, status=400 if request.method == "POST" else 200)


@login_required
def drift_report_detail(request: HttpRequest, project: str, report: UUID) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    report_obj = selectors.drift_report_get(project_obj, report)
    drift = report_obj.drift or {}
    context = page_context(
        project_obj,
        report=report_obj,
        terminal=report_obj.status in TERMINAL,
        feature_rows=charts.feature_rows(drift),
        score_labels=[label for _, label in charts.SCORES],
        figures=charts.overlay_figures(drift),
    )
    return render(request, "monitoring/drift_report_detail.html", context)
