"""Pages of the inference app. The forms live under ``new/``, outside ``models/<name>/`` and
``endpoints/<name>/``, so every valid name (even "new") has its page."""

from django.urls import path

from endpoints.views import console, endpoints, models

app_name = "endpoints"
urlpatterns = [
    path("projects/<str:project>/models/", models.model_list, name="model-list"),
    path("projects/<str:project>/new/model/", models.model_create_view, name="model-create"),
    path("projects/<str:project>/models/<str:name>/", models.model_detail, name="model-detail"),
    path("projects/<str:project>/models/<str:name>/trust/", models.model_trust_view, name="model-trust"),
    path("projects/<str:project>/models/<str:name>/delete/", models.model_delete_view, name="model-delete"),
    path("projects/<str:project>/new/endpoint/", endpoints.endpoint_deploy, name="deploy"),
    path("projects/<str:project>/endpoints/", endpoints.endpoint_list, name="endpoint-list"),
    path("projects/<str:project>/endpoints/<str:name>/", endpoints.endpoint_detail, name="endpoint-detail"),
    path(
        "projects/<str:project>/endpoints/<str:name>/fragment/",
        endpoints.endpoint_fragment,
        name="endpoint-fragment",
    ),
    path(
        "projects/<str:project>/endpoints/<str:name>/metrics/",
        endpoints.endpoint_metrics,
        name="endpoint-metrics",
    ),
    path(
        "projects/<str:project>/endpoints/<str:name>/weights/",
        endpoints.endpoint_weights,
        name="endpoint-weights",
    ),
    path(
        "projects/<str:project>/endpoints/<str:name>/update/",
        endpoints.endpoint_update_view,
        name="endpoint-update",
    ),
    path(
        "projects/<str:project>/endpoints/<str:name>/delete/",
        endpoints.endpoint_delete_view,
        name="endpoint-delete",
    ),
    path(
        "projects/<str:project>/endpoints/<str:name>/invoke/", console.endpoint_invoke, name="endpoint-invoke"
    ),
]
