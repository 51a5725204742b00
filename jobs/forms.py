"""Job forms: turn the launch form's text boxes into the structures ``processing_job_create`` takes.

Only the syntax of each line is checked here; names, URIs, limits and regexes are the service's
to judge, and its errors come back onto these fields through ``add_service_errors``.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from frontend.forms import ServiceErrorsMixin
from jobs.models import JobStatus
from studio.instance_types import InstanceType, instance_types_for

LINE_HELP = "One per line."


def _lines(text: str) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers, so errors can point at the line."""
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _pairs(
    text: str, *, what: str, example: str, bare: bool = False, empty: bool = False
) -> list[tuple[str, str]]:
    """``key=value`` lines; ``bare`` allows a line without ``=``, ``empty`` allows ``key=``."""
    pairs, errors = [], []
    for number, line in _lines(text):
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not key or (not sep and not bare) or (sep and not value and not empty):
            errors.append(f"Line {number}: {line!r} is not {what}, e.g. {example}.")
            continue
        pairs.append((key, value))
    if errors:
        raise ValidationError(errors)
    return pairs


def instance_type_label(instance: InstanceType) -> str:
    label = f"{instance.name} — {instance.vcpus} vCPU, {instance.memory_gib} GiB"
    if instance.gpus:
        label += f", {instance.gpus} x {instance.gpu_model}"
    return label


def _instance_type_choices() -> list[tuple[str, str]]:
    return [(instance.name, instance_type_label(instance)) for instance in instance_types_for("processing")]


class JobFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *JobStatus.choices], required=False)
    name = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "Name contains…"}))


class ProcessingJobForm(ServiceErrorsMixin, forms.Form):
    # The service also accepts an existing artifact as the script; the page offers the upload.
    service_fields = {"script_uri": "script"}

    name = forms.CharField(
        max_length=63,
        help_text="1-63 letters, digits or hyphens; unique among the project's processing jobs.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "prepare-data-1"}),
    )
    script = forms.FileField(
        help_text="The Python script to run (.py).",
        error_messages={"required": "Upload the .py script the job runs."},
        widget=forms.ClearableFileInput(attrs={"accept": ".py,text/x-python"}),
    )
    instance_type = forms.ChoiceField(choices=_instance_type_choices, initial="ml.m5.large")
    inputs = forms.CharField(
        required=False,
        help_text=(
            "name=uri per line, where uri is an artifact URI or a dataset version "
            "(dataset://name/3, or dataset://name for the latest); the files appear under "
            "/opt/ml/processing/input/<name>/."
        ),
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "data=file:///…/vision/data/train.csv"}),
    )
    outputs = forms.CharField(
        required=False,
        help_text="name, or name=uri, per line; the job writes to /opt/ml/processing/output/<name>/.",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "result"}),
    )
    arguments = forms.CharField(
        required=False,
        help_text="Command-line arguments for the script. " + LINE_HELP,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "--epochs\n3"}),
    )
    environment = forms.CharField(
        required=False,
        help_text="KEY=VALUE per line.",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "LOG_LEVEL=debug"}),
    )
    max_runtime_seconds = forms.IntegerField(
        required=False,
        min_value=1,
        help_text="The job is stopped after this long. Empty: the server's default.",
    )
    metric_definitions = forms.CharField(
        required=False,
        help_text="name=regex per line; the regex's first group is the value, read from each log line.",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "loss=loss=([0-9.]+)"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Read per request, not at import: settings may differ between processes and tests.
        default = settings.STUDIO_DEFAULT_MAX_RUNTIME_SECONDS
        self.fields["max_runtime_seconds"].widget.attrs["placeholder"] = str(default)

    def clean_inputs(self) -> list[dict]:
        pairs = _pairs(self.cleaned_data["inputs"], what="name=uri", example="data=file:///…/train.csv")
        return [{"name": name, "source_uri": uri} for name, uri in pairs]

    def clean_outputs(self) -> list[dict]:
        pairs = _pairs(self.cleaned_data["outputs"], what="name or name=uri", example="result", bare=True)
        return [{"name": name, **({"destination_uri": uri} if uri else {})} for name, uri in pairs]

    def clean_arguments(self) -> list[str]:
        return [line for _, line in _lines(self.cleaned_data["arguments"])]

    def clean_environment(self) -> dict[str, str]:
        environment: dict[str, str] = {}
        for key, value in _pairs(
            self.cleaned_data["environment"], what="KEY=VALUE", example="LOG_LEVEL=debug", empty=True
        ):
            if key in environment:
                raise ValidationError(f"{key} is set twice.")
            environment[key] = value
        return environment

    def clean_metric_definitions(self) -> list[dict]:
        pairs = _pairs(
            self.cleaned_data["metric_definitions"], what="name=regex", example="loss=loss=([0-9.]+)"
        )
        return [{"name": name, "regex": regex} for name, regex in pairs]

    def service_arguments(self) -> dict:
        """The cleaned form as keyword arguments of ``jobs.services.processing_job_create``."""
        data = dict(self.cleaned_data)
        upload = data.pop("script")
        return {**data, "script_file": upload, "script_filename": upload.name}
