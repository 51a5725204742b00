"""Routes of one part of the datasets app, gathered by datasets/api_urls.py and datasets/urls.py.

`api_urlpatterns` are mounted under /api/v1/projects/<project>/; `page_urlpatterns` are pages
(namespace "datasets").

This part: profiles (data-quality and insights reports) of dataset versions.
"""

from django.urls import path

from datasets import api_profiles, views_profiles

api_urlpatterns: list = [
    path(
        "datasets/<str:dataset>/versions/<int:number>/profiles/",
        api_profiles.VersionProfileListApi.as_view(),
        name="api-dataset-version-profiles",
    ),
    path("profiles/<uuid:profile>/", api_profiles.ProfileDetailApi.as_view(), name="api-profile"),
]

page_urlpatterns: list = [
    path(
        "projects/<str:project>/datasets/<str:dataset>/versions/<int:number>/profiles/",
        views_profiles.version_profiles,
        name="version-profiles",
    ),
    path("projects/<str:project>/profiles/<uuid:profile>/", views_profiles.profile_detail, name="profile"),
    path(
        "projects/<str:project>/profiles/<uuid:profile>/fragment/",
        views_profiles.profile_fragment,
        name="profile-fragment",
    ),
]
