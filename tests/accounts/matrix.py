"""Cross-tenant matrix cases for the accounts routes (see tests/matrix.py)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.accounts.models import UserSession
from tests.accounts.factories import UserFactory
from tests.matrix import Ctx, detail, exempt


@detail("user-detail", methods=("get",))
def _user(ctx: Ctx) -> dict:
    return {"pk": UserFactory(network=ctx.network).pk}


@detail("user-by-handle", methods=("get",))
def _user_by_handle(ctx: Ctx) -> dict:
    return {"handle": UserFactory(network=ctx.network).handle}


@detail("account-session-detail", methods=("get", "delete"))
def _session(ctx: Ctx) -> dict:
    row = UserSession.objects.create(
        user=ctx.user,
        session_key=f"matrix{ctx.user.pk.hex[:34]}",
        device_label="Firefox on Linux",
        expires_at=timezone.now() + timedelta(days=1),
    )
    return {"pk": row.pk}


_OWN_ACCOUNT = "acts on the caller's own account only; no client-sent foreign key"
exempt("account-session-revoke-others", _OWN_ACCOUNT)
exempt("account-2fa-totp", _OWN_ACCOUNT)
exempt("account-2fa-totp-confirm", _OWN_ACCOUNT)
exempt("account-2fa-backup-codes", _OWN_ACCOUNT)
exempt("account-2fa-verify", _OWN_ACCOUNT)
