"""Routes of one part of the datasets app, gathered by datasets/api_urls.py and datasets/urls.py.

`api_urlpatterns` are mounted under /api/v1/projects/<project>/; `page_urlpatterns` are pages
(namespace "datasets").
"""

api_urlpatterns: list = []
page_urlpatterns: list = []
