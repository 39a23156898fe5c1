from django.apps import AppConfig


class BrainConfig(AppConfig):
    name = "apps.brain"
    label = "brain"
