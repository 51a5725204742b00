"""Reads with their access checks: a project the user is not a member of does not exist for them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from studio.models import Artifact, AuditEvent, Membership, Project
from studio.roles import Permission, Role, role_allows


def projects_for_user(user: AbstractBaseUser) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def project_role(user: AbstractBaseUser, project: Project) -> str | None:
    """The user's role in the project: superusers (operators) act as admins everywhere."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def project_get_for(user: AbstractBaseUser, name: str, permission: Permission = Permission.VIEW) -> Project:
    """The project named ``name`` if ``user`` may do ``permission`` in it.

    Not a member: 404, so outsiders cannot even learn that it exists. A member whose role lacks
    the permission: 403.
    """
    project = Project.objects.filter(name=name).first()
    role = project_role(user, project) if project else None
    if project is None or role is None:
        raise Http404(f"No project named {name!r}.")
    if not role_allows(role, permission):
        raise PermissionDenied(f"Your role in {name} ({role}) does not allow '{permission}'.")
    project.user_role = role  # type: ignore[attr-defined]  # read by pages and serializers
    return project


def memberships_of(project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("user").order_by("user__username")


def artifacts_of(project: Project) -> QuerySet[Artifact]:
    return Artifact.objects.filter(project=project).select_related("created_by")


def audit_events_of(project: Project) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(project=project).select_related("actor")
