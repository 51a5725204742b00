"""Recipe pages: the list of a dataset's recipes and the recipe builder.

The builder is a page plus ``datasets/static/datasets/recipe.js``: it previews, saves, runs and
exports through the recipe API (with the session), so the page and the API cannot disagree.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from datasets import recipe_services, recipes, selectors
from datasets.readers import TABULAR_FORMATS
from frontend.views import with_durations
from studio.roles import Permission, role_allows
from studio.selectors import project_get_for

VERSIONS_SHOWN = 100


@login_required
def recipe_list(request: HttpRequest, project: str, dataset: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    dataset_obj = selectors.dataset_get(project_obj, dataset)
    context = {
        "project": project_obj,
        "dataset": dataset_obj,
        "recipes": list(recipe_services.recipes_of(dataset_obj)),
        "can_create": role_allows(project_obj.user_role, Permission.CREATE),
        "nav_section": "data",
    }
    return render(request, "datasets/recipe_list.html", context)


@login_required
def recipe_builder(
    request: HttpRequest, project: str, dataset: str, recipe: str | None = None
) -> HttpResponse:
    """A new recipe (editors) or an existing one (anyone who may view: read-only without create)."""
    needed = Permission.VIEW if recipe else Permission.CREATE
    project_obj = project_get_for(request.user, project, needed)
    dataset_obj = selectors.dataset_get(project_obj, dataset)
    recipe_obj = recipe_services.recipe_get(dataset_obj, recipe) if recipe else None
    versions = list(
        selectors.versions_of(dataset_obj).filter(format__in=sorted(TABULAR_FORMATS))[:VERSIONS_SHOWN]
    )
    runs = list(recipe_services.recipe_runs(recipe_obj)[: recipe_services.RUNS_SHOWN]) if recipe_obj else []
    with_durations(runs)
    names = {"project": project, "dataset": dataset}
    if recipe_obj is not None:
        meant_for = recipe_services.recipe_input_version(recipe_obj)
    else:
        # "New recipe" from a version's page starts on that version.
        asked = request.GET.get("version", "")
        chosen = [version for version in versions if asked.isdigit() and version.number == int(asked)]
        meant_for = chosen[0] if chosen else recipe_services.source_version(dataset_obj)
    config = {
        "recipe": (
            {"name": recipe_obj.name, "steps": recipe_obj.steps, "output": recipe_obj.output}
            if recipe_obj
            else None
        ),
        "versions": [
            {
                "number": version.number,
                "label": f"v{version.number}" + (f" ({version.role})" if version.role else ""),
                "rows": version.row_count,
                "schema": version.schema,
            }
            for version in versions
        ],
        "default_version": meant_for.number if meant_for is not None else None,
        "catalogue": recipes.catalogue(),
        "can_edit": role_allows(project_obj.user_role, Permission.CREATE),
        "urls": {
            "preview": reverse("api-recipe-preview", kwargs=names),
            "create": reverse("api-recipes", kwargs=names),
            "recipe": reverse("api-recipe", kwargs={**names, "recipe": "__recipe__"}),
            "run": reverse("api-recipe-run", kwargs={**names, "recipe": "__recipe__"}),
            "export": reverse("api-recipe-export", kwargs={**names, "recipe": "__recipe__"}),
            "page": reverse("datasets:recipe-detail", kwargs={**names, "recipe": "__recipe__"}),
            "job": reverse("jobs:processing-detail", kwargs={"project": project, "name": "__job__"}),
        },
    }
    context = {
        "project": project_obj,
        "dataset": dataset_obj,
        "recipe": recipe_obj,
        "runs": runs,
        "config": config,
        "can_edit": config["can_edit"],
        "nav_section": "data",
    }
    return render(request, "datasets/recipe_builder.html", context)
