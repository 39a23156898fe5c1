from django.apps import AppConfig


class InvitesConfig(AppConfig):
    name = "apps.invites"
    label = "invites"

    def ready(self) -> None:
        from apps.accounts import invites as signup_gate

        from . import hooks

        signup_gate.register(checker=hooks.check_signup_code, redeemer=hooks.redeem_signup_code)
