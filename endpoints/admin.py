"""The operator's view of inference: models, configs, endpoints, serving processes, metrics.

All read-only: rows change through the services (and the serving supervisor), which audit and
keep the serving processes in step; an operator who must act uses the API or the pages.
"""

from __future__ import annotations

from django.contrib import admin

from endpoints.models import (
    Endpoint,
    EndpointConfig,
    EndpointEvent,
    EndpointMetric,
    Model,
    ProductionVariant,
    ServingHost,
    ServingInstance,
)
from studio.admin import ReadOnlyAdmin


@admin.register(Model)
class ModelAdmin(ReadOnlyAdmin):
    list_display = ["name", "project", "source", "algorithm", "trusted_at", "created_by", "created_at"]
    list_filter = ["source"]
    list_select_related = ["project", "created_by"]
    search_fields = ["name", "project__name", "artifact_uri"]


class VariantInline(admin.TabularInline):
    model = ProductionVariant
    fields = ["name", "model", "instance_type", "instance_count", "initial_weight", "is_shadow"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(EndpointConfig)
class EndpointConfigAdmin(ReadOnlyAdmin):
    list_display = ["name", "project", "created_by", "created_at"]
    list_select_related = ["project", "created_by"]
    search_fields = ["name", "project__name"]
    inlines = [VariantInline]


@admin.register(ProductionVariant)
class ProductionVariantAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "config",
        "model",
        "instance_type",
        "instance_count",
        "initial_weight",
        "is_shadow",
    ]
    list_select_related = ["config", "model"]
    search_fields = ["name", "config__name", "model__name"]


class EndpointEventInline(admin.TabularInline):
    model = EndpointEvent
    fields = ["created_at", "status", "message"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Endpoint)
class EndpointAdmin(ReadOnlyAdmin):
    list_display = ["name", "project", "status", "config", "pending_config", "updated_at"]
    list_filter = ["status"]
    list_select_related = ["project", "config", "pending_config"]
    search_fields = ["name", "project__name"]
    inlines = [EndpointEventInline]


@admin.register(EndpointEvent)
class EndpointEventAdmin(ReadOnlyAdmin):
    list_display = ["endpoint", "status", "message", "created_at"]
    list_select_related = ["endpoint"]
    search_fields = ["endpoint__name", "message"]


@admin.register(ServingInstance)
class ServingInstanceAdmin(ReadOnlyAdmin):
    list_display = ["endpoint", "config", "variant", "index", "status", "pid", "restarts", "host", "ready_at"]
    list_filter = ["status"]
    list_select_related = ["endpoint", "config"]
    search_fields = ["endpoint__name", "variant", "host"]


@admin.register(ServingHost)
class ServingHostAdmin(ReadOnlyAdmin):
    list_display = ["name", "started_at", "heartbeat_at"]
    search_fields = ["name"]


@admin.register(EndpointMetric)
class EndpointMetricAdmin(ReadOnlyAdmin):
    list_display = ["endpoint", "variant", "minute", "source", "invocations", "errors_4xx", "errors_5xx"]
    list_select_related = ["endpoint"]
    search_fields = ["endpoint__name", "variant"]
