"""What the job forms share: line and ``key=value`` parsing, instance type choices, the list filter.

Only the syntax of each line is checked here; names, URIs, limits, regexes and hyperparameter
values are the services' to judge, and their errors come back onto the fields through
``add_service_errors``.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from jobs.backends.sagemaker.images import DEFAULT_FRAMEWORK, FRAMEWORKS
from jobs.models import Backend, JobKind, JobStatus
from studio.instance_types import InstanceType, instance_types_for

LINE_HELP = "One per line."
METRIC_DEFINITIONS_HELP = (
    "name=regex per line; the regex's first group is the value, read from each log line."
)


def form_lines(text: str) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers, so errors can point at the line."""
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def form_pairs(
    text: str, *, what: str, example: str, bare: bool = False, empty: bool = False
) -> list[tuple[str, str]]:
    """``key=value`` lines; ``bare`` allows a line without ``=``, ``empty`` allows ``key=``."""
    pairs, errors = [], []
    for number, line in form_lines(text):
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not key or (not sep and not bare) or (sep and not value and not empty):
            errors.append(f"Line {number}: {line!r} is not {what}, e.g. {example}.")
            continue
        pairs.append((key, value))
    if errors:
        raise ValidationError(errors)
    return pairs


def form_unique_pairs(text: str, *, what: str, example: str) -> dict[str, str]:
    """``key=value`` lines (``key=`` allowed) as a dict; a key given twice is an error."""
    values: dict[str, str] = {}
    for key, value in form_pairs(text, what=what, example=example, empty=True):
        if key in values:
            raise ValidationError(f"{key} is set twice.")
        values[key] = value
    return values


def form_metric_definitions(text: str, *, example: str) -> list[dict]:
    """``name=regex`` lines as the services' metric definitions."""
    pairs = form_pairs(text, what="name=regex", example=example)
    return [{"name": name, "regex": regex} for name, regex in pairs]


def form_channels(text: str, *, example: str) -> list[dict]:
    """``name=uri`` lines as the services' inputs or channels."""
    pairs = form_pairs(text, what="name=uri", example=example)
    return [{"name": name, "source_uri": uri} for name, uri in pairs]


def instance_type_label(instance: InstanceType) -> str:
    label = f"{instance.name} — {instance.vcpus} vCPU, {instance.memory_gib} GiB"
    if instance.gpus:
        label += f", {instance.gpus} x {instance.gpu_model}"
    return label


def instance_type_choices(role: str = "processing") -> list[tuple[str, str]]:
    """The catalogue's instance types for ``role`` (``processing`` or ``training``), labelled."""
    return [(instance.name, instance_type_label(instance)) for instance in instance_types_for(role)]


def training_instance_type_choices() -> list[tuple[str, str]]:
    return instance_type_choices("training")


def job_name_field(help_text: str, placeholder: str) -> forms.CharField:
    """The new job's name; the service checks its syntax and that it is free."""
    widget = forms.TextInput(attrs={"autocomplete": "off", "placeholder": placeholder})
    return forms.CharField(max_length=63, help_text=help_text, widget=widget)


def lines_field(
    help_text: str, placeholder: str, *, rows: int = 2, required: bool = False
) -> forms.CharField:
    """A textarea of one item per line, parsed by the form's ``clean_<name>``."""
    widget = forms.Textarea(attrs={"rows": rows, "placeholder": placeholder})
    return forms.CharField(required=required, help_text=help_text, widget=widget)


def environment_field() -> forms.CharField:
    return lines_field("KEY=VALUE per line.", "LOG_LEVEL=debug")


def framework_field() -> forms.ChoiceField:
    """The SageMaker container the user's code runs in there (the service checks the choice)."""
    return forms.ChoiceField(
        label="Framework (on SageMaker)",
        choices=[(name, framework.label) for name, framework in FRAMEWORKS.items()],
        initial=DEFAULT_FRAMEWORK,
        required=False,
        help_text=(
            "The framework container your code runs in on SageMaker. The local backend runs your "
            "code in Studio's own Python environment and ignores it."
        ),
        widget=forms.Select(attrs={"data-framework-select": ""}),
    )


def framework_version_field() -> forms.CharField:
    """The framework's version; the page's datalist offers the chosen framework's."""
    offered = "; ".join(f"{framework.label} {framework.offered()}" for framework in FRAMEWORKS.values())
    return forms.CharField(
        required=False,
        max_length=32,
        label="Framework version",
        help_text=f"Empty: the newest. Offered: {offered}.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "data-framework-version": ""}),
    )


class FrameworkFieldsMixin:
    """A form with ``framework`` and ``framework_version`` (the user's code on SageMaker): the
    version input suggests the chosen framework's versions (framework.js follows a change)."""

    def framework_versions(self) -> list[dict]:
        """Each framework's versions, newest first, for the page's datalists."""
        return [
            {"name": name, "versions": list(reversed(framework.versions))}
            for name, framework in FRAMEWORKS.items()
        ]

    def framework_datalist(self) -> None:
        """Point the version input at the chosen framework's versions; call from ``__init__``."""
        form: forms.Form = self  # type: ignore[assignment]
        value = form.data.get("framework") if form.is_bound else form.initial.get("framework")
        framework = FRAMEWORKS.get(value or DEFAULT_FRAMEWORK, FRAMEWORKS[DEFAULT_FRAMEWORK])
        form.fields["framework_version"].widget.attrs.update(
            {"list": f"framework-versions-{framework.name}", "placeholder": framework.default_version}
        )


def max_runtime_field() -> forms.IntegerField:
    """The job's limit; ``max_runtime_placeholder`` shows the server's default in it."""
    return forms.IntegerField(
        required=False,
        min_value=1,
        help_text="The job is stopped after this long. Empty: the server's default.",
    )


def max_runtime_placeholder(form: forms.Form) -> None:
    """Show the server's default max runtime in the empty field."""
    # Read per request, not at import: settings may differ between processes and tests.
    default = settings.STUDIO_DEFAULT_MAX_RUNTIME_SECONDS
    form.fields["max_runtime_seconds"].widget.attrs["placeholder"] = str(default)


def backend_field() -> forms.ChoiceField:
    """Where the job runs; ``backend_initial`` preselects the install's default. Left out of a
    request, the service picks that default too."""
    return forms.ChoiceField(
        label="Compute backend",
        choices=Backend.choices,
        required=False,
        help_text="Amazon SageMaker runs the job in the project's AWS account (see its AWS settings).",
    )


def backend_initial(form: forms.Form) -> None:
    """Preselect the install's default backend (read per request, like the max runtime's default)."""
    form.fields["backend"].initial = settings.STUDIO_DEFAULT_BACKEND


class JobFilterForm(forms.Form):
    kind = forms.ChoiceField(choices=[("", "Any kind"), *JobKind.choices], required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *JobStatus.choices], required=False)
    name = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "Name contains…"}))
