from __future__ import annotations

from rest_framework import exceptions, permissions

from . import selectors


class AccountSuspended(exceptions.PermissionDenied):
    default_detail = "This account is suspended."
    default_code = "account_suspended"


class MfaEnrolmentRequired(exceptions.PermissionDenied):
    default_detail = "Your network or organization requires two-factor authentication; enrol first."
    default_code = "mfa_enrolment_required"


class AccountInGoodStanding(permissions.BasePermission):
    """Suspended, deleted or disabled principals reach nothing."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return True
        if not user.is_active or user.is_suspended or user.state == "deleted":
            raise AccountSuspended()
        if user.is_ai and user.agent_status == "disabled":
            raise AccountSuspended("This agent is disabled.")
        return True


class TwoFactorEnrolmentPolicy(permissions.BasePermission):
    """Network or organization ``require_2fa`` without a device → 403 enrolment."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if getattr(view, "mfa_exempt", False) or not (user and user.is_authenticated):
            return True
        if user.is_ai or getattr(request.auth, "is_api_key", False):
            return True
        state = selectors.security_state(user)
        if state["requires_2fa"] and not state["has_2fa"]:
            raise MfaEnrolmentRequired()
        return True
