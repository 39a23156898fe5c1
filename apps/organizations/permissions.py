"""The one permission layer of organization-owned endpoints (SCHEMA §3, §21).

``OrganizationPermission`` is added to the ``permission_classes`` of every
viewset whose rows belong to an organization (this app's, projects', …).
For each request it finds the organization, checks the caller's role against
the §21 matrix (``roles``) and enforces the organization's security policy:

* ``require_2fa`` — a member without a confirmed TOTP device → 403
  ``org_2fa_required`` (session users are usually stopped earlier by the
  global ``TwoFactorEnrolmentPolicy`` with ``mfa_enrolment_required``);
  agents cannot enrol and are exempt;
* ``session_max_age_hours`` — the request's session (cookie or
  X-Session-Token) older than that → 401 ``reauthentication_required``
  (age = since its ``UserSession`` was created, or since the latest
  authentication recorded in it, e.g. an allauth reauthentication; a
  session with neither is treated as too old);
* ``ip_allowlist`` — the client address outside it → 403 ``ip_not_allowed``;
* ``api_keys_allowed`` — an API key request when keys are off → 403
  ``api_keys_disabled``; a key limited to another org → 403
  ``api_key_wrong_organization``.

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
``services._base.require``); this class adds the request-bound policy.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from rest_framework import exceptions, permissions

from apps.apikeys.permissions import request_api_key

from . import roles


class NotOrgMember(exceptions.PermissionDenied):
    default_detail = "You are not a member of this organization."
    default_code = "not_org_member"


class OrgPermissionDenied(exceptions.PermissionDenied):
    default_detail = "Your role in this organization does not allow this."
    default_code = "org_permission_denied"


class Org2FARequired(exceptions.PermissionDenied):
    default_detail = "This organization requires two-factor authentication; enable it on your account."
    default_code = "org_2fa_required"


class IpNotAllowed(exceptions.PermissionDenied):
    default_detail = "This organization does not allow access from your IP address."
    default_code = "ip_not_allowed"


class ReauthenticationRequired(exceptions.NotAuthenticated):
    default_detail = "This organization limits session age; sign in again (or reauthenticate)."
    default_code = "reauthentication_required"


class ApiKeysDisabled(exceptions.PermissionDenied):
    default_detail = "This organization does not allow API keys."
    default_code = "api_keys_disabled"


class ApiKeyWrongOrganization(exceptions.PermissionDenied):
    default_detail = "This API key is limited to another organization."
    default_code = "api_key_wrong_organization"


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


def _session_authenticated_at(request: Any, user: Any) -> float | None:
    """When this request's session started or last re-authenticated (epoch seconds)."""
    from apps.accounts.models import UserSession
    from apps.accounts.permissions import request_session
    from apps.accounts.selectors import last_authenticated_at

    session = request_session(request)
    if session is None or not getattr(session, "session_key", None):
        return None
    created = (
        UserSession.objects.filter(session_key=session.session_key, user_id=user.pk)
        .values_list("created_at", flat=True)
        .first()
    )
    stamps = [t for t in (created and created.timestamp(), last_authenticated_at(user, session)) if t]
    return max(stamps) if stamps else None


def enforce_security_policy(request: Any, organization: Any) -> None:
    """Apply the org's security policy to a member's request (raises DRF errors)."""
    from .selectors import security_policy
    from .services import ip_in_allowlist

    user = request.user
    api_key = request_api_key(request)
    if api_key is not None and api_key.organization_id and api_key.organization_id != organization.pk:
        raise ApiKeyWrongOrganization()
    policy = security_policy(organization)
    if policy is None:
        return
    if api_key is not None and not policy.api_keys_allowed:
        raise ApiKeysDisabled()
    if policy.ip_allowlist:
        from apps.accounts.services import client_ip

        if not ip_in_allowlist(client_ip(request), list(policy.ip_allowlist)):
            raise IpNotAllowed()
    if user.is_ai:
        return
    if policy.require_2fa:
        from apps.accounts.selectors import security_state

        if not security_state(user)["has_2fa"]:
            raise Org2FARequired()
    if policy.session_max_age_hours and api_key is None:
        started = _session_authenticated_at(request, user)
        max_age = timedelta(hours=policy.session_max_age_hours).total_seconds()
        if started is None or time.time() - started > max_age:
            raise ReauthenticationRequired()


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
    enforce_security_policy(request, organization)
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
