"""Connected accounts: the connect flow (single-use hashed state, 15 minutes, allowlisted return URLs),
direct connections (the HTTP connector, an encrypted token), refresh and revoke.

Who decides a connection: its user; on a connection shared with an
organization, also that organization's members with ``org.tools.approve``.
Revoking revokes at the provider first, then marks the row ``revoked``,
erases direct credentials and disables every grant on it (same transaction).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.api import ensure_same_network
from apps.core.exceptions import InvalidState, NotFound, PermissionDenied, ValidationFailed
from apps.organizations import roles

from .. import catalog
from ..connectors import ComposioConnector, ConnectorError, check_http_base_url, composio, connector_for
from ..models import AgentIntegration, PendingIntegration, UserIntegration


def hash_state(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def can_decide_connection(user: Any, integration: UserIntegration) -> bool:
    if user is None or getattr(user, "is_ai", False):
        return False
    if integration.user_id == user.pk:
        return True
    return integration.organization_id is not None and roles.has_org_permission(
        user, integration.organization, "org.tools.approve"
    )


def visible_connections_q(user: Any) -> Q:
    """Connections a user sees: their own and those shared with an organization they belong to."""
    from apps.organizations.models import OrganizationMember

    orgs = OrganizationMember.objects.filter(user_id=user.pk).values("organization_id")
    return Q(user_id=user.pk) | Q(organization_id__in=orgs)


def check_return_url(url: str) -> str:
    try:
        parts = urlsplit(url or "")
    except ValueError as exc:
        raise ValidationFailed("Enter a valid URL.", field="return_url") from exc
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    allowed = {o.rstrip("/").lower() for o in settings.INTEGRATIONS_RETURN_URL_ORIGINS}
    if parts.scheme not in ("http", "https") or not parts.netloc or origin not in allowed:
        raise ValidationFailed(
            "The return URL is not on an allowed origin.", field="return_url", code="return_url_not_allowed"
        )
    return url


def _check_org(actor: Any, organization: Any) -> None:
    if organization is None:
        return
    ensure_same_network(actor.network_id, organization)
    if not roles.has_org_permission(actor, organization, "org.tools.approve"):
        raise PermissionDenied("You cannot share connections with this organization.")


def start_connection(
    *, actor: Any, toolkit: str, return_url: str, organization: Any = None
) -> PendingIntegration:
    """initiated: the provider's redirect URL, our callback carrying a random state (only its hash is kept)."""
    if getattr(actor, "is_ai", False):
        raise PermissionDenied("Agents cannot connect accounts.")
    toolkit = (toolkit or "").strip().lower()
    if toolkit == "http" or toolkit not in {t["slug"] for t in catalog.toolkits()}:
        raise ValidationFailed("Unknown toolkit.", field="toolkit", code="unknown_toolkit")
    check_return_url(return_url)
    _check_org(actor, organization)
    state = secrets.token_urlsafe(32)
    callback = f"{settings.SITE_URL}/api/v1/integrations/callback/?{urlencode({'state': state})}"
    started = composio().start_connection(toolkit=toolkit, user_ref=str(actor.pk), callback_url=callback)
    pending = PendingIntegration.objects.create(
        network_id=actor.network_id,
        user=actor,
        organization=organization,
        toolkit=toolkit,
        state_hash=hash_state(state),
        redirect_url=started["redirect_url"],
        return_url=return_url,
        external_request_id=started["id"],
        expires_at=timezone.now() + timedelta(minutes=settings.INTEGRATIONS_CONNECT_MINUTES),
    )
    pending.auth_config_id = started["auth_config_id"]
    return pending


def _return(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def complete_connection(*, state: str) -> str:
    """The provider's callback: the state is used once (conditional update); returns where to send the browser.

    Unknown or reused state → ``ValidationFailed`` ``invalid_state_token`` (400, nothing written);
    expired → the row becomes ``expired`` and the browser returns with ``status=expired``.
    """
    if not state or len(state) > 200:
        raise ValidationFailed("Unknown or used state.", field="state", code="invalid_state_token")
    now = timezone.now()
    state_hash = hash_state(state)
    pending = PendingIntegration.objects.filter(state_hash=state_hash).first()
    if pending is None or pending.status != PendingIntegration.Status.INITIATED:
        raise ValidationFailed("Unknown or used state.", field="state", code="invalid_state_token")
    if pending.expires_at <= now:
        PendingIntegration.objects.filter(pk=pending.pk, status="initiated").update(
            status="expired", updated_at=now
        )
        return _return(pending.return_url, status="expired")
    try:
        account = composio().account(pending.external_request_id)
    except ConnectorError:
        account = None
    with transaction.atomic():
        won = PendingIntegration.objects.filter(pk=pending.pk, status="initiated").update(
            status="failed" if account is None else "completed", updated_at=now
        )
        if not won:
            raise ValidationFailed("Unknown or used state.", field="state", code="invalid_state_token")
        if account is None or str(account.get("status", "")).upper() not in (
            "ACTIVE",
            "INITIATED",
            "INITIALIZING",
        ):
            return _return(pending.return_url, status="failed")
        integration, _ = UserIntegration.objects.update_or_create(
            network_id=pending.network_id,
            user_id=pending.user_id,
            toolkit=pending.toolkit,
            external_account_id=str(account.get("id") or pending.external_request_id),
            defaults={
                "provider": UserIntegration.Provider.COMPOSIO,
                "organization_id": pending.organization_id,
                "auth_config_id": ((account.get("auth_config") or {}).get("id") if isinstance(account.get("auth_config"), dict) else None),
                "account_label": str(account.get("label") or account.get("account_label") or pending.toolkit)[:200],
                "status": UserIntegration.Status.ACTIVE,
                "last_error": "",
            },
        )  # fmt: skip
        PendingIntegration.objects.filter(pk=pending.pk).update(result=integration)
    return _return(pending.return_url, status="connected", integration=str(integration.pk))


def connect_direct(
    *, actor: Any, base_url: str, token: str = "", account_label: str = "", organization: Any = None
) -> UserIntegration:
    """A connection of the built-in HTTP connector: an allowlisted https base URL and an encrypted token."""
    if getattr(actor, "is_ai", False):
        raise PermissionDenied("Agents cannot connect accounts.")
    base_url = check_http_base_url(base_url)
    _check_org(actor, organization)
    return UserIntegration.objects.create(
        network_id=actor.network_id,
        user=actor,
        organization=organization,
        toolkit="http",
        provider=UserIntegration.Provider.DIRECT,
        external_account_id=None,
        account_label=(account_label or urlsplit(base_url).hostname or "")[:200],
        config={"base_url": base_url},
        credentials=token or None,
    )


def _decide(actor: Any, integration: UserIntegration) -> UserIntegration:
    if not can_decide_connection(actor, integration):
        raise NotFound()
    return UserIntegration.objects.select_for_update().get(pk=integration.pk)


def revoke_connection(*, actor: Any, integration: UserIntegration) -> UserIntegration:
    """Revoke at the provider, then here: status ``revoked``, credentials erased, every grant disabled."""
    if not can_decide_connection(actor, integration):
        raise NotFound()
    if integration.status == UserIntegration.Status.REVOKED:
        raise InvalidState("This connection is already revoked.")
    connector_for(integration).revoke(integration)  # outside the transaction: a network call
    with transaction.atomic():
        row = _decide(actor, integration)
        now = timezone.now()
        row.status, row.credentials, row.updated_at = UserIntegration.Status.REVOKED, None, now
        row.save(update_fields=["status", "credentials", "credentials_hint", "updated_at"])
        grants = list(
            AgentIntegration.objects.filter(user_integration=row, enabled=True).select_related("agent")
        )
        AgentIntegration.objects.filter(pk__in=[g.pk for g in grants]).update(enabled=False, updated_at=now)
        from apps.agents.services import log_change

        for grant in grants:
            log_change(agent=grant.agent, actor=actor, change="integration", field="grant.enabled",
                       before=True, after=False, reason=f"connection {row.pk} revoked")  # fmt: skip
    return row


def refresh_connection(*, actor: Any | None, integration: UserIntegration) -> UserIntegration:
    """Ask the provider for the account's state (composio); direct connections are re-checked for their URL."""
    if actor is not None and not can_decide_connection(actor, integration):
        raise NotFound()
    if integration.status == UserIntegration.Status.REVOKED:
        raise InvalidState("This connection is revoked.")
    status, error = UserIntegration.Status.ACTIVE, ""
    connector = connector_for(integration)
    if isinstance(connector, ComposioConnector):
        try:
            account = connector.account(integration.external_account_id or "")
            remote = str(account.get("status", "")).upper()
            if remote in ("EXPIRED", "INACTIVE"):
                status = UserIntegration.Status.EXPIRED
            elif remote in ("FAILED", "DELETED", "REVOKED"):
                status = UserIntegration.Status.FAILED
        except ConnectorError as exc:
            if exc.code == "integration_not_found":
                status, error = UserIntegration.Status.FAILED, "The provider no longer has this account."
            else:
                raise
    else:
        try:
            check_http_base_url((integration.config or {}).get("base_url", ""))
        except ValidationFailed as exc:
            status, error = UserIntegration.Status.FAILED, exc.message
    UserIntegration.objects.filter(pk=integration.pk).exclude(status="revoked").update(
        status=status, last_error=error, updated_at=timezone.now()
    )
    integration.refresh_from_db()
    return integration


def expire_pending_connections(*, now: Any = None) -> int:
    now = now or timezone.now()
    return PendingIntegration.objects.filter(status="initiated", expires_at__lte=now).update(
        status="expired", updated_at=now
    )
