"""Login signals → UserSession rows (fan-out only; the rules live in services)."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver
from django.utils import timezone

from .models import UserSession
from .services import start_user_session


@receiver(user_logged_in, dispatch_uid="accounts.start_user_session")
def _on_login(sender, request, user, **kwargs) -> None:
    if request is not None:
        request._colony_user_session = start_user_session(request=request, user=user)


@receiver(user_logged_out, dispatch_uid="accounts.end_user_session")
def _on_logout(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if key:
        UserSession.objects.filter(session_key=key, revoked_at__isnull=True).update(revoked_at=timezone.now())
