"""Job API: one set of views per job kind, sharing list/detail/stop/logs/metrics through ``kind``."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from jobs import selectors, services
from jobs.algorithms.registry import ALGORITHMS, UnknownAlgorithm, algorithm_get
from jobs.models import JobKind, JobStatus
from jobs.serializers import (
    JobDetailSerializer,
    JobLogSerializer,
    JobSerializer,
    ProcessingJobCreateSerializer,
    TrainingJobCreateSerializer,
    TrainingJobDetailSerializer,
    TrainingJobSerializer,
)
from studio.api import ProjectScopedView
from studio.roles import Permission

JOB_FILTERS = [
    OpenApiParameter("status", description="Pending, InProgress, Stopping, Completed, Failed or Stopped"),
    OpenApiParameter("name", description="Part of the job name"),
    OpenApiParameter("created_by", description="Username of the creator"),
]


class _JobKindMixin:
    kind: str
    list_serializer = JobSerializer
    detail_serializer = JobDetailSerializer

    def job(self):
        return selectors.job_get(self.project, self.kind, self.kwargs["name"])


class _JobListApi(_JobKindMixin, ProjectScopedView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    create_serializer: type
    create_service: str  # the name of the function in jobs.services

    def get(self, request: Request, project: str) -> Response:
        wanted = request.query_params.get("status")
        if wanted and wanted not in JobStatus.values:
            return Response(
                {"status": [f"Unknown status {wanted!r}; use one of {', '.join(JobStatus.values)}."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return self.paginated(
            selectors.jobs_of(self.project, kind=self.kind, filters=request.query_params),
            self.list_serializer,
        )

    def post(self, request: Request, project: str) -> Response:
        data = self.create_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        create = getattr(services, self.create_service)
        job, created = create(project=self.project, user=request.user, **data.service_arguments())
        return Response(
            self.detail_serializer(job).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class _JobDetailApi(_JobKindMixin, ProjectScopedView):
    def get(self, request: Request, project: str, name: str) -> Response:
        job = self.job()
        final = selectors.job_final_metrics(selectors.job_metric_series(job))
        return Response(self.detail_serializer(job, context={"final_metrics": final}).data)


class _JobStopApi(_JobKindMixin, ProjectScopedView):
    default_write_permission = Permission.OPERATE

    @extend_schema(request=None)
    def post(self, request: Request, project: str, name: str) -> Response:
        job = services.job_stop(job=self.job(), user=request.user)
        return Response(self.detail_serializer(job).data, status=status.HTTP_202_ACCEPTED)


class _JobLogsApi(_JobKindMixin, ProjectScopedView):
    serializer_class = JobLogSerializer

    @extend_schema(parameters=[OpenApiParameter("offset", int, description="Character offset to read from")])
    def get(self, request: Request, project: str, name: str) -> Response:
        try:
            offset = int(request.query_params.get("offset", 0))
        except ValueError:
            return Response({"offset": ["Must be an integer."]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(selectors.job_log_read(self.job(), offset=offset))


class _JobMetricsApi(_JobKindMixin, ProjectScopedView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "max_points",
                int,
                description=(
                    "Downsample each series to about this many points, keeping minima, maxima and "
                    f"the last value (default {selectors.DEFAULT_MAX_POINTS}, "
                    f"at most {selectors.MAX_POINTS_LIMIT})"
                ),
            )
        ],
        responses={200: dict},
    )
    def get(self, request: Request, project: str, name: str) -> Response:
        try:
            max_points = int(request.query_params.get("max_points", selectors.DEFAULT_MAX_POINTS))
            if not 2 <= max_points <= selectors.MAX_POINTS_LIMIT:
                raise ValueError
        except ValueError:
            return Response(
                {"max_points": [f"Give an integer between 2 and {selectors.MAX_POINTS_LIMIT}."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        job = self.job()
        series = selectors.job_metric_series(job)
        return Response(
            {
                "status": job.status,
                "metrics": {key: selectors.downsample(points, max_points) for key, points in series.items()},
                "points": {key: len(points) for key, points in series.items()},
                "final_metrics": selectors.job_final_metrics(series),
            }
        )


# --- Processing jobs ------------------------------------------------------------------------------


class _Processing:
    kind = JobKind.PROCESSING
    serializer_class = JobSerializer


class ProcessingJobListApi(_Processing, _JobListApi):
    create_serializer = ProcessingJobCreateSerializer
    create_service = "processing_job_create"

    @extend_schema(parameters=JOB_FILTERS)
    def get(self, request: Request, project: str) -> Response:
        return super().get(request, project)

    @extend_schema(
        request=ProcessingJobCreateSerializer, responses={201: JobDetailSerializer, 200: JobDetailSerializer}
    )
    def post(self, request: Request, project: str) -> Response:
        return super().post(request, project)


class ProcessingJobDetailApi(_Processing, _JobDetailApi):
    serializer_class = JobDetailSerializer


class ProcessingJobStopApi(_Processing, _JobStopApi):
    serializer_class = JobDetailSerializer


class ProcessingJobLogsApi(_Processing, _JobLogsApi):
    serializer_class = JobLogSerializer


class ProcessingJobMetricsApi(_Processing, _JobMetricsApi):
    pass


# --- Training jobs --------------------------------------------------------------------------------


class _Training:
    kind = JobKind.TRAINING
    serializer_class = TrainingJobSerializer
    list_serializer = TrainingJobSerializer
    detail_serializer = TrainingJobDetailSerializer


class TrainingJobListApi(_Training, _JobListApi):
    create_serializer = TrainingJobCreateSerializer
    create_service = "training_job_create"

    @extend_schema(parameters=JOB_FILTERS)
    def get(self, request: Request, project: str) -> Response:
        return super().get(request, project)

    @extend_schema(
        request=TrainingJobCreateSerializer,
        responses={201: TrainingJobDetailSerializer, 200: TrainingJobDetailSerializer},
    )
    def post(self, request: Request, project: str) -> Response:
        return super().post(request, project)


class TrainingJobDetailApi(_Training, _JobDetailApi):
    serializer_class = TrainingJobDetailSerializer


class TrainingJobStopApi(_Training, _JobStopApi):
    serializer_class = TrainingJobDetailSerializer


class TrainingJobLogsApi(_Training, _JobLogsApi):
    serializer_class = JobLogSerializer


class TrainingJobMetricsApi(_Training, _JobMetricsApi):
    pass


class TrainingJobEvaluationApi(_Training, _JobKindMixin, ProjectScopedView):
    @extend_schema(responses={200: dict})
    def get(self, request: Request, project: str, name: str) -> Response:
        job = self.job()
        evaluation = getattr(job, "evaluation", None)
        if evaluation is None:
            raise Http404(
                f"Training job {name!r} has no evaluation: only built-in algorithms with a test or "
                "validation channel are evaluated, once they complete."
            )
        return Response({"job": job.name, "created_at": evaluation.created_at, **evaluation.report})


# --- Built-in algorithms (not project-scoped: the catalogue is the same for everyone) -------------


class AlgorithmListApi(GenericAPIView):
    pagination_class = None
    permission_classes = [AllowAny]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response([algorithm.as_dict() for algorithm in ALGORITHMS.values()])


class AlgorithmDetailApi(GenericAPIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, name: str) -> Response:
        try:
            return Response(algorithm_get(name).as_dict())
        except UnknownAlgorithm as exc:
            raise Http404(str(exc)) from exc
