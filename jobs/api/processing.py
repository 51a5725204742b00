"""Processing-job API: create, list, describe, stop, clone (on either backend), its SageMaker request,
and read a job's logs and metrics."""

from __future__ import annotations

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
from jobs.serializers.processing import JobDetailSerializer, JobSerializer, ProcessingJobCreateSerializer


class _Processing:
    kind = JobKind.PROCESSING
    list_serializer = JobSerializer
    detail_serializer = JobDetailSerializer


@job_list_schema
class ProcessingJobListApi(_Processing, JobListApi):
    create_serializer = ProcessingJobCreateSerializer
    create_service = "processing_job_create"


class ProcessingJobDetailApi(_Processing, JobDetailApi):
    pass


class ProcessingJobStopApi(_Processing, JobStopApi):
    pass


class ProcessingJobLogsApi(_Processing, JobLogsApi):
    pass


class ProcessingJobMetricsApi(_Processing, JobMetricsApi):
    pass


@job_clone_schema
class ProcessingJobCloneApi(_Processing, JobCloneApi):
    pass


class ProcessingJobSageMakerRequestApi(_Processing, JobSageMakerRequestApi):
    pass
