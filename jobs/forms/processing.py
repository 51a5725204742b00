"""The processing-job launch form: a script with its inputs and outputs, for ``processing_job_create``."""

from __future__ import annotations

from django import forms

from frontend.forms import ServiceErrorsMixin
from jobs.forms.common import (
    LINE_HELP,
    METRIC_DEFINITIONS_HELP,
    backend_field,
    backend_initial,
    environment_field,
    form_channels,
    form_lines,
    form_metric_definitions,
    form_pairs,
    form_unique_pairs,
    instance_type_choices,
    job_name_field,
    lines_field,
    max_runtime_field,
    max_runtime_placeholder,
)


class ProcessingJobForm(ServiceErrorsMixin, forms.Form):
    # The service also accepts an existing artifact as the script; the page offers the upload.
    service_fields = {"script_uri": "script"}

    name = job_name_field(
        "1-63 letters, digits or hyphens; unique among the project's processing jobs.", "prepare-data-1"
    )
    script = forms.FileField(
        help_text="The Python script to run (.py).",
        error_messages={"required": "Upload the .py script the job runs."},
        widget=forms.ClearableFileInput(attrs={"accept": ".py,text/x-python"}),
    )
    instance_type = forms.ChoiceField(choices=instance_type_choices, initial="ml.m5.large")
    backend = backend_field()
    inputs = lines_field(
        (
            "name=uri per line, where uri is an artifact URI or a dataset version "
            "(dataset://name/3, or dataset://name for the latest); the files appear under "
            "/opt/ml/processing/input/<name>/."
        ),
        "data=file:///…/vision/data/train.csv",
        rows=3,
    )
    outputs = lines_field(
        "name, or name=uri, per line; the job writes to /opt/ml/processing/output/<name>/.", "result"
    )
    arguments = lines_field("Command-line arguments for the script. " + LINE_HELP, "--epochs\n3")
    environment = environment_field()
    max_runtime_seconds = max_runtime_field()
    metric_definitions = lines_field(METRIC_DEFINITIONS_HELP, "loss=loss=([0-9.]+)")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        max_runtime_placeholder(self)
        backend_initial(self)

    def clean_inputs(self) -> list[dict]:
        return form_channels(self.cleaned_data["inputs"], example="data=file:///…/train.csv")

    def clean_outputs(self) -> list[dict]:
        pairs = form_pairs(self.cleaned_data["outputs"], what="name or name=uri", example="result", bare=True)
        return [{"name": name, **({"destination_uri": uri} if uri else {})} for name, uri in pairs]

    def clean_arguments(self) -> list[str]:
        return [line for _, line in form_lines(self.cleaned_data["arguments"])]

    def clean_environment(self) -> dict[str, str]:
        return form_unique_pairs(
            self.cleaned_data["environment"], what="KEY=VALUE", example="LOG_LEVEL=debug"
        )

    def clean_metric_definitions(self) -> list[dict]:
        return form_metric_definitions(self.cleaned_data["metric_definitions"], example="loss=loss=([0-9.]+)")

    def service_arguments(self) -> dict:
        """The cleaned form as keyword arguments of ``jobs.services.processing_job_create``."""
        data = dict(self.cleaned_data)
        upload = data.pop("script")
        return {**data, "script_file": upload, "script_filename": upload.name}
