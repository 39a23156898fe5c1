"""Shared by the invites services: salted IP hashes, links in mail, the per-network lock."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.db import connection
from django.urls import reverse

from apps.core.mail import send_mail_on_commit

#: first key of the two-int advisory lock that serialises a network's waitlist positions
WAITLIST_LOCK_CLASS = 16_001


def ip_hash(ip: str | None) -> str:
    """HMAC-SHA256 of the address with the waitlist salt: countable, not reversible without the salt."""
    if not ip:
        return ""
    salt = settings.WAITLIST_IP_SALT or f"waitlist-ip:{settings.SECRET_KEY}"
    return hmac.new(salt.encode(), ip.encode(), hashlib.sha256).hexdigest()


def lock_network_waitlist(network_id: Any) -> None:
    """``pg_advisory_xact_lock``: released at commit/rollback, so it works behind PgBouncer (transaction mode)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [WAITLIST_LOCK_CLASS, str(network_id)]
        )


def _link(setting: str, default_path: str, **values: str) -> str:
    template = getattr(settings, setting, "")
    if template:
        return template.format(**values)
    return settings.SITE_URL + default_path


def verify_url(token: str) -> str:
    return _link("WAITLIST_VERIFY_URL", reverse("waitlist-verify-page", args=[token]), token=token)


def status_url(token: str) -> str:
    return _link("WAITLIST_STATUS_URL", reverse("waitlist-status-page", args=[token]), token=token)


def referral_url(code: str) -> str:
    return _link("WAITLIST_REFERRAL_URL", f"{reverse('waitlist-page')}?ref={code}", code=code)


def signup_url(code: str) -> str:
    return _link("INVITE_SIGNUP_URL", f"/accounts/signup/?invite_code={code}", code=code)


def send_invites_mail(*, to: str, template: str, context: dict[str, Any], network: Any) -> bool:
    """``templates/invites/emails/<template>_{subject,body}.txt``, after commit (honours ``all`` suppression)."""
    return send_mail_on_commit(to=to, template=f"invites/emails/{template}", context=context, network=network)
