"""The role layer of organization endpoints (SCHEMA §3, §21).

``OrganizationPermission`` is added to the ``permission_classes`` of the
organization's own viewsets (the org, its members, settings, policy, audit
log). For each request it finds the organization and checks the caller's
role against the §21 matrix (``roles``).

The security policy (IP allowlist, API keys, 2FA, session age) is not
checked here but in the base chain, for every row owned by or reached
through an organization: see ``apps.organizations.policy`` and the
``organization_field`` declaration. ``check_org_access`` re-asks the cached
verdict so a role-checked org is never left unchecked.

How a view tells the class what to check:

* ``get_org_permission(request, obj)`` on the view, when it depends on the
  object (``obj`` is None in ``has_permission``), else
  ``org_permissions = {"<action>": "<matrix permission>" | None, …}`` —
  ``None`` = any member of the network may call it (the org profile); the
  policy is still enforced on members. Unlisted actions need ``org.view``
  (safe methods) or ``org.edit`` (others).
* the organization is found from the object (``has_object_permission``: an
  Organization, or an object with ``organization`` / ``owner_organization``;
  user-owned objects pass) or, for nested routes, from the URL kwarg named
  by ``organization_url_kwarg`` (``has_permission``; another network's or a
  non-visible org → 404). The org is left on ``request.organization``.

Services repeat the role check with ``roles.has_org_permission`` (or
``services._base.require``); this class adds the request-bound rules.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, permissions

from . import roles
from .policy import (  # noqa: F401 — re-exported: the policy's errors and check live in .policy
    ApiKeysDisabled,
    ApiKeyWrongOrganization,
    IpNotAllowed,
    Org2FARequired,
    ReauthenticationRequired,
    check_organization,
    enforce_security_policy,
)


class NotOrgMember(exceptions.PermissionDenied):
    default_detail = "You are not a member of this organization."
    default_code = "not_org_member"


class OrgPermissionDenied(exceptions.PermissionDenied):
    default_detail = "Your role in this organization does not allow this."
    default_code = "org_permission_denied"


def organization_of(obj: Any) -> Any:
    """The organization an object belongs to (None for user-owned objects)."""
    from .models import Organization

    if isinstance(obj, Organization):
        return obj
    for name in ("organization", "owner_organization"):
        if hasattr(obj, f"{name}_id"):
            return getattr(obj, name) if getattr(obj, f"{name}_id") else None
    return None


def _role_cache(request: Any) -> dict:
    cache = getattr(request, "_org_roles", None)
    if cache is None:
        cache = {}
        request._org_roles = cache
    return cache


def request_role(request: Any, organization: Any) -> str | None:
    """The caller's active role in the org (one query per org per request)."""
    cache = _role_cache(request)
    if organization.pk not in cache:
        cache[organization.pk] = roles.member_role(request.user, organization)
    return cache[organization.pk]


def check_org_access(request: Any, organization: Any, permission: str | None) -> str | None:
    """Role check + policy for one org; returns the caller's role (None = non-member, allowed).

    ``permission`` None means no role is needed (network-visible reads).
    """
    role = request_role(request, organization)
    done = getattr(request, "_org_checked", None)
    if done is None:
        done = request._org_checked = set()
    if (organization.pk, permission) in done:
        return role
    if role is None:
        if organization.archived_at is not None:
            raise exceptions.NotFound()
        if permission is None:
            return None
        raise NotOrgMember()
    if permission is not None and not roles.org_role_allows(role, organization, permission):
        raise OrgPermissionDenied()
    check_organization(request, organization.pk)  # the base chain ran it too: cached
    done.add((organization.pk, permission))
    return role


_UNSET = object()


def required_permission(view: Any, request: Any, obj: Any = None) -> str | None:
    hook = getattr(view, "get_org_permission", None)
    if hook is not None:
        return hook(request, obj)
    mapping: dict[str, str | None] = getattr(view, "org_permissions", {}) or {}
    action = getattr(view, "action", None) or request.method.lower()
    value = mapping.get(action, _UNSET)
    if value is _UNSET:
        return "org.view" if request.method in permissions.SAFE_METHODS else "org.edit"
    return value  # type: ignore[return-value]


class OrganizationPermission(permissions.BasePermission):
    """Role matrix + security policy for organization-owned endpoints (see the module docstring)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        kwarg = getattr(view, "organization_url_kwarg", None)
        if not kwarg or kwarg not in getattr(view, "kwargs", {}):
            return True
        organization = parent_organization(request, view.kwargs[kwarg])
        request.organization = organization
        check_org_access(request, organization, required_permission(view, request))
        return True

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        organization = organization_of(obj)
        if organization is None:
            return True
        request.organization = organization
        check_org_access(request, organization, required_permission(view, request, obj))
        return True


def parent_organization(request: Any, pk: Any) -> Any:
    """The org of a nested URL, in the request's network and visible to the caller (else 404)."""
    from django.core.exceptions import ValidationError

    from .models import Organization
    from .selectors import visible_organizations

    network = getattr(request, "network", None)
    if network is None:
        raise exceptions.NotFound()
    qs = visible_organizations(
        Organization.objects.filter(network=network).select_related("security_policy", "settings"),
        viewer=request.user,
    )
    try:
        organization = qs.filter(pk=pk).first()
    except (ValidationError, ValueError):
        organization = None
    if organization is None:
        raise exceptions.NotFound()
    return organization


__all__ = [
    "OrganizationPermission",
    "check_org_access",
    "enforce_security_policy",
    "organization_of",
    "parent_organization",
    "request_role",
]
