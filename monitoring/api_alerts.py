"""Alert and notification-channel API: list and read alerts (with their deliveries), acknowledge
one, and manage the project's channels. Viewers read; editors acknowledge and manage channels."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from monitoring import alerts
from monitoring.alert_serializers import (
    AlertDetailSerializer,
    AlertListQuerySerializer,
    AlertSerializer,
    NotificationChannelCreateSerializer,
    NotificationChannelSerializer,
    NotificationChannelUpdateSerializer,
)
from monitoring.models import AlertStatus
from studio.api import ProjectScopedView
from studio.roles import Permission


class AlertListApi(ProjectScopedView):
    """The project's alerts, newest activity first; ``?status=Open`` for the open ones."""

    serializer_class = AlertSerializer

    @extend_schema(
        operation_id="alerts_list",
        responses={200: AlertSerializer(many=True)},
        parameters=[
            OpenApiParameter("status", str, enum=AlertStatus.values, description="only alerts in this status")
        ],
    )
    def get(self, request: Request, project: str) -> Response:
        query = AlertListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return self.paginated(
            alerts.alerts_of_project(self.project, status=query.validated_data.get("status")), AlertSerializer
        )


class AlertDetailApi(ProjectScopedView):
    """One alert with its deliveries (each channel's status, attempts, last error and payload)."""

    serializer_class = AlertDetailSerializer

    @extend_schema(operation_id="alerts_retrieve")
    def get(self, request: Request, project: str, alert_id: int) -> Response:
        return Response(AlertDetailSerializer(alerts.alert_get(self.project, alert_id)).data)


class AlertAcknowledgeApi(ProjectScopedView):
    """Open → Acknowledged: it stays on the banner, but a check that keeps failing is not sent again."""

    serializer_class = AlertSerializer
    default_write_permission = Permission.OPERATE

    @extend_schema(request=None, responses={200: AlertSerializer, 409: None})
    def post(self, request: Request, project: str, alert_id: int) -> Response:
        alert = alerts.alert_get(self.project, alert_id)
        try:
            alert = alerts.alert_acknowledge(alert=alert, user=request.user)
        except alerts.AlertStateError as exc:
            return Response(exc.message_dict, status=status.HTTP_409_CONFLICT)
        return Response(AlertSerializer(alerts.alerts_of_project(self.project).get(pk=alert.pk)).data)


class NotificationChannelListApi(ProjectScopedView):
    """Where the project's new alerts are sent: email addresses and webhook URLs."""

    serializer_class = NotificationChannelSerializer
    default_write_permission = Permission.OPERATE

    @extend_schema(
        operation_id="notification_channels_list", responses={200: NotificationChannelSerializer(many=True)}
    )
    def get(self, request: Request, project: str) -> Response:
        return self.paginated(alerts.channels_of_project(self.project), NotificationChannelSerializer)

    @extend_schema(
        request=NotificationChannelCreateSerializer, responses={201: NotificationChannelSerializer}
    )
    def post(self, request: Request, project: str) -> Response:
        data = NotificationChannelCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel = alerts.channel_create(project=self.project, user=request.user, **data.validated_data)
        return Response(NotificationChannelSerializer(channel).data, status=status.HTTP_201_CREATED)


class NotificationChannelDetailApi(ProjectScopedView):
    """One channel: read, change its target or switch it off, delete it (with its deliveries)."""

    serializer_class = NotificationChannelSerializer
    default_write_permission = Permission.OPERATE

    @extend_schema(operation_id="notification_channels_retrieve")
    def get(self, request: Request, project: str, channel_id: int) -> Response:
        return Response(NotificationChannelSerializer(alerts.channel_get(self.project, channel_id)).data)

    @extend_schema(request=NotificationChannelUpdateSerializer, responses=NotificationChannelSerializer)
    def patch(self, request: Request, project: str, channel_id: int) -> Response:
        data = NotificationChannelUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel = alerts.channel_update(
            channel=alerts.channel_get(self.project, channel_id), user=request.user, **data.validated_data
        )
        return Response(NotificationChannelSerializer(channel).data)

    def delete(self, request: Request, project: str, channel_id: int) -> Response:
        alerts.channel_delete(channel=alerts.channel_get(self.project, channel_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
