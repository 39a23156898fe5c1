"""The organization security policy on every row an organization owns or reaches.

Rows declare their organization the way they declare their network
(``network_field``); the shared base enforces the policy, so a view has
nothing to call and a new domain forgets nothing.

**Declaring** (for view and model authors)

* ``organization_field`` — the lookup path from a row to the Organization
  that owns it: ``"organization"``, ``"owner_organization"``,
  ``"project__owner_organization"``; ``"pk"`` on ``Organization`` itself. Set
  it on the model (``Project.organization_field = "owner_organization"``):
  viewsets over the model, ``NetworkScopedRelatedField`` and the tests read
  it from there. A viewset may set (or override) it for its queryset. A null
  at the end of the path (a user-owned project) means no organization: no
  policy.
* ``organization_exempt = "<reason>"`` — on a model with a relation to an
  organization (or to an org-reached row) that the organization does not own
  (a follow of an organization, a ledger row naming both parties…): the
  reason is the declaration; ``tests/organizations/test_policy_reach.py``
  fails a model that reaches an organization and declares neither.
* ``organization_url_kwarg`` — on nested routes ``/<parent>/{kwarg}/<rows>/``,
  the URL kwarg that holds the pk of the *first* object on the path
  (``"project_pk"`` with ``"project__owner_organization"``,
  ``"organization_pk"`` with ``"organization"``). The parent's organization is
  then checked before the handler runs, for lists and creates too.

**Enforcing** (nothing for a view to do)

* ``OrganizationPolicy`` is in ``settings.API_BASE_PERMISSIONS``: the URL
  parent's organization and the detail row's (looked up by the route's
  lookup kwarg) are checked in ``has_permission``, every object DRF checks in
  ``has_object_permission``;
* ``NetworkScopedViewSet.get_queryset`` leaves out the rows of organizations
  whose policy refuses the request (``restrict_queryset``): lists never show
  them;
* ``NetworkScopedRelatedField`` refuses a body FK to such a row with the
  policy's error (``check_row``).

**Who is held to it.** Members (active) of the organization — the policy
governs what membership grants; a non-member reading a network-visible row
is not acting for the organization. An API key limited to one organization
(``ApiKey.organization``) reaches no other organization's rows, member or not.

**The rules** (``refusal``): an API key when ``api_keys_allowed`` is off →
403 ``api_keys_disabled``; the client address (``apps.core.clientip``)
outside ``ip_allowlist`` → 403 ``ip_not_allowed``; then, for people (agents
cannot enrol and are not aged): ``require_2fa`` without a confirmed device →
403 ``org_2fa_required``; a session (not a key) older than
``session_max_age_hours`` → 401 ``reauthentication_required`` (age = since
its ``UserSession`` was created or its latest recorded authentication; a
session with neither is too old).

Cost: no query in the warm case — the caller's restrictive policies ride in
the cached ``security_state`` (one Redis read the 2FA check makes anyway,
dropped on membership and policy changes); one query finds a detail row's
organization, only when some organization refuses the request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import Q
from rest_framework import exceptions, permissions

from apps.apikeys.permissions import request_api_key


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


#: policies that restrict nothing need no evaluation
RESTRICTIVE = (
    Q(require_2fa=True)
    | ~Q(ip_allowlist=[])
    | Q(api_keys_allowed=False)
    | Q(session_max_age_hours__isnull=False)
)
_POLICY_FIELDS = ("require_2fa", "ip_allowlist", "api_keys_allowed", "session_max_age_hours")


# --- the declaration ------------------------------------------------------------------


def model_organization_field(model: Any) -> str | None:
    return getattr(model, "organization_field", None) or None


def view_model(view: Any) -> Any:
    queryset = getattr(view, "queryset", None)
    if queryset is not None:
        return queryset.model
    return getattr(view, "model", None)


def view_organization_field(view: Any) -> str | None:
    """The view's declared path to the owning organization (its own, else its model's)."""
    declared = getattr(view, "organization_field", None)
    if declared:
        return declared
    model = view_model(view)
    return model_organization_field(model) if model is not None else None


def is_org_reached(view: Any) -> bool:
    return bool(view_organization_field(view) or getattr(view, "organization_url_kwarg", None))


def organization_id_of(obj: Any, path: str | None = None) -> Any:
    """The id of the organization owning ``obj`` (None = no organization), following ``path``."""
    path = path or model_organization_field(type(obj))
    if not path or obj is None:
        return None
    if path == "pk":
        return obj.pk
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop, None)
        if obj is None:
            return None
    return getattr(obj, f"{last}_id", None)


def _lookup_organization_id(
    model: Any, path: str, *, network: Any, network_field: str = "network", **lookup: Any
) -> Any:
    """The organization id of the row ``lookup`` finds in ``network`` (None when there is none)."""
    if network is None:
        return None
    try:
        model._meta.get_field(network_field.split("__")[0])
    except FieldDoesNotExist:
        network_field = ""
    if network_field:
        lookup[network_field] = network
    try:
        return model._default_manager.filter(**lookup).values_list(path, flat=True).first()
    except (ValidationError, ValueError, TypeError):
        return None


def parent_organization_id(view: Any, model: Any, path: str | None, value: Any, network: Any) -> Any:
    """The organization of a nested route's URL parent (``organization_url_kwarg``)."""
    from .models import Organization

    if not path or path == "pk":
        return _lookup_organization_id(Organization, "pk", network=network, pk=value)
    first, _, rest = path.partition("__")
    try:
        parent = model._meta.get_field(first).related_model
    except (FieldDoesNotExist, AttributeError):
        parent = None
    if parent is None:
        raise TypeError(
            f"{type(view).__qualname__}: organization_field {path!r} does not start with a relation"
        )
    if parent is Organization:
        return _lookup_organization_id(Organization, "pk", network=network, pk=value)
    return _lookup_organization_id(parent, rest or "pk", network=network, pk=value)


# --- the verdict for one request ---------------------------------------------------------


@dataclass
class Verdict:
    """Which organizations refuse this request, and why (computed once per request)."""

    only_organization_id: Any = None  # an API key limited to this organization
    refusals: dict[Any, exceptions.APIException] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.only_organization_id is None and not self.refusals

    def refusal(self, organization_id: Any) -> exceptions.APIException | None:
        if organization_id is None:
            return None
        if self.only_organization_id is not None and organization_id != self.only_organization_id:
            return ApiKeyWrongOrganization()
        return self.refusals.get(organization_id)

    def refused_q(self, path: str) -> Q | None:
        """Rows (by ``path``) of organizations refusing the request; None when there are none."""
        q = None
        if self.refusals:
            q = Q(**{f"{path}__in": list(self.refusals)})
        if self.only_organization_id is not None:
            other = Q(**{f"{path}__isnull": False}) & ~Q(**{path: self.only_organization_id})
            q = other if q is None else q | other
        return q


_OPEN = Verdict()


class _RequestFacts:
    """What the rules need to know about the request, each read at most once."""

    def __init__(self, request: Any) -> None:
        self.request = request
        self.user = request.user
        self.api_key = request_api_key(request)

    @property
    def ip(self) -> str | None:
        if not hasattr(self, "_ip"):
            from apps.core.clientip import client_ip

            self._ip = client_ip(self.request)
        return self._ip

    @property
    def has_2fa(self) -> bool:
        from apps.accounts.selectors import security_state

        return bool(security_state(self.user)["has_2fa"])

    @property
    def session_started(self) -> float | None:
        if not hasattr(self, "_started"):
            self._started = session_authenticated_at(self.request, self.user)
        return self._started


def refusal(policy: Any, facts: _RequestFacts) -> exceptions.APIException | None:
    """The error one organization's policy answers this request with (None = allowed)."""
    from .services import ip_in_allowlist

    if facts.api_key is not None and not _get(policy, "api_keys_allowed"):
        return ApiKeysDisabled()
    allowlist = list(_get(policy, "ip_allowlist") or [])
    if allowlist and not ip_in_allowlist(facts.ip, allowlist):
        return IpNotAllowed()
    if facts.user.is_ai:
        return None
    if _get(policy, "require_2fa") and not facts.has_2fa:
        return Org2FARequired()
    hours = _get(policy, "session_max_age_hours")
    if hours and facts.api_key is None:
        started = facts.session_started
        if started is None or time.time() - started > timedelta(hours=hours).total_seconds():
            return ReauthenticationRequired()
    return None


def _get(policy: Any, name: str) -> Any:
    return policy[name] if isinstance(policy, dict) else getattr(policy, name)


def request_verdict(request: Any) -> Verdict:
    """The request's verdict, cached on the request (one query for a signed-in caller)."""
    holder = getattr(request, "_request", request)
    cached = getattr(holder, "_colony_org_verdict", None)
    if cached is not None:
        return cached
    verdict = _compute_verdict(request)
    holder._colony_org_verdict = verdict
    return verdict


def member_policies(user: Any) -> list[dict[str, Any]]:
    """The restrictive policies of the user's active memberships (cached in ``security_state``)."""
    from .models import OrganizationSecurityPolicy

    rows = (
        OrganizationSecurityPolicy.objects.filter(
            RESTRICTIVE,
            organization__members__user_id=user.pk,
            organization__members__status="active",
        )
        .values("organization_id", "organization__archived_at", *_POLICY_FIELDS)
        .order_by()
    )
    return [
        {
            "organization_id": row["organization_id"],
            "archived": row["organization__archived_at"] is not None,
            **{name: row[name] for name in _POLICY_FIELDS},
        }
        for row in rows
    ]


def _compute_verdict(request: Any) -> Verdict:
    from apps.accounts.selectors import security_state

    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return _OPEN
    facts = _RequestFacts(request)
    verdict = Verdict(only_organization_id=getattr(facts.api_key, "organization_id", None))
    for policy in security_state(user)["org_policies"]:
        error = refusal(policy, facts)
        if error is not None:
            verdict.refusals[policy["organization_id"]] = error
    return verdict


def forget_verdict(request: Any) -> None:
    holder = getattr(request, "_request", request)
    holder.__dict__.pop("_colony_org_verdict", None)


# --- the checks the shared base runs ---------------------------------------------------


def check_organization(request: Any, organization_id: Any) -> None:
    """Raise the policy's error when ``organization_id`` refuses this request."""
    error = request_verdict(request).refusal(organization_id)
    if error is not None:
        raise error


def check_row(request: Any, obj: Any) -> None:
    """A row (e.g. a body FK) of a model that declares ``organization_field``."""
    if request is None or model_organization_field(type(obj)) is None:
        return
    verdict = request_verdict(request)
    if verdict.is_open:
        return
    check_organization(request, organization_id_of(obj))


def restrict_queryset(request: Any, qs: models.QuerySet, path: str | None) -> models.QuerySet:
    """Leave out the rows of organizations whose policy refuses the request."""
    if not path or request is None:
        return qs
    verdict = request_verdict(request)
    if verdict.is_open:
        return qs
    refused = verdict.refused_q(path)
    return qs.exclude(refused) if refused is not None else qs


def enforce_security_policy(request: Any, organization: Any) -> None:
    """Apply ``organization``'s policy to this request now (uncached; raises DRF errors)."""
    from .selectors import security_policy

    facts = _RequestFacts(request)
    key_org = getattr(facts.api_key, "organization_id", None)
    if key_org and key_org != organization.pk:
        raise ApiKeyWrongOrganization()
    policy = security_policy(organization)
    if policy is None:
        return
    error = refusal(policy, facts)
    if error is not None:
        raise error


class OrganizationPolicy(permissions.BasePermission):
    """The base chain's organization check (see the module docstring)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if not is_org_reached(view):
            return True
        verdict = request_verdict(request)
        if verdict.is_open:
            return True
        kwargs = getattr(view, "kwargs", None) or {}
        model = view_model(view)
        path = view_organization_field(view)
        parent_kwarg = getattr(view, "organization_url_kwarg", None)
        network = getattr(request, "network", None)
        if parent_kwarg and parent_kwarg in kwargs:
            organization_id = parent_organization_id(view, model, path, kwargs[parent_kwarg], network)
            check_organization(request, organization_id)
        lookup_kwarg = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
        if model is not None and path and lookup_kwarg and lookup_kwarg in kwargs:
            lookup = {getattr(view, "lookup_field", "pk"): kwargs[lookup_kwarg]}
            network_field = getattr(view, "network_field", "network")
            organization_id = _lookup_organization_id(
                model, path, network=network, network_field=network_field, **lookup
            )
            check_organization(request, organization_id)
        return True

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        path = view_organization_field(view) if isinstance(obj, view_model(view) or ()) else None
        if path is None and model_organization_field(type(obj)) is None:
            return True
        if request_verdict(request).is_open:
            return True
        check_organization(request, organization_id_of(obj, path))
        return True


def session_authenticated_at(request: Any, user: Any) -> float | None:
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
