"""Invitation mail: rendered now, sent once the invitation is committed."""

from __future__ import annotations

from typing import Any

from apps.core.mail import send_mail_on_commit


def send_invitation_on_commit(*, member: Any, organization: Any, inviter: Any, token: str) -> None:
    from .services.members import invitation_accept_url

    send_mail_on_commit(
        to=member.invite_email,
        template="organizations/emails/invitation",
        network=organization.network,
        context={
            "organization": organization,
            "inviter": inviter,
            "role": member.role,
            "email": member.invite_email,
            "expires_at": member.invite_expires_at,
            "accept_url": invitation_accept_url(token),
            "token": token,
        },
    )
