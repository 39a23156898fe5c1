"""The one permission class that limits API keys to their scopes.

It is in every API view's base chain (``settings.API_BASE_PERMISSIONS``).
Requests without a key pass through; a key needs the scope its view maps the
action to (``apps.apikeys.scopes.required_scope``). The rest of the chain
still runs as the key's user, so a key never exceeds its user.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, permissions

from .scopes import grants, required_scope


class ApiKeyForbidden(exceptions.PermissionDenied):
    default_detail = "API keys cannot be used here; sign in instead."
    default_code = "api_key_forbidden"


class InsufficientScope(exceptions.PermissionDenied):
    default_detail = "This API key lacks the scope for this action."
    default_code = "insufficient_scope"


def request_api_key(request: Any) -> Any:
    """The ApiKey that authenticated the request, or None (a session, or anonymous)."""
    auth = getattr(request, "auth", None)
    return auth if getattr(auth, "is_api_key", False) else None


class ApiKeyScope(permissions.BasePermission):
    def has_permission(self, request: Any, view: Any) -> bool:
        api_key = request_api_key(request)
        if api_key is None:
            return True
        if getattr(view, "api_key_forbidden", False):
            raise ApiKeyForbidden()
        needed = required_scope(view, request)
        if needed is None:
            raise ApiKeyForbidden("This endpoint does not accept API keys.")
        if not grants(api_key.scopes, needed):
            raise InsufficientScope(f"This API key lacks the {needed} scope.")
        return True
