"""The signup hook for invite codes.

Invite-only networks require a valid code at signup. The invites app
registers the real checker/redeemer with ``register`` (``InvitesConfig.ready``:
``apps.invites.services.check_code`` / ``redeem_code``); without it no code is
valid, so an invite-only network refuses every signup with a clear message,
and an open network ignores codes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apps.core.exceptions import PermissionDenied, ValidationFailed

InviteChecker = Callable[..., bool]
InviteRedeemer = Callable[..., None]

_checker: InviteChecker | None = None
_redeemer: InviteRedeemer | None = None

INVITE_REQUIRED = "This network is invite-only: enter a valid invite code, or join the waitlist."
INVITE_INVALID = "This invite code is not valid (unknown, used up, or expired)."
SIGNUP_CLOSED = "Signups are closed on this network."


class InviteInvalid(ValidationFailed):
    """The redeemer found no usable code (raced for the last use, revoked meanwhile…): 400 ``invite_invalid``."""

    default_code = "invite_invalid"
    default_message = INVITE_INVALID

    def __init__(self) -> None:
        super().__init__(INVITE_INVALID, field="invite_code", code="invite_invalid")


def register(*, checker: InviteChecker, redeemer: InviteRedeemer) -> None:
    global _checker, _redeemer
    _checker, _redeemer = checker, redeemer


def unregister() -> None:
    global _checker, _redeemer
    _checker = _redeemer = None


def signup_open(network: Any) -> bool:
    """The network takes signups at all (an invite-only one still needs a code)."""
    return bool(network is not None and network.signup_enabled and network.status == "active")


def check_signup_allowed(*, network: Any, invite_code: str | None, email: str | None) -> None:
    """Raise when this network refuses the signup (called while validating the form)."""
    if not signup_open(network):
        raise PermissionDenied(SIGNUP_CLOSED, code="signup_closed")
    if not network.invite_only:
        return
    if not invite_code:
        raise ValidationFailed(INVITE_REQUIRED, field="invite_code", code="invite_required")
    if _checker is None or not _checker(network=network, code=invite_code, email=email):
        raise ValidationFailed(INVITE_INVALID, field="invite_code", code="invite_invalid")


def registered() -> tuple[InviteChecker | None, InviteRedeemer | None]:
    """The current hooks (tests swap them and put these back)."""
    return _checker, _redeemer


def redeem(*, network: Any, invite_code: str | None, user: Any) -> None:
    """Consume the code inside the signup transaction (a rollback frees the use).

    Raises ``InviteInvalid`` when the code was used up or revoked after the
    form was checked; the signup forms turn it into the field error.
    """
    if network.invite_only and invite_code and _redeemer is not None:
        _redeemer(network=network, code=invite_code, user=user)
