"""Job pages: the list, the launch forms, the live detail pages with their fragments, and the
comparison of training jobs."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from frontend.views import PAGE_SIZE, form_data, format_duration, with_durations
from jobs import selectors, services, training_charts
from jobs.algorithms.registry import ALGORITHMS, Algorithm
from jobs.forms import TRAINING_CHANNELS, JobFilterForm, ProcessingJobForm, TrainingJobForm
from jobs.models import Job, JobEvaluation, JobKind, JobMetric, JobStatus
from jobs.services.training import training_definition_of
from studio.artifacts import ArtifactError, project_prefix, store_for, uri_is_under
from studio.models import Project
from studio.roles import Permission, role_allows
from studio.selectors import artifacts_of, project_get_for

# The first page shows the end of the log; the rest is a click (or an API call) away.
LOG_TAIL_CHARS = 64 * 1024
ARTIFACT_HINTS = 200
STOPPABLE = frozenset({JobStatus.PENDING, JobStatus.IN_PROGRESS})
# The launch form lists this many dataset versions; older ones are still reachable by URI.
DATASET_VERSION_CHOICES = 300
# The compare page: at most this many jobs, each series downsampled to about this many points.
MAX_COMPARED_JOBS = 20
COMPARE_MAX_POINTS = selectors.DEFAULT_MAX_POINTS


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


@login_required
def processing_job_create(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.CREATE)
    form = ProcessingJobForm(*form_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            job, _ = services.processing_job_create(
                project=project_obj, user=request.user, **form.service_arguments()
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Processing job {job.name} created.")
            return redirect("jobs:processing-detail", project=project, name=job.name)
    context = {
        "project": project_obj,
        "form": form,
        "artifact_uris": artifacts_of(project_obj).values_list("uri", flat=True)[:ARTIFACT_HINTS],
        "nav_section": "jobs",
    }
    return render(request, "jobs/processing_job_form.html", context)


def _live_context(project: Project, job: Job) -> dict:
    """What the header, facts and timeline need: the page and its polled fragment share it."""
    return {
        "project": project,
        "job": job,
        "events": list(job.events.all()),
        "duration": format_duration(job.duration_seconds),
        "max_runtime": format_duration(job.max_runtime_seconds),
        "can_stop": job.status in STOPPABLE and role_allows(project.user_role, Permission.OPERATE),
        "configured_outputs": job.spec.get("outputs", []),
        "input_channels": job.spec.get("inputs", []),
    }


@login_required
def processing_job_detail(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    job = selectors.job_get(project_obj, JobKind.PROCESSING, name)
    log = selectors.job_log_read(job, offset=max(0, job.log_size - LOG_TAIL_CHARS), limit=LOG_TAIL_CHARS)
    names = {"project": project, "name": name}
    context = {
        **_live_context(project_obj, job),
        "log": log,
        "log_truncated": log["offset"] > 0,
        "metrics": selectors.job_metric_series(job),
        "fragment_url": reverse("jobs:processing-fragment", kwargs=names),
        "logs_url": reverse("api-processing-job-logs", kwargs=names),
        "metrics_url": reverse("api-processing-job-metrics", kwargs=names),
        "nav_section": "jobs",
    }
    return render(request, "jobs/processing_job_detail.html", context)


@login_required
def processing_job_fragment(request: HttpRequest, project: str, name: str) -> HttpResponse:
    """The live part of the detail page (header, facts, timeline), polled while the job runs."""
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    job = selectors.job_get(project_obj, JobKind.PROCESSING, name)
    return render(request, "jobs/_processing_job_live.html", _live_context(project_obj, job))


@login_required
@require_POST
def processing_job_stop(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.OPERATE)
    job = selectors.job_get(project_obj, JobKind.PROCESSING, name)
    try:
        job = services.job_stop(job=job, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Stop requested: {job.name} is {job.status}.")
    return redirect("jobs:processing-detail", project=project, name=name)


# --- Training jobs ------------------------------------------------------------------------------------


def _dataset_version_choices(project: Project) -> list[tuple[str, str]]:
    """The project's dataset versions as ``dataset://name/N`` choices, newest version first per dataset."""
    from datasets.models import DatasetVersion  # datasets builds on jobs, not the reverse

    rows = (
        DatasetVersion.objects.filter(dataset__project=project)
        .order_by("dataset__name", "-number")
        .values_list("dataset__name", "number", "format", "row_count")[:DATASET_VERSION_CHOICES]
    )
    choices = []
    for dataset, number, data_format, row_count in rows:
        details = ", ".join(
            part for part in (data_format, f"{row_count:,} rows" if row_count is not None else "") if part
        )
        choices.append(
            (f"dataset://{dataset}/{number}", f"{dataset} v{number}" + (f" ({details})" if details else ""))
        )
    return choices


def _free_name(project: Project, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``, ...: the first name no training job has yet."""
    base = base[:57].rstrip("-")
    taken = set(
        Job.objects.filter(project=project, kind=JobKind.TRAINING, name__startswith=base).values_list(
            "name", flat=True
        )
    )
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _clone_initial(project: Project, source: str, versions: list[tuple[str, str]]) -> dict:
    job = selectors.job_get(project, JobKind.TRAINING, source)
    initial = TrainingJobForm.initial_from(
        training_definition_of(job), name=_free_name(project, f"{source}-clone")
    )
    listed = {value for value, _ in versions}
    for channel in TRAINING_CHANNELS:
        # A version older than the listed ones stays selected by its URI.
        key = f"channel_{channel}_dataset"
        if initial.get(key) and initial[key] not in listed:
            initial[f"channel_{channel}_uri"] = initial.pop(key)
    return initial


@login_required
def training_job_create(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.CREATE)
    versions = _dataset_version_choices(project_obj)
    clone = request.GET.get("clone", "")
    initial = _clone_initial(project_obj, clone, versions) if clone and request.method != "POST" else {}
    form = TrainingJobForm(*form_data(request), initial=initial, dataset_versions=versions)
    if request.method == "POST" and form.is_valid():
        try:
            job, _ = services.training_job_create(
                project=project_obj, user=request.user, **form.service_arguments()
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Training job {job.name} created.")
            return redirect("jobs:training-detail", project=project, name=job.name)
    context = {
        "project": project_obj,
        "form": form,
        "clone": clone,
        "artifact_uris": artifacts_of(project_obj).values_list("uri", flat=True)[:ARTIFACT_HINTS],
        "algorithms": [algorithm.as_dict() for algorithm in ALGORITHMS.values()],
        "nav_section": "jobs",
    }
    return render(request, "jobs/training_job_form.html", context)


def _training_live_context(project: Project, job: Job) -> dict:
    """The header, facts and timeline: the page and its polled fragment share them."""
    algorithm = (job.spec.get("algorithm") or {}).get("name")
    return {
        **_live_context(project, job),
        "algorithm": ALGORITHMS.get(algorithm) if algorithm else None,
        "code": job.spec.get("code"),
        "can_clone": role_allows(project.user_role, Permission.CREATE),
    }


def _channels_with_links(project: Project, job: Job) -> list[dict]:
    channels = []
    for channel in job.spec.get("channels", []):
        link = ""
        if channel.get("dataset"):
            link = reverse("datasets:detail", args=[project.name, channel["dataset"]])
            link += f"?version={channel['version']}"
        channels.append({**channel, "link": link})
    return channels


def _outputs_with_links(project: Project, job: Job) -> list[dict]:
    return [
        {
            **output,
            "filename": output["uri"].rsplit("/", 1)[-1],
            "download": reverse("jobs:training-output", args=[project.name, job.name, output["name"]]),
        }
        for output in job.outputs
    ]


@login_required
def training_job_detail(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    job = selectors.job_get(project_obj, JobKind.TRAINING, name)
    log = selectors.job_log_read(job, offset=max(0, job.log_size - LOG_TAIL_CHARS), limit=LOG_TAIL_CHARS)
    series = selectors.job_metric_series(job)
    evaluation = JobEvaluation.objects.filter(job=job).first()
    names = {"project": project, "name": name}
    context = {
        **_training_live_context(project_obj, job),
        "hyperparameters": sorted(job.spec.get("hyperparameters", {}).items()),
        "channels": _channels_with_links(project_obj, job),
        "outputs": _outputs_with_links(project_obj, job),
        "log": log,
        "log_truncated": log["offset"] > 0,
        "metrics": {key: selectors.downsample(points, COMPARE_MAX_POINTS) for key, points in series.items()},
        "final_metrics": [
            (item["metric_name"], training_charts.format_metric(item["value"]))
            for item in selectors.job_final_metrics(series)
        ],
        "evaluation": evaluation,
        "evaluation_metrics": [
            (metric, training_charts.format_metric(value))
            for metric, value in (training_charts.evaluation_metrics(evaluation.report) if evaluation else [])
        ],
        "evaluation_figures": training_charts.evaluation_figures(evaluation.report) if evaluation else {},
        "fragment_url": reverse("jobs:training-fragment", kwargs=names),
        "logs_url": reverse("api-training-job-logs", kwargs=names),
        "metrics_url": reverse("api-training-job-metrics", kwargs=names),
        "nav_section": "jobs",
    }
    return render(request, "jobs/training_job_detail.html", context)


@login_required
def training_job_fragment(request: HttpRequest, project: str, name: str) -> HttpResponse:
    """The live part of the detail page (header, facts, timeline), polled while the job runs."""
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    job = selectors.job_get(project_obj, JobKind.TRAINING, name)
    return render(request, "jobs/_training_job_live.html", _training_live_context(project_obj, job))


@login_required
@require_POST
def training_job_stop(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.OPERATE)
    job = selectors.job_get(project_obj, JobKind.TRAINING, name)
    try:
        job = services.job_stop(job=job, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Stop requested: {job.name} is {job.status}.")
    return redirect("jobs:training-detail", project=project, name=name)


@login_required
def training_job_output(request: HttpRequest, project: str, name: str, output: str) -> FileResponse:
    """Download one of the job's archives (model.tar.gz, output.tar.gz) from the artifact store."""
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    job = selectors.job_get(project_obj, JobKind.TRAINING, name)
    item = next((item for item in job.outputs if item.get("name") == output), None)
    if item is None or not uri_is_under(item["uri"], project_prefix(project_obj.name)):
        raise Http404(f"Training job {name!r} has no output {output!r}.")
    try:
        stream = store_for(item["uri"]).open(item["uri"])
    except (ArtifactError, OSError) as exc:
        raise Http404(f"The output {output!r} is no longer in the store.") from exc
    return FileResponse(stream, as_attachment=True, filename=item["uri"].rsplit("/", 1)[-1])


# --- Compare ------------------------------------------------------------------------------------------


def _series_of(jobs: list[Job]) -> dict[int, dict[str, list[dict]]]:
    """Every metric of every job in one query: ``{job id: {metric: [{step, value}, ...]}}``."""
    series: dict[int, dict[str, list[dict]]] = {job.pk: {} for job in jobs}
    rows = (
        JobMetric.objects.filter(job__in=[job.pk for job in jobs])
        .order_by("job_id", "name", "step", "id")
        .values_list("job_id", "name", "step", "value")
    )
    for job_id, name, step, value in rows.iterator(chunk_size=10_000):
        series[job_id].setdefault(name, []).append({"step": step, "value": value})
    return series


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
    series = _series_of(jobs)
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
            {"text": training_charts.format_metric(value), "best": best is not None and value == best}
            for value in values
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
        f"curve-{index}": training_charts.curve_figure(
            metric,
            [
                (job.name, selectors.downsample(series[job.pk][metric], COMPARE_MAX_POINTS))
                for job in jobs
                if metric in series[job.pk]
            ],
        )
        for index, metric in enumerate(curves)
    }
    if objective:
        # The axes worth reading are the hyperparameters the jobs differ in.
        varied = {key: values for key, values in hyperparameters.items() if len(set(values)) > 1}
        parallel = training_charts.parallel_figure(
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
