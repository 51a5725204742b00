"""Model Monitor's REST API, project-scoped: baselines (and their constraint versions), monitoring
schedules with their executions, ad-hoc drift reports, and ground-truth labels for endpoints. Views
parse, call one service, and serialize; reads of rows waiting on a job reconcile them first."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from endpoints.models import Endpoint
from monitoring import selectors, services
from monitoring.models import Baseline
from monitoring.serializers import (
    BaselineCreateSerializer,
    BaselineDetailSerializer,
    BaselineSerializer,
    ConstraintsUpdateSerializer,
    DriftReportCreateSerializer,
    DriftReportDetailSerializer,
    DriftReportSerializer,
    ExecutionDetailSerializer,
    ExecutionSerializer,
    GroundTruthRecordSerializer,
    GroundTruthResultSerializer,
    ScheduleCreateSerializer,
    ScheduleSerializer,
    ScheduleUpdateSerializer,
)
from studio.api import ProjectScopedView
from studio.models import Project
from studio.roles import Permission

DELETE_PERMISSIONS = {**ProjectScopedView.permissions_by_method, "DELETE": Permission.DELETE}


def _endpoint(project: Project, name: str, field: str = "endpoint") -> Endpoint:
    endpoint = (
        Endpoint.objects.filter(project=project, name=name)
        .select_related("config", "pending_config", "project")
        .first()
    )
    if endpoint is None:
        raise ValidationError({field: f"No endpoint named {name!r} in {project.name}."})
    return endpoint


def _baseline(project: Project, reference: str) -> Baseline | None:
    if not reference:
        return None
    baseline = selectors.baseline_for_reference(project, reference)
    if baseline is None:
        raise ValidationError({"baseline": f"No baseline {reference!r} in {project.name}."})
    return baseline


# --- baselines ------------------------------------------------------------------------------------


class BaselineListApi(ProjectScopedView):
    serializer_class = BaselineSerializer

    def get(self, request: Request, project: str) -> Response:
        page = self.paginate_queryset(selectors.baselines_of(self.project))
        services.baselines_reconcile(page)
        return self.get_paginated_response(BaselineSerializer(page, many=True).data)

    @extend_schema(request=BaselineCreateSerializer, responses={201: BaselineSerializer})
    def post(self, request: Request, project: str) -> Response:
        data = BaselineCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        baseline = services.baseline_create(project=self.project, user=request.user, **data.validated_data)
        return Response(BaselineSerializer(baseline).data, status=status.HTTP_201_CREATED)


class BaselineDetailApi(ProjectScopedView):
    """The latest version of a baseline, with its statistics and constraints."""

    serializer_class = BaselineDetailSerializer

    def get(self, request: Request, project: str, name: str) -> Response:
        baseline = selectors.baseline_get(self.project, name)
        services.baselines_reconcile([baseline])
        return Response(BaselineDetailSerializer(baseline).data)


class BaselineVersionListApi(ProjectScopedView):
    serializer_class = BaselineSerializer

    def get(self, request: Request, project: str, name: str) -> Response:
        selectors.baseline_get(self.project, name)  # 404 for an unknown name
        return self.paginated(selectors.baseline_versions(self.project, name), BaselineSerializer)


class BaselineVersionDetailApi(ProjectScopedView):
    serializer_class = BaselineDetailSerializer

    def get(self, request: Request, project: str, name: str, version: int) -> Response:
        baseline = selectors.baseline_get(self.project, name, version)
        services.baselines_reconcile([baseline])
        return Response(BaselineDetailSerializer(baseline).data)


class BaselineConstraintsApi(ProjectScopedView):
    """GET: the latest constraints.json. PUT: save edited constraints as a new version (the body is
    constraints.json itself, or ``{"constraints": {...}}``)."""

    serializer_class = ConstraintsUpdateSerializer

    def get(self, request: Request, project: str, name: str) -> Response:
        return Response(selectors.baseline_get(self.project, name).constraints)

    @extend_schema(request=ConstraintsUpdateSerializer, responses={201: BaselineDetailSerializer})
    def put(self, request: Request, project: str, name: str) -> Response:
        body = request.data
        constraints = body.get("constraints", body) if isinstance(body, dict) else body
        baseline = selectors.baseline_get(self.project, name)
        edited = services.baseline_constraints_update(
            baseline=baseline, user=request.user, constraints=constraints
        )
        return Response(BaselineDetailSerializer(edited).data, status=status.HTTP_201_CREATED)


# --- schedules ------------------------------------------------------------------------------------


class ScheduleListApi(ProjectScopedView):
    serializer_class = ScheduleSerializer

    def get(self, request: Request, project: str) -> Response:
        return self.paginated(selectors.schedules_of(self.project), ScheduleSerializer)

    @extend_schema(request=ScheduleCreateSerializer, responses={201: ScheduleSerializer})
    def post(self, request: Request, project: str) -> Response:
        data = ScheduleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        schedule = services.schedule_create(
            project=self.project,
            user=request.user,
            endpoint=_endpoint(self.project, values.pop("endpoint")),
            baseline=_baseline(self.project, values.pop("baseline")),
            **values,
        )
        return Response(
            ScheduleSerializer(selectors.schedule_get(self.project, schedule.name)).data,
            status=status.HTTP_201_CREATED,
        )


class ScheduleDetailApi(ProjectScopedView):
    serializer_class = ScheduleSerializer
    permissions_by_method = DELETE_PERMISSIONS
    default_write_permission = Permission.OPERATE

    def get(self, request: Request, project: str, name: str) -> Response:
        return Response(ScheduleSerializer(selectors.schedule_get(self.project, name)).data)

    @extend_schema(request=ScheduleUpdateSerializer, responses={200: ScheduleSerializer})
    def patch(self, request: Request, project: str, name: str) -> Response:
        data = ScheduleUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "baseline" in values:
            values["baseline"] = _baseline(self.project, values["baseline"])
        services.schedule_update(
            schedule=selectors.schedule_get(self.project, name), user=request.user, **values
        )
        return Response(ScheduleSerializer(selectors.schedule_get(self.project, name)).data)

    def delete(self, request: Request, project: str, name: str) -> Response:
        services.schedule_delete(schedule=selectors.schedule_get(self.project, name), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ScheduleStopApi(ProjectScopedView):
    serializer_class = ScheduleSerializer
    default_write_permission = Permission.OPERATE

    @extend_schema(request=None, responses={200: ScheduleSerializer})
    def post(self, request: Request, project: str, name: str) -> Response:
        services.schedule_stop(schedule=selectors.schedule_get(self.project, name), user=request.user)
        return Response(ScheduleSerializer(selectors.schedule_get(self.project, name)).data)


class ScheduleStartApi(ProjectScopedView):
    serializer_class = ScheduleSerializer
    default_write_permission = Permission.OPERATE

    @extend_schema(request=None, responses={200: ScheduleSerializer})
    def post(self, request: Request, project: str, name: str) -> Response:
        services.schedule_start(schedule=selectors.schedule_get(self.project, name), user=request.user)
        return Response(ScheduleSerializer(selectors.schedule_get(self.project, name)).data)


class ScheduleRunApi(ProjectScopedView):
    """Run now: the execution of the window that ended last (the existing one if it ran)."""

    serializer_class = ExecutionSerializer
    default_write_permission = Permission.OPERATE

    @extend_schema(request=None, responses={202: ExecutionSerializer})
    def post(self, request: Request, project: str, name: str) -> Response:
        execution = services.schedule_run_now(schedule=selectors.schedule_get(self.project, name))
        return Response(ExecutionSerializer(execution).data, status=status.HTTP_202_ACCEPTED)


class ScheduleExecutionListApi(ProjectScopedView):
    serializer_class = ExecutionSerializer

    def get(self, request: Request, project: str, name: str) -> Response:
        schedule = selectors.schedule_get(self.project, name)
        page = self.paginate_queryset(selectors.executions_of(schedule))
        services.executions_reconcile(page)
        return self.get_paginated_response(ExecutionSerializer(page, many=True).data)


class ExecutionDetailApi(ProjectScopedView):
    serializer_class = ExecutionDetailSerializer

    def get(self, request: Request, project: str, execution_uuid: str) -> Response:
        execution = selectors.execution_get(self.project, execution_uuid)
        services.executions_reconcile([execution])
        return Response(ExecutionDetailSerializer(execution).data)


# --- drift reports --------------------------------------------------------------------------------


class DriftReportListApi(ProjectScopedView):
    serializer_class = DriftReportSerializer

    def get(self, request: Request, project: str) -> Response:
        page = self.paginate_queryset(selectors.drift_reports_of(self.project))
        services.drift_reports_reconcile(page)
        return self.get_paginated_response(DriftReportSerializer(page, many=True).data)

    @extend_schema(request=DriftReportCreateSerializer, responses={201: DriftReportSerializer})
    def post(self, request: Request, project: str) -> Response:
        data = DriftReportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        endpoint_name = values.pop("endpoint")
        report = services.drift_report_create(
            project=self.project,
            user=request.user,
            endpoint=_endpoint(self.project, endpoint_name) if endpoint_name else None,
            **values,
        )
        return Response(DriftReportSerializer(report).data, status=status.HTTP_201_CREATED)


class DriftReportDetailApi(ProjectScopedView):
    serializer_class = DriftReportDetailSerializer

    def get(self, request: Request, project: str, report_uuid: str) -> Response:
        report = selectors.drift_report_get(self.project, report_uuid)
        services.drift_reports_reconcile([report])
        return Response(DriftReportDetailSerializer(report).data)


# --- ground truth ---------------------------------------------------------------------------------


class GroundTruthApi(ProjectScopedView):
    """GET: the endpoint's labels, newest first. POST: a JSON list of ``{"inference_id", "label"}``
    (or ``{"records": [...]}``), or a multipart CSV ``file`` with the header ``inference_id,label``;
    an id that has a label gets the new one."""

    serializer_class = GroundTruthRecordSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get(self, request: Request, project: str, name: str) -> Response:
        endpoint = _endpoint_or_404(self.project, name)
        page = self.paginate_queryset(
            selectors.ground_truth_of(endpoint).values("inference_id", "label", "received_at")
        )
        return self.get_paginated_response(list(page))

    @extend_schema(
        request=GroundTruthRecordSerializer(many=True),
        responses={201: GroundTruthResultSerializer, 400: OpenApiResponse(description="names the bad rows")},
    )
    def post(self, request: Request, project: str, name: str) -> Response:
        endpoint = _endpoint_or_404(self.project, name)
        upload = request.FILES.get("file")
        if upload is not None:
            written = services.ground_truth_add_csv(endpoint=endpoint, user=request.user, stream=upload)
        else:
            body = request.data
            records = body.get("records") if isinstance(body, dict) else body
            written = services.ground_truth_add(endpoint=endpoint, user=request.user, records=records)
        return Response({"written": written}, status=status.HTTP_201_CREATED)


def _endpoint_or_404(project: Project, name: str) -> Endpoint:
    from django.http import Http404

    endpoint = Endpoint.objects.filter(project=project, name=name).select_related("project").first()
    if endpoint is None:
        raise Http404(f"No endpoint named {name!r} in {project.name}.")
    return endpoint
