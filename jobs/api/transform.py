"""Batch transform job API: create, list, describe, stop, clone (on either backend), its SageMaker
request, and read a job's logs (and metrics, which the live page polls like every job kind's)."""

from __future__ import annotations

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from jobs.api.common import (
    JobCloneApi,
    JobDetailApi,
    JobListApi,
    JobLogsApi,
    JobMetricsApi,
    JobSageMakerRequestApi,
    JobStopApi,
    job_clone_schema,
    job_list_schema,
)
from jobs.models import JobKind
from jobs.serializers.transform import (
    TransformJobCreateSerializer,
    TransformJobDetailSerializer,
    TransformJobSerializer,
)
from jobs.services.transform import transform_job_create


class _Transform:
    kind = JobKind.TRANSFORM
    list_serializer = TransformJobSerializer
    detail_serializer = TransformJobDetailSerializer


@job_list_schema
class TransformJobListApi(_Transform, JobListApi):
    create_serializer = TransformJobCreateSerializer

    # Not looked up in jobs.services as the other kinds' are: this service builds on the endpoints
    # app, which itself builds on jobs.services.
    def post(self, request: Request, project: str) -> Response:
        data = self.create_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        job, created = transform_job_create(
            project=self.project, user=request.user, **data.service_arguments()
        )
        return Response(
            self.detail_serializer(job).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class TransformJobDetailApi(_Transform, JobDetailApi):
    pass


class TransformJobStopApi(_Transform, JobStopApi):
    pass


class TransformJobLogsApi(_Transform, JobLogsApi):
    pass


class TransformJobMetricsApi(_Transform, JobMetricsApi):
    pass


@job_clone_schema
class TransformJobCloneApi(_Transform, JobCloneApi):
    pass


class TransformJobSageMakerRequestApi(_Transform, JobSageMakerRequestApi):
    pass
