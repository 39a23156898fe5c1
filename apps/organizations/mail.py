"""Invitation mail: rendered now, sent once the invitation is committed."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string


def send_invitation_on_commit(*, member: Any, organization: Any, inviter: Any, token: str) -> None:
    from .services.members import invitation_accept_url

    network = organization.network
    context = {
        "organization": organization,
        "inviter": inviter,
        "role": member.role,
        "email": member.invite_email,
        "expires_at": member.invite_expires_at,
        "accept_url": invitation_accept_url(token),
        "token": token,
        "site_url": settings.SITE_URL,
        "network": network,
    }
    subject = " ".join(render_to_string("organizations/emails/invitation_subject.txt", context).split())
    body = render_to_string("organizations/emails/invitation_body.txt", context)
    from_email = getattr(network, "from_email", None) or settings.DEFAULT_FROM_EMAIL
    message = EmailMessage(subject=subject, body=body, from_email=from_email, to=[member.invite_email])
    transaction.on_commit(lambda: message.send(fail_silently=False))
