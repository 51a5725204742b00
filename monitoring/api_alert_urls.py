"""Alert and notification-channel API routes (see monitoring.api_alerts), under
``/api/v1/projects/{project}/`` (included by monitoring.api_urls)."""

from django.urls import path

from monitoring import api_alerts

urlpatterns = [
    path("alerts/", api_alerts.AlertListApi.as_view(), name="api-alerts"),
    path("alerts/<int:alert_id>/", api_alerts.AlertDetailApi.as_view(), name="api-alert"),
    path(
        "alerts/<int:alert_id>/acknowledge/",
        api_alerts.AlertAcknowledgeApi.as_view(),
        name="api-alert-acknowledge",
    ),
    path(
        "notification-channels/",
        api_alerts.NotificationChannelListApi.as_view(),
        name="api-notification-channels",
    ),
    path(
        "notification-channels/<int:channel_id>/",
        api_alerts.NotificationChannelDetailApi.as_view(),
        name="api-notification-channel",
    ),
]
