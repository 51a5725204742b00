"""Tuning-job pages: the launch form, and the live detail page with its trials and charts.

The form turns text lines into the structures ``tuning_job_create`` takes; the service judges them
and its errors come back onto the fields. The detail page polls its fragment until the job ends;
the charts are Plotly figures built here as plain dicts and drawn by Plotly.js (served locally).
"""

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
from django.views.decorators.http import require_POST

from frontend.forms import ServiceErrorsMixin
from frontend.views import PAGE_SIZE, form_data, format_duration
from jobs import selectors
from jobs.algorithms.registry import ALGORITHMS
from jobs.forms import _lines, _pairs, instance_type_label
from jobs.models import Job, JobKind, JobStatus
from jobs.services.tuning import (
    EARLY_STOPPING_TYPES,
    MAX_PARALLEL_TRAINING_JOBS,
    MAX_TRAINING_JOBS,
    SCALING_TYPES,
    STRATEGIES,
    parameter_ranges_dict,
    tuning_job_create,
    tuning_job_stop,
)
from jobs.tuning import log_scaled, tuning_overview, tuning_trials
from studio.instance_types import instance_types_for
from studio.models import Project
from studio.roles import Permission, role_allows
from studio.selectors import project_get_for

STOPPABLE = frozenset({JobStatus.PENDING, JobStatus.IN_PROGRESS})
TRIAL_ORDERS = {
    "": "Launch order",
    "objective": "Best objective first",
    "-objective": "Worst objective first",
}
ACCENT = "#2563eb"
BEST = "#16a34a"
MUTED = "#94a3b8"
RANGE_EXAMPLE = "eta=continuous:0.01:0.5:Logarithmic"
RANGE_KINDS = {"continuous": "ContinuousParameterRanges", "integer": "IntegerParameterRanges"}


# --- the launch form -------------------------------------------------------------------------------


def _algorithm_choices() -> list[tuple[str, str]]:
    return [("", "My own code (upload it below)")] + [(a.name, a.title) for a in ALGORITHMS.values()]


def _instance_type_choices() -> list[tuple[str, str]]:
    return [(instance.name, instance_type_label(instance)) for instance in instance_types_for("training")]


def parse_range_lines(text: str) -> dict[str, list[dict]]:
    """``name=continuous:min:max[:Scaling]``, ``name=integer:min:max[:Scaling]`` or
    ``name=categorical:a,b,c`` per line, as SageMaker's ParameterRanges."""
    ranges: dict[str, list[dict]] = {}
    problems = []
    for number, line in _lines(text):
        name, _, definition = line.partition("=")
        kind, _, rest = definition.strip().partition(":")
        name, kind = name.strip(), kind.strip().lower()
        parts = [part.strip() for part in rest.split(":")]
        if name and kind == "categorical" and rest.strip():
            values = [value.strip() for value in rest.split(",") if value.strip()]
            ranges.setdefault("CategoricalParameterRanges", []).append({"Name": name, "Values": values})
        elif name and kind in RANGE_KINDS and len(parts) in (2, 3) and all(parts):
            item = {"Name": name, "MinValue": parts[0], "MaxValue": parts[1]}
            if len(parts) == 3:
                item["ScalingType"] = parts[2]
            ranges.setdefault(RANGE_KINDS[kind], []).append(item)
        else:
            problems.append(
                f"Line {number}: {line!r} is not name=continuous:min:max[:scaling], "
                f"name=integer:min:max[:scaling] or name=categorical:a,b (e.g. {RANGE_EXAMPLE})."
            )
    if problems:
        raise ValidationError(problems)
    return ranges


class TuningJobForm(ServiceErrorsMixin, forms.Form):
    service_fields = {
        "source_uri": "source",
        "source_filename": "source",
        "instance_count": "instance_type",
    }

    name = forms.CharField(
        max_length=63,
        help_text="1-32 letters, digits or hyphens; its training jobs are named <name>-001-<hex>, ….",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "xgb-tune-1"}),
    )
    algorithm = forms.ChoiceField(choices=_algorithm_choices, required=False)
    source = forms.FileField(
        required=False,
        help_text="Your training script (.py) or a source archive, when no built-in algorithm is chosen.",
    )
    entry_point = forms.CharField(required=False, help_text="The script to run inside an archive.")
    instance_type = forms.ChoiceField(choices=_instance_type_choices, initial="ml.m5.large")
    channels = forms.CharField(
        help_text="name=uri per line: a dataset version (dataset://name/3, dataset://name) or artifact URI.",
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "train=dataset://churn\nvalidation=dataset://churn-val"}
        ),
    )
    static_hyperparameters = forms.CharField(
        required=False,
        help_text="name=value per line: what every training job gets.",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "num_round=50\nobjective=binary:logistic"}),
    )
    metric_definitions = forms.CharField(
        required=False,
        help_text="Your code only: name=regex per line; the regex's first group is the value.",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "objective=objective=([-0-9.eE]+)"}),
    )
    parameter_ranges = forms.CharField(
        help_text=(
            "One range per line: name=continuous:min:max[:scaling], name=integer:min:max[:scaling] or "
            f"name=categorical:a,b,c. Scaling: {', '.join(SCALING_TYPES)}."
        ),
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "placeholder": f"{RANGE_EXAMPLE}\nmax_depth=integer:2:8\ntree_method=categorical:hist,approx",
            }
        ),
    )
    objective_metric = forms.CharField(
        required=False,
        help_text="A metric the training jobs emit, e.g. validation:auc. Empty: the algorithm's default.",
        widget=forms.TextInput(attrs={"list": "objective-metrics", "autocomplete": "off"}),
    )
    objective_type = forms.ChoiceField(
        choices=[("", "The metric's direction"), ("Maximize", "Maximize"), ("Minimize", "Minimize")],
        required=False,
    )
    strategy = forms.ChoiceField(choices=[(s, s) for s in STRATEGIES], initial="Bayesian")
    max_training_jobs = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_TRAINING_JOBS,
        initial=10,
        help_text="Grid search: leave empty to run every combination.",
    )
    max_parallel_training_jobs = forms.IntegerField(
        min_value=1, max_value=MAX_PARALLEL_TRAINING_JOBS, initial=2
    )
    early_stopping = forms.ChoiceField(
        choices=[(kind, kind) for kind in EARLY_STOPPING_TYPES],
        initial="Off",
        help_text="Auto stops a training job whose objective trails the others' median (not with Hyperband).",
    )
    hyperband_min_resource = forms.IntegerField(
        required=False,
        min_value=1,
        help_text="Hyperband: the fewest epochs or rounds before a job may be stopped.",
    )
    hyperband_max_resource = forms.IntegerField(
        required=False,
        min_value=1,
        help_text="Hyperband: the most epochs or rounds (default: the epochs/num_round hyperparameter).",
    )
    training_max_runtime_seconds = forms.IntegerField(
        required=False, min_value=1, label="Max runtime per training job (seconds)"
    )
    max_runtime_seconds = forms.IntegerField(
        required=False,
        min_value=1,
        label="Max runtime of the tuning job (seconds)",
        help_text="Empty: 30 days.",
    )

    def clean_channels(self) -> list[dict]:
        pairs = _pairs(self.cleaned_data["channels"], what="name=uri", example="train=dataset://churn")
        return [{"name": name, "source_uri": uri} for name, uri in pairs]

    def clean_static_hyperparameters(self) -> dict[str, str]:
        pairs = _pairs(self.cleaned_data["static_hyperparameters"], what="name=value", example="num_round=50")
        return dict(pairs)

    def clean_metric_definitions(self) -> list[dict]:
        pairs = _pairs(
            self.cleaned_data["metric_definitions"], what="name=regex", example="loss=loss=([0-9.]+)"
        )
        return [{"name": name, "regex": regex} for name, regex in pairs]

    def clean_parameter_ranges(self) -> dict:
        return parse_range_lines(self.cleaned_data["parameter_ranges"])

    def service_arguments(self) -> dict:
        """The cleaned form as keyword arguments of ``tuning_job_create``."""
        data = dict(self.cleaned_data)
        upload = data.pop("source")
        if upload is not None:
            data["source_file"] = upload
            data["source_filename"] = upload.name
        if data["max_parallel_training_jobs"] is None:
            data["max_parallel_training_jobs"] = 1
        return data


@login_required
def tuning_job_create_view(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.CREATE)
    form = TuningJobForm(*form_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            job, _ = tuning_job_create(project=project_obj, user=request.user, **form.service_arguments())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Tuning job {job.name} created.")
            return redirect("jobs:tuning-detail", project=project, name=job.name)
    metric_names = sorted(
        {
            f"{channel}:{metric.name}"
            for algorithm in ALGORITHMS.values()
            for channel in algorithm.channels
            for metric in algorithm.metrics
        }
    )
    context = {"project": project_obj, "form": form, "metric_names": metric_names, "nav_section": "jobs"}
    return render(request, "jobs/tuning_job_form.html", context)


# --- the detail page ----------------------------------------------------------------------------------


def training_job_url(project: str, name: str) -> str:
    """The training job's page, or its API description where this install has no such page."""
    try:
        return reverse("jobs:training-detail", kwargs={"project": project, "name": name})
    except NoReverseMatch:
        return reverse("api-training-job", kwargs={"project": project, "name": name})


def _layout(height: int = 300, **extra) -> dict:
    return {
        "height": height,
        "margin": {"l": 56, "r": 16, "t": 12, "b": 44},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": "inherit", "size": 12},
        **extra,
    }


def tuning_figures(config: dict, rows: list[dict], importances: dict[str, float]) -> dict[str, dict]:
    """Plotly figures: the objective by trial with the best so far, parallel coordinates, importances."""
    figures: dict[str, dict] = {}
    objective = config["objective"]
    maximize = objective["type"] == "Maximize"
    scored = [(number, row) for number, row in enumerate(rows, 1) if row["objective"] is not None]
    if not scored:
        return figures
    best_so_far, best = [], None
    for _, row in scored:
        value = row["objective"]
        best = value if best is None or (value > best if maximize else value < best) else best
        best_so_far.append(best)
    numbers = [number for number, _ in scored]
    figures["history"] = {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "name": "Training job",
                "x": numbers,
                "y": [row["objective"] for _, row in scored],
                "text": [row["name"] for _, row in scored],
                "marker": {"color": ACCENT, "size": 8},
                "hovertemplate": "%{text}<br>" + objective["metric_name"] + " = %{y}<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "Best so far",
                "x": numbers,
                "y": best_so_far,
                "line": {"color": BEST, "shape": "hv", "width": 2},
            },
        ],
        "layout": _layout(
            xaxis={"title": {"text": "Training job"}, "dtick": 1 if len(rows) <= 20 else None},
            yaxis={"title": {"text": objective["metric_name"]}},
            legend={"orientation": "h", "y": 1.12},
        ),
    }
    dimensions = []
    for item in config["ranges"]:
        values = [(row["parameters"] or {}).get(item["name"]) for _, row in scored]
        if item["type"] == "Categorical":
            index = {value: position for position, value in enumerate(item["values"])}
            dimensions.append(
                {
                    "label": item["name"],
                    "values": [index.get(str(value), -1) for value in values],
                    "tickvals": list(index.values()),
                    "ticktext": item["values"],
                    "range": [0, max(1, len(index) - 1)],
                }
            )
            continue
        numbers_ = [float(value) if value is not None else math.nan for value in values]
        logarithmic = log_scaled(item)
        dimensions.append(
            {
                "label": f"log10({item['name']})" if logarithmic else item["name"],
                "values": [math.log10(v) if logarithmic and v > 0 else v for v in numbers_],
                "range": [math.log10(item["min"]), math.log10(item["max"])]
                if logarithmic
                else [item["min"], item["max"]],
            }
        )
    objectives = [row["objective"] for _, row in scored]
    dimensions.append({"label": objective["metric_name"], "values": objectives})
    figures["parallel"] = {
        "data": [
            {
                "type": "parcoords",
                "dimensions": dimensions,
                "line": {
                    "color": objectives,
                    "colorscale": "Viridis",
                    "reversescale": not maximize,  # the best trials are the bright ones
                    "showscale": True,
                },
            }
        ],
        "layout": _layout(340, margin={"l": 64, "r": 64, "t": 48, "b": 24}),
    }
    if importances:
        names = list(reversed(importances))
        figures["importance"] = {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "x": [importances[name] for name in names],
                    "y": names,
                    "marker": {"color": ACCENT},
                    "hovertemplate": "%{y}: %{x:.2f}<extra></extra>",
                }
            ],
            "layout": _layout(
                max(160, 40 + 32 * len(names)),
                xaxis={"title": {"text": "Importance (share of the objective's variation)"}, "range": [0, 1]},
                yaxis={"automargin": True},
            ),
        }
    return figures


def _value(number: float | None) -> str:
    return "—" if number is None else f"{number:.6g}"


def _live_context(request: HttpRequest, project: Project, job: Job) -> dict:
    """The live part: header, counters, best job, charts and trials; the page and its fragment share it."""
    config = job.spec
    overview = tuning_overview(job)
    order = request.GET.get("order", "")
    order = order if order in TRIAL_ORDERS else ""
    page = Paginator(tuning_trials(job, order=order), PAGE_SIZE).get_page(request.GET.get("page"))
    for trial in page.object_list:
        trial.duration_display = format_duration(trial.duration_seconds)  # type: ignore[attr-defined]
        trial.url = training_job_url(project.name, trial.name)  # type: ignore[attr-defined]
        trial.tuned = (trial.spec.get("tuning") or {}).get("parameters", {})  # type: ignore[attr-defined]
        trial.objective_display = _value(trial.objective)  # type: ignore[attr-defined]
    best = overview["best_training_job"]
    if best:
        best = {
            **best,
            "url": training_job_url(project.name, best["training_job_name"]),
            "value": _value(best["final_objective_metric"]["value"]),
        }
    hyperband = (config.get("strategy_config") or {}).get("hyperband")
    return {
        "project": project,
        "job": job,
        "config": config,
        "definition": config["training_definition"],
        "parameter_ranges": parameter_ranges_dict(config["ranges"]),
        "hyperband": hyperband,
        "warm_start": config.get("warm_start"),
        "training_counters": overview["training_job_status_counters"],
        "objective_counters": overview["objective_status_counters"],
        "launched": len(overview["trials"]),
        "best": best,
        "importances": overview["importances"],
        "figures": tuning_figures(config, overview["trials"], overview["importances"]),
        "page": page,
        "order": order,
        "orders": TRIAL_ORDERS,
        "duration": format_duration(job.duration_seconds),
        "can_stop": job.status in STOPPABLE and role_allows(project.user_role, Permission.OPERATE),
    }


@login_required
def tuning_job_detail(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    job = selectors.job_get(project_obj, JobKind.TUNING, name)
    names = {"project": project, "name": name}
    context = {
        **_live_context(request, project_obj, job),
        "fragment_url": reverse("jobs:tuning-fragment", kwargs=names),
        "api_url": reverse("api-tuning-job", kwargs=names),
        "nav_section": "jobs",
    }
    return render(request, "jobs/tuning_job_detail.html", context)


@login_required
def tuning_job_fragment(request: HttpRequest, project: str, name: str) -> HttpResponse:
    """The live part of the detail page, polled while the tuning job runs."""
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    job = selectors.job_get(project_obj, JobKind.TUNING, name)
    return render(request, "jobs/tuning_job_live.html", _live_context(request, project_obj, job))


@login_required
@require_POST
def tuning_job_stop_view(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.OPERATE)
    job = selectors.job_get(project_obj, JobKind.TUNING, name)
    try:
        job = tuning_job_stop(job=job, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Stop requested: {job.name} is {job.status}.")
    return redirect("jobs:tuning-detail", project=project, name=name)
