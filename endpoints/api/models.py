"""Model API: create (from a training job, an upload, or a URI in the store), list, describe, trust,
delete."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from endpoints import selectors
from endpoints.serializers import ModelCreateSerializer, ModelSerializer
from endpoints.services.models import model_create, model_delete, model_trust
from studio.api import ProjectScopedView
from studio.roles import Permission


class ModelListApi(ProjectScopedView):
    serializer_class = ModelSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get(self, request: Request, project: str) -> Response:
        return self.paginated(selectors.models_of_project(self.project), ModelSerializer)

    @extend_schema(request=ModelCreateSerializer, responses={201: ModelSerializer, 200: ModelSerializer})
    def post(self, request: Request, project: str) -> Response:
        data = ModelCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model, created = model_create(project=self.project, user=request.user, **data.service_arguments())
        return Response(
            ModelSerializer(model).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class ModelDetailApi(ProjectScopedView):
    serializer_class = ModelSerializer
    permissions_by_method = {**ProjectScopedView.permissions_by_method, "DELETE": Permission.DELETE}

    def get(self, request: Request, project: str, name: str) -> Response:
        return Response(ModelSerializer(selectors.model_get(self.project, name)).data)

    def delete(self, request: Request, project: str, name: str) -> Response:
        model_delete(model=selectors.model_get(self.project, name), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelTrustApi(ProjectScopedView):
    """A project admin trusts the pickled files of an uploaded model (recorded in the audit log)."""

    serializer_class = ModelSerializer
    default_write_permission = Permission.MANAGE

    @extend_schema(request=None)
    def post(self, request: Request, project: str, name: str) -> Response:
        model = model_trust(model=selectors.model_get(self.project, name), user=request.user)
        return Response(ModelSerializer(model).data)
