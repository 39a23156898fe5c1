from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.core import audit
from apps.core.exceptions import InvalidState, ValidationFailed

from .models import SETTINGS_DEFAULTS, Network
from .selectors import forget_host


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


def validate_settings(data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationFailed("Settings must be an object.", field="settings")
    unknown = set(data) - set(SETTINGS_DEFAULTS)
    if unknown:
        raise ValidationFailed(f"Unknown settings: {', '.join(sorted(unknown))}.", field="settings")
    for name, value in data.items():
        expected = type(SETTINGS_DEFAULTS[name])
        if expected is int and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ValidationFailed(f"{name} must be a non-negative integer.", field="settings")
        if expected is not int and not isinstance(value, expected):
            raise ValidationFailed(f"{name} must be of type {expected.__name__}.", field="settings")
    return data


@transaction.atomic
def update_network(*, actor: Any, network: Network, **fields: Any) -> Network:
    network = Network.objects.select_for_update().get(pk=network.pk)
    changed = {}
    for name in ("name", "invite_only", "signup_enabled", "branding", "from_email"):
        if name in fields:
            setattr(network, name, fields[name])
            changed[name] = fields[name]
    if "settings" in fields:
        network.settings = {**network.settings, **validate_settings(fields["settings"])}
        changed["settings"] = fields["settings"]
    if changed:
        network.save()
        audit.record(network=network, actor=actor, action="network.updated", target=network, data=changed)
    return network
