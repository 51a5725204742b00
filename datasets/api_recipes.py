"""Recipe API under /api/v1/projects/{project}/datasets/{dataset}/recipes/.

Reading, previewing and exporting need the view permission; saving and running need create;
deleting needs delete.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from datasets import recipe_services as services
from datasets import selectors
from datasets.models import Recipe
from jobs.serializers.common import JSONValueField
from studio.api import ProjectScopedView
from studio.roles import Permission


class RecipeSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.name", read_only=True)
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = Recipe
        fields = ["uuid", "name", "dataset", "steps", "output", "created_by", "created_at", "updated_at"]


class RecipeInputSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=63, help_text="1-63 letters, digits or hyphens; unique per dataset."
    )
    steps = JSONValueField(
        expect=list, help_text='[{"op": "impute", "columns": ["age"], "strategy": "median"}]'
    )
    output = JSONValueField(
        expect=dict,
        required=False,
        default=dict,
        help_text='{"format": "csv" | "csv-label-first" | "parquet", "label": "<column>"}',
    )
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="Check the steps against this version (default: the latest)."
    )


class RecipeUpdateSerializer(RecipeInputSerializer):
    name = serializers.CharField(max_length=63, required=False, help_text="A new name (optional).")


class PreviewInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    steps = JSONValueField(expect=list)
    output = JSONValueField(expect=dict, required=False, default=dict)
    sample_rows = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=services.MAX_PREVIEW_SAMPLE_ROWS,
        default=services.PREVIEW_SAMPLE_ROWS,
    )


class RunInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    instance_type = serializers.CharField(required=False, default="ml.m5.large")


class _DatasetScopedView(ProjectScopedView):
    def dataset(self):
        return selectors.dataset_get(self.project, self.kwargs["dataset"])

    def recipe(self):
        return services.recipe_get(self.dataset(), self.kwargs["recipe"])

    def version(self, dataset, number: int | None):
        return services.version_for(dataset, number) if number is not None else None


class RecipeListApi(_DatasetScopedView):
    serializer_class = RecipeSerializer

    @extend_schema(operation_id="recipes_list", responses=RecipeSerializer(many=True))
    def get(self, request: Request, project: str, dataset: str) -> Response:
        return self.paginated(services.recipes_of(self.dataset()), RecipeSerializer)

    @extend_schema(
        operation_id="recipes_create", request=RecipeInputSerializer, responses={201: RecipeSerializer}
    )
    def post(self, request: Request, project: str, dataset: str) -> Response:
        data = RecipeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset_obj = self.dataset()
        recipe = services.recipe_create(
            dataset=dataset_obj,
            name=data.validated_data["name"],
            steps=data.validated_data["steps"],
            output=data.validated_data["output"],
            user=request.user,
            version=self.version(dataset_obj, data.validated_data.get("version")),
        )
        return Response(RecipeSerializer(recipe).data, status=status.HTTP_201_CREATED)


class RecipeDetailApi(_DatasetScopedView):
    serializer_class = RecipeSerializer
    permissions_by_method = {**ProjectScopedView.permissions_by_method, "DELETE": Permission.DELETE}

    @extend_schema(operation_id="recipe_retrieve")
    def get(self, request: Request, project: str, dataset: str, recipe: str) -> Response:
        return Response(RecipeSerializer(self.recipe()).data)

    @extend_schema(operation_id="recipe_update", request=RecipeUpdateSerializer, responses=RecipeSerializer)
    def put(self, request: Request, project: str, dataset: str, recipe: str) -> Response:
        data = RecipeUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        recipe_obj = self.recipe()
        recipe_obj = services.recipe_update(
            recipe=recipe_obj,
            name=data.validated_data.get("name"),
            steps=data.validated_data["steps"],
            output=data.validated_data["output"],
            user=request.user,
            version=self.version(recipe_obj.dataset, data.validated_data.get("version")),
        )
        return Response(RecipeSerializer(recipe_obj).data)

    @extend_schema(operation_id="recipe_destroy")
    def delete(self, request: Request, project: str, dataset: str, recipe: str) -> Response:
        services.recipe_delete(recipe=self.recipe(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecipePreviewApi(_DatasetScopedView):
    """Run steps on a sample of a version; nothing is saved, so viewers may preview too."""

    serializer_class = PreviewInputSerializer
    permissions_by_method = {**ProjectScopedView.permissions_by_method, "POST": Permission.VIEW}

    @extend_schema(operation_id="recipe_preview", request=PreviewInputSerializer, responses={200: dict})
    def post(self, request: Request, project: str, dataset: str) -> Response:
        data = PreviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.version_for(self.dataset(), data.validated_data["version"])
        preview = services.recipe_preview(
            version=version,
            steps=data.validated_data["steps"],
            output=data.validated_data["output"],
            sample_rows=data.validated_data["sample_rows"],
        )
        return Response(preview)


class RecipeRunApi(_DatasetScopedView):
    serializer_class = RunInputSerializer

    @extend_schema(operation_id="recipe_run", request=RunInputSerializer, responses={201: dict})
    def post(self, request: Request, project: str, dataset: str, recipe: str) -> Response:
        data = RunInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        recipe_obj = self.recipe()
        version = services.version_for(recipe_obj.dataset, data.validated_data["version"])
        job = services.recipe_run(
            recipe=recipe_obj,
            version=version,
            user=request.user,
            instance_type=data.validated_data["instance_type"],
        )
        names = {"project": project, "name": job.name}
        return Response(
            {
                "recipe": recipe_obj.name,
                "version": version.number,
                "outputs": [item["name"] for item in job.spec["outputs"] if item["name"] != "manifest"],
                "job": {
                    "name": job.name,
                    "status": job.status,
                    "url": reverse("api-processing-job", kwargs=names),
                    "page": reverse("jobs:processing-detail", kwargs=names),
                },
            },
            status=status.HTTP_201_CREATED,
        )


class PythonRenderer(BaseRenderer):
    """Lets a client ask for ``Accept: text/x-python``; errors still come as JSON text."""

    media_type = "text/x-python"
    format = "py"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, str | bytes) else JSONRenderer().render(data)


class RecipeExportApi(_DatasetScopedView):
    serializer_class = RecipeSerializer
    renderer_classes = [JSONRenderer, PythonRenderer]

    @extend_schema(
        operation_id="recipe_export",
        parameters=[OpenApiParameter("version", int, description="Shape the script for this version")],
        responses={(200, "text/x-python"): str},
    )
    def get(self, request: Request, project: str, dataset: str, recipe: str) -> HttpResponse:
        recipe_obj = self.recipe()
        number = request.query_params.get("version")
        version = services.version_for(recipe_obj.dataset, number) if number else None
        filename, source = services.recipe_export_script(recipe=recipe_obj, version=version)
        response = HttpResponse(source, content_type="text/x-python; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
