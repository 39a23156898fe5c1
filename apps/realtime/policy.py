"""The organization security policy on the socket: ``apps.organizations.policy``'s rules, for a scope.

The API holds every row an organization owns or reaches to its security policy;
a socket reaches the same rows, so it is held to the same verdict:

* a provider's group named with its organization (``(group, organization_id)``,
  see ``apps.realtime.dispatch``) is joined at connect only when the policy
  allows this socket; a ``realtime.join`` carrying ``organization_id`` likewise
  (its payload is then not forwarded either);
* a ``realtime.event`` carrying ``organization_id`` (``broadcast(…,
  organization_id=)``) reaches the socket only then — the socket's verdict is
  recomputed when older than ``VERDICT_MAX_AGE`` seconds;
* a client action on an org-reached row calls ``check_organization`` (a fresh
  verdict): the policy's refusal is a ``PolicyRefused`` domain error, so an
  ``error`` frame with the API's code (``ip_not_allowed``, ``org_2fa_required``,
  ``reauthentication_required``, ``api_keys_disabled``, …) and the socket stays open.

The request facts the rules read come from the scope exactly as an HTTP
request's would: the user, the API key of a key ticket (``scope["api_key"]``),
the client address (``scope["client"]`` plus ``X-Forwarded-For`` through
``apps.core.clientip``, trusted only from ``FORWARDED_ALLOW_IPS``) and the
session (its age for ``session_max_age_hours``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from apps.core.exceptions import DomainError

#: how stale the verdict deciding event delivery may be (actions always use a fresh one)
VERDICT_MAX_AGE = 1.0


class PolicyRefused(DomainError):
    """An organization's security policy refuses this socket (the API's 401/403 for the same row)."""

    default_code = "policy_refused"


class ScopeRequest:
    """What ``apps.organizations.policy`` reads of a request, built from a socket's scope."""

    def __init__(self, scope: dict[str, Any]) -> None:
        self.user = scope.get("user")
        self.auth = scope.get("api_key")
        meta: dict[str, str] = {}
        client = scope.get("client")
        if client:
            meta["REMOTE_ADDR"] = str(client[0])
        for name, value in scope.get("headers") or ():
            if name == b"x-forwarded-for":
                meta["HTTP_X_FORWARDED_FOR"] = value.decode("latin-1")
        self.META = meta
        self._session_key = scope.get("session_key")

    @property
    def session(self) -> Any:
        """The socket's session (cookie or ticket), read only when a policy limits session age."""
        if not self._session_key:
            return None
        if not hasattr(self, "_session"):
            from django.contrib.sessions.backends.cached_db import SessionStore

            self._session = SessionStore(self._session_key)
        return self._session


def socket_verdict(scope: dict[str, Any]) -> Any:
    """The organization verdict for this socket now (sync: cache, and a query only for session age)."""
    from apps.organizations.policy import request_verdict

    return request_verdict(ScopeRequest(scope))


def refusal(verdict: Any, organization_id: Any) -> Exception | None:
    """The policy error of ``organization_id`` under ``verdict`` (ids compared as text: events carry str)."""
    from apps.organizations.policy import ApiKeyWrongOrganization

    if organization_id is None or verdict.is_open:
        return None
    wanted = str(organization_id)
    only = verdict.only_organization_id
    if only is not None and wanted != str(only):
        return ApiKeyWrongOrganization()
    for refused_id, error in verdict.refusals.items():
        if str(refused_id) == wanted:
            return error
    return None


def as_domain_error(error: Any) -> PolicyRefused:
    codes = error.get_codes() if hasattr(error, "get_codes") else None
    code = codes if isinstance(codes, str) else getattr(error, "default_code", None)
    return PolicyRefused(str(getattr(error, "detail", error)), code=code)


def check_organization(scope: dict[str, Any], organization_of: Callable[[], Any]) -> None:
    """Raise ``PolicyRefused`` when the row's organization refuses this socket (sync).

    ``organization_of()`` finds the row's organization id; it is called only when
    some organization refuses the socket (no query in the warm, open case — as the API).
    """
    verdict = socket_verdict(scope)
    if verdict.is_open:
        return
    error = refusal(verdict, organization_of())
    if error is not None:
        raise as_domain_error(error)


class CachedVerdict:
    """A socket's verdict for event delivery, recomputed when older than ``VERDICT_MAX_AGE``."""

    def __init__(self) -> None:
        self.verdict: Any = None
        self.at = 0.0

    def fresh_enough(self) -> Any:
        if self.verdict is not None and time.monotonic() - self.at < VERDICT_MAX_AGE:
            return self.verdict
        return None

    def keep(self, verdict: Any) -> Any:
        self.verdict, self.at = verdict, time.monotonic()
        return verdict
