"""Account mail of this app (email change, deletion, exports): rendered here, sent after commit.

Transactional: these messages are never subject to campaign suppression
(password reset and email-change mail always go).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string


def _from_email(network: Any) -> str:
    return getattr(network, "from_email", None) or settings.DEFAULT_FROM_EMAIL


def send_account_mail_on_commit(*, to: str, template: str, context: dict[str, Any], network: Any) -> None:
    """Render ``templates/preferences/emails/<template>_{subject,body}.txt`` and send after commit."""
    context = {"site_url": settings.SITE_URL, "network": network, **context}
    subject = " ".join(render_to_string(f"preferences/emails/{template}_subject.txt", context).split())
    body = render_to_string(f"preferences/emails/{template}_body.txt", context)
    message = EmailMessage(subject=subject, body=body, from_email=_from_email(network), to=[to])
    transaction.on_commit(lambda: message.send(fail_silently=False))
