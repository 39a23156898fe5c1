from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "apps.sharing"
    label = "sharing"

    def ready(self) -> None:
        from . import receivers  # noqa: F401 — connects the signup receiver
