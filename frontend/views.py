"""The shell's pages: home, projects, a project's dashboard and members, data, API keys.

Views parse a form, call one service, and render; access checks are the selectors'.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from endpoints.selectors import recent_endpoints
from frontend.forms import (
    ApiKeyCreateForm,
    ArtifactUploadForm,
    MemberAddForm,
    MemberRoleForm,
    ProjectCreateForm,
)
from jobs.models import Job
from jobs.selectors import job_status_counts, jobs_of
from studio import services
from studio.models import ApiKey, Project
from studio.roles import Permission, Role, role_allows
from studio.selectors import artifacts_of, memberships_of, project_get_for, projects_for_user

PAGE_SIZE = 25
RECENT_JOBS = 10


def format_duration(seconds: float | None) -> str:
    """A job's run time the way people read it: 850 ms, 12.3 s, 4 min 05 s, 2 h 07 min."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def form_data(request: HttpRequest) -> tuple:
    """A form's data and files: bound on POST (even an empty one, so its errors show), unbound otherwise."""
    return (request.POST, request.FILES) if request.method == "POST" else (None, None)


def with_durations(jobs: list[Job]) -> list[Job]:
    """Attach ``duration_display`` to each job (templates cannot call a formatter with arguments)."""
    for job in jobs:
        job.duration_display = format_duration(job.duration_seconds)  # type: ignore[attr-defined]
    return jobs


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Open the project the user was last in (or asked for), else their first; none: offer to create one."""
    visible = projects_for_user(request.user)
    for name in (request.GET.get("project"), request.session.get("current_project")):
        # The session may name a project the user has since lost access to: check, don't trust.
        if name and visible.filter(name=name).exists():
            return redirect("frontend:project-dashboard", project=name)
    first = visible.order_by("name").values_list("name", flat=True).first()
    if first:
        return redirect("frontend:project-dashboard", project=first)
    return render(request, "frontend/home.html", {"form": ProjectCreateForm(), "nav_section": "home"})


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    form = ProjectCreateForm(*form_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Project {project.name} created. You are its admin.")
            return redirect("frontend:project-dashboard", project=project.name)
    projects = list(projects_for_user(request.user).select_related("created_by").order_by("name"))
    roles = dict(request.user.memberships.values_list("project_id", "role"))
    for project in projects:
        project.user_role = Role.ADMIN if request.user.is_superuser else roles.get(project.pk)
    return render(
        request, "frontend/projects.html", {"projects": projects, "form": form, "nav_section": "projects"}
    )


def _dashboard(
    request: HttpRequest, project: Project, *, member_form: MemberAddForm | None = None
) -> HttpResponse:
    can_manage = role_allows(project.user_role, Permission.MANAGE)
    context = {
        "project": project,
        "nav_section": "home",
        "recent_jobs": with_durations(list(jobs_of(project)[:RECENT_JOBS])),
        "recent_endpoints": recent_endpoints(project, RECENT_JOBS),
        "status_counts": job_status_counts(project),
        "memberships": list(memberships_of(project)),
        "can_manage": can_manage,
        "can_create": role_allows(project.user_role, Permission.CREATE),
        "member_form": member_form or MemberAddForm(),
        "roles": Role.choices,
    }
    return render(request, "frontend/dashboard.html", context)


@login_required
def project_dashboard(request: HttpRequest, project: str) -> HttpResponse:
    return _dashboard(request, project_get_for(request.user, project, Permission.VIEW))


@login_required
@require_POST
def member_add(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.MANAGE)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        user = form.cleaned_data["username"]
        try:
            services.membership_set(
                project=project_obj, user=user, role=form.cleaned_data["role"], actor=request.user
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(
                request, f"{user.get_username()} is now {form.cleaned_data['role']} of {project}."
            )
            return redirect("frontend:project-dashboard", project=project)
    return _dashboard(request, project_obj, member_form=form)


def _member(project: Project, username: str) -> AbstractBaseUser:
    return get_object_or_404(get_user_model(), username=username, memberships__project=project)


@login_required
@require_POST
def member_role(request: HttpRequest, project: str, username: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.MANAGE)
    user = _member(project_obj, username)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles.")
        return redirect("frontend:project-dashboard", project=project)
    try:
        services.membership_set(
            project=project_obj, user=user, role=form.cleaned_data["role"], actor=request.user
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{username} is now {form.cleaned_data['role']}.")
    return redirect("frontend:project-dashboard", project=project)


@login_required
@require_POST
def member_remove(request: HttpRequest, project: str, username: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.MANAGE)
    user = _member(project_obj, username)
    try:
        services.membership_remove(project=project_obj, user=user, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{username} was removed from {project}.")
    return redirect("frontend:project-dashboard", project=project)


@login_required
def data(request: HttpRequest, project: str) -> HttpResponse:
    needed = Permission.CREATE if request.method == "POST" else Permission.VIEW
    project_obj = project_get_for(request.user, project, needed)
    form = ArtifactUploadForm(*form_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            artifact = services.artifact_upload(
                project=project_obj,
                user=request.user,
                path=form.upload_path(),
                stream=form.cleaned_data["file"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Uploaded {artifact.uri} ({artifact.size} bytes).")
            return redirect("frontend:data", project=project)
    page = Paginator(artifacts_of(project_obj), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "project": project_obj,
        "page": page,
        "form": form,
        "can_create": role_allows(project_obj.user_role, Permission.CREATE),
        "nav_section": "data",
    }
    return render(request, "frontend/data.html", context)


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyCreateForm(*form_data(request))
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            _, new_key = services.api_key_create(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            # Rendered, not redirected: the plain key must never be stored, not even in the session.
            form = ApiKeyCreateForm()
    context = {
        "keys": ApiKey.objects.filter(user=request.user),
        "form": form,
        "new_key": new_key,
        "nav_section": "settings",
    }
    return render(request, "frontend/api_keys.html", context)


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, key_uuid: str) -> HttpResponse:
    api_key = get_object_or_404(ApiKey, uuid=key_uuid, user=request.user)
    services.api_key_revoke(api_key=api_key, actor=request.user)
    messages.success(
        request, f"Key {api_key.name} ({api_key.prefix}…) is revoked; programs using it are refused."
    )
    return redirect("frontend:api-keys")
