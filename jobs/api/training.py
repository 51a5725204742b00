"""Training-job API: create, list, describe, stop, clone (on either backend), its SageMaker request,
read a job's logs, metrics and evaluation; and the catalogue of built-in algorithms."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from jobs.algorithms.registry import ALGORITHMS, UnknownAlgorithm, algorithm_get
from jobs.api.common import (
    JobCloneApi,
    JobDetailApi,
    JobKindMixin,
    JobListApi,
    JobLogsApi,
    JobMetricsApi,
    JobSageMakerRequestApi,
    JobStopApi,
    job_clone_schema,
    job_list_schema,
)
from jobs.models import JobKind
from jobs.serializers.training import (
    TrainingJobCreateSerializer,
    TrainingJobDetailSerializer,
    TrainingJobSerializer,
)
from studio.api import ProjectScopedView


class _Training:
    kind = JobKind.TRAINING
    list_serializer = TrainingJobSerializer
    detail_serializer = TrainingJobDetailSerializer


@job_list_schema
class TrainingJobListApi(_Training, JobListApi):
    create_serializer = TrainingJobCreateSerializer
    create_service = "training_job_create"


class TrainingJobDetailApi(_Training, JobDetailApi):
    pass


class TrainingJobStopApi(_Training, JobStopApi):
    pass


class TrainingJobLogsApi(_Training, JobLogsApi):
    pass


class TrainingJobMetricsApi(_Training, JobMetricsApi):
    pass


@job_clone_schema
class TrainingJobCloneApi(_Training, JobCloneApi):
    pass


class TrainingJobSageMakerRequestApi(_Training, JobSageMakerRequestApi):
    pass


class TrainingJobEvaluationApi(_Training, JobKindMixin, ProjectScopedView):
    serializer_class = TrainingJobSerializer

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


# Built-in algorithms: not project-scoped, the catalogue is the same for everyone.


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
