"""API routes of the datasets app, mounted under /api/v1/projects/{project}/."""

from datasets import urls_data, urls_profiles, urls_recipes

urlpatterns = [*urls_data.api_urlpatterns, *urls_profiles.api_urlpatterns, *urls_recipes.api_urlpatterns]
