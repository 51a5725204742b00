"""Model Monitor's API shapes: baselines, schedules, executions, drift reports, ground truth."""

from __future__ import annotations

from rest_framework import serializers

from monitoring.models import (
    Baseline,
    DriftReport,
    MonitoringExecution,
    MonitoringSchedule,
    MonitoringType,
    ProblemType,
)


class BaselineSerializer(serializers.ModelSerializer):
    job = serializers.CharField(source="job.name", read_only=True, default=None)
    parent_version = serializers.IntegerField(source="parent.version", read_only=True, default=None)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    dataset_version = serializers.CharField(source="source_uri", read_only=True)
    feature_count = serializers.SerializerMethodField()

    class Meta:
        model = Baseline
        fields = [
            "uuid",
            "name",
            "version",
            "status",
            "failure_reason",
            "dataset_version",
            "target_column",
            "job",
            "feature_count",
            "statistics_uri",
            "constraints_uri",
            "parent_version",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_feature_count(self, baseline: Baseline) -> int:
        return len(baseline.constraints.get("features", []) or [])


class BaselineDetailSerializer(BaselineSerializer):
    class Meta(BaselineSerializer.Meta):
        fields = [*BaselineSerializer.Meta.fields, "statistics", "constraints"]
        read_only_fields = fields


class BaselineCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=63)
    dataset_version = serializers.CharField(max_length=300, help_text="dataset://<name>/<number>")
    target_column = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    instance_type = serializers.CharField(max_length=32, required=False, default="ml.m5.large")


class ConstraintsUpdateSerializer(serializers.Serializer):
    constraints = serializers.JSONField(help_text="constraints.json: features and monitoring_config")


class ScheduleSerializer(serializers.ModelSerializer):
    endpoint = serializers.CharField(source="endpoint.name", read_only=True)
    baseline = serializers.CharField(source="baseline.name", read_only=True, default=None)
    baseline_version = serializers.IntegerField(source="baseline.version", read_only=True, default=None)
    enabled = serializers.BooleanField(source="periodic_task.enabled", read_only=True, default=False)
    last_window_end = serializers.DateTimeField(read_only=True, default=None)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = MonitoringSchedule
        fields = [
            "uuid",
            "name",
            "endpoint",
            "monitoring_type",
            "baseline",
            "baseline_version",
            "schedule_expression",
            "status",
            "enabled",
            "config",
            "problem_type",
            "last_window_end",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ScheduleCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=63)
    endpoint = serializers.CharField(max_length=63)
    monitoring_type = serializers.ChoiceField(
        choices=MonitoringType.choices, default=MonitoringType.DATA_QUALITY
    )
    baseline = serializers.CharField(
        max_length=80, required=False, allow_blank=True, default="", help_text="<name> (latest) or <name>/<n>"
    )
    schedule_expression = serializers.CharField(max_length=128, default="hourly")
    config = serializers.JSONField(required=False, default=dict)
    problem_type = serializers.ChoiceField(
        choices=ProblemType.choices, required=False, allow_blank=True, default=""
    )


class ScheduleUpdateSerializer(serializers.Serializer):
    schedule_expression = serializers.CharField(max_length=128, required=False)
    config = serializers.JSONField(required=False)
    baseline = serializers.CharField(max_length=80, required=False, help_text="<name> (latest) or <name>/<n>")


class ExecutionSerializer(serializers.ModelSerializer):
    schedule = serializers.CharField(source="schedule.name", read_only=True)
    job = serializers.CharField(source="job.name", read_only=True, default=None)
    violation_count = serializers.SerializerMethodField()

    class Meta:
        model = MonitoringExecution
        fields = [
            "uuid",
            "schedule",
            "status",
            "failure_reason",
            "window_start",
            "window_end",
            "record_count",
            "violation_count",
            "message",
            "job",
            "created_at",
            "ended_at",
        ]
        read_only_fields = fields

    def get_violation_count(self, execution: MonitoringExecution) -> int:
        return len(execution.violations or [])


class ExecutionDetailSerializer(ExecutionSerializer):
    endpoint = serializers.CharField(source="schedule.endpoint.name", read_only=True)
    monitoring_type = serializers.CharField(source="schedule.monitoring_type", read_only=True)

    class Meta(ExecutionSerializer.Meta):
        fields = [
            *ExecutionSerializer.Meta.fields,
            "endpoint",
            "monitoring_type",
            "violations",
            "drift",
            "metrics",
            "statistics",
            "report_uri",
        ]
        read_only_fields = fields


class DriftReportSerializer(serializers.ModelSerializer):
    job = serializers.CharField(source="job.name", read_only=True, default=None)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    violation_count = serializers.SerializerMethodField()

    class Meta:
        model = DriftReport
        fields = [
            "uuid",
            "status",
            "failure_reason",
            "reference_label",
            "reference_uri",
            "current_label",
            "current_uri",
            "config",
            "violation_count",
            "job",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_violation_count(self, report: DriftReport) -> int:
        return len(report.violations or [])


class DriftReportDetailSerializer(DriftReportSerializer):
    class Meta(DriftReportSerializer.Meta):
        fields = [*DriftReportSerializer.Meta.fields, "drift", "violations"]
        read_only_fields = fields


class DriftReportCreateSerializer(serializers.Serializer):
    reference = serializers.CharField(max_length=300, help_text="dataset://<name>/<number>")
    current = serializers.CharField(
        max_length=300, required=False, allow_blank=True, default="", help_text="dataset://<name>/<number>"
    )
    endpoint = serializers.CharField(max_length=63, required=False, allow_blank=True, default="")
    window_start = serializers.DateTimeField(required=False, default=None)
    window_end = serializers.DateTimeField(required=False, default=None)
    config = serializers.JSONField(required=False, default=dict)


class GroundTruthRecordSerializer(serializers.Serializer):
    inference_id = serializers.CharField(max_length=64)
    label = serializers.CharField(max_length=255)


class GroundTruthUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV with the header inference_id,label")


class GroundTruthResultSerializer(serializers.Serializer):
    written = serializers.IntegerField()
