"""A signup is credited to the share in the visitor's attribution cookie (fan-out from accounts)."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import user_signed_up
from django.dispatch import receiver


@receiver(user_signed_up, dispatch_uid="sharing.credit_signup")
def credit_signup_from_cookie(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is None:
        return
    from . import services
    from .views import read_attribution

    services.credit_signup(user=user, attribution=read_attribution(request))
