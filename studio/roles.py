"""Roles are a table of permissions: every check asks "may this role do that?", never "is this role X?".

Later apps add roles (labeling adds annotator and reviewer) by adding rows here.
"""

from __future__ import annotations

from enum import StrEnum

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"


class Permission(StrEnum):
    VIEW = "view"  # read every resource of the project
    CREATE = "create"  # create jobs, upload artifacts
    OPERATE = "operate"  # stop jobs, deploy, update and delete endpoints
    INVOKE = "invoke"  # call an endpoint's invocations
    DELETE = "delete"  # delete resources
    MANAGE = "manage"  # members, project settings, audit log


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.VIEW}),
    Role.EDITOR: frozenset({Permission.VIEW, Permission.CREATE, Permission.OPERATE, Permission.INVOKE}),
    Role.ADMIN: frozenset(Permission),
}


def role_allows(role: str | None, permission: Permission) -> bool:
    return role is not None and permission in ROLE_PERMISSIONS.get(role, frozenset())
