"""The operator's view of datasets, their versions and uploads in progress.

Versions are immutable records of stored data, so nothing here edits one. Uploads can be
cancelled (their staging file and stored data are removed by the service) and the stale ones
expired, the same cleanup the periodic task does.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext

from datasets.models import Dataset, DatasetVersion, Upload, UploadStatus
from studio.admin import ReadOnlyAdmin


class VersionInline(admin.TabularInline):
    model = DatasetVersion
    fields = ["number", "format", "origin", "row_count", "size_bytes", "role", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["-number"]

    def has_add_permission(self, request: HttpRequest, obj: Dataset | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Dataset | None = None) -> bool:
        return False


@admin.register(Dataset)
class DatasetAdmin(ReadOnlyAdmin):
    list_display = ["name", "project", "version_count", "created_by", "created_at"]
    list_select_related = ["project", "created_by"]
    list_filter = ["project"]
    search_fields = ["name", "project__name", "description"]
    fields = ["uuid", "project", "name", "description", "created_by", "created_at"]
    readonly_fields = fields
    inlines = [VersionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Dataset]:
        return super().get_queryset(request).annotate(_version_count=Count("versions"))

    @admin.display(description="Versions", ordering="_version_count")
    def version_count(self, dataset: Dataset) -> int:
        return dataset._version_count  # type: ignore[attr-defined]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "format", "origin", "row_count", "size_bytes", "role", "created_at"]
    list_select_related = ["dataset", "dataset__project"]
    list_filter = ["format", "origin", "dataset__project"]
    search_fields = ["dataset__name", "dataset__project__name", "uri", "content_sha256"]
    fieldsets = [
        (None, {"fields": ["uuid", "dataset", "number", "description", "created_by", "created_at"]}),
        ("Data", {"fields": ["uri", "format", "read_options", "content_sha256", "size_bytes", "file_count"]}),
        ("Shape", {"fields": ["row_count", "column_count", "schema"]}),
        ("Lineage", {"fields": ["origin", "parent", "job", "recipe", "role"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]


@admin.register(Upload)
class UploadAdmin(ReadOnlyAdmin):
    list_display = [
        "filename",
        "project",
        "status",
        "received_bytes",
        "total_size",
        "created_by",
        "updated_at",
    ]
    list_select_related = ["project", "created_by"]
    list_filter = ["status", "project"]
    search_fields = ["filename", "project__name", "uuid"]
    fields = [
        "uuid",
        "project",
        "filename",
        "content_type",
        "options",
        "status",
        "total_size",
        "received_bytes",
        "staging_path",
        "staged_uri",
        "sha256",
        "inspection",
        "error",
        "version",
        "created_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    actions = ["cancel_uploads"]

    @admin.action(description="Cancel the selected uploads (remove their data)")
    def cancel_uploads(self, request: HttpRequest, queryset: QuerySet[Upload]) -> None:
        # Imported here: admin modules load in every process (worker, beat), the readers need not.
        from datasets.uploads import upload_abort

        cancelled = 0
        for upload in queryset.exclude(status__in=[UploadStatus.COMMITTED, UploadStatus.ABORTED]):
            try:
                upload_abort(upload=upload, user=request.user)
            except ValidationError as exc:
                self.message_user(request, f"{upload}: {' '.join(exc.messages)}", messages.WARNING)
            else:
                cancelled += 1
        self.message_user(
            request, ngettext("%d upload cancelled.", "%d uploads cancelled.", cancelled) % cancelled
        )
