from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    name = "apps.apikeys"
    label = "apikeys"
    verbose_name = "API keys"

    def ready(self) -> None:
        from apps.core.nearcache import near

        from . import hotpath, schema, signals  # noqa: F401

        near.track(hotpath.principal_key(""))  # key records: kept near, dropped by Redis's pushes
