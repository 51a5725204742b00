from django.urls import path

from cloud import api

urlpatterns = [
    path("aws-settings/", api.AwsSettingsApi.as_view(), name="api-aws-settings"),
    path("aws-settings/check/", api.AwsConnectionCheckApi.as_view(), name="api-aws-settings-check"),
]
