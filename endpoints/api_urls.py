from django.urls import path

from endpoints.api import endpoints, models

urlpatterns = [
    path("models/", models.ModelListApi.as_view(), name="api-models"),
    path("models/<str:name>/", models.ModelDetailApi.as_view(), name="api-model"),
    path("models/<str:name>/trust/", models.ModelTrustApi.as_view(), name="api-model-trust"),
    path("endpoint-configs/", endpoints.EndpointConfigListApi.as_view(), name="api-endpoint-configs"),
    path(
        "endpoint-configs/<str:name>/",
        endpoints.EndpointConfigDetailApi.as_view(),
        name="api-endpoint-config",
    ),
    path("endpoints/", endpoints.EndpointListApi.as_view(), name="api-endpoints"),
    path("endpoints/<str:name>/", endpoints.EndpointDetailApi.as_view(), name="api-endpoint"),
    path(
        "endpoints/<str:name>/weights/", endpoints.EndpointWeightsApi.as_view(), name="api-endpoint-weights"
    ),
    path(
        "endpoints/<str:name>/metrics/", endpoints.EndpointMetricsApi.as_view(), name="api-endpoint-metrics"
    ),
]
