"""Profile API: start a profile of a version, list a version's profiles, read one with its report."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response

from datasets import profiles
from datasets.models import Profile
from datasets.selectors import dataset_get, version_get
from studio.api import ProjectScopedView


class ProfileSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="version.dataset.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    status = serializers.CharField(source="job.status", read_only=True)
    secondary_status = serializers.CharField(source="job.secondary_status", read_only=True)
    failure_reason = serializers.CharField(source="job.failure_reason", read_only=True)
    job = serializers.CharField(source="job.name", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    started_at = serializers.DateTimeField(source="job.started_at", read_only=True)
    ended_at = serializers.DateTimeField(source="job.ended_at", read_only=True)

    class Meta:
        model = Profile
        fields = [
            "uuid",
            "dataset",
            "version",
            "target_column",
            "status",
            "secondary_status",
            "failure_reason",
            "job",
            "report_uri",
            "summary",
            "created_by",
            "created_at",
            "started_at",
            "ended_at",
        ]


class ProfileDetailSerializer(ProfileSerializer):
    report = serializers.SerializerMethodField()

    class Meta(ProfileSerializer.Meta):
        fields = [*ProfileSerializer.Meta.fields, "report"]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_report(self, profile: Profile) -> dict | None:
        """The whole report (see datasets/profiling/ for its shape) once Completed, else null."""
        return self.context.get("report")


class ProfileCreateSerializer(serializers.Serializer):
    target_column = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=255, help_text="A column of the version"
    )
    instance_type = serializers.CharField(required=False, default="ml.m5.large", max_length=32)


class ReportUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The profile's report could not be read from the store."


class VersionProfileListApi(ProjectScopedView):
    """``GET`` a version's profiles (newest first); ``POST`` starts a new one (201, status Pending)."""

    serializer_class = ProfileSerializer

    def _version(self):
        return version_get(dataset_get(self.project, self.kwargs["dataset"]), self.kwargs["number"])

    def get(self, request: Request, project: str, dataset: str, number: int) -> Response:
        return self.paginated(profiles.profiles_of(self._version()), ProfileSerializer)

    @extend_schema(request=ProfileCreateSerializer, responses={201: ProfileSerializer})
    def post(self, request: Request, project: str, dataset: str, number: int) -> Response:
        data = ProfileCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = profiles.profile_start(version=self._version(), user=request.user, **data.validated_data)
        return Response(ProfileSerializer(profile).data, status=status.HTTP_201_CREATED)


class ProfileDetailApi(ProjectScopedView):
    """A profile with its status, and its report (JSON) once Completed."""

    serializer_class = ProfileDetailSerializer

    def get(self, request: Request, project: str, profile: str) -> Response:
        item = profiles.profile_get(self.project, profile)
        try:
            report = profiles.profile_report(item)
        except profiles.ReportError as exc:
            raise ReportUnavailable(f"The profile's report could not be read: {exc}") from exc
        return Response(ProfileDetailSerializer(item, context={"report": report}).data)
