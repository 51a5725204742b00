"""Job API. Views are per kind only through ``kind``; later job kinds subclass with their own create."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from jobs import selectors, services
from jobs.models import JobKind, JobStatus
from jobs.serializers import (
    JobDetailSerializer,
    JobLogSerializer,
    JobSerializer,
    ProcessingJobCreateSerializer,
)
from studio.api import ProjectScopedView
from studio.roles import Permission

JOB_FILTERS = [
    OpenApiParameter("status", description="Pending, InProgress, Stopping, Completed, Failed or Stopped"),
    OpenApiParameter("name", description="Part of the job name"),
    OpenApiParameter("created_by", description="Username of the creator"),
]


class JobDetailMixin:
    kind: str

    def job(self):
        return selectors.job_get(self.project, self.kind, self.kwargs["name"])


class ProcessingJobListApi(ProjectScopedView):
    kind = JobKind.PROCESSING
    serializer_class = JobSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(parameters=JOB_FILTERS)
    def get(self, request: Request, project: str) -> Response:
        wanted = request.query_params.get("status")
        if wanted and wanted not in JobStatus.values:
            return Response(
                {"status": [f"Unknown status {wanted!r}; use one of {', '.join(JobStatus.values)}."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return self.paginated(
            selectors.jobs_of(self.project, kind=self.kind, filters=request.query_params), JobSerializer
        )

    @extend_schema(
        request=ProcessingJobCreateSerializer, responses={201: JobDetailSerializer, 200: JobDetailSerializer}
    )
    def post(self, request: Request, project: str) -> Response:
        data = ProcessingJobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job, created = services.processing_job_create(
            project=self.project, user=request.user, **data.service_arguments()
        )
        return Response(
            JobDetailSerializer(job).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class ProcessingJobDetailApi(JobDetailMixin, ProjectScopedView):
    kind = JobKind.PROCESSING
    serializer_class = JobDetailSerializer

    def get(self, request: Request, project: str, name: str) -> Response:
        job = self.job()
        final = selectors.job_final_metrics(selectors.job_metric_series(job))
        return Response(JobDetailSerializer(job, context={"final_metrics": final}).data)


class ProcessingJobStopApi(JobDetailMixin, ProjectScopedView):
    kind = JobKind.PROCESSING
    serializer_class = JobDetailSerializer
    default_write_permission = Permission.OPERATE

    @extend_schema(request=None)
    def post(self, request: Request, project: str, name: str) -> Response:
        job = services.job_stop(job=self.job(), user=request.user)
        return Response(JobDetailSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ProcessingJobLogsApi(JobDetailMixin, ProjectScopedView):
    kind = JobKind.PROCESSING
    serializer_class = JobLogSerializer

    @extend_schema(parameters=[OpenApiParameter("offset", int, description="Character offset to read from")])
    def get(self, request: Request, project: str, name: str) -> Response:
        try:
            offset = int(request.query_params.get("offset", 0))
        except ValueError:
            return Response({"offset": ["Must be an integer."]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(selectors.job_log_read(self.job(), offset=offset))


class ProcessingJobMetricsApi(JobDetailMixin, ProjectScopedView):
    kind = JobKind.PROCESSING

    @extend_schema(responses={200: dict})
    def get(self, request: Request, project: str, name: str) -> Response:
        job = self.job()
        series = selectors.job_metric_series(job)
        return Response(
            {"status": job.status, "metrics": series, "final_metrics": selectors.job_final_metrics(series)}
        )
