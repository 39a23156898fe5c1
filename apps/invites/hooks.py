"""The invites app's side of the accounts signup gate (``apps.accounts.invites``)."""

from __future__ import annotations

from typing import Any

from . import services


def check_signup_code(*, network: Any, code: str, email: str | None) -> bool:
    return services.check_code(network=network, code=code, email=email)


def redeem_signup_code(*, network: Any, code: str, user: Any) -> None:
    from allauth.core import context

    from apps.core.clientip import client_ip

    request = context.request
    services.redeem_code(network=network, code=code, user=user, ip=client_ip(request) if request else None)
