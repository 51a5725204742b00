"""What the monitoring pages share: permission flags, the page context and the figures' JSON."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest

from studio.models import Project
from studio.roles import Permission, role_allows

# Form pickers list this many of the newest choices (endpoints, baselines, dataset versions).
CHOICES_LIMIT = 300
PAGE_SIZE = 25
OPEN_ALERTS_SHOWN = 20


def may(project: Project, permission: Permission) -> bool:
    """Whether the user (whose role ``project_get_for`` attached) may do ``permission`` here."""
    return role_allows(project.user_role, permission)  # type: ignore[attr-defined]


def page_context(project: Project, **extra: object) -> dict:
    return {
        "project": project,
        "nav_section": "monitoring",
        "can_create": may(project, Permission.CREATE),
        "can_operate": may(project, Permission.OPERATE),
        **extra,
    }


def error_text(exc: ValidationError) -> str:
    """A service's refusal as one line for a message."""
    return " ".join(exc.messages)


def next_url(request: HttpRequest, default: str) -> str:
    """Where a POST goes back to: a same-site ``next`` path, else ``default``."""
    target = request.POST.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else default
