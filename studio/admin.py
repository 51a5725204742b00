"""The operator's admin for projects, members, API keys, the audit log and artifacts.

Writes that have a service go through it (project creation, member changes, key revocation), so
the admin leaves the same audit trail and keeps the same rules as the pages and the API.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.translation import ngettext

from studio.models import ApiKey, Artifact, AuditEvent, Membership, Project
from studio.roles import Role
from studio.services import api_key_revoke, membership_remove, membership_set, project_create


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the application: operators look, never add or edit.

    Delete keeps Django's default on purpose: the admin refuses to delete a project or a user when
    a cascaded model's admin denies delete, so denying it here would block that cleanup.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MembershipInlineFormSet(BaseInlineFormSet):
    creator: Any = None  # set per request by MembershipInline.get_formset

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        kept_users, kept_roles = [], []
        for form in self.forms:
            data = form.cleaned_data
            if not data or data.get("DELETE"):
                continue
            if form.instance.pk and "user" in form.changed_data:
                # membership_set keys on the user, so a changed user would add a member, not move one.
                form.add_error("user", "Remove this member and add the other user as a new member.")
            kept_users.append(data.get("user"))
            kept_roles.append(data.get("role"))
        if self.instance.pk is None and self.creator not in kept_users:
            kept_roles.append(Role.ADMIN)  # project_create makes the creator an admin
        if Role.ADMIN not in kept_roles:
            raise ValidationError("A project must keep at least one admin.")


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipInlineFormSet
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["user"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user")

    def get_formset(self, request: HttpRequest, obj: Project | None = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)  # a new class on every call
        formset.creator = request.user
        return formset


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "member_count", "created_by", "created_at"]
    list_select_related = ["created_by"]
    search_fields = ["name", "description"]
    fields = ["name", "description", "uuid", "created_by", "created_at"]
    readonly_fields = ["uuid", "created_by", "created_at"]
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Project]:
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description="Members", ordering="member_count")
    def member_count(self, obj: Project) -> int:
        return obj.member_count

    def get_readonly_fields(self, request: HttpRequest, obj: Project | None = None) -> list[str]:
        # The name is the project's prefix in the artifact store; renaming would orphan its files.
        if obj is not None:
            return [*self.readonly_fields, "name"]
        return list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: Project, form: ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        project = project_create(name=obj.name, user=request.user, description=obj.description)
        # The admin goes on with `obj` (inlines, redirect), so it becomes the row the service made.
        obj.__dict__.update(project.__dict__)

    def save_formset(self, request: HttpRequest, form: ModelForm, formset: Any, change: bool) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        project = form.instance
        formset.save(commit=False)
        updates = [*formset.new_objects, *(obj for obj, _ in formset.changed_objects)]
        # Admins first, removals last: every intermediate state keeps an admin, so the service's
        # "at least one admin" check holds at each step (the formset checked the final state).
        updates.sort(key=lambda membership: membership.role != Role.ADMIN)
        for membership in updates:
            membership_set(project=project, user=membership.user, role=membership.role, actor=request.user)
        for membership in formset.deleted_objects:
            membership_remove(project=project, user=membership.user, actor=request.user)


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    """An overview across projects; members are edited on their project's page, through the services."""

    list_display = ["project", "user", "role", "created_at"]
    list_select_related = ["project", "user"]
    list_filter = ["role"]
    search_fields = ["project__name", "user__username"]


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    # key_hash is left out: the hash identifies the key and nobody needs to read it.
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at", "active"]
    list_select_related = ["user"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    fields = ["uuid", "user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke_keys"]

    @admin.display(description="Active", boolean=True)
    def active(self, obj: ApiKey) -> bool:
        return obj.is_active

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("studio.change_apikey")

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key, actor=request.user)
            revoked += 1
        self.message_user(
            request,
            ngettext("Revoked %d API key.", "Revoked %d API keys.", revoked) % revoked,
            messages.SUCCESS if revoked else messages.INFO,
        )


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "action", "target_type", "target_name", "project"]
    list_select_related = ["actor", "project"]
    list_filter = ["action", "target_type"]
    search_fields = ["target_name", "actor__username", "project__name"]
    date_hierarchy = "created_at"


@admin.register(Artifact)
class ArtifactAdmin(ReadOnlyAdmin):
    """Records with the SHA-256 taken at write time: never edited. Deleting one leaves the stored file."""

    list_display = ["uri", "project", "size", "short_sha256", "origin", "created_by", "created_at"]
    list_select_related = ["project", "created_by"]
    list_filter = ["project"]
    search_fields = ["uri", "origin", "sha256", "project__name"]

    @admin.display(description="SHA-256", ordering="sha256")
    def short_sha256(self, obj: Artifact) -> str:
        return f"{obj.sha256[:12]}…"
