"""The operator's view of Model Monitor. Read-only: rows change through the services (which audit
and keep beat's periodic tasks in step); an operator who must act uses the API or the pages."""

from __future__ import annotations

from django.contrib import admin

from monitoring.models import (
    Alert,
    AlertDelivery,
    Baseline,
    DriftReport,
    GroundTruth,
    MonitoringExecution,
    MonitoringSchedule,
    NotificationChannel,
)
from studio.admin import ReadOnlyAdmin


@admin.register(Baseline)
class BaselineAdmin(ReadOnlyAdmin):
    list_display = ["name", "version", "project", "status", "source_uri", "created_by", "created_at"]
    list_filter = ["status"]
    list_select_related = ["project", "created_by"]
    search_fields = ["name", "project__name", "source_uri"]


@admin.register(MonitoringSchedule)
class MonitoringScheduleAdmin(ReadOnlyAdmin):
    list_display = ["name", "project", "endpoint", "monitoring_type", "schedule_expression", "status"]
    list_filter = ["status", "monitoring_type"]
    list_select_related = ["project", "endpoint"]
    search_fields = ["name", "project__name", "endpoint__name"]


@admin.register(MonitoringExecution)
class MonitoringExecutionAdmin(ReadOnlyAdmin):
    list_display = ["uuid", "schedule", "status", "window_start", "window_end", "record_count"]
    list_filter = ["status"]
    list_select_related = ["schedule"]
    search_fields = ["uuid", "schedule__name"]


@admin.register(GroundTruth)
class GroundTruthAdmin(ReadOnlyAdmin):
    list_display = ["inference_id", "label", "endpoint", "received_at"]
    list_select_related = ["endpoint"]
    search_fields = ["inference_id", "endpoint__name"]


@admin.register(DriftReport)
class DriftReportAdmin(ReadOnlyAdmin):
    list_display = ["uuid", "project", "reference_label", "current_label", "status", "created_at"]
    list_filter = ["status"]
    list_select_related = ["project"]
    search_fields = ["uuid", "project__name", "reference_label", "current_label"]


@admin.register(NotificationChannel)
class NotificationChannelAdmin(ReadOnlyAdmin):
    list_display = ["kind", "target", "project", "enabled", "created_at"]
    list_filter = ["kind", "enabled"]
    list_select_related = ["project"]
    search_fields = ["target", "project__name"]


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["schedule", "check_type", "feature_name", "status", "occurrences", "last_seen"]
    list_filter = ["status", "check_type"]
    list_select_related = ["schedule"]
    search_fields = ["schedule__name", "feature_name", "description"]


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["alert", "channel", "status", "attempts", "delivered_at", "created_at"]
    list_filter = ["status"]
    list_select_related = ["alert__schedule", "channel"]
    search_fields = ["channel__target", "last_error"]
