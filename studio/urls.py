from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("studio.urls_platform")),
    path("api/v1/", include("studio.api_urls")),
    path("", include("jobs.urls")),
    path("", include("datasets.urls")),
    path("", include("endpoints.urls")),
    path("", include("cloud.urls")),
    path("", include("monitoring.urls")),
    path("", include("frontend.urls")),
]
