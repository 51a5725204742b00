"""Model pages: the list, the create form (from a training job or an upload), the detail page with
its pickle warning and the project admin's Trust button, and delete."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from endpoints import selectors
from endpoints.forms import SOURCE_TRAINING_JOB, ModelCreateForm
from endpoints.services.models import model_create, model_delete, model_trust
from endpoints.views.common import CHOICES_LIMIT, may, page_context
from frontend.views import PAGE_SIZE, form_data
from studio.roles import Permission
from studio.selectors import project_get_for


@login_required
def model_list(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    page = Paginator(selectors.models_of_project(project_obj), PAGE_SIZE).get_page(request.GET.get("page"))
    context = page_context(
        project_obj,
        page=page,
        can_create=may(project_obj, Permission.CREATE),
        can_deploy=may(project_obj, Permission.OPERATE),
    )
    return render(request, "endpoints/model_list.html", context)


@login_required
def model_create_view(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.CREATE)
    jobs = list(selectors.completed_training_jobs(project_obj).values_list("name", flat=True)[:CHOICES_LIMIT])
    preselected = request.GET.get("training_job", "")
    initial = {}
    if preselected and request.method != "POST":
        initial = {
            "source": SOURCE_TRAINING_JOB,
            "training_job": preselected,
            "name": selectors.model_free_name(project_obj, preselected),
        }
    chosen = request.POST.get("training_job") or preselected
    if (
        chosen
        and chosen not in jobs
        and selectors.completed_training_jobs(project_obj).filter(name=chosen).exists()
    ):
        jobs.append(chosen)  # older than the listed ones, still a valid choice
    form = ModelCreateForm(*form_data(request), initial=initial, training_jobs=jobs)
    if request.method == "POST" and form.is_valid():
        try:
            model, _ = model_create(project=project_obj, user=request.user, **form.service_arguments())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Model {model.name} created.")
            return redirect("endpoints:model-detail", project=project_obj.name, name=model.name)
    return render(request, "endpoints/model_form.html", page_context(project_obj, form=form))


@login_required
def model_detail(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    model = selectors.model_get(project_obj, name)
    context = page_context(
        project_obj,
        model=model,
        configs=selectors.configs_using_model(model),
        can_trust=may(project_obj, Permission.MANAGE),
        can_deploy=may(project_obj, Permission.OPERATE),
        can_delete=may(project_obj, Permission.DELETE),
    )
    return render(request, "endpoints/model_detail.html", context)


@login_required
@require_POST
def model_trust_view(request: HttpRequest, project: str, name: str) -> HttpResponse:
    """A project admin vouches for the model's pickled files (recorded in the audit log)."""
    project_obj = project_get_for(request.user, project, Permission.MANAGE)
    model = selectors.model_get(project_obj, name)
    try:
        model_trust(model=model, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Model {model.name} is trusted: it can be deployed.")
    return redirect("endpoints:model-detail", project=project_obj.name, name=model.name)


@login_required
@require_POST
def model_delete_view(request: HttpRequest, project: str, name: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.DELETE)
    model = selectors.model_get(project_obj, name)
    try:
        model_delete(model=model, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("endpoints:model-detail", project=project_obj.name, name=model.name)
    messages.success(request, f"Model {name} deleted.")
    return redirect("endpoints:model-list", project=project_obj.name)
