"""Email change: password → link to the new address → confirm swaps the address atomically.

Only the SHA-256 of the 32-byte token is stored; the token itself exists in
the mail sent to the new address and nowhere else.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from allauth.account.models import EmailAddress, EmailConfirmation
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.services import confirm_password, revoke_other_sessions
from apps.core import audit, ratelimit
from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.masking import mask_secret
from apps.core.tokens import hash_token, new_token
from apps.inbox.services import report_security_event

from ..mail import send_account_mail_on_commit
from ..models import PendingEmailChange
from ..selectors import open_email_change

REQUEST_RATE = "5/h"
CLOSED_CHANGE_RETENTION = timedelta(days=30)
UNAVAILABLE = "This email address cannot be used for your account."


def confirm_url(token: str) -> str:
    return settings.SITE_URL + reverse("email-change-confirm-page", kwargs={"token": token})


def email_in_use(*, email: str, exclude_user: Any) -> bool:
    """Another account holds the address, as its login or any allauth address row."""
    return (
        User.objects.filter(email__iexact=email).exclude(pk=exclude_user.pk).exists()
        or EmailAddress.objects.filter(email__iexact=email).exclude(user=exclude_user).exists()
    )


def masked_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}…@{domain}" if domain else mask_secret(email)


@transaction.atomic
def request_email_change(*, actor: User, new_email: str, password: str) -> PendingEmailChange:
    confirm_password(user=actor, password=password)
    new_email = new_email.strip().lower()
    user = User.objects.select_for_update().get(pk=actor.pk)
    if user.email and new_email == user.email.lower():
        raise ValidationFailed(
            "This is already your email address.", field="new_email", code="email_unchanged"
        )
    ratelimit.enforce(f"email-change:{user.pk}", REQUEST_RATE, message="Too many email change requests.")
    if email_in_use(email=new_email, exclude_user=user):
        raise ValidationFailed(UNAVAILABLE, field="new_email", code="email_unavailable")
    now = timezone.now()
    PendingEmailChange.objects.filter(user=user, confirmed_at__isnull=True, cancelled_at__isnull=True).update(
        cancelled_at=now
    )
    token = new_token()
    change = PendingEmailChange.objects.create(
        network_id=user.network_id,
        user=user,
        new_email=new_email,
        token_hash=hash_token(token),
        expires_at=now + timedelta(hours=settings.EMAIL_CHANGE_TTL_HOURS),
    )
    send_account_mail_on_commit(
        to=new_email,
        template="email_change_confirm",
        context={"user": user, "confirm_url": confirm_url(token), "expires_at": change.expires_at},
        network=user.network,
    )
    event = audit.record(
        network=user.network_id, actor=actor, action="account.email.change_requested", target=change
    )
    report_security_event(
        user=user,
        event="email_change_requested",
        title="An email address change was requested",
        body=f"Your sign-in address will change to {masked_email(new_email)} once the link sent there is "
        "confirmed. If this was not you, change your password.",
        target_type="auditevent",
        target_id=event.pk,
        mailed=True,  # the flow mails both addresses itself (link to the new, notice to the old)
    )
    return change


def change_for_token(*, user: Any, token: str) -> PendingEmailChange | None:
    """The user's change with this token, whatever its state (None when unknown or not theirs)."""
    if not token or len(token) > 200:
        return None
    return PendingEmailChange.objects.filter(user=user, token_hash=hash_token(token)).first()


def _check_usable(change: PendingEmailChange | None) -> PendingEmailChange:
    if change is None or change.confirmed_at or change.cancelled_at:
        raise ValidationFailed(
            "This confirmation link is invalid or was already used.", field="token", code="invalid_token"
        )
    if change.expires_at <= timezone.now():
        raise ValidationFailed(
            "This confirmation link has expired; request the change again.",
            field="token",
            code="token_expired",
        )
    return change


def _swap_address(user: User, *, old_email: str | None, new_email: str) -> None:
    EmailAddress.objects.filter(user=user, email__iexact=new_email).delete()
    primary = (
        EmailAddress.objects.filter(user=user, primary=True).first()
        or EmailAddress.objects.filter(user=user, email__iexact=old_email or "").first()
    )
    if primary is None:
        primary = EmailAddress(user=user)
    primary.email = new_email
    primary.verified = True
    primary.primary = True
    primary.save()
    EmailConfirmation.objects.filter(email_address=primary).delete()
    # the old address must not keep working as a login
    if old_email:
        EmailAddress.objects.filter(user=user, email__iexact=old_email).exclude(pk=primary.pk).delete()
    user.email = new_email
    user.save(update_fields=["email", "updated_at"])


@transaction.atomic
def confirm_email_change(*, actor: User, token: str, current_session_key: str | None) -> User:
    change = change_for_token(user=actor, token=token)
    if change is not None:
        change = PendingEmailChange.objects.select_for_update().get(pk=change.pk)
    change = _check_usable(change)
    user = User.objects.select_for_update().get(pk=actor.pk)
    if email_in_use(email=change.new_email, exclude_user=user):
        raise ValidationFailed(UNAVAILABLE, field="token", code="email_unavailable")
    old_email = user.email
    now = timezone.now()
    try:
        with transaction.atomic():
            _swap_address(user, old_email=old_email, new_email=change.new_email)
    except IntegrityError as exc:  # an account took the address between the check and the write
        raise ValidationFailed(UNAVAILABLE, field="token", code="email_unavailable") from exc
    PendingEmailChange.objects.filter(pk=change.pk).update(confirmed_at=now, updated_at=now)
    revoke_other_sessions(actor=user, current_session_key=current_session_key)
    if old_email:
        send_account_mail_on_commit(
            to=old_email,
            template="email_change_notice",
            context={"user": user, "masked_new_email": masked_email(change.new_email), "changed_at": now},
            network=user.network,
        )
    event = audit.record(network=user.network_id, actor=actor, action="account.email.changed", target=user)
    report_security_event(
        user=user,
        event="email_changed",
        title="Your email address was changed",
        body=f"Your account now signs in with {masked_email(change.new_email)}; your other sessions were signed out.",
        target_type="auditevent",
        target_id=event.pk,
        mailed=bool(old_email),
    )
    return user


@transaction.atomic
def cancel_email_change(*, actor: User) -> PendingEmailChange:
    change = open_email_change(user=actor)
    if change is None:
        raise NotFound("There is no pending email change.")
    updated = PendingEmailChange.objects.filter(
        pk=change.pk, confirmed_at__isnull=True, cancelled_at__isnull=True
    ).update(cancelled_at=timezone.now(), updated_at=timezone.now())
    if not updated:
        raise NotFound("There is no pending email change.")
    change.refresh_from_db()
    return change


def expire_email_changes(*, now: Any = None) -> int:
    """Drop open changes past their expiry (their tokens die) and closed ones after 30 days."""
    now = now or timezone.now()
    expired, _ = PendingEmailChange.objects.filter(
        confirmed_at__isnull=True, cancelled_at__isnull=True, expires_at__lte=now
    ).delete()
    closed, _ = PendingEmailChange.objects.filter(expires_at__lte=now - CLOSED_CHANGE_RETENTION).delete()
    return expired + closed
