"""Profile pages: a version's profiles with the "Profile this version" form, and the report page
(live while the job runs, then the report drawn with Plotly)."""

from __future__ import annotations

import math

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

from datasets.charts import report_figures
from datasets.models import DataFormat, DatasetVersion, Profile
from datasets.profiles import ReportError, profile_get, profile_report, profile_start, profiles_of
from datasets.selectors import dataset_get, version_get
from frontend.forms import ServiceErrorsMixin
from frontend.views import PAGE_SIZE, form_data, format_duration
from jobs.forms import instance_type_choices
from studio.models import Project
from studio.roles import Permission, role_allows
from studio.selectors import project_get_for

SEVERITY_ORDER = ("high", "medium", "low")


class ProfileStartForm(ServiceErrorsMixin, forms.Form):
    target_column = forms.ChoiceField(
        required=False,
        help_text="Optional: the column a model would predict. Adds class balance, leakage checks "
        "and a baseline model.",
    )
    instance_type = forms.ChoiceField(initial="ml.m5.large")

    def __init__(self, *args, version: DatasetVersion, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        names = [column["name"] for column in version.schema or [] if column.get("name")]
        self.fields["target_column"].choices = [("", "(none)"), *((name, name) for name in names)]
        self.fields["instance_type"].choices = instance_type_choices("processing")


def _dataset_url(project: str, dataset: str) -> str:
    """The dataset's page, if the datasets pages are installed under their usual name."""
    try:
        return reverse("datasets:detail", kwargs={"project": project, "dataset": dataset})
    except NoReverseMatch:
        return reverse("frontend:data", args=[project])


@login_required
def version_profiles(request: HttpRequest, project: str, dataset: str, number: int) -> HttpResponse:
    needed = Permission.CREATE if request.method == "POST" else Permission.VIEW
    project_obj = project_get_for(request.user, project, needed)
    version = version_get(dataset_get(project_obj, dataset), number)
    form = ProfileStartForm(*form_data(request), version=version)
    if request.method == "POST" and form.is_valid():
        try:
            profile = profile_start(version=version, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Profiling {dataset} v{number}: job {profile.job.name} is queued.")
            return redirect("datasets:profile", project=project, profile=profile.uuid)
    page = Paginator(profiles_of(version), PAGE_SIZE).get_page(request.GET.get("page"))
    for profile in page.object_list:
        profile.duration_display = format_duration(profile.job.duration_seconds)  # type: ignore[attr-defined]
    context = {
        "project": project_obj,
        "version": version,
        "dataset_url": _dataset_url(project, dataset),
        "page": page,
        "form": form,
        "profilable": version.format != DataFormat.ARCHIVE,
        "can_create": role_allows(project_obj.user_role, Permission.CREATE),
        "nav_section": "data",
    }
    return render(request, "datasets/profile_list.html", context)


def _live_context(project: Project, profile: Profile) -> dict:
    job = profile.job
    return {
        "project": project,
        "profile": profile,
        "version": profile.version,
        "job": job,
        "dataset_url": _dataset_url(project.name, profile.version.dataset.name),
        "duration": format_duration(job.duration_seconds),
    }


@login_required
def profile_detail(request: HttpRequest, project: str, profile: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    item = profile_get(project_obj, profile)
    context = {
        **_live_context(project_obj, item),
        "fragment_url": reverse("datasets:profile-fragment", kwargs={"project": project, "profile": profile}),
        "api_url": reverse("api-profile", kwargs={"project": project, "profile": profile}),
        "report": None,
        "nav_section": "data",
    }
    try:
        report = profile_report(item)
    except ReportError as exc:
        context["report_error"] = str(exc)
        report = None
    if report is not None:
        context.update(_report_context(report))
    return render(request, "datasets/profile_detail.html", context)


@login_required
def profile_fragment(request: HttpRequest, project: str, profile: str) -> HttpResponse:
    """The live header (status, job, failure reason), polled while the job runs."""
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    return render(
        request, "datasets/_profile_live.html", _live_context(project_obj, profile_get(project_obj, profile))
    )


# --- the report, ready to print ---------------------------------------------------------------------


def _number(value: object, *, percent: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if percent:
            return f"{value:.1%}"
        if not math.isfinite(value):
            return "—"
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    return str(value)


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _column_rows(column: dict) -> list[tuple[str, str]]:
    """The statistics table of one column: (label, value) rows."""
    rows = [
        ("Values", _number(column["count"])),
        ("Missing", f"{_number(column['missing'])} ({_number(column['missing_fraction'], percent=True)})"),
        ("Distinct", ("" if column["distinct_exact"] else "≈ ") + _number(column["distinct"])),
    ]
    if column.get("invalid"):
        rows.append(("Invalid", _number(column["invalid"])))
    if column["kind"] == "boolean":
        rows.append(("True", _number(column.get("mean"), percent=True)))
    elif column["kind"] in ("numeric", "datetime"):
        rows += [
            ("Mean", _number(column.get("mean"))),
            ("Min", _number(column.get("min"))),
            ("Max", _number(column.get("max"))),
            ("Std" + (" (s)" if column["kind"] == "datetime" else ""), _number(column.get("std"))),
        ]
    quantiles = column.get("quantiles")
    if quantiles:
        suffix = "" if column.get("quantiles_exact") else " ≈"
        rows += [(f"{key}{suffix}", _number(value)) for key, value in quantiles.items()]
    if column["kind"] == "numeric":
        rows += [
            ("Zeros", _number(column.get("zeros"))),
            ("Negatives", _number(column.get("negatives"))),
        ]
        if column.get("infinite"):
            rows.append(("Infinite", _number(column["infinite"])))
    length = column.get("length")
    if length and length.get("mean") is not None:
        rows.append(("Length", f"{length['min']} to {length['max']} (mean {length['mean']:.1f})"))
    return rows


def _report_context(report: dict) -> dict:
    warnings_by_column: dict[str, list[dict]] = {}
    for warning in report["warnings"]:
        if warning.get("column"):
            warnings_by_column.setdefault(warning["column"], []).append(warning)
    columns = [
        {
            "index": index,
            "data": column,
            "rows": _column_rows(column),
            "warnings": warnings_by_column.get(column["name"], []),
            "top_values": column["top_values"][:10],
        }
        for index, column in enumerate(report["columns"])
    ]
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    for warning in report["warnings"]:
        counts[warning["severity"]] = counts.get(warning["severity"], 0) + 1
    dataset = report["dataset"]
    target = report.get("target") or {}
    baseline = target.get("baseline") or {}
    return {
        "report": report,
        "figures": report_figures(report),
        "columns": columns,
        "warning_counts": counts,
        "overview": [
            ("Rows", _number(dataset["rows"])),
            ("Columns", _number(dataset["columns"])),
            (
                "Missing cells",
                f"{_number(dataset['missing_cells'])} "
                f"({_number(dataset['missing_cells_fraction'], percent=True)})",
            ),
            (
                "Duplicate rows",
                f"{_number(dataset['duplicate_rows'])} "
                f"({_number(dataset['duplicate_rows_fraction'], percent=True)})",
            ),
            ("Column kinds", ", ".join(f"{n} {kind}" for kind, n in sorted(dataset["kinds"].items()))),
            ("Sample", f"{_number(report['sample']['rows'])} rows: {report['sample']['method']}"),
            (
                "Computed in",
                f"{report['engine']['seconds']:.2f} s in {report['engine']['chunks']} "
                f"chunk{'s' if report['engine']['chunks'] != 1 else ''}",
            ),
        ],
        "leaking": [item for item in (target.get("leakage") or {}).get("features", []) if item["leaks"]],
        "baseline_score": _score(baseline.get("score")),
        "naive_score": _score(baseline.get("naive_score")),
    }
