"""Input and output shapes of the datasets API. Outputs read annotated rows; no queries in here."""

from __future__ import annotations

from rest_framework import serializers

from datasets.models import Dataset, DatasetVersion, Upload
from datasets.schema import COLUMN_TYPES


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=COLUMN_TYPES)


class DatasetSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    version_count = serializers.IntegerField(read_only=True, default=None)
    latest_version = serializers.IntegerField(source="latest_number", read_only=True, default=None)
    latest_row_count = serializers.IntegerField(read_only=True, default=None)
    latest_size_bytes = serializers.IntegerField(read_only=True, default=None)
    latest_format = serializers.CharField(read_only=True, default=None)

    class Meta:
        model = Dataset
        fields = [
            "uuid",
            "name",
            "description",
            "created_by",
            "created_at",
            "version_count",
            "latest_version",
            "latest_row_count",
            "latest_size_bytes",
            "latest_format",
        ]


class DatasetCreateSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=63, help_text="1-63 letters, digits or hyphens; unique in the project."
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class DatasetUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(allow_blank=True)


class VersionSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.name", read_only=True)
    parent = serializers.SerializerMethodField()
    job = serializers.CharField(source="job.name", default=None, read_only=True)
    recipe = serializers.CharField(source="recipe.name", default=None, read_only=True)
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    schema = ColumnSerializer(many=True, read_only=True)

    class Meta:
        model = DatasetVersion
        fields = [
            "uuid",
            "dataset",
            "number",
            "uri",
            "format",
            "read_options",
            "content_sha256",
            "size_bytes",
            "file_count",
            "row_count",
            "column_count",
            "schema",
            "origin",
            "parent",
            "job",
            "recipe",
            "role",
            "description",
            "created_by",
            "created_at",
        ]

    def get_parent(self, version: DatasetVersion) -> dict | None:
        """The parent as {dataset, number}: a recipe's output may be a version of another dataset."""
        if version.parent_id is None:
            return None
        parent = version.parent
        # versions_of() joins the parent; its dataset is the same one unless lineage crosses datasets.
        name = version.dataset.name if parent.dataset_id == version.dataset_id else parent.dataset.name
        return {"dataset": name, "number": parent.number}


class VersionRegisterSerializer(serializers.Serializer):
    source_uri = serializers.CharField(
        help_text="An s3:// or file:// URI (a file or a prefix) to record without copying."
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class VersionUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="The data file (CSV, TSV, Parquet, JSON Lines, .xlsx, zip or tar)."
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class UploadSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    version = serializers.SerializerMethodField()

    class Meta:
        model = Upload
        fields = [
            "uuid",
            "filename",
            "content_type",
            "options",
            "total_size",
            "received_bytes",
            "status",
            "staged_uri",
            "sha256",
            "inspection",
            "error",
            "version",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def get_version(self, upload: Upload) -> dict | None:
        if upload.version_id is None:
            return None
        return {"dataset": upload.version.dataset.name, "number": upload.version.number}


class UploadCreateSerializer(serializers.Serializer):
    filename = serializers.CharField(max_length=255)
    total_size = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)
    content_type = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    options = serializers.DictField(
        required=False,
        default=dict,
        help_text='Reading options to use instead of sniffing: {"encoding", "delimiter", "header", "sheet"}.',
    )


class UploadCommitSerializer(serializers.Serializer):
    dataset = serializers.CharField(max_length=200, help_text="The dataset's name; created if new.")
    schema = serializers.JSONField(
        required=False, default=None, help_text='The inferred schema with edited types: [{"name", "type"}].'
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class UploadConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    received_bytes = serializers.IntegerField()
    status = serializers.CharField()


class PreviewSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.ListField())
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    total_rows = serializers.IntegerField(allow_null=True)
    has_next = serializers.BooleanField()


class LineageNodeSerializer(serializers.Serializer):
    id = serializers.CharField()
    dataset = serializers.CharField()
    number = serializers.IntegerField()
    origin = serializers.CharField()
    role = serializers.CharField()
    row_count = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class LineageEdgeSerializer(serializers.Serializer):
    source = serializers.CharField()
    target = serializers.CharField()
    recipe = serializers.CharField(allow_null=True)
    job = serializers.CharField(allow_null=True)
    role = serializers.CharField()


class LineageSerializer(serializers.Serializer):
    nodes = LineageNodeSerializer(many=True)
    edges = LineageEdgeSerializer(many=True)
