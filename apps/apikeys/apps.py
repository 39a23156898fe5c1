from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    name = "apps.apikeys"
    label = "apikeys"
    verbose_name = "API keys"

    def ready(self) -> None:
        from . import schema, signals  # noqa: F401
