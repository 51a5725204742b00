"""Pages of the datasets app."""

from datasets import urls_data, urls_profiles, urls_recipes

app_name = "datasets"
urlpatterns = [*urls_data.page_urlpatterns, *urls_profiles.page_urlpatterns, *urls_recipes.page_urlpatterns]
