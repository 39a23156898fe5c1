from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.core import audit
from apps.core.exceptions import InvalidState, ValidationFailed

from .models import Network
from .selectors import forget_host
from .settings_schema import SettingsInvalid, clean_settings


@transaction.atomic
def ensure_default_network(*, name: str, slug: str, invite_only: bool = False) -> Network:
    network = Network.objects.select_for_update().filter(is_default=True).first()
    if network is not None:
        return network
    network, _ = Network.objects.get_or_create(
        slug=slug, defaults={"name": name, "is_default": True, "invite_only": invite_only}
    )
    if not network.is_default:
        network.is_default = True
        network.save(update_fields=["is_default", "updated_at"])
    return network


def _transition(*, actor: Any, network: Network, to: str, allowed_from: set[str], action: str) -> Network:
    locked = Network.objects.select_for_update().get(pk=network.pk)
    if locked.status not in allowed_from:
        raise InvalidState(f"A {locked.status} network cannot become {to}.")
    locked.status = to
    locked.save(update_fields=["status", "updated_at"])  # post_save: cached principals dropped
    network.status = locked.status
    forget_host(network.domain)
    audit.record(network=network, actor=actor, action=action, target=network)
    return network


@transaction.atomic
def suspend_network(*, actor: Any, network: Network) -> Network:
    return _transition(
        actor=actor, network=network, to="suspended", allowed_from={"active"}, action="network.suspended"
    )


@transaction.atomic
def unsuspend_network(*, actor: Any, network: Network) -> Network:
    return _transition(
        actor=actor, network=network, to="active", allowed_from={"suspended"}, action="network.unsuspended"
    )


@transaction.atomic
def archive_network(*, actor: Any, network: Network) -> Network:
    if network.is_default:
        raise InvalidState("The default network cannot be archived.")
    return _transition(
        actor=actor,
        network=network,
        to="archived",
        allowed_from={"active", "suspended"},
        action="network.archived",
    )


def merged_settings(*, stored: dict[str, Any], change: Any) -> dict[str, Any]:
    """``change`` merged into the stored settings and validated whole (``settings_schema``)."""
    try:
        return clean_settings(change, stored=stored)
    except SettingsInvalid as exc:
        raise ValidationFailed(
            str(exc), field="settings", code="invalid_settings", extra={"errors": exc.errors}
        ) from None


@transaction.atomic
def update_network(*, actor: Any, network: Network, **fields: Any) -> Network:
    network = Network.objects.select_for_update().get(pk=network.pk)
    changed = {}
    for name in ("name", "invite_only", "signup_enabled", "branding", "from_email"):
        if name in fields:
            setattr(network, name, fields[name])
            changed[name] = fields[name]
    if "settings" in fields:
        network.settings = merged_settings(stored=network.settings, change=fields["settings"])
        changed["settings"] = fields["settings"]
    if changed:
        network.save()
        audit.record(network=network, actor=actor, action="network.updated", target=network, data=changed)
    return network
