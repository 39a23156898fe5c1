from django.apps import AppConfig


class MailingConfig(AppConfig):
    name = "apps.mailing"
    label = "mailing"

    def ready(self) -> None:
        from apps.core import mail

        from . import selectors

        mail.register_suppression_check(selectors.blocks_transactional_mail)
