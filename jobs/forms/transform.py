"""The batch transform launch form: a model over a dataset version or files, for ``transform_job_create``."""

from __future__ import annotations

from django import forms

from endpoints.inference import codecs
from frontend.forms import ServiceErrorsMixin
from jobs.forms.common import (
    backend_field,
    backend_initial,
    environment_field,
    form_unique_pairs,
    instance_type_choices,
    job_name_field,
    max_runtime_field,
    max_runtime_placeholder,
)

MEDIA_TYPE_CHOICES = [(kind, kind) for kind in codecs.CONTENT_TYPES]


def transform_instance_type_choices() -> list[tuple[str, str]]:
    return instance_type_choices("transform")


class TransformJobForm(ServiceErrorsMixin, forms.Form):
    name = job_name_field(
        "1-63 letters, digits or hyphens; unique among the project's batch transform jobs.", "score-march"
    )
    model = forms.ChoiceField(help_text="The model that answers each record.")
    input_uri = forms.CharField(
        label="Input",
        help_text=(
            "A dataset version (dataset://name/3, or dataset://name for the latest), or an artifact URI of "
            "a file or a folder of files; each file <path> gives <path>.out."
        ),
        widget=forms.TextInput(attrs={"list": "input-uris", "placeholder": "dataset://customers/2"}),
    )
    content_type = forms.ChoiceField(
        choices=MEDIA_TYPE_CHOICES, initial=codecs.CSV, help_text="How the records are written."
    )
    split_type = forms.ChoiceField(
        choices=[("Line", "Line: each line is a record"), ("None", "None: each file is one record")],
        initial="Line",
    )
    compression = forms.ChoiceField(
        choices=[("None", "None"), ("Gzip", "Gzip")], initial="None", help_text="Of the input files."
    )
    batch_strategy = forms.ChoiceField(
        choices=[
            ("MultiRecord", "MultiRecord: as many lines per call as fit in a payload"),
            ("SingleRecord", "SingleRecord: one record per call"),
        ],
        initial="MultiRecord",
    )
    max_payload_mb = forms.IntegerField(
        label="Max payload (MB)", min_value=1, max_value=100, initial=6, help_text="Per call, 1-100."
    )
    max_concurrent_transforms = forms.IntegerField(
        label="Max concurrent transforms",
        required=False,
        min_value=1,
        help_text="Worker processes. Empty: one per CPU of the instance type.",
    )
    accept = forms.ChoiceField(
        choices=[("", "The model's default"), *MEDIA_TYPE_CHOICES],
        required=False,
        help_text="How the answers are written.",
    )
    assemble_with = forms.ChoiceField(
        choices=[("Line", "Line: one line per record"), ("None", "None: answers concatenated")],
        initial="Line",
    )
    input_filter = forms.CharField(
        initial="$", help_text="JSONPath of each record to send: $, $[1:] (CSV columns), $.features…"
    )
    join_source = forms.ChoiceField(
        choices=[("None", "None: the answer only"), ("Input", "Input: the input record with its answer")],
        initial="None",
    )
    output_filter = forms.CharField(
        initial="$",
        help_text="JSONPath of each (joined) output record to keep: $, $[0,-1], $['id','SageMakerOutput']…",
    )
    output_uri = forms.CharField(
        required=False,
        help_text="Where the .out files go. Empty: the job's own folder under the project.",
        widget=forms.TextInput(attrs={"placeholder": "<project>/transform-jobs/<name>/output"}),
    )
    instance_type = forms.ChoiceField(choices=transform_instance_type_choices, initial="ml.m5.large")
    backend = backend_field()
    max_runtime_seconds = max_runtime_field()
    environment = environment_field()

    def __init__(self, *args, models: list[tuple[str, str]] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "Pick a model"), *models]
        max_runtime_placeholder(self)
        backend_initial(self)

    def clean_environment(self) -> dict[str, str]:
        return form_unique_pairs(
            self.cleaned_data["environment"], what="KEY=VALUE", example="LOG_LEVEL=debug"
        )

    def service_arguments(self) -> dict:
        """The cleaned form as keyword arguments of ``jobs.services.transform.transform_job_create``."""
        return dict(self.cleaned_data)
