"""What the job API views share: the list, detail, stop, logs and metrics of one job kind (a subclass
names the kind and its serializers), its clone on either backend and its SageMaker request, and the
status filter."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from jobs import selectors, services
from jobs.models import Job, JobStatus
from jobs.serializers.common import JobCloneSerializer, JobLogSerializer, SageMakerRequestSerializer
from jobs.services.clone import clone_name_suggestion, job_clone
from studio.api import ProjectScopedView
from studio.roles import Permission

JOB_FILTERS = [
    OpenApiParameter("status", description="Pending, InProgress, Stopping, Completed, Failed or Stopped"),
    OpenApiParameter("name", description="Part of the job name"),
    OpenApiParameter("created_by", description="Username of the creator"),
]


def job_list_schema(view: type) -> type:
    """Document a kind's list view: the filters on GET; its create request and the job it answers on POST."""
    detail = view.detail_serializer
    return extend_schema_view(
        get=extend_schema(parameters=JOB_FILTERS),
        post=extend_schema(request=view.create_serializer, responses={201: detail, 200: detail}),
    )(view)


def job_clone_schema(view: type) -> type:
    """Document a kind's clone view: its request, and the new job it answers with."""
    return extend_schema_view(
        post=extend_schema(
            request=JobCloneSerializer,
            responses={201: view.detail_serializer},
            description=(
                "Run the job again under a new name, on this machine (local) or on SageMaker: the same "
                "definition, with only the outputs named after the job moved to the new name."
            ),
        )
    )(view)


def unknown_status(request: Request) -> Response | None:
    """A 400 answer if the ``status`` filter names no job status, else None."""
    wanted = request.query_params.get("status")
    if wanted and wanted not in JobStatus.values:
        return Response(
            {"status": [f"Unknown status {wanted!r}; use one of {', '.join(JobStatus.values)}."]},
            status=status.HTTP_400_BAD_REQUEST,
        )
    return None


class JobKindMixin:
    # Each kind's views name the kind and its list and detail serializers; each view below tells
    # drf-spectacular which one it answers with through get_serializer_class.
    kind: str
    list_serializer: type
    detail_serializer: type

    def job(self):
        return selectors.job_get(self.project, self.kind, self.kwargs["name"])

    def detail(self, job: Job) -> dict:
        """The job as this kind's detail serializer describes it."""
        return self.detail_serializer(job).data


class JobListApi(JobKindMixin, ProjectScopedView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    create_serializer: type
    create_service: str  # the name of the function in jobs.services

    def get_serializer_class(self) -> type:
        return self.list_serializer

    def get(self, request: Request, project: str) -> Response:
        if unknown := unknown_status(request):
            return unknown
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


class JobDetailApi(JobKindMixin, ProjectScopedView):
    def get_serializer_class(self) -> type:
        return self.detail_serializer

    def get(self, request: Request, project: str, name: str) -> Response:
        job = self.job()
        final = selectors.job_final_metrics(selectors.job_metric_series(job))
        return Response(self.detail_serializer(job, context={"final_metrics": final}).data)


class JobStopApi(JobKindMixin, ProjectScopedView):
    default_write_permission = Permission.OPERATE

    def get_serializer_class(self) -> type:
        return self.detail_serializer

    @extend_schema(request=None)
    def post(self, request: Request, project: str, name: str) -> Response:
        job = services.job_stop(job=self.job(), user=request.user)
        return Response(self.detail_serializer(job).data, status=status.HTTP_202_ACCEPTED)


class JobLogsApi(JobKindMixin, ProjectScopedView):
    def get_serializer_class(self) -> type:
        return JobLogSerializer

    @extend_schema(parameters=[OpenApiParameter("offset", int, description="Character offset to read from")])
    def get(self, request: Request, project: str, name: str) -> Response:
        try:
            offset = int(request.query_params.get("offset", 0))
        except ValueError:
            return Response({"offset": ["Must be an integer."]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(selectors.job_log_read(self.job(), offset=offset))


class JobMetricsApi(JobKindMixin, ProjectScopedView):
    def get_serializer_class(self) -> type:
        return self.list_serializer

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


class JobCloneApi(JobKindMixin, ProjectScopedView):
    # Creating a job: the editor's permission, like a create.
    def get_serializer_class(self) -> type:
        return self.detail_serializer

    def post(self, request: Request, project: str, name: str) -> Response:
        data = JobCloneSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = self.job()
        backend = data.validated_data["backend"] or job.backend
        clone = job_clone(
            job=job,
            user=request.user,
            name=data.validated_data["name"] or clone_name_suggestion(job, backend),
            backend=backend,
        )
        return Response(self.detail(clone), status=status.HTTP_201_CREATED)


class JobSageMakerRequestApi(JobKindMixin, ProjectScopedView):
    def get_serializer_class(self) -> type:
        return SageMakerRequestSerializer

    @extend_schema(
        description=(
            "The SageMaker request of the job: the one sent (sent: true) for a job on SageMaker, else "
            "a dry run that uploads and sends nothing (error says why none could be built)."
        )
    )
    def get(self, request: Request, project: str, name: str) -> Response:
        from jobs.backends.sagemaker.driver import sagemaker_request_preview  # the driver imports services

        return Response(sagemaker_request_preview(self.job()))
