"""Baselines: the list, a version's statistics per feature and its constraints (edited and saved as
a new version)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from monitoring import selectors
from monitoring.forms import ConstraintsForm
from monitoring.models import Baseline
from monitoring.services.baselines import baseline_constraints_update
from monitoring.views.common import PAGE_SIZE, page_context
from studio.models import Project
from studio.roles import Permission
from studio.selectors import project_get_for

TOP_CATEGORIES = 5


def _number(value: object) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def feature_statistics(statistics: dict) -> list[dict]:
    """statistics.json's features as table rows: type, completeness, and the numerical summary or
    the most frequent categories."""
    rows = []
    for feature in statistics.get("features", []) if isinstance(statistics, dict) else []:
        if not isinstance(feature, dict):
            continue
        kind = feature.get("inferred_type", "")
        numerical = feature.get("numerical_statistics") or {}
        string = feature.get("string_statistics") or {}
        common = numerical.get("common") or string.get("common") or {}
        present, missing = _number(common.get("num_present")), _number(common.get("num_missing"))
        completeness = (
            present / (present + missing)
            if present is not None and missing is not None and present + missing
            else None
        )
        buckets = ((string.get("distribution") or {}).get("categorical") or {}).get("buckets") or []
        top = sorted(
            (bucket for bucket in buckets if isinstance(bucket, dict)),
            key=lambda bucket: -(_number(bucket.get("count")) or 0),
        )[:TOP_CATEGORIES]
        rows.append(
            {
                "name": feature.get("name", ""),
                "type": kind,
                "completeness": completeness,
                "mean": _number(numerical.get("mean")),
                "std_dev": _number(numerical.get("std_dev")),
                "min": _number(numerical.get("min")),
                "max": _number(numerical.get("max")),
                "distinct": _number(string.get("distinct_count")),
                "top": [(bucket.get("value"), bucket.get("count")) for bucket in top],
            }
        )
    return rows


def _detail(
    request: HttpRequest,
    project: Project,
    baseline: Baseline,
    form: ConstraintsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    form = form or ConstraintsForm(initial={"constraints": json.dumps(baseline.constraints, indent=2)})
    context = page_context(
        project,
        baseline=baseline,
        features=feature_statistics(baseline.statistics),
        versions=Paginator(selectors.baseline_versions(project, baseline.name), PAGE_SIZE).get_page(
            request.GET.get("versions")
        ),
        form=form,
        statistics_json=json.dumps(baseline.statistics, indent=2)[:200_000],
    )
    return render(request, "monitoring/baseline_detail.html", context, status=status)


@login_required
def baseline_list(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    page = Paginator(selectors.baselines_of(project_obj), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "monitoring/baseline_list.html", page_context(project_obj, page=page))


@login_required
def baseline_detail(
    request: HttpRequest, project: str, name: str, version: int | None = None
) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    return _detail(request, project_obj, selectors.baseline_get(project_obj, name, version))


@login_required
@require_POST
def baseline_constraints_view(request: HttpRequest, project: str, name: str, version: int) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.CREATE)
    baseline = selectors.baseline_get(project_obj, name, version)
    form = ConstraintsForm(request.POST)
    if form.is_valid():
        try:
            saved = baseline_constraints_update(
                baseline=baseline, user=request.user, constraints=form.cleaned_data["constraints"]
            )
        except ValidationError as exc:
            form.add_service_errors(exc, {"baseline": "constraints"}, default="constraints")
        else:
            messages.success(request, f"Saved the constraints as {saved}.")
            return redirect(
                "monitoring:baseline-detail", project=project_obj.name, name=saved.name, version=saved.version
            )
    return _detail(request, project_obj, baseline, form, status=400)
