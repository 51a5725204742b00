"""Tuning-job API: create, list, describe, stop, clone (on either backend), its SageMaker request,
and the table of a job's training jobs."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from jobs import selectors
from jobs.api.common import (
    JOB_FILTERS,
    JobCloneApi,
    JobKindMixin,
    JobSageMakerRequestApi,
    job_clone_schema,
    unknown_status,
)
from jobs.models import JobKind
from jobs.serializers.tuning import (
    TuningJobCreateSerializer,
    TuningJobDetailSerializer,
    TuningJobSerializer,
    TuningTrialSerializer,
)
from jobs.services.tuning import API_FIELDS, tuning_job_create, tuning_job_stop
from jobs.tuning import counters_for, tuning_overview, tuning_trials
from studio.api import ProjectScopedView
from studio.roles import Permission

TRIAL_ORDERS = ("objective", "-objective")


def api_errors(error: ValidationError) -> dict:
    """The service's errors under the request's own field names (nested where the request nests)."""
    if not hasattr(error, "error_dict"):
        return {"non_field_errors": error.messages}
    shaped: dict = {}
    for field, messages in error.message_dict.items():
        *parents, leaf = API_FIELDS.get(field, (field,))
        node = shaped
        for parent in parents:
            node = node.setdefault(parent, {})
        node.setdefault(leaf, []).extend(messages)
    return shaped


class _Tuning(JobKindMixin):
    kind = JobKind.TUNING
    detail_serializer = TuningJobDetailSerializer

    def detail(self, job) -> dict:
        return TuningJobDetailSerializer(job, context={"overview": {job.pk: tuning_overview(job)}}).data


class TuningJobListApi(_Tuning, ProjectScopedView):
    serializer_class = TuningJobSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(parameters=JOB_FILTERS)
    def get(self, request: Request, project: str) -> Response:
        if unknown := unknown_status(request):
            return unknown
        jobs = selectors.jobs_of(self.project, kind=self.kind, filters=request.query_params)
        page = self.paginate_queryset(jobs)
        # One query for the trials of the whole page, not one per job.
        context = {"request": request, "overview": counters_for(page)}
        return self.get_paginated_response(TuningJobSerializer(page, many=True, context=context).data)

    @extend_schema(
        request=TuningJobCreateSerializer,
        responses={201: TuningJobDetailSerializer, 200: TuningJobDetailSerializer},
    )
    def post(self, request: Request, project: str) -> Response:
        data = TuningJobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job, created = tuning_job_create(
                project=self.project, user=request.user, **data.service_arguments()
            )
        except ValidationError as exc:
            return Response(api_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        return Response(self.detail(job), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class TuningJobDetailApi(_Tuning, ProjectScopedView):
    serializer_class = TuningJobDetailSerializer

    def get(self, request: Request, project: str, name: str) -> Response:
        return Response(self.detail(self.job()))


class TuningJobStopApi(_Tuning, ProjectScopedView):
    serializer_class = TuningJobDetailSerializer
    default_write_permission = Permission.OPERATE

    @extend_schema(request=None)
    def post(self, request: Request, project: str, name: str) -> Response:
        job = tuning_job_stop(job=self.job(), user=request.user)
        return Response(self.detail(job), status=status.HTTP_202_ACCEPTED)


class TuningJobTrialListApi(_Tuning, ProjectScopedView):
    serializer_class = TuningTrialSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "order",
                description="objective: best first; -objective: worst first (default: launch order)",
            ),
            OpenApiParameter("status", description="Only training jobs with this status"),
        ]
    )
    def get(self, request: Request, project: str, name: str) -> Response:
        order = request.query_params.get("order", "")
        if order and order not in TRIAL_ORDERS:
            return Response(
                {"order": [f"Use {' or '.join(TRIAL_ORDERS)}, or leave it out for launch order."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if unknown := unknown_status(request):
            return unknown
        trials = tuning_trials(self.job(), order=order)
        if wanted := request.query_params.get("status"):
            trials = trials.filter(status=wanted)
        return self.paginated(trials, TuningTrialSerializer)


@job_clone_schema
class TuningJobCloneApi(_Tuning, JobCloneApi):
    pass


class TuningJobSageMakerRequestApi(_Tuning, JobSageMakerRequestApi):
    pass
