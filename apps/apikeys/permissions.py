from __future__ import annotations

from rest_framework import permissions


class ApiKeyScope(permissions.BasePermission):
    """Placeholder until API keys land: requests authenticated by a key are refused."""

    def has_permission(self, request, view) -> bool:
        return not getattr(request.auth, "is_api_key", False)
