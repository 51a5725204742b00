"""Routes of one part of the datasets app, gathered by datasets/api_urls.py and datasets/urls.py.

`api_urlpatterns` are mounted under /api/v1/projects/<project>/; `page_urlpatterns` are pages
(namespace "datasets").

This part: uploads, datasets, versions, previews, lineage. Profiles and recipes add their routes
below a version or dataset in their own files, e.g. ``datasets/<str:dataset>/versions/<int:number>/profile/``.
"""

from django.urls import path

from datasets import api_data, views_data

api_urlpatterns: list = [
    path("uploads/", api_data.UploadListApi.as_view(), name="api-uploads"),
    path("uploads/<uuid:upload_uuid>/", api_data.UploadDetailApi.as_view(), name="api-upload"),
    path(
        "uploads/<uuid:upload_uuid>/complete/",
        api_data.UploadCompleteApi.as_view(),
        name="api-upload-complete",
    ),
    path("uploads/<uuid:upload_uuid>/commit/", api_data.UploadCommitApi.as_view(), name="api-upload-commit"),
    path("datasets/", api_data.DatasetListApi.as_view(), name="api-datasets"),
    path("datasets/<str:dataset>/", api_data.DatasetDetailApi.as_view(), name="api-dataset"),
    path("datasets/<str:dataset>/versions/", api_data.VersionListApi.as_view(), name="api-dataset-versions"),
    path(
        "datasets/<str:dataset>/versions/<int:number>/",
        api_data.VersionDetailApi.as_view(),
        name="api-dataset-version",
    ),
    path(
        "datasets/<str:dataset>/versions/<int:number>/preview/",
        api_data.VersionPreviewApi.as_view(),
        name="api-dataset-version-preview",
    ),
    path("datasets/<str:dataset>/lineage/", api_data.LineageApi.as_view(), name="api-dataset-lineage"),
]

page_urlpatterns: list = [
    path("projects/<str:project>/datasets/", views_data.dataset_list, name="list"),
    # Before datasets/<name>/: "upload" is reserved and never a dataset's name.
    path("projects/<str:project>/datasets/upload/", views_data.upload_page, name="upload"),
    path(
        "projects/<str:project>/datasets/uploads/<uuid:upload_uuid>/",
        views_data.upload_review,
        name="upload-review",
    ),
    path(
        "projects/<str:project>/datasets/uploads/<uuid:upload_uuid>/cancel/",
        views_data.upload_cancel,
        name="upload-cancel",
    ),
    path("projects/<str:project>/datasets/<str:dataset>/", views_data.dataset_detail, name="detail"),
]
