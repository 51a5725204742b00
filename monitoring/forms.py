"""The monitoring pages' forms: they parse and check what a person typed; the services decide the rest
(and their ``ValidationError``s land back on the fields through ``add_service_errors``)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from monitoring.models import MonitoringType, ProblemType

FREQUENCIES = (("hourly", "Hourly"), ("daily", "Daily"), ("cron", "Cron expression"))
# The drift tests a schedule's form offers a threshold for: (test, the engine's option, label, help).
# Left empty, the engine's default applies. A p-value lies in (0, 1]; the other thresholds are >= 0.
DRIFT_THRESHOLDS = (
    (
        "distance",
        "threshold",
        "Distance threshold",
        "Drift when the baseline distance is above it (SageMaker's check).",
    ),
    ("ks", "p_value", "KS p-value", "Numerical: drift when the Kolmogorov-Smirnov p-value is below it."),
    ("psi", "threshold", "PSI threshold", "Drift when the population stability index is above it."),
    ("js", "threshold", "Jensen-Shannon threshold", "Drift when the Jensen-Shannon distance is above it."),
    ("chi2", "p_value", "χ² p-value", "Categorical: drift when the chi-square p-value is below it."),
)
CLASSIFICATION = (ProblemType.BINARY, ProblemType.MULTICLASS)
REGRESSION = (ProblemType.REGRESSION,)
# The model-quality thresholds the form offers: (field, label, comparison operator, problem types,
# help). A metric below a LessThanThreshold (above a GreaterThanThreshold) is a violation.
QUALITY_THRESHOLDS = (
    ("accuracy", "Accuracy minimum", "LessThanThreshold", CLASSIFICATION, "Classification: alert below it."),
    (
        "f1",
        "F1 minimum",
        "LessThanThreshold",
        CLASSIFICATION,
        "Classification: alert below it (weighted F1 for multiclass).",
    ),
    ("rmse", "RMSE maximum", "GreaterThanThreshold", REGRESSION, "Regression: alert above it."),
    ("mae", "MAE maximum", "GreaterThanThreshold", REGRESSION, "Regression: alert above it."),
)


def quality_metric(field: str, problem_type: str) -> str:
    """The engine's metric name for a form field: multiclass reports a weighted F1."""
    return "weighted_f1" if field == "f1" and problem_type == ProblemType.MULTICLASS else field


class ServiceErrorsMixin:
    """Put a service's ``ValidationError`` on the fields it names (``renames`` maps a service's key,
    or a dotted key's first part, to a field); the rest go on ``default`` (None: the form)."""

    def field_for(self, key: str, renames: dict[str, str]) -> str | None:
        for candidate in (key, key.split(".")[0]):
            name = renames.get(candidate, candidate)
            if name in self.fields:  # type: ignore[attr-defined]
                return name
        return None

    def add_service_errors(
        self, exc: ValidationError, renames: dict[str, str] | None = None, default: str | None = None
    ) -> None:
        renames = renames or {}
        if not hasattr(exc, "error_dict"):
            self.add_error(default, exc.messages)  # type: ignore[attr-defined]
            return
        for key, errors in exc.error_dict.items():
            field = self.field_for(key, renames) or default
            messages = [message for error in errors for message in error.messages]
            if field is None or (field == default and key not in renames):
                messages = [
                    f"{key}: {message}" if key not in ("__all__", field) else message for message in messages
                ]
            self.add_error(field, messages)  # type: ignore[attr-defined]


class ScheduleForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=63)
    endpoint = forms.ChoiceField(help_text="Endpoints whose config captures data.")
    monitoring_type = forms.ChoiceField(choices=MonitoringType.choices, initial=MonitoringType.DATA_QUALITY)
    baseline = forms.ChoiceField(required=False)
    frequency = forms.ChoiceField(choices=FREQUENCIES, initial="hourly")
    cron = forms.CharField(
        required=False, max_length=128, label="Cron expression", help_text="Five fields, UTC: 0 */6 * * *"
    )
    problem_type = forms.ChoiceField(
        choices=[("", "—"), *ProblemType.choices], required=False, help_text="Model quality only."
    )

    def __init__(
        self, *args: Any, endpoints: list[str], baselines: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].choices = [("", "—"), *((name, name) for name in endpoints)]
        self.fields["baseline"].choices = [("", "—"), *baselines]
        for test, option, label, help_text in DRIFT_THRESHOLDS:
            self.fields[f"threshold_{test}"] = forms.FloatField(
                label=label,
                min_value=0,
                max_value=1 if option == "p_value" else None,
                required=False,
                help_text=help_text,
            )
        for metric, label, _operator, _problems, help_text in QUALITY_THRESHOLDS:
            self.fields[f"quality_{metric}"] = forms.FloatField(
                label=label, min_value=0, required=False, help_text=help_text
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        frequency, cron = data.get("frequency"), (data.get("cron") or "").strip()
        if frequency == "cron":
            if not cron:
                self.add_error("cron", "Write the cron expression (five fields).")
            elif len(cron.split()) != 5:
                self.add_error("cron", "A cron expression has five fields: minute hour day month weekday.")
        data["schedule_expression"] = cron if frequency == "cron" else frequency
        if data.get("monitoring_type") == MonitoringType.MODEL_QUALITY and not data.get("problem_type"):
            self.add_error("problem_type", "A model-quality schedule needs the problem type.")
        if data.get("monitoring_type") == MonitoringType.DATA_QUALITY and not data.get("baseline"):
            self.add_error("baseline", "A data-quality schedule compares against a baseline.")
        for test, option, *_ in DRIFT_THRESHOLDS:
            if option == "p_value" and data.get(f"threshold_{test}") == 0:
                self.add_error(f"threshold_{test}", "A p-value above 0 (and at most 1).")
        if data.get("monitoring_type") == MonitoringType.MODEL_QUALITY and data.get("problem_type"):
            for metric, _label, _operator, problems, _help in QUALITY_THRESHOLDS:
                if data.get(f"quality_{metric}") is not None and data["problem_type"] not in problems:
                    self.add_error(f"quality_{metric}", f"Not a metric of {data['problem_type']}.")
        return data

    def config(self) -> dict:
        """The schedule's config. Data quality: the drift thresholds given, under the option the
        engine reads (``{"drift_tests": {"psi": {"threshold": x}, "ks": {"p_value": p}}}``). Model
        quality: ``{"thresholds": {metric: {"threshold": x, "comparison_operator": ...}}}``."""
        data = self.cleaned_data
        if data.get("monitoring_type") == MonitoringType.MODEL_QUALITY:
            problem_type = data.get("problem_type") or ""
            thresholds = {
                quality_metric(metric, problem_type): {
                    "threshold": data[f"quality_{metric}"],
                    "comparison_operator": operator,
                }
                for metric, _label, operator, *_ in QUALITY_THRESHOLDS
                if data.get(f"quality_{metric}") is not None
            }
            return {"thresholds": thresholds} if thresholds else {}
        tests = {
            test: {option: data[f"threshold_{test}"]}
            for test, option, *_ in DRIFT_THRESHOLDS
            if data.get(f"threshold_{test}") is not None
        }
        return {"drift_tests": tests} if tests else {}

    def field_for(self, key: str, renames: dict[str, str]) -> str | None:
        parts = key.split(".")
        if len(parts) < 3:
            return super().field_for(key, renames)
        if parts[:2] == ["config", "drift_tests"] and f"threshold_{parts[2]}" in self.fields:
            return f"threshold_{parts[2]}"
        if parts[:2] == ["config", "thresholds"]:
            field = "f1" if parts[2] == "weighted_f1" else parts[2]
            if f"quality_{field}" in self.fields:
                return f"quality_{field}"
        return super().field_for(key, renames)

    @property
    def threshold_fields(self) -> list[forms.BoundField]:
        return [self[f"threshold_{test}"] for test, *_ in DRIFT_THRESHOLDS]

    @property
    def quality_fields(self) -> list[forms.BoundField]:
        return [self[f"quality_{metric}"] for metric, *_ in QUALITY_THRESHOLDS]


class BaselineForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=63)
    dataset_version = forms.ChoiceField(label="Dataset version", help_text="Usually the training data.")
    target_column = forms.CharField(
        max_length=255,
        required=False,
        help_text="The column the model predicts (left out of the statistics).",
    )

    def __init__(self, *args: Any, versions: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset_version"].choices = [("", "—"), *versions]


class ConstraintsForm(ServiceErrorsMixin, forms.Form):
    constraints = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 18, "class": "mono", "spellcheck": "false"}),
        help_text="constraints.json (SageMaker's schema). Saving makes a new version of the baseline.",
    )

    def clean_constraints(self) -> dict:
        text = self.cleaned_data["constraints"]
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from exc
        if not isinstance(value, dict):
            raise ValidationError("constraints.json is a JSON object.")
        return value


class DriftReportForm(ServiceErrorsMixin, forms.Form):
    reference = forms.ChoiceField(label="Reference dataset version")
    current = forms.ChoiceField(label="Current dataset version", required=False)
    endpoint = forms.ChoiceField(required=False, help_text="Or compare against an endpoint's captured data.")
    window_hours = forms.IntegerField(
        label="Capture window (hours)", min_value=1, max_value=24 * 90, initial=24, required=False
    )

    def __init__(
        self, *args: Any, versions: list[tuple[str, str]], endpoints: list[str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reference"].choices = [("", "—"), *versions]
        self.fields["current"].choices = [("", "—"), *versions]
        self.fields["endpoint"].choices = [("", "—"), *((name, name) for name in endpoints)]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if bool(data.get("current")) == bool(data.get("endpoint")):
            self.add_error("current", "Pick a current dataset version or an endpoint, not both.")
        elif data.get("endpoint") and not data.get("window_hours"):
            self.add_error("window_hours", "How many hours of captured data to compare.")
        elif data.get("current") and data.get("current") == data.get("reference"):
            self.add_error("current", "Compare two different versions.")
        return data
