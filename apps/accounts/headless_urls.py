"""Headless (app and browser) endpoints added next to allauth's own.

config/urls.py mounts this at ``/_allauth/`` before ``allauth.headless.urls``,
so ``auth/signup`` here replaces allauth's (same path, our input) and
``auth/2fa/authenticate`` completes the ``mfa_otp_authenticate`` stage.
"""

from allauth.headless.constants import Client
from django.urls import path

from . import headless
from .headless_guard import guard_patterns


def _patterns(client: Client) -> list:
    prefix = f"{client.value}/v1/auth/"
    return [
        path(
            f"{prefix}signup",
            headless.SignupView.as_api_view(client=client),
            name=f"colony_headless_{client.value}_signup",
        ),
        path(
            f"{prefix}2fa/authenticate",
            headless.OTPAuthenticateView.as_api_view(client=client),
            name=f"colony_headless_{client.value}_2fa_authenticate",
        ),
    ]


urlpatterns: list = guard_patterns([*_patterns(Client.BROWSER), *_patterns(Client.APP)])
