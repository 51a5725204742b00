"""Forms of the inference pages: they parse and shape input; the services decide what is allowed.

Each form's ``service_fields`` (or ``add_stage_errors``) puts a service's errors back on its fields.
"""

from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator

from endpoints.inference import codecs
from frontend.forms import ServiceErrorsMixin
from jobs.forms.common import environment_field, form_unique_pairs, instance_type_choices
from jobs.models import Backend

CODE_FILE_ACCEPT = ".py,.tar.gz,.tgz,.tar,.zip"
DEFAULT_VARIANT = "AllTraffic"
CONSOLE_CONTENT_TYPES = [
    (codecs.CSV, codecs.CSV),
    (codecs.JSON, codecs.JSON),
    (codecs.JSONLINES, codecs.JSONLINES),
]
SOURCE_TRAINING_JOB = "training_job"
SOURCE_UPLOAD = "upload"


def hosting_instance_type_choices() -> list[tuple[str, str]]:
    return instance_type_choices("hosting")


def _name_field(help_text: str, *, required: bool = True) -> forms.CharField:
    return forms.CharField(
        max_length=63,
        required=required,
        help_text=help_text,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


def _code_file_field() -> forms.FileField:
    return forms.FileField(
        required=False,
        label="Inference code",
        help_text=(
            "A .py with model_fn (and optionally input_fn, predict_fn, output_fn), or a .tar.gz/.zip of "
            "your code. Built-in algorithms' models need none."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": CODE_FILE_ACCEPT}),
    )


class ModelCreateForm(ServiceErrorsMixin, forms.Form):
    """A model from a completed training job, or an uploaded ``model.tar.gz``, for ``model_create``."""

    service_fields = {"model_data_uri": "model_file"}

    name = _name_field("1-63 letters, digits or hyphens; unique among the project's models.")
    source = forms.ChoiceField(
        label="Model from",
        choices=[
            (SOURCE_TRAINING_JOB, "A completed training job"),
            (SOURCE_UPLOAD, "An uploaded model.tar.gz"),
        ],
        initial=SOURCE_TRAINING_JOB,
        widget=forms.RadioSelect,
    )
    training_job = forms.ChoiceField(required=False, label="Training job")
    model_file = forms.FileField(
        required=False,
        label="model.tar.gz",
        help_text="The model's files; a model.joblib (scikit-learn) needs no code but an admin's trust.",
        widget=forms.ClearableFileInput(attrs={"accept": ".tar.gz,.tgz,application/gzip"}),
    )
    code_file = _code_file_field()
    entry_point = forms.CharField(
        required=False,
        max_length=256,
        help_text="The .py in a code archive that holds the handler functions (default inference.py).",
        widget=forms.TextInput(attrs={"placeholder": "inference.py"}),
    )
    environment = environment_field()

    def __init__(self, *args, training_jobs: Sequence[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["training_job"].choices = [
            ("", "Choose a training job…"),
            *((n, n) for n in training_jobs),
        ]

    def clean_environment(self) -> dict[str, str]:
        return form_unique_pairs(
            self.cleaned_data["environment"], what="KEY=VALUE", example="LOG_LEVEL=debug"
        )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("source") == SOURCE_UPLOAD:
            if not data.get("model_file") and "model_file" not in self.errors:
                self.add_error("model_file", "Upload the model.tar.gz.")
        elif not data.get("training_job") and "training_job" not in self.errors:
            self.add_error("training_job", "Choose the training job whose model this is.")
        return data

    @property
    def chosen_source(self) -> str:
        value = self["source"].value()
        return value if value in (SOURCE_TRAINING_JOB, SOURCE_UPLOAD) else SOURCE_TRAINING_JOB

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        upload = data["source"] == SOURCE_UPLOAD
        code_file = data.get("code_file")
        return {
            "name": data["name"],
            "training_job": "" if upload else data["training_job"],
            "model_file": data["model_file"] if upload else None,
            "code_file": code_file,
            "code_filename": code_file.name if code_file else "",
            "entry_point": data["entry_point"],
            "environment": data["environment"],
        }


class DeployForm(forms.Form):
    """Deploy in one step: (a model from a training job,) an endpoint config with one variant, an
    endpoint. Names left empty get defaults from the model's name."""

    # Set when deploying from a training job's page: the model is created from the job first.
    training_job = forms.CharField(required=False, widget=forms.HiddenInput)
    model_name = _name_field("The new model's name (from the training job).", required=False)
    code_file = _code_file_field()
    model = forms.ChoiceField(required=False, label="Model")
    endpoint_name = _name_field("Empty: the model's name.", required=False)
    config_name = _name_field("Empty: the endpoint's name with -config.", required=False)
    variant_name = _name_field("The production variant's name.")
    instance_type = forms.ChoiceField(choices=hosting_instance_type_choices, initial="ml.m5.large")
    instance_count = forms.IntegerField(min_value=1, initial=1)
    capture_percentage = forms.FloatField(
        required=False,
        min_value=0,
        max_value=100,
        label="Data capture",
        help_text="Percentage of requests (and answers) to capture, 0-100. Empty: no capture.",
        widget=forms.NumberInput(attrs={"step": "any", "placeholder": "off"}),
    )
    # Not required: a program posting the form without it gets the installation's default.
    backend = forms.ChoiceField(
        choices=Backend.choices,
        required=False,
        label="Runs on",
        help_text="Amazon SageMaker: an endpoint in the project's AWS account (set under Settings → AWS).",
    )

    # Where each service's errors go; anything else lands on top of the form.
    STAGE_FIELDS = {
        "model": {
            "name": "model_name",
            "training_job": None,
            "code_file": "code_file",
            "entry_point": "code_file",
        },
        "config": {"name": "config_name", "data_capture": "capture_percentage"},
        "endpoint": {"name": "endpoint_name", "backend": "backend"},
    }

    def __init__(self, *args, models: Sequence[tuple[str, str]] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "Choose a model…"), *models]
        # Read per request, not at import: settings may differ between processes and tests.
        limit = settings.STUDIO_SERVING_MAX_INSTANCES
        self.fields["instance_count"].widget.attrs["max"] = str(limit)
        self.fields["instance_count"].validators.append(MaxValueValidator(limit))
        self.fields["variant_name"].initial = DEFAULT_VARIANT
        self.fields["backend"].initial = settings.STUDIO_DEFAULT_BACKEND
        self.fields["model_name"].required = self.from_training_job

    @property
    def from_training_job(self) -> bool:
        return bool(self["training_job"].value())

    def clean(self) -> dict:
        data = super().clean()
        if data.get("training_job"):
            if not data.get("model_name") and "model_name" not in self.errors:
                self.add_error("model_name", "Name the model made from the training job.")
        elif not data.get("model") and "model" not in self.errors:
            self.add_error("model", "Choose the model to deploy.")
        return data

    def model_arguments(self) -> dict:
        code_file = self.cleaned_data.get("code_file")
        return {
            "name": self.cleaned_data["model_name"],
            "training_job": self.cleaned_data["training_job"],
            "code_file": code_file,
            "code_filename": code_file.name if code_file else "",
        }

    def config_arguments(self, *, model: str, name: str) -> dict:
        data = self.cleaned_data
        percentage = data.get("capture_percentage")
        variant = {
            "name": data["variant_name"],
            "model": model,
            "instance_type": data["instance_type"],
            "instance_count": data["instance_count"],
            "initial_weight": 1.0,
        }
        capture = None if percentage is None else {"enabled": True, "sampling_percentage": percentage}
        return {"name": name, "variants": [variant], "data_capture": capture}

    def add_stage_errors(self, stage: str, error: ValidationError) -> None:
        """A service's errors from ``stage`` (model, config, endpoint) on the fields they concern."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        fields = self.STAGE_FIELDS[stage]
        for name, messages in error.message_dict.items():
            for message in messages:
                field = fields.get(name, name) if name in fields else self._variant_field(name, message)
                if field == "model" and self.from_training_job:
                    field = "model_name"  # the page shows the new model's name, not the picker
                self.add_error(field if field in self.fields else None, message)

    @staticmethod
    def _variant_field(name: str, message: str) -> str | None:
        """``variants[0]`` errors start with the variant's name and say what is wrong."""
        if not name.startswith("variants["):
            return None
        text = message.lower()
        if "instance type" in text or "cannot be used for hosting" in text:
            return "instance_type"
        if "instance_count" in text:
            return "instance_count"
        if "model" in text:
            return "model"
        if text.startswith("name:"):
            return "variant_name"
        return None


class EndpointUpdateForm(forms.Form):
    """Blue/green: another endpoint config for the endpoint."""

    endpoint_config = forms.ChoiceField(label="New endpoint config")

    def __init__(self, *args, configs: Sequence[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["endpoint_config"].choices = [("", "Choose a config…"), *((n, n) for n in configs)]

    def add_service_errors(self, error: ValidationError) -> None:
        self.add_error("endpoint_config", error.messages)


class WeightsForm(forms.Form):
    """The current traffic weight of each production variant (``weight__<variant>``)."""

    PREFIX = "weight__"

    def __init__(self, *args, weights: dict[str, float], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for variant, weight in weights.items():
            self.fields[self.PREFIX + variant] = forms.FloatField(
                label=variant,
                min_value=0,
                initial=weight,
                widget=forms.NumberInput(attrs={"step": "any", "min": "0"}),
            )

    def rows(self) -> list[tuple[str, forms.BoundField]]:
        return [(name[len(self.PREFIX) :], self[name]) for name in self.fields]

    def weights(self) -> dict[str, float]:
        return {name[len(self.PREFIX) :]: value for name, value in self.cleaned_data.items()}

    def add_service_errors(self, error: ValidationError) -> None:
        self.add_error(None, error.messages)


class ConsoleForm(forms.Form):
    """One test request: what the console sends through the gateway."""

    body = forms.CharField(strip=False, widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}))
    content_type = forms.ChoiceField(choices=CONSOLE_CONTENT_TYPES, initial=codecs.CSV)
    accept = forms.CharField(
        required=False,
        max_length=256,
        help_text="Empty: the model's default.",
        widget=forms.TextInput(attrs={"placeholder": "text/csv"}),
    )
    target_variant = forms.ChoiceField(required=False, label="Target variant")

    def __init__(self, *args, variants: Sequence[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target_variant"].choices = [("", "By weight"), *((n, n) for n in variants)]

    def clean_body(self) -> bytes:
        body = self.cleaned_data["body"].encode()
        limit = settings.STUDIO_INVOCATION_MAX_BYTES
        if len(body) > limit:
            raise ValidationError(f"The request body is over {limit} bytes.")
        return body
