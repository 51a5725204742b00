from django.urls import path

from cloud import views

app_name = "cloud"
urlpatterns = [
    path("projects/<str:project>/settings/aws/", views.aws_settings, name="aws-settings"),
    path("projects/<str:project>/settings/aws/check/", views.aws_check, name="aws-check"),
]
