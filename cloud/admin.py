"""The operator's view of the projects' AWS settings: read-only, never the secret (nor its ciphertext).

Changes go through the project's AWS settings page or API, which validate and audit them; the one
action here removes a project's stored keys (a leaked key), through the same service.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from cloud.models import AwsSettings
from cloud.selectors import masked_access_key
from cloud.services import aws_settings_update
from studio.admin import ReadOnlyAdmin


@admin.register(AwsSettings)
class AwsSettingsAdmin(ReadOnlyAdmin):
    list_display = [
        "project",
        "region",
        "bucket",
        "role_arn",
        "stored_keys",
        "checked_at",
        "updated_by",
        "updated_at",
    ]
    list_filter = ["region"]
    list_select_related = ["project", "updated_by"]
    search_fields = ["project__name", "bucket", "role_arn"]
    # Listed one by one, so that a new field is not shown until someone decides it may be.
    fields = [
        "project",
        "region",
        "role_arn",
        "bucket",
        "prefix",
        "endpoint_url",
        "s3_endpoint_url",
        "vpc_subnets",
        "vpc_security_group_ids",
        "kms_key_id",
        "stored_keys",
        "last_check",
        "checked_at",
        "updated_by",
        "updated_at",
    ]
    readonly_fields = fields
    actions = ["clear_keys"]

    @admin.display(description="stored keys")
    def stored_keys(self, aws: AwsSettings) -> str:
        return f"yes ({masked_access_key(aws.access_key_id)})" if aws.has_stored_keys else "no"

    def has_clear_keys_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("cloud.change_awssettings")

    @admin.action(description="Remove the stored AWS keys", permissions=["clear_keys"])
    def clear_keys(self, request: HttpRequest, queryset: QuerySet[AwsSettings]) -> None:
        cleared, refused = 0, []
        for aws in queryset.select_related("project"):
            try:
                aws_settings_update(project=aws.project, user=request.user, clear_keys=True)
            except (PermissionDenied, ValidationError) as exc:
                refused.append(f"{aws.project.name} ({exc})")
            else:
                cleared += 1
        if cleared:
            self.message_user(request, f"Removed the stored keys of {cleared} project(s).", messages.SUCCESS)
        if refused:
            self.message_user(request, f"Could not remove the keys of: {', '.join(refused)}", messages.ERROR)
