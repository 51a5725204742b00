from __future__ import annotations

from django.http import HttpRequest

from studio.selectors import projects_for_user


def navigation(request: HttpRequest) -> dict:
    """The project switcher's choices and the current project, for the base layout."""
    if not request.user.is_authenticated:
        return {}
    match = getattr(request, "resolver_match", None)
    current = (match.kwargs.get("project") if match else None) or request.session.get("current_project")
    return {
        "nav_projects": list(projects_for_user(request.user).values_list("name", flat=True)[:100]),
        "nav_current_project": current,
    }
