from __future__ import annotations

from django.contrib.sessions.backends.base import SessionBase
from rest_framework import exceptions, permissions

from . import selectors


class AccountSuspended(exceptions.PermissionDenied):
    default_detail = "This account is suspended."
    default_code = "account_suspended"


class MfaEnrolmentRequired(exceptions.PermissionDenied):
    default_detail = "Your network or organization requires two-factor authentication; enrol first."
    default_code = "mfa_enrolment_required"


class MfaRequired(exceptions.NotAuthenticated):
    default_detail = (
        "This session has not passed two-factor authentication; "
        "POST a code to /api/v1/account/2fa/verify/ or sign in again."
    )
    default_code = "mfa_required"


def request_session(request) -> SessionBase | None:
    """The session the caller authenticated with: X-Session-Token's, else the cookie's."""
    if isinstance(request.auth, SessionBase):
        return request.auth
    return getattr(getattr(request, "_request", request), "session", None)


def request_session_key(request) -> str | None:
    """The key of the session making this request (cookie or X-Session-Token)."""
    return getattr(request_session(request), "session_key", None)


def account_refusal(user) -> str | None:
    """Why this signed-in account may not act at all (None = in good standing).

    The one rule for every surface: the API (``AccountInGoodStanding``), the
    admin site, the WebSocket connect.
    """
    if not user.is_active or user.is_suspended or user.state == "deleted":
        return "account_suspended"
    if user.is_ai and user.agent_status == "disabled":
        return "agent_disabled"
    return None


def session_refusal(user, session, *, is_api_key: bool = False) -> str | None:
    """``mfa_required`` when a person's session has not passed its second factor.

    API keys and agents have no second factor; everything else (API, admin,
    allauth headless, WebSocket) refuses such a half-authenticated session.
    """
    if is_api_key or user.is_ai:
        return None
    return None if selectors.session_passed_mfa(user, session) else "mfa_required"


def enrolment_refusal(user, *, is_api_key: bool = False) -> str | None:
    """``mfa_enrolment_required`` when the network or an organization requires 2FA of a person without it.

    The API (``TwoFactorEnrolmentPolicy``, outside ``mfa_exempt`` views) and the
    WebSocket connect apply it; API keys and agents have no second factor.
    """
    if is_api_key or user.is_ai:
        return None
    state = selectors.security_state(user)
    return "mfa_enrolment_required" if state["requires_2fa"] and not state["has_2fa"] else None


class AccountInGoodStanding(permissions.BasePermission):
    """Suspended, deleted or disabled principals reach nothing."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return True
        refusal = account_refusal(user)
        if refusal == "agent_disabled":
            raise AccountSuspended("This agent is disabled.")
        if refusal:
            raise AccountSuspended()
        return True


class TwoFactorEnrolmentPolicy(permissions.BasePermission):
    """The two-factor rules for people on sessions.

    * a confirmed TOTP device, but this session did not pass the second
      factor → 401 ``mfa_required`` everywhere except views marked
      ``mfa_verification_exempt`` (the 2FA verify and status endpoints);
    * network or organization ``require_2fa`` without a device → 403
      ``mfa_enrolment_required`` outside ``mfa_exempt`` views.
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return True
        if user.is_ai or getattr(request.auth, "is_api_key", False):
            return True
        state = selectors.security_state(user)
        if (
            state["has_2fa"]
            and not getattr(view, "mfa_verification_exempt", False)
            and session_refusal(user, request_session(request))
        ):
            raise MfaRequired()
        if getattr(view, "mfa_exempt", False):
            return True
        if enrolment_refusal(user):
            raise MfaEnrolmentRequired()
        return True
