"""Alerts: the project's list with history (``?status=``), and acknowledging one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from monitoring.alerts import alert_acknowledge, alert_get, alerts_of_project
from monitoring.models import AlertStatus
from monitoring.views.common import PAGE_SIZE, error_text, next_url, page_context
from studio.roles import Permission
from studio.selectors import project_get_for


@login_required
def alert_list(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    status = request.GET.get("status", "")
    if status not in AlertStatus.values:
        status = ""
    page = Paginator(alerts_of_project(project_obj, status=status or None), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = page_context(project_obj, page=page, status=status, statuses=AlertStatus.values)
    return render(request, "monitoring/alert_list.html", context)


@login_required
@require_POST
def alert_acknowledge_view(request: HttpRequest, project: str, alert_id: int) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.OPERATE)
    alert = alert_get(project_obj, alert_id)
    try:
        alert_acknowledge(alert=alert, user=request.user)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"Alert acknowledged: {alert}.")
    return redirect(next_url(request, reverse("monitoring:alert-list", args=[project_obj.name])))
