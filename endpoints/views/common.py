"""What the inference pages share: permission flags and the notice about the serving supervisor."""

from __future__ import annotations

from endpoints.services.endpoints import serving_host_alive
from studio.models import Project
from studio.roles import Permission, role_allows

# Form pickers list this many of the newest choices (models, training jobs, endpoint configs).
CHOICES_LIMIT = 300


def may(project: Project, permission: Permission) -> bool:
    """Whether the user (whose role ``project_get_for`` attached) may do ``permission`` here."""
    return role_allows(project.user_role, permission)  # type: ignore[attr-defined]


def page_context(project: Project, **extra: object) -> dict:
    """The project, the tab highlight and whether a serving supervisor runs (else endpoints wait)."""
    return {"project": project, "nav_section": "endpoints", "serving_alive": serving_host_alive(), **extra}
