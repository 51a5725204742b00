"""The training-job launch form: a built-in algorithm (its hyperparameters as fields) or the user's code.

It also turns a job's definition back into initial values, for the clone link of the detail page.
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError

from frontend.forms import ServiceErrorsMixin
from jobs.algorithms.registry import ALGORITHMS, Hyperparameter
from jobs.backends.sagemaker.images import DEFAULT_FRAMEWORK
from jobs.forms.common import (
    METRIC_DEFINITIONS_HELP,
    FrameworkFieldsMixin,
    backend_field,
    backend_initial,
    environment_field,
    form_metric_definitions,
    form_unique_pairs,
    framework_field,
    framework_version_field,
    job_name_field,
    lines_field,
    max_runtime_field,
    max_runtime_placeholder,
    training_instance_type_choices,
)

TRAINING_CHANNELS = ("train", "validation", "test")
DEFAULT_CONTENT_TYPE = "text/csv"
BUILTIN, USER_CODE = "builtin", "code"
# "eta: 5.0 is above the maximum 1." -> the field of eta; "Channel 'train': ..." -> the train row.
_NAMED_MESSAGE = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+): (?P<message>.+)$", re.DOTALL)
_QUOTED_NAME = re.compile(r"'([^']+)'")


def hyperparameter_field_name(algorithm: str, name: str) -> str:
    return f"hp__{algorithm}__{name}"


def _value_text(value: object) -> str:
    """A schema value as the form shows it (and SageMaker stores it): true/false, 0.3, 256."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _range_text(hp: Hyperparameter) -> str:
    if hp.min is not None and hp.max is not None:
        return f"{hp.min:g} to {hp.max:g}"
    if hp.min is not None:
        return f"at least {hp.min:g}"
    if hp.max is not None:
        return f"at most {hp.max:g}"
    return ""


def hyperparameter_help(hp: Hyperparameter) -> str:
    """The schema in a sentence: what it does, its type and range, its default."""
    parts = [hp.help.rstrip(".") + "." if hp.help else ""]
    kind = {"int": "Integer", "float": "Number", "bool": "true or false", "str": "Text"}.get(hp.kind, "")
    if kind:
        bounds = _range_text(hp)
        parts.append(f"{kind}{', ' + bounds if bounds else ''}.")
    if hp.default is not None:
        parts.append(f"Default {_value_text(hp.default)}.")
    elif not hp.required:
        parts.append("Unset by default.")
    return " ".join(part for part in parts if part)


def _hyperparameter_field(hp: Hyperparameter) -> forms.Field:
    """Every field is optional to the form: the algorithm's schema (in the service) says what is required."""
    common = {"required": False, "label": hp.name, "help_text": hyperparameter_help(hp)}
    initial = _value_text(hp.default)
    if hp.kind in ("categorical", "bool"):
        values = hp.choices if hp.kind == "categorical" else ("true", "false")
        blank = [] if hp.default is not None else [("", "Choose…" if hp.required else "(unset)")]
        return forms.ChoiceField(choices=[*blank, *((v, v) for v in values)], initial=initial, **common)
    if hp.kind in ("int", "float"):
        attrs = {"step": "1" if hp.kind == "int" else "any", "inputmode": "decimal"}
        attrs.update({key: f"{getattr(hp, key):g}" for key in ("min", "max") if getattr(hp, key) is not None})
        return forms.CharField(widget=forms.NumberInput(attrs=attrs), initial=initial, **common)
    return forms.CharField(initial=initial, **common)


class TrainingJobForm(FrameworkFieldsMixin, ServiceErrorsMixin, forms.Form):
    """A training job: a built-in algorithm (its hyperparameters as fields) or the user's code.

    Every algorithm's hyperparameter fields are on the form (``hp__<algorithm>__<name>``); the
    page shows only the chosen algorithm's, and only its non-empty values are sent.
    """

    name = job_name_field(
        "1-63 letters, digits or hyphens; unique among the project's training jobs.", "churn-xgboost-1"
    )
    source_kind = forms.ChoiceField(
        label="Algorithm source",
        choices=[(BUILTIN, "Built-in algorithm"), (USER_CODE, "Your code")],
        initial=BUILTIN,
        widget=forms.RadioSelect,
    )
    algorithm = forms.ChoiceField(
        label="Built-in algorithm",
        choices=[(name, f"{algorithm.title} ({name})") for name, algorithm in ALGORITHMS.items()],
        initial="xgboost",
    )
    source = forms.FileField(
        required=False,
        label="Code",
        help_text="A .py script, or a source archive (.tar.gz, .tgz, .tar, .zip) with an entry point.",
        widget=forms.ClearableFileInput(attrs={"accept": ".py,.tar.gz,.tgz,.tar,.zip"}),
    )
    source_uri = forms.CharField(
        required=False,
        label="or code already stored",
        help_text="The URI of a .py file or source archive in this project (a clone keeps its code here).",
    )
    entry_point = forms.CharField(
        required=False,
        max_length=256,
        help_text="The script to run: the uploaded .py itself, or a path inside the archive.",
        widget=forms.TextInput(attrs={"placeholder": "train.py"}),
    )
    framework = framework_field()
    framework_version = framework_version_field()
    hyperparameters = lines_field(
        "name=value per line; the code reads them from /opt/ml/input/config/hyperparameters.json.",
        "epochs=10\nlearning_rate=0.01",
        rows=3,
    )
    metric_definitions = lines_field(METRIC_DEFINITIONS_HELP, "train:loss=loss=([0-9.]+)")
    instance_type = forms.ChoiceField(choices=training_instance_type_choices, initial="ml.m5.large")
    instance_count = forms.IntegerField(min_value=1, initial=1)
    backend = backend_field()
    max_runtime_seconds = max_runtime_field()
    checkpoint_uri = forms.CharField(
        required=False,
        label="Checkpoint URI",
        help_text="Where /opt/ml/checkpoints/ is kept between runs; under this project's prefix.",
    )
    environment = environment_field()

    def __init__(self, *args, dataset_versions: list[tuple[str, str]] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        max_runtime_placeholder(self)
        backend_initial(self)
        self.framework_datalist()
        version_choices = [("", "—"), *dataset_versions]
        for channel in TRAINING_CHANNELS:
            self.fields[f"channel_{channel}_dataset"] = forms.ChoiceField(
                required=False, choices=version_choices, label=f"{channel} dataset version"
            )
            self.fields[f"channel_{channel}_uri"] = forms.CharField(
                required=False,
                label=f"{channel} URI",
                widget=forms.TextInput(
                    attrs={"placeholder": "file:///…, s3://…, dataset://name/2", "list": "artifact-uris"}
                ),
            )
            self.fields[f"channel_{channel}_content_type"] = forms.CharField(
                required=False, max_length=256, initial=DEFAULT_CONTENT_TYPE, label=f"{channel} content type"
            )
        for algorithm in ALGORITHMS.values():
            for hp in algorithm.hyperparameters:
                self.fields[hyperparameter_field_name(algorithm.name, hp.name)] = _hyperparameter_field(hp)

    # --- What the template iterates -------------------------------------------------------------------

    def channel_rows(self) -> list[dict]:
        return [
            {
                "name": channel,
                "dataset": self[f"channel_{channel}_dataset"],
                "uri": self[f"channel_{channel}_uri"],
                "content_type": self[f"channel_{channel}_content_type"],
            }
            for channel in TRAINING_CHANNELS
        ]

    def hyperparameter_groups(self) -> list[dict]:
        chosen = self.chosen_algorithm()
        return [
            {
                "algorithm": algorithm,
                "chosen": algorithm.name == chosen,
                "fields": [
                    (hp, self[hyperparameter_field_name(algorithm.name, hp.name)])
                    for hp in algorithm.hyperparameters
                ],
            }
            for algorithm in ALGORITHMS.values()
        ]

    def chosen_algorithm(self) -> str:
        value = self.data.get("algorithm") if self.is_bound else self.initial.get("algorithm")
        return value if value in ALGORITHMS else self.fields["algorithm"].initial

    def is_builtin(self) -> bool:
        value = self.data.get("source_kind") if self.is_bound else self.initial.get("source_kind")
        return (value or BUILTIN) == BUILTIN

    # --- Cleaning -------------------------------------------------------------------------------------

    def clean_hyperparameters(self) -> dict[str, str]:
        return form_unique_pairs(self.cleaned_data["hyperparameters"], what="name=value", example="epochs=10")

    def clean_metric_definitions(self) -> list[dict]:
        return form_metric_definitions(
            self.cleaned_data["metric_definitions"], example="train:loss=loss=([0-9.]+)"
        )

    def clean_environment(self) -> dict[str, str]:
        return form_unique_pairs(
            self.cleaned_data["environment"], what="KEY=VALUE", example="LOG_LEVEL=debug"
        )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("source_kind") == BUILTIN and not data.get("algorithm"):
            self.add_error("algorithm", "Choose a built-in algorithm.")
        if data.get("source_kind") == USER_CODE and not data.get("source") and not data.get("source_uri"):
            self.add_error("source", "Upload your training code (or give the URI of code already stored).")
        for channel in TRAINING_CHANNELS:
            if data.get(f"channel_{channel}_dataset") and data.get(f"channel_{channel}_uri", "").strip():
                self.add_error(f"channel_{channel}_uri", "Choose a dataset version or type a URI, not both.")
        return data

    def channels(self) -> list[dict]:
        data = self.cleaned_data
        channels = []
        for channel in TRAINING_CHANNELS:
            uri = data.get(f"channel_{channel}_uri", "").strip() or data.get(f"channel_{channel}_dataset", "")
            if uri:
                content_type = data.get(f"channel_{channel}_content_type", "").strip()
                channels.append({"name": channel, "source_uri": uri, "content_type": content_type})
        return channels

    def builtin_hyperparameters(self) -> dict[str, str]:
        """The chosen algorithm's non-empty fields."""
        algorithm = ALGORITHMS[self.cleaned_data["algorithm"]]
        values = {}
        for hp in algorithm.hyperparameters:
            value = str(self.cleaned_data.get(hyperparameter_field_name(algorithm.name, hp.name)) or "")
            if value.strip():
                values[hp.name] = value.strip()
        return values

    def service_arguments(self) -> dict:
        """The cleaned form as keyword arguments of ``jobs.services.training_job_create``."""
        data = self.cleaned_data
        arguments = {
            "name": data["name"],
            "channels": self.channels(),
            "instance_type": data["instance_type"],
            "instance_count": data["instance_count"],
            "max_runtime_seconds": data["max_runtime_seconds"],
            "checkpoint_uri": data["checkpoint_uri"].strip(),
            "environment": data["environment"],
            "backend": data["backend"],
        }
        if data["source_kind"] == BUILTIN:
            return {
                **arguments,
                "algorithm": data["algorithm"],
                "hyperparameters": self.builtin_hyperparameters(),
            }
        arguments.update(
            entry_point=data["entry_point"].strip(),
            hyperparameters=data["hyperparameters"],
            metric_definitions=data["metric_definitions"],
            framework=data["framework"],
            framework_version=data["framework_version"].strip(),
        )
        if data.get("source"):
            upload = data["source"]
            return {**arguments, "source_file": upload, "source_filename": upload.name}
        return {**arguments, "source_uri": data["source_uri"].strip()}

    # --- Service errors onto fields ---------------------------------------------------------------------

    def add_service_errors(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        builtin = self.cleaned_data.get("source_kind", BUILTIN) == BUILTIN
        for name, messages in error.message_dict.items():
            for message in messages:
                field, text = self._field_for(name, message, builtin=builtin)
                self.add_error(field, text)

    def _field_for(self, name: str, message: str, *, builtin: bool) -> tuple[str | None, str]:
        if name == "hyperparameters" and builtin:
            match = _NAMED_MESSAGE.match(message)
            if match:
                field = hyperparameter_field_name(self.cleaned_data.get("algorithm", ""), match["name"])
                if field in self.fields:
                    return field, match["message"]
            return None, message
        if name == "channels":
            match = _QUOTED_NAME.search(message)
            channel = match.group(1) if match and match.group(1) in TRAINING_CHANNELS else "train"
            return f"channel_{channel}_uri", message
        if name == "algorithm" and not builtin:
            return "source", message
        return (name if name in self.fields else None), message

    # --- Clone ----------------------------------------------------------------------------------------

    @staticmethod
    def initial_from(definition: dict, *, name: str) -> dict:
        """Initial values that repeat a job's definition (``training_definition_of``) under ``name``."""
        initial: dict = {
            "name": name,
            "instance_type": definition["instance_type"],
            "instance_count": definition["instance_count"],
            "max_runtime_seconds": definition["max_runtime_seconds"],
            "checkpoint_uri": definition.get("checkpoint_uri", ""),
            "environment": "\n".join(f"{key}={value}" for key, value in definition["environment"].items()),
        }
        for channel in definition["channels"]:
            prefix = f"channel_{channel['name']}"
            if channel.get("dataset"):
                initial[f"{prefix}_dataset"] = f"dataset://{channel['dataset']}/{channel['version']}"
            else:
                initial[f"{prefix}_uri"] = channel["source_uri"]
            initial[f"{prefix}_content_type"] = channel.get("content_type", "")
        algorithm = (definition.get("algorithm") or {}).get("name")
        if algorithm in ALGORITHMS:
            initial.update(source_kind=BUILTIN, algorithm=algorithm)
            # The job's values, and empty for what it left to the algorithm's default.
            for hp in ALGORITHMS[algorithm].hyperparameters:
                value = definition["hyperparameters"].get(hp.name, "")
                initial[hyperparameter_field_name(algorithm, hp.name)] = value
            return initial
        code = definition.get("code") or {}
        initial.update(
            source_kind=USER_CODE,
            source_uri=code.get("uri", ""),
            entry_point=code.get("entry_point", ""),
            framework=definition.get("framework") or DEFAULT_FRAMEWORK,
            framework_version=definition.get("framework_version") or "",
            hyperparameters="\n".join(f"{k}={v}" for k, v in definition["hyperparameters"].items()),
            metric_definitions="\n".join(
                f"{d['name']}={d['regex']}" for d in definition["metric_definitions"]
            ),
        )
        return initial
