from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "apps.organizations"
    label = "organizations"
    verbose_name = "Organizations"

    def ready(self) -> None:
        from . import receivers

        receivers.connect()
