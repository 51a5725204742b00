"""Tuning-job API shapes: SageMaker's CreateHyperParameterTuningJob in snake_case, and its Describe."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from jobs.backends.sagemaker.images import definition_framework
from jobs.models import Job
from jobs.serializers.common import (
    JOB_IDENTITY_FIELDS,
    JOB_STATUS_FIELDS,
    JOB_TIME_FIELDS,
    JobEventSerializer,
    JobModelSerializer,
    JSONValueField,
    SageMakerFieldMixin,
    optional_json,
)
from jobs.serializers.training import TrainingJobCreateSerializer
from jobs.services.tuning import parameter_ranges_dict


def _get(data: dict, *keys: str) -> Any:
    """The first of ``keys`` in ``data``: snake_case, or SageMaker's PascalCase."""
    for key in keys:
        if key in data:
            return data[key]
    return None


def _optional_int(value: Any, label: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise serializers.ValidationError(f"{label} must be an integer.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise serializers.ValidationError(f"{label} must be an integer.") from None
    if not number.is_integer():
        raise serializers.ValidationError(f"{label} must be an integer.")
    return int(number)


class TuningJobCreateSerializer(TrainingJobCreateSerializer):
    """The training definition as the training-jobs POST takes it, plus the tuning configuration.

    In a multipart request (to upload ``source``), give the object fields as JSON strings.
    """

    name = serializers.CharField(
        max_length=63, help_text="1-32 letters, digits or hyphens; unique among the project's tuning jobs."
    )
    hyperparameters = None  # a tuning job has static_hyperparameters instead
    checkpoint_uri = None  # trials must not share a checkpoint folder
    managed_spot = None  # a training job's own options, not a tuning job's
    max_wait_seconds = None
    static_hyperparameters = optional_json(dict, help_text="Hyperparameters every training job gets.")
    max_runtime_seconds = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Each training job's MaxRuntimeInSeconds."
    )
    strategy = serializers.CharField(
        required=False, default="Bayesian", help_text="Bayesian, Random, Grid or Hyperband"
    )
    objective = optional_json(
        dict,
        help_text='{"type": "Maximize|Minimize", "metric_name": "validation:auc"} (a built-in has a default)',
    )
    parameter_ranges = JSONValueField(
        expect=dict,
        help_text=(
            '{"IntegerParameterRanges": [{"Name", "MinValue", "MaxValue", "ScalingType"}], '
            '"ContinuousParameterRanges": [...], "CategoricalParameterRanges": [{"Name", "Values"}]}'
        ),
    )
    resource_limits = JSONValueField(
        expect=dict,
        help_text=(
            '{"max_number_of_training_jobs": 20, "max_parallel_training_jobs": 2, '
            '"max_runtime_seconds": 3600 (optional)}'
        ),
    )
    training_job_early_stopping_type = serializers.CharField(
        required=False, default="Off", help_text="Off or Auto (Off for Hyperband)"
    )
    strategy_config = optional_json(
        dict,
        help_text='{"hyperband": {"min_resource": 1, "max_resource": 27}} (Hyperband only)',
    )
    warm_start_config = optional_json(
        dict,
        help_text='{"parent_tuning_jobs": ["earlier-job"], "warm_start_type": "IdenticalDataAndAlgorithm"}',
    )

    def validate_objective(self, value: dict) -> dict:
        kind = _get(value, "type", "Type") or ""
        metric = _get(value, "metric_name", "MetricName") or ""
        if not isinstance(kind, str) or not isinstance(metric, str):
            raise serializers.ValidationError("type and metric_name are strings.")
        return {"objective_type": kind, "objective_metric": metric}

    def validate_resource_limits(self, value: dict) -> dict:
        return {
            "max_training_jobs": _optional_int(
                _get(value, "max_number_of_training_jobs", "MaxNumberOfTrainingJobs"),
                "max_number_of_training_jobs",
            ),
            "max_parallel_training_jobs": _optional_int(
                _get(value, "max_parallel_training_jobs", "MaxParallelTrainingJobs"),
                "max_parallel_training_jobs",
            )
            or 1,
            "max_runtime_seconds": _optional_int(
                _get(value, "max_runtime_seconds", "MaxRuntimeInSeconds"), "max_runtime_seconds"
            ),
        }

    def validate_strategy_config(self, value: dict) -> dict:
        hyperband = _get(value, "hyperband", "HyperbandStrategyConfig") or {}
        if not isinstance(hyperband, dict):
            raise serializers.ValidationError('Give {"hyperband": {"min_resource", "max_resource"}}.')
        return {
            "hyperband_min_resource": _optional_int(
                _get(hyperband, "min_resource", "MinResource"), "min_resource"
            ),
            "hyperband_max_resource": _optional_int(
                _get(hyperband, "max_resource", "MaxResource"), "max_resource"
            ),
        }

    def validate_warm_start_config(self, value: dict) -> dict:
        parents = _get(value, "parent_tuning_jobs", "ParentHyperParameterTuningJobs") or []
        if not isinstance(parents, list):
            raise serializers.ValidationError("parent_tuning_jobs is a list of tuning job names.")
        names = [
            str(_get(item, "name", "HyperParameterTuningJobName") or "")
            if isinstance(item, dict)
            else str(item)
            for item in parents
        ]
        kind = _get(value, "warm_start_type", "WarmStartType") or "IdenticalDataAndAlgorithm"
        return {"warm_start_parent_names": names, "warm_start_type": str(kind)}

    def service_arguments(self) -> dict:
        """The validated request as keyword arguments of ``tuning_job_create``."""
        data = super().service_arguments()
        data["training_max_runtime_seconds"] = data.pop("max_runtime_seconds")
        data["early_stopping"] = data.pop("training_job_early_stopping_type")
        for grouped in ("objective", "resource_limits", "strategy_config", "warm_start_config"):
            data.update(data.pop(grouped))
        return data


def _config(job: Job) -> dict:
    spec = job.spec
    hyperband = (spec.get("strategy_config") or {}).get("hyperband")
    warm = spec.get("warm_start")
    return {
        "strategy": spec["strategy"],
        "objective": spec["objective"],
        "parameter_ranges": parameter_ranges_dict(spec["ranges"]),
        "resource_limits": spec["resource_limits"],
        "training_job_early_stopping_type": spec["training_job_early_stopping_type"],
        "strategy_config": {"hyperband": hyperband} if hyperband else {},
        "warm_start_config": (
            {
                "parent_tuning_jobs": [parent["name"] for parent in warm["parents"]],
                "warm_start_type": warm["type"],
            }
            if warm
            else None
        ),
    }


def _definition(job: Job) -> dict:
    definition = job.spec["training_definition"]
    framework, framework_version = definition_framework(definition)
    return {
        "algorithm": (definition.get("algorithm") or {}).get("name"),
        "code": definition.get("code"),
        "framework": framework,
        "framework_version": framework_version,
        "channels": definition.get("channels", []),
        "static_hyperparameters": definition.get("hyperparameters", {}),
        "instance_type": definition["instance_type"],
        "instance_count": definition["instance_count"],
        "max_runtime_seconds": definition["max_runtime_seconds"],
        "metric_definitions": definition.get("metric_definitions", []),
        "environment": definition.get("environment", {}),
    }


class TuningJobSerializer(JobModelSerializer):
    """A tuning job in a list: its configuration, counters and best training job.

    ``context["overview"]`` maps a job's pk to its counters and best training job (batched by the
    view, so a page of jobs costs one query for all their trials).
    """

    tuning_job_config = serializers.SerializerMethodField()
    training_job_status_counters = serializers.SerializerMethodField()
    objective_status_counters = serializers.SerializerMethodField()
    best_training_job = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            *JOB_IDENTITY_FIELDS,
            *JOB_STATUS_FIELDS,
            "tuning_job_config",
            "training_job_status_counters",
            "objective_status_counters",
            "best_training_job",
            "tags",
            "backend",
            "created_by",
            *JOB_TIME_FIELDS,
        ]

    def _overview(self, job: Job) -> dict:
        return self.context.get("overview", {}).get(job.pk, {})

    def get_tuning_job_config(self, job: Job) -> dict:
        return _config(job)

    def get_training_job_status_counters(self, job: Job) -> dict | None:
        return self._overview(job).get("training_job_status_counters")

    def get_objective_status_counters(self, job: Job) -> dict | None:
        return self._overview(job).get("objective_status_counters")

    def get_best_training_job(self, job: Job) -> dict | None:
        return self._overview(job).get("best_training_job") or job.spec.get("best_training_job")


class TuningJobDetailSerializer(TuningJobSerializer, SageMakerFieldMixin):
    training_job_definition = serializers.SerializerMethodField()
    parameter_importances = serializers.SerializerMethodField()
    status_history = JobEventSerializer(source="events", many=True, read_only=True)

    class Meta(TuningJobSerializer.Meta):
        fields = [
            *TuningJobSerializer.Meta.fields,
            "sagemaker",
            "training_job_definition",
            "parameter_importances",
            "status_history",
        ]

    def get_training_job_definition(self, job: Job) -> dict:
        return _definition(job)

    def get_parameter_importances(self, job: Job) -> dict[str, float]:
        return self._overview(job).get("importances", {})


class TuningTrialSerializer(serializers.ModelSerializer):
    """One training job of a tuning job (SageMaker's HyperParameterTrainingJobSummary)."""

    tuned_hyperparameters = serializers.SerializerMethodField()
    final_objective_value = serializers.FloatField(source="objective", allow_null=True, read_only=True)
    objective_status = serializers.SerializerMethodField()
    duration_seconds = serializers.FloatField(read_only=True)

    class Meta:
        model = Job
        fields = [
            "name",
            "uuid",
            "status",
            "secondary_status",
            "tuned_hyperparameters",
            "final_objective_value",
            "objective_status",
            "failure_reason",
            *JOB_TIME_FIELDS,
        ]

    def get_tuned_hyperparameters(self, job: Job) -> dict:
        return (job.spec.get("tuning") or {}).get("parameters", {})

    def get_objective_status(self, job: Job) -> str:
        if job.is_active:
            return "Pending"
        return "Succeeded" if job.objective is not None else "Failed"  # type: ignore[attr-defined]
