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


def render_mail(
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    network: Any,
    subject: str | None = None,
    essential: bool = False,
) -> EmailMessage | None:
    """Render ``<template>_subject.txt`` (unless ``subject`` is given) and ``<template>_body.txt``;
    None for an address suppressed for ``all`` mail (unless ``essential``)."""
    if not essential and _suppression_check is not None and _suppression_check(email=to, network=network):
        return None
    context = {"site_url": settings.SITE_URL, "network": network, **context}
    if subject is None:
        subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
    body = render_to_string(f"{template}_body.txt", context)
    return EmailMessage(subject=subject, body=body, from_email=from_email(network), to=[to])


def send_mail_on_commit(
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    network: Any,
    subject: str | None = None,
    essential: bool = False,
) -> bool:
    """Rendered now (the objects in ``context`` may change), sent after commit:
    nothing goes out for a rolled-back write. Returns False (and sends
    nothing) for an address suppressed for ``all`` mail, unless ``essential``.
    """
    message = render_mail(
        to=to, template=template, context=context, network=network, subject=subject, essential=essential
    )
    if message is None:
        return False
    transaction.on_commit(lambda: message.send(fail_silently=False))
    return True


def send_mail_now(
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    network: Any,
    subject: str | None = None,
    essential: bool = False,
) -> bool:
    """Send at once, raising the backend's error: for tasks that own their retries (notification
    delivery, digests) and must know whether the mail left before they record it."""
    message = render_mail(
        to=to, template=template, context=context, network=network, subject=subject, essential=essential
    )
    if message is None:
        return False
    message.send(fail_silently=False)
    return True
