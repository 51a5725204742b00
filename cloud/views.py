"""The project's AWS settings page and its "Check connection" button."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from cloud.forms import COMMON_REGIONS, AwsSettingsForm
from cloud.selectors import aws_settings_get, masked_access_key
from cloud.services import aws_connection_check, aws_settings_update
from frontend.views import form_data
from studio.roles import Permission, role_allows
from studio.selectors import project_get_for

SERVICE_LABELS = {"settings": "Settings", "sts": "STS", "s3": "S3", "sagemaker": "SageMaker"}


@sensitive_post_parameters("secret_access_key")
@login_required
def aws_settings(request: HttpRequest, project: str) -> HttpResponse:
    needed = Permission.MANAGE if request.method == "POST" else Permission.VIEW
    project_obj = project_get_for(request.user, project, needed)
    aws = aws_settings_get(project_obj)
    can_manage = role_allows(project_obj.user_role, Permission.MANAGE)  # type: ignore[attr-defined]
    form = AwsSettingsForm(*form_data(request), aws=aws, read_only=not can_manage)
    if request.method == "POST" and form.is_valid():
        try:
            aws_settings_update(project=project_obj, user=request.user, **form.service_arguments())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"AWS settings of {project_obj.name} saved.")
            return redirect("cloud:aws-settings", project=project_obj.name)
    context = {
        "project": project_obj,
        "aws": aws,
        "form": form,
        "can_manage": can_manage,
        "masked_key": masked_access_key(aws.access_key_id) if can_manage else "",
        "check_results": [
            {**item, "label": SERVICE_LABELS.get(item.get("service", ""), item.get("service", ""))}
            for item in aws.last_check
        ],
        "regions": COMMON_REGIONS,
        "nav_section": "home",
    }
    return render(request, "cloud/aws_settings.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def aws_check(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.MANAGE)
    results = aws_connection_check(project=project_obj, user=request.user)
    failed = [item["service"] for item in results if not item["ok"]]
    if not failed:
        messages.success(request, "Connection check passed: STS, S3 and SageMaker all work.")
    elif any(item["service"] == "settings" for item in results) and len(results) == 1:
        messages.error(request, results[0]["detail"])
    else:
        messages.warning(
            request, f"Connection check: {len(failed)} of {len(results)} checks failed; see below."
        )
    return redirect(reverse("cloud:aws-settings", args=[project_obj.name]) + "#connection")
