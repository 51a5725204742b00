from django.urls import include, path

from jobs.api import training as training_api
from studio import api

urlpatterns = [
    path("instance-types/", api.InstanceTypeListApi.as_view(), name="api-instance-types"),
    path("instance-types/<str:name>/", api.InstanceTypeDetailApi.as_view(), name="api-instance-type"),
    path("algorithms/", training_api.AlgorithmListApi.as_view(), name="api-algorithms"),
    path("algorithms/<str:name>/", training_api.AlgorithmDetailApi.as_view(), name="api-algorithm"),
    path("api-keys/", api.ApiKeyListApi.as_view(), name="api-keys"),
    path("api-keys/<uuid:key_uuid>/", api.ApiKeyDetailApi.as_view(), name="api-key"),
    path("projects/", api.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<str:project>/", api.ProjectDetailApi.as_view(), name="api-project"),
    path("projects/<str:project>/members/", api.MemberListApi.as_view(), name="api-members"),
    path("projects/<str:project>/members/<str:username>/", api.MemberDetailApi.as_view(), name="api-member"),
    path("projects/<str:project>/artifacts/", api.ArtifactListApi.as_view(), name="api-artifacts"),
    path("projects/<str:project>/audit-events/", api.AuditEventListApi.as_view(), name="api-audit-events"),
    path("projects/<str:project>/", include("jobs.api_urls")),
    path("projects/<str:project>/", include("datasets.api_urls")),
    path("projects/<str:project>/", include("endpoints.api_urls")),
    path("projects/<str:project>/", include("cloud.api_urls")),
    path("projects/<str:project>/", include("monitoring.api_urls")),
]
