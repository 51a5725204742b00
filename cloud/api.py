"""A project's AWS settings: members read them, admins change and check them."""

from __future__ import annotations

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from cloud.selectors import aws_settings_get
from cloud.serializers import AwsCheckItemSerializer, AwsSettingsInputSerializer, AwsSettingsSerializer
from cloud.services import aws_connection_check, aws_settings_update
from studio.api import ProjectScopedView
from studio.roles import Permission, role_allows


def _answer(view: ProjectScopedView, aws) -> Response:
    can_manage = role_allows(view.project.user_role, Permission.MANAGE)  # type: ignore[attr-defined]
    return Response(AwsSettingsSerializer(aws, context={"can_manage": can_manage}).data)


# Django's error reports leave the secret out of the request they show.
@method_decorator(sensitive_post_parameters("secret_access_key"), name="dispatch")
class AwsSettingsApi(ProjectScopedView):
    """GET answers the defaults with ``"configured": false`` until the settings are first saved."""

    serializer_class = AwsSettingsSerializer
    pagination_class = None
    default_write_permission = Permission.MANAGE

    def get(self, request: Request, project: str) -> Response:
        return _answer(self, aws_settings_get(self.project))

    @extend_schema(request=AwsSettingsInputSerializer, responses=AwsSettingsSerializer)
    def put(self, request: Request, project: str) -> Response:
        return self._update(request, replace=True)

    @extend_schema(request=AwsSettingsInputSerializer, responses=AwsSettingsSerializer)
    def patch(self, request: Request, project: str) -> Response:
        return self._update(request, replace=False)

    def _update(self, request: Request, *, replace: bool) -> Response:
        data = AwsSettingsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        aws_settings_update(
            project=self.project, user=request.user, **data.service_arguments(replace=replace)
        )
        return _answer(self, aws_settings_get(self.project))


class AwsConnectionCheckApi(ProjectScopedView):
    """Calls STS, S3 (HeadBucket, then a probe object put and deleted) and SageMaker with the settings.

    Always 200: each item says whether that service worked, and why not.
    """

    serializer_class = AwsCheckItemSerializer
    pagination_class = None
    default_write_permission = Permission.MANAGE

    @extend_schema(request=None, responses=AwsCheckItemSerializer(many=True))
    def post(self, request: Request, project: str) -> Response:
        return Response(aws_connection_check(project=self.project, user=request.user))
