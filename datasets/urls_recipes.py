"""Routes of one part of the datasets app, gathered by datasets/api_urls.py and datasets/urls.py.

`api_urlpatterns` are mounted under /api/v1/projects/<project>/; `page_urlpatterns` are pages
(namespace "datasets").
"""

from django.urls import path

from datasets import api_recipes, views_recipes

RECIPES = "datasets/<str:dataset>/recipes/"
PAGES = "projects/<str:project>/datasets/<str:dataset>/recipes/"

api_urlpatterns: list = [
    path(RECIPES, api_recipes.RecipeListApi.as_view(), name="api-recipes"),
    # Before <str:recipe>/: "preview" is a reserved recipe name.
    path(f"{RECIPES}preview/", api_recipes.RecipePreviewApi.as_view(), name="api-recipe-preview"),
    path(f"{RECIPES}<str:recipe>/", api_recipes.RecipeDetailApi.as_view(), name="api-recipe"),
    path(f"{RECIPES}<str:recipe>/run/", api_recipes.RecipeRunApi.as_view(), name="api-recipe-run"),
    path(f"{RECIPES}<str:recipe>/export/", api_recipes.RecipeExportApi.as_view(), name="api-recipe-export"),
]
page_urlpatterns: list = [
    path(PAGES, views_recipes.recipe_list, name="recipe-list"),
    # Before <str:recipe>/: "new" is a reserved recipe name.
    path(f"{PAGES}new/", views_recipes.recipe_builder, name="recipe-new"),
    path(f"{PAGES}<str:recipe>/", views_recipes.recipe_builder, name="recipe-detail"),
]
