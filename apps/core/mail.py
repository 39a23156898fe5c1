"""Transactional mail: render a subject and body template, send once the transaction commits.

Transactional mail honours only an ``all`` suppression (hard bounces,
complaints: the mailing app registers the check); ``essential`` mail
(password reset, email change, account lifecycle) always goes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string

_suppression_check: Callable[..., bool] | None = None


def register_suppression_check(check: Callable[..., bool] | None) -> None:
    """``check(email=…, network=…) -> bool``: True when the address must not get transactional mail."""
    global _suppression_check
    _suppression_check = check


def from_email(network: Any) -> str:
    return getattr(network, "from_email", None) or settings.DEFAULT_FROM_EMAIL


def send_mail_on_commit(
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    network: Any,
    subject: str | None = None,
    essential: bool = False,
) -> bool:
    """Render ``<template>_subject.txt`` (unless ``subject`` is given) and ``<template>_body.txt``.

    Rendered now (the objects in ``context`` may change), sent after commit:
    nothing goes out for a rolled-back write. Returns False (and sends
    nothing) for an address suppressed for ``all`` mail, unless ``essential``.
    """
    if not essential and _suppression_check is not None and _suppression_check(email=to, network=network):
        return False
    context = {"site_url": settings.SITE_URL, "network": network, **context}
    if subject is None:
        subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
    body = render_to_string(f"{template}_body.txt", context)
    message = EmailMessage(subject=subject, body=body, from_email=from_email(network), to=[to])
    transaction.on_commit(lambda: message.send(fail_silently=False))
    return True
