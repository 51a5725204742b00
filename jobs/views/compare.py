"""The comparison of training jobs: their final metrics and hyperparameters side by side, a curve per
metric, and parallel coordinates of the hyperparameters they differ in against an objective."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from frontend.views import with_durations
from jobs import selectors
from jobs.algorithms.registry import ALGORITHMS, Algorithm
from jobs.charts.common import format_metric
from jobs.charts.training import curve_figure, parallel_figure
from jobs.models import Job, JobKind
from jobs.views.common import CHART_MAX_POINTS
from studio.roles import Permission
from studio.selectors import project_get_for

# At most this many jobs side by side.
MAX_COMPARED_JOBS = 20


def _algorithm_of(job: Job) -> Algorithm | None:
    return ALGORITHMS.get((job.spec.get("algorithm") or {}).get("name") or "")


def _direction(jobs: list[Job], metric: str) -> str | None:
    """ "Minimize" or "Maximize" when the jobs' built-in algorithm says which (``validation:rmse``)."""
    names = {(job.spec.get("algorithm") or {}).get("name") for job in jobs}
    algorithm = ALGORITHMS.get(names.pop() or "") if len(names) == 1 else None
    if algorithm is None:
        return None
    found = algorithm.metric(metric.rpartition(":")[2])
    return found.direction if found else None


def _default_objective(jobs: list[Job], common: list[str]) -> str:
    """The algorithm's default objective if every job has it, else the first common metric
    (a validation one first: that is what tuning optimises)."""
    algorithm = _algorithm_of(jobs[0])
    if algorithm and algorithm.default_objective in common:
        return algorithm.default_objective
    ranked = sorted(common, key=lambda metric: not metric.startswith("validation:"))
    return ranked[0] if ranked else ""


def _hyperparameter_values(jobs: list[Job]) -> dict[str, list[str | None]]:
    """Each hyperparameter's value per job (a built-in's default where the job left it unset)."""
    names = sorted({key for job in jobs for key in job.spec.get("hyperparameters", {})})
    values: dict[str, list[str | None]] = {}
    for key in names:
        row: list[str | None] = []
        for job in jobs:
            value = job.spec.get("hyperparameters", {}).get(key)
            algorithm = _algorithm_of(job)
            if value is None and algorithm is not None:
                spec = algorithm.hyperparameter(key)
                if spec is not None and spec.default is not None:
                    value = str(spec.default).lower() if isinstance(spec.default, bool) else str(spec.default)
            row.append(value)
        values[key] = row
    return values


@login_required
def training_job_compare(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    wanted = list(dict.fromkeys(name for name in request.GET.getlist("names") if name))
    found = {
        job.name: job
        for job in selectors.jobs_of(project_obj, kind=JobKind.TRAINING).filter(
            name__in=wanted[:MAX_COMPARED_JOBS]
        )
    }
    jobs = with_durations([found[name] for name in wanted[:MAX_COMPARED_JOBS] if name in found])
    missing = [name for name in wanted[:MAX_COMPARED_JOBS] if name not in found]
    for job in jobs:
        code = job.spec.get("code") or {}
        job.source_label = (job.spec.get("algorithm") or {}).get("name") or code.get("entry_point") or "—"  # type: ignore[attr-defined]
    series = selectors.jobs_metric_series(jobs)
    metric_names = sorted({metric for job in jobs for metric in series[job.pk]})
    common = [metric for metric in metric_names if all(metric in series[job.pk] for job in jobs)]
    objective = request.GET.get("objective", "")
    if objective not in common:
        objective = _default_objective(jobs, common) if jobs else ""

    finals = {job.pk: {name: points[-1]["value"] for name, points in series[job.pk].items()} for job in jobs}
    metric_rows = []
    for metric in metric_names:
        values = [finals[job.pk].get(metric) for job in jobs]
        direction = _direction(jobs, metric)
        present = [value for value in values if value is not None]
        best = None
        if direction and len(present) > 1:
            best = min(present) if direction == "Minimize" else max(present)
        cells = [
            {"text": format_metric(value), "best": best is not None and value == best} for value in values
        ]
        metric_rows.append(
            {"name": metric, "values": values, "cells": cells, "direction": direction, "best": best}
        )
    hyperparameters = _hyperparameter_values(jobs)
    hyperparameter_rows = [
        {"name": key, "values": values, "differs": len(set(values)) > 1}
        for key, values in hyperparameters.items()
    ]
    # A curve per metric that has one (a final value alone is in the table).
    curves = [
        metric for metric in metric_names if any(len(series[job.pk].get(metric, ())) > 1 for job in jobs)
    ]
    figures = {
        f"curve-{index}": curve_figure(
            metric,
            [
                (job.name, selectors.downsample(series[job.pk][metric], CHART_MAX_POINTS))
                for job in jobs
                if metric in series[job.pk]
            ],
        )
        for index, metric in enumerate(curves)
    }
    if objective:
        # The axes worth reading are the hyperparameters the jobs differ in.
        varied = {key: values for key, values in hyperparameters.items() if len(set(values)) > 1}
        parallel = parallel_figure(
            [job.name for job in jobs],
            varied or hyperparameters,
            objective,
            [finals[job.pk][objective] for job in jobs],
        )
        if parallel is not None:
            figures["parallel"] = parallel
    context = {
        "project": project_obj,
        "jobs": jobs,
        "missing": missing,
        "too_many": len(wanted) > MAX_COMPARED_JOBS,
        "max_jobs": MAX_COMPARED_JOBS,
        "metric_rows": metric_rows,
        "hyperparameter_rows": hyperparameter_rows,
        "curves": [(f"curve-{index}", metric) for index, metric in enumerate(curves)],
        "common_metrics": common,
        "objective": objective,
        "figures": figures,
        "nav_section": "jobs",
    }
    return render(request, "jobs/training_job_compare.html", context)
