from django.urls import path

from frontend import views

app_name = "frontend"
urlpatterns = [
    path("", views.home, name="home"),
    path("projects/", views.project_list, name="projects"),
    path("projects/<str:project>/", views.project_dashboard, name="project-dashboard"),
    path("projects/<str:project>/members/", views.member_add, name="member-add"),
    path("projects/<str:project>/members/<str:username>/role/", views.member_role, name="member-role"),
    path("projects/<str:project>/members/<str:username>/remove/", views.member_remove, name="member-remove"),
    path("projects/<str:project>/data/", views.data, name="data"),
    path("settings/api-keys/", views.api_keys, name="api-keys"),
    path("settings/api-keys/<uuid:key_uuid>/revoke/", views.api_key_revoke, name="api-key-revoke"),
]
