"""The tuning-job launch form: text lines turned into the structures ``tuning_job_create`` takes.

The service judges them, and its errors come back onto the fields.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from frontend.forms import ServiceErrorsMixin
from jobs.algorithms.registry import ALGORITHMS
from jobs.forms.common import (
    FrameworkFieldsMixin,
    backend_field,
    backend_initial,
    form_channels,
    form_lines,
    form_metric_definitions,
    form_pairs,
    framework_field,
    framework_version_field,
    job_name_field,
    lines_field,
    training_instance_type_choices,
)
from jobs.services.tuning import (
    EARLY_STOPPING_TYPES,
    MAX_PARALLEL_TRAINING_JOBS,
    MAX_TRAINING_JOBS,
    SCALING_TYPES,
    STRATEGIES,
)

RANGE_EXAMPLE = "eta=continuous:0.01:0.5:Logarithmic"
RANGE_KINDS = {"continuous": "ContinuousParameterRanges", "integer": "IntegerParameterRanges"}


def _algorithm_choices() -> list[tuple[str, str]]:
    return [("", "My own code (upload it below)")] + [(a.name, a.title) for a in ALGORITHMS.values()]


def parse_range_lines(text: str) -> dict[str, list[dict]]:
    """``name=continuous:min:max[:Scaling]``, ``name=integer:min:max[:Scaling]`` or
    ``name=categorical:a,b,c`` per line, as SageMaker's ParameterRanges."""
    ranges: dict[str, list[dict]] = {}
    problems = []
    for number, line in form_lines(text):
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


class TuningJobForm(FrameworkFieldsMixin, ServiceErrorsMixin, forms.Form):
    service_fields = {
        "source_uri": "source",
        "source_filename": "source",
        "instance_count": "instance_type",
    }

    name = job_name_field(
        "1-32 letters, digits or hyphens; its training jobs are named <name>-001-<hex>, ….", "xgb-tune-1"
    )
    algorithm = forms.ChoiceField(choices=_algorithm_choices, required=False)
    source = forms.FileField(
        required=False,
        help_text="Your training script (.py) or a source archive, when no built-in algorithm is chosen.",
    )
    entry_point = forms.CharField(required=False, help_text="The script to run inside an archive.")
    framework = framework_field()
    framework_version = framework_version_field()
    instance_type = forms.ChoiceField(choices=training_instance_type_choices, initial="ml.m5.large")
    backend = backend_field()
    channels = lines_field(
        "name=uri per line: a dataset version (dataset://name/3, dataset://name) or artifact URI.",
        "train=dataset://churn\nvalidation=dataset://churn-val",
        required=True,
    )
    static_hyperparameters = lines_field(
        "name=value per line: what every training job gets.", "num_round=50\nobjective=binary:logistic"
    )
    metric_definitions = lines_field(
        "Your code only: name=regex per line; the regex's first group is the value.",
        "objective=objective=([-0-9.eE]+)",
    )
    parameter_ranges = lines_field(
        "One range per line: name=continuous:min:max[:scaling], name=integer:min:max[:scaling] or "
        f"name=categorical:a,b,c. Scaling: {', '.join(SCALING_TYPES)}.",
        f"{RANGE_EXAMPLE}\nmax_depth=integer:2:8\ntree_method=categorical:hist,approx",
        rows=3,
        required=True,
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

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        backend_initial(self)
        self.framework_datalist()

    def is_own_code(self) -> bool:
        """No built-in chosen: the framework fields are shown."""
        value = self.data.get("algorithm") if self.is_bound else self.initial.get("algorithm")
        return not value

    def clean_channels(self) -> list[dict]:
        return form_channels(self.cleaned_data["channels"], example="train=dataset://churn")

    def clean_static_hyperparameters(self) -> dict[str, str]:
        pairs = form_pairs(
            self.cleaned_data["static_hyperparameters"], what="name=value", example="num_round=50"
        )
        return dict(pairs)

    def clean_metric_definitions(self) -> list[dict]:
        return form_metric_definitions(self.cleaned_data["metric_definitions"], example="loss=loss=([0-9.]+)")

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
        data["framework_version"] = data["framework_version"].strip()
        if data["algorithm"]:  # a built-in runs in its own image: the framework fields are hidden
            data["framework"] = data["framework_version"] = ""
        return data
