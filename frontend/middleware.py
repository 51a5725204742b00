from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class CurrentProjectMiddleware:
    """Remembers the project a page was about, so Home opens the project the user was last in."""

    SESSION_KEY = "current_project"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        project = view_kwargs.get("project")
        if (
            project
            and hasattr(request, "session")
            and request.user.is_authenticated
            and request.session.get(self.SESSION_KEY) != project
        ):
            # Only on change: live pages poll every second and would otherwise rewrite the session each time.
            request.session[self.SESSION_KEY] = project
