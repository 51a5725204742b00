"""Platform API: projects, members, artifacts, audit log, API keys, the instance catalogue."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from studio import selectors, services
from studio.instance_types import CATALOGUE, UnknownInstanceType, instance_type_get
from studio.models import ApiKey
from studio.roles import Permission
from studio.serializers import (
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    ArtifactSerializer,
    ArtifactUploadSerializer,
    AuditEventSerializer,
    InstanceTypeSerializer,
    MembershipInputSerializer,
    MembershipRoleSerializer,
    MembershipSerializer,
    ProjectCreateSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
)


class ProjectScopedView(GenericAPIView):
    """Resolves ``{project}`` from the URL with the permission each HTTP method needs."""

    permissions_by_method = {"GET": Permission.VIEW, "HEAD": Permission.VIEW, "OPTIONS": Permission.VIEW}
    default_write_permission = Permission.CREATE

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        needed = self.permissions_by_method.get(request.method, self.default_write_permission)
        self.project = selectors.project_get_for(request.user, kwargs["project"], needed)

    def paginated(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(
            serializer_class(page, many=True, context={"request": self.request}).data
        )


class InstanceTypeListApi(GenericAPIView):
    serializer_class = InstanceTypeSerializer
    pagination_class = None
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        role = request.query_params.get("role")
        items = [item for item in CATALOGUE if not role or role in item.roles]
        return Response([item.as_dict() for item in items])


class InstanceTypeDetailApi(GenericAPIView):
    serializer_class = InstanceTypeSerializer
    permission_classes = [AllowAny]

    def get(self, request: Request, name: str) -> Response:
        try:
            return Response(instance_type_get(name).as_dict())
        except UnknownInstanceType as exc:
            return Response({"name": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)


class ProjectListApi(GenericAPIView):
    serializer_class = ProjectSerializer

    def get(self, request: Request) -> Response:
        projects = selectors.projects_for_user(request.user).select_related("created_by")
        page = self.paginate_queryset(projects)
        roles = dict(request.user.memberships.filter(project__in=page).values_list("project_id", "role"))
        for project in page:
            project.user_role = "admin" if request.user.is_superuser else roles.get(project.pk)
        return self.get_paginated_response(ProjectSerializer(page, many=True).data)

    @extend_schema(request=ProjectCreateSerializer, responses=ProjectSerializer)
    def post(self, request: Request) -> Response:
        data = ProjectCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(user=request.user, **data.validated_data)
        project.user_role = "admin"
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(ProjectScopedView):
    serializer_class = ProjectSerializer
    default_write_permission = Permission.MANAGE

    def get(self, request: Request, project: str) -> Response:
        return Response(ProjectSerializer(self.project).data)

    @extend_schema(request=ProjectUpdateSerializer, responses=ProjectSerializer)
    def patch(self, request: Request, project: str) -> Response:
        data = ProjectUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_update(
            project=self.project, actor=request.user, description=data.validated_data["description"]
        )
        return Response(ProjectSerializer(project).data)


class MemberListApi(ProjectScopedView):
    serializer_class = MembershipSerializer
    default_write_permission = Permission.MANAGE

    def get(self, request: Request, project: str) -> Response:
        return self.paginated(selectors.memberships_of(self.project), MembershipSerializer)

    @extend_schema(request=MembershipInputSerializer, responses=MembershipSerializer)
    def post(self, request: Request, project: str) -> Response:
        data = MembershipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_set(
            project=self.project,
            user=data.validated_data["username"],
            role=data.validated_data["role"],
            actor=request.user,
        )
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(ProjectScopedView):
    serializer_class = MembershipSerializer
    default_write_permission = Permission.MANAGE

    def _user(self, username: str):
        return get_object_or_404(get_user_model(), username=username, memberships__project=self.project)

    @extend_schema(request=MembershipRoleSerializer, responses=MembershipSerializer)
    def patch(self, request: Request, project: str, username: str) -> Response:
        data = MembershipRoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_set(
            project=self.project,
            user=self._user(username),
            role=data.validated_data["role"],
            actor=request.user,
        )
        return Response(MembershipSerializer(membership).data)

    def delete(self, request: Request, project: str, username: str) -> Response:
        services.membership_remove(project=self.project, user=self._user(username), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ArtifactListApi(ProjectScopedView):
    serializer_class = ArtifactSerializer
    parser_classes = [MultiPartParser, FormParser]

    def get(self, request: Request, project: str) -> Response:
        artifacts = selectors.artifacts_of(self.project)
        if prefix := request.query_params.get("prefix"):
            artifacts = artifacts.filter(uri__startswith=prefix)
        return self.paginated(artifacts, ArtifactSerializer)

    @extend_schema(request=ArtifactUploadSerializer, responses=ArtifactSerializer)
    def post(self, request: Request, project: str) -> Response:
        data = ArtifactUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        artifact = services.artifact_upload(
            project=self.project,
            user=request.user,
            path=data.validated_data.get("path") or f"uploads/{upload.name}",
            stream=upload,
        )
        return Response(ArtifactSerializer(artifact).data, status=status.HTTP_201_CREATED)


class AuditEventListApi(ProjectScopedView):
    serializer_class = AuditEventSerializer
    permissions_by_method = {"GET": Permission.MANAGE}

    def get(self, request: Request, project: str) -> Response:
        return self.paginated(selectors.audit_events_of(self.project), AuditEventSerializer)


class ApiKeyListApi(GenericAPIView):
    serializer_class = ApiKeySerializer

    def get(self, request: Request) -> Response:
        keys = self.paginate_queryset(ApiKey.objects.filter(user=request.user))
        return self.get_paginated_response(ApiKeySerializer(keys, many=True).data)

    @extend_schema(request=ApiKeyCreateSerializer, responses=ApiKeySerializer)
    def post(self, request: Request) -> Response:
        data = ApiKeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        api_key, key = services.api_key_create(user=request.user, name=data.validated_data["name"])
        # The only time the key is ever shown.
        return Response({**ApiKeySerializer(api_key).data, "key": key}, status=status.HTTP_201_CREATED)


class ApiKeyDetailApi(GenericAPIView):
    serializer_class = ApiKeySerializer

    def delete(self, request: Request, key_uuid: str) -> Response:
        api_key = get_object_or_404(ApiKey, uuid=key_uuid, user=request.user)
        services.api_key_revoke(api_key=api_key, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
