from django.apps import AppConfig


class StudioConfig(AppConfig):
    name = "studio"
    verbose_name = "Studio platform"

    def ready(self) -> None:
        from studio import authentication  # noqa: F401 - registers the OpenAPI auth scheme
