"""Serializers of alerts, their deliveries and notification channels (output), and channel input."""

from __future__ import annotations

from rest_framework import serializers

from monitoring.models import Alert, AlertDelivery, AlertStatus, ChannelKind, NotificationChannel


class NotificationChannelSerializer(serializers.ModelSerializer):
    class Meta:
        model = NotificationChannel
        fields = ["id", "kind", "target", "enabled", "created_at"]
        read_only_fields = fields


class NotificationChannelCreateSerializer(serializers.Serializer):
    """Shape only; the service validates the target for its kind (an email address, an http(s) URL)."""

    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    target = serializers.CharField(max_length=1024)
    enabled = serializers.BooleanField(default=True)


class NotificationChannelUpdateSerializer(serializers.Serializer):
    target = serializers.CharField(max_length=1024, required=False)
    enabled = serializers.BooleanField(required=False)


class AlertDeliverySerializer(serializers.ModelSerializer):
    channel = NotificationChannelSerializer(read_only=True)

    class Meta:
        model = AlertDelivery
        fields = [
            "id",
            "channel",
            "status",
            "attempts",
            "last_error",
            "next_attempt_at",
            "delivered_at",
            "created_at",
            "payload",
        ]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):
    schedule = serializers.CharField(source="schedule.name", read_only=True)
    endpoint = serializers.CharField(source="schedule.endpoint.name", read_only=True)
    monitoring_type = serializers.CharField(source="schedule.monitoring_type", read_only=True)
    first_execution = serializers.UUIDField(source="first_execution.uuid", read_only=True, allow_null=True)
    last_execution = serializers.UUIDField(source="last_execution.uuid", read_only=True, allow_null=True)
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", read_only=True, allow_null=True
    )

    class Meta:
        model = Alert
        fields = [
            "id",
            "status",
            "schedule",
            "endpoint",
            "monitoring_type",
            "check_type",
            "feature_name",
            "description",
            "occurrences",
            "first_seen",
            "last_seen",
            "first_execution",
            "last_execution",
            "acknowledged_by",
            "acknowledged_at",
            "cleared_at",
        ]
        read_only_fields = fields


class AlertDetailSerializer(AlertSerializer):
    deliveries = AlertDeliverySerializer(many=True, read_only=True)

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "deliveries"]
        read_only_fields = fields


class AlertListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AlertStatus.choices, required=False)
