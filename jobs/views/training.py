"""Training-job pages: the launch form (and its clone of an earlier job), the live detail page with
its fragment, evaluation charts, stop button and "Run on SageMaker", and the download of the job's
archives."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from frontend.views import form_data
from jobs import selectors, services
from jobs.algorithms.registry import ALGORITHMS
from jobs.charts.common import format_metric
from jobs.charts.training import evaluation_figures, evaluation_metrics
from jobs.forms import TRAINING_CHANNELS, JobCloneForm, TrainingJobForm
from jobs.models import Job, JobKind
from jobs.services.training import training_definition_of
from jobs.views.common import (
    ARTIFACT_HINTS,
    CHART_MAX_POINTS,
    job_clone_view,
    job_for,
    job_launch,
    job_output_response,
    job_stop_view,
    live_context,
    log_context,
    sagemaker_context,
)
from studio.models import Project
from studio.roles import Permission, role_allows
from studio.selectors import artifacts_of, project_get_for

# The launch form lists this many dataset versions; older ones are still reachable by URI.
DATASET_VERSION_CHOICES = 300


def _dataset_version_choices(project: Project) -> list[tuple[str, str]]:
    """The project's dataset versions as ``dataset://name/N`` choices, newest version first per dataset."""
    from datasets.selectors import versions_of_project  # datasets builds on jobs, not the reverse

    rows = versions_of_project(project).values_list("dataset__name", "number", "format", "row_count")
    choices = []
    for dataset, number, data_format, row_count in rows[:DATASET_VERSION_CHOICES]:
        details = ", ".join(
            part for part in (data_format, f"{row_count:,} rows" if row_count is not None else "") if part
        )
        choices.append(
            (f"dataset://{dataset}/{number}", f"{dataset} v{number}" + (f" ({details})" if details else ""))
        )
    return choices


def _clone_initial(project: Project, source: str, versions: list[tuple[str, str]]) -> dict:
    job = selectors.job_get(project, JobKind.TRAINING, source)
    name = selectors.job_free_name(project, JobKind.TRAINING, f"{source}-clone")
    initial = TrainingJobForm.initial_from(training_definition_of(job), name=name)
    initial["backend"] = job.backend
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
    created = job_launch(request, form, create=services.training_job_create, project=project_obj)
    if created is not None:
        return created
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
        **live_context(project, job),
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
            # A SageMaker job's output that could not be fetched stays in the project's S3 only.
            "download": ""
            if output.get("fetched") is False
            else reverse("jobs:training-output", args=[project.name, job.name, output["name"]]),
        }
        for output in job.outputs
    ]


def _detail_page(
    request: HttpRequest, project: Project, job: Job, *, clone_form: JobCloneForm | None = None
) -> HttpResponse:
    series = selectors.job_metric_series(job)
    evaluation = selectors.job_evaluation(job)
    context = {
        **_training_live_context(project, job),
        **log_context(job),
        **sagemaker_context(project, job, clone_form),
        "hyperparameters": sorted(job.spec.get("hyperparameters", {}).items()),
        "channels": _channels_with_links(project, job),
        "outputs": _outputs_with_links(project, job),
        "metrics": {key: selectors.downsample(points, CHART_MAX_POINTS) for key, points in series.items()},
        "final_metrics": [
            (item["metric_name"], format_metric(item["value"]))
            for item in selectors.job_final_metrics(series)
        ],
        "evaluation": evaluation,
        "evaluation_metrics": [
            (metric, format_metric(value))
            for metric, value in (evaluation_metrics(evaluation.report) if evaluation else [])
        ],
        "evaluation_figures": evaluation_figures(evaluation.report) if evaluation else {},
        "nav_section": "jobs",
    }
    return render(request, "jobs/training_job_detail.html", context)


@login_required
def training_job_detail(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj, job = job_for(request, project, JobKind.TRAINING, name)
    return _detail_page(request, project_obj, job)


@login_required
def training_job_fragment(request: HttpRequest, project: str, name: str) -> HttpResponse:
    """The live part of the detail page (header, facts, timeline), polled while the job runs."""
    project_obj, job = job_for(request, project, JobKind.TRAINING, name)
    return render(request, "jobs/_training_job_live.html", _training_live_context(project_obj, job))


@login_required
@require_POST
def training_job_stop(request: HttpRequest, project: str, name: str) -> HttpResponse:
    return job_stop_view(request, project, name, kind=JobKind.TRAINING, stop=services.job_stop)


@login_required
@require_POST
def training_job_clone(request: HttpRequest, project: str, name: str) -> HttpResponse:
    return job_clone_view(request, project, name, kind=JobKind.TRAINING, detail=_detail_page)


@login_required
def training_job_output(request: HttpRequest, project: str, name: str, output: str) -> FileResponse:
    """Download one of the job's archives (model.tar.gz, output.tar.gz) from the artifact store."""
    project_obj, job = job_for(request, project, JobKind.TRAINING, name)
    return job_output_response(project_obj, job, output)
