"""Endpoint-config and endpoint API: create, list, describe, update (blue/green), change weights,
delete, read metrics. Invocations are answered by the gateway (endpoints.gateway), not here."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from endpoints import selectors
from endpoints.serializers import (
    EndpointConfigCreateSerializer,
    EndpointConfigSerializer,
    EndpointCreateSerializer,
    EndpointDetailSerializer,
    EndpointSerializer,
    EndpointUpdateSerializer,
    EndpointWeightsSerializer,
)
from endpoints.services.configs import endpoint_config_create, endpoint_config_delete
from endpoints.services.endpoints import (
    EndpointStateError,
    endpoint_create,
    endpoint_delete,
    endpoint_update,
    endpoint_update_weights,
)
from endpoints.services.sagemaker import SageMakerError
from studio.api import ProjectScopedView
from studio.roles import Permission

DELETE_PERMISSIONS = {**ProjectScopedView.permissions_by_method, "DELETE": Permission.DELETE}


def _created(instance, created: bool, serializer: type) -> Response:
    return Response(
        serializer(instance).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
    )


def _conflict(exc: EndpointStateError) -> Response:
    return Response(exc.message_dict, status=status.HTTP_409_CONFLICT)


class EndpointConfigListApi(ProjectScopedView):
    serializer_class = EndpointConfigSerializer

    def get(self, request: Request, project: str) -> Response:
        return self.paginated(selectors.endpoint_configs_of_project(self.project), EndpointConfigSerializer)

    @extend_schema(request=EndpointConfigCreateSerializer, responses={201: EndpointConfigSerializer})
    def post(self, request: Request, project: str) -> Response:
        data = EndpointConfigCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        config, created = endpoint_config_create(
            project=self.project, user=request.user, **data.service_arguments()
        )
        return _created(config, created, EndpointConfigSerializer)


class EndpointConfigDetailApi(ProjectScopedView):
    serializer_class = EndpointConfigSerializer
    permissions_by_method = DELETE_PERMISSIONS

    def get(self, request: Request, project: str, name: str) -> Response:
        return Response(EndpointConfigSerializer(selectors.endpoint_config_get(self.project, name)).data)

    def delete(self, request: Request, project: str, name: str) -> Response:
        endpoint_config_delete(config=selectors.endpoint_config_get(self.project, name), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointListApi(ProjectScopedView):
    serializer_class = EndpointSerializer
    default_write_permission = Permission.OPERATE

    def get(self, request: Request, project: str) -> Response:
        return self.paginated(selectors.endpoints_of_project(self.project), EndpointSerializer)

    @extend_schema(request=EndpointCreateSerializer, responses={201: EndpointSerializer})
    def post(self, request: Request, project: str) -> Response:
        data = EndpointCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, created = endpoint_create(
            project=self.project, user=request.user, **data.service_arguments()
        )
        return _created(endpoint, created, EndpointSerializer)


class EndpointDetailApi(ProjectScopedView):
    """GET describes; PUT/PATCH with ``endpoint_config`` updates blue/green; DELETE deletes (all three
    are operating the endpoint, as on its page)."""

    serializer_class = EndpointDetailSerializer
    default_write_permission = Permission.OPERATE

    def get(self, request: Request, project: str, name: str) -> Response:
        return Response(
            EndpointDetailSerializer(selectors.endpoint_get(self.project, name, detail=True)).data
        )

    @extend_schema(request=EndpointUpdateSerializer, responses={200: EndpointDetailSerializer})
    def patch(self, request: Request, project: str, name: str) -> Response:
        data = EndpointUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = selectors.endpoint_get(self.project, name)
        try:
            endpoint_update(endpoint=endpoint, user=request.user, **data.validated_data)
        except EndpointStateError as exc:
            return _conflict(exc)
        return Response(
            EndpointDetailSerializer(selectors.endpoint_get(self.project, name, detail=True)).data
        )

    put = patch

    def delete(self, request: Request, project: str, name: str) -> Response:
        endpoint_delete(endpoint=selectors.endpoint_get(self.project, name), user=request.user)
        return Response(status=status.HTTP_202_ACCEPTED)


class EndpointWeightsApi(ProjectScopedView):
    """UpdateEndpointWeightsAndCapacities: new traffic weights at once, no redeploy (on SageMaker,
    sent there first: a refusal is a 502 with SageMaker's reason)."""

    serializer_class = EndpointDetailSerializer
    default_write_permission = Permission.OPERATE

    @extend_schema(request=EndpointWeightsSerializer, responses={200: EndpointDetailSerializer})
    def post(self, request: Request, project: str, name: str) -> Response:
        data = EndpointWeightsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            endpoint_update_weights(
                endpoint=selectors.endpoint_get(self.project, name), user=request.user, **data.validated_data
            )
        except EndpointStateError as exc:
            return _conflict(exc)
        except SageMakerError as exc:
            return Response(exc.message_dict, status=status.HTTP_502_BAD_GATEWAY)
        return Response(
            EndpointDetailSerializer(selectors.endpoint_get(self.project, name, detail=True)).data
        )


class EndpointMetricsApi(ProjectScopedView):
    """Invocations, 4xx/5xx, model and overhead latency per variant and minute."""

    serializer_class = None

    @extend_schema(
        parameters=[OpenApiParameter("minutes", int, description="How far back (1-1440, default 60)")],
        responses={200: dict},
    )
    def get(self, request: Request, project: str, name: str) -> Response:
        raw = request.query_params.get("minutes", "60")
        if not raw.isdigit() or not 1 <= int(raw) <= 1440:
            return Response({"minutes": ["Give a whole number of minutes from 1 to 1440."]}, status=400)
        endpoint = selectors.endpoint_get(self.project, name)
        series = selectors.endpoint_metric_series(endpoint, minutes=int(raw))
        return Response({**series, "shadow": selectors.endpoint_shadow_summary(endpoint)})
