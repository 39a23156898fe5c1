from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from .db import use_c_timestamptz_loader

        connection_created.connect(use_c_timestamptz_loader, dispatch_uid="core.c_timestamptz_loader")
