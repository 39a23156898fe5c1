from __future__ import annotations

from rest_framework import exceptions, permissions


class NetworkSuspended(exceptions.PermissionDenied):
    default_detail = "This network is suspended."
    default_code = "network_suspended"


class NetworkIsActive(permissions.BasePermission):
    """A suspended or archived network answers 403 ``network_suspended``."""

    def has_permission(self, request, view) -> bool:
        network = getattr(request, "network", None)
        if network is None:
            raise exceptions.NotFound()
        if network.status != "active":
            raise NetworkSuspended()
        return True


class IsNetworkAdmin(permissions.BasePermission):
    message = "Only network admins may do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and (user.is_staff or getattr(user, "network_role", None) == "admin")
        )


class ReadOnlyOrNetworkAdmin(IsNetworkAdmin):
    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return super().has_permission(request, view)


class IsNetworkAdminOrHidden(IsNetworkAdmin):
    """Network-admin resources (campaigns, waves, suppressions): collections answer 403 to others,
    while their rows stay invisible (the viewset scopes them to nothing → 404, no existence oracle).
    """

    def has_permission(self, request, view) -> bool:
        if getattr(view, "detail", False):
            return bool(request.user and request.user.is_authenticated)
        return super().has_permission(request, view)


def is_network_admin(user) -> bool:
    return bool(
        user and user.is_authenticated and (user.is_staff or getattr(user, "network_role", None) == "admin")
    )
