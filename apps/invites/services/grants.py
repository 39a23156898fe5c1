"""What an invite code gives at signup: an organization membership (with a role) and communities.

``grants`` = ``{"organization": "<uuid>", "role": "member", "communities": ["<uuid>", …]}``.
Checked when the code is made (the maker must be allowed to grant it) and
applied in the signup transaction through the owning domains' services: a
grant that no longer holds (archived org, the maker lost the right, a
community gone) is skipped and logged, never failing the signup.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.apps import apps as django_apps
from django.db import transaction

from apps.core.exceptions import DomainError, ValidationFailed

logger = logging.getLogger(__name__)

MAX_COMMUNITIES = 20


def _uuid(value: Any, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise ValidationFailed("Must be a valid UUID.", field=field) from None


def _community_model() -> Any:
    try:
        return django_apps.get_model("social", "Community")
    except LookupError:
        return None


def validate_grants(*, actor: Any, network: Any, grants: dict[str, Any] | None) -> dict[str, Any]:
    """The normalised grants, or a 400 naming the field (foreign ids read as missing)."""
    from apps.organizations import roles
    from apps.organizations.models import Organization
    from apps.organizations.services import require_org_permission

    if not grants:
        return {}
    if not isinstance(grants, dict):
        raise ValidationFailed("Grants must be an object.", field="grants")
    unknown = set(grants) - {"organization", "role", "communities"}
    if unknown:
        raise ValidationFailed(f"Unknown grant keys: {', '.join(sorted(map(str, unknown)))}.", field="grants")
    out: dict[str, Any] = {}
    if grants.get("organization"):
        org_id = _uuid(grants["organization"], "grants")
        org = Organization.objects.filter(pk=org_id, network=network, archived_at__isnull=True).first()
        if org is None:
            raise ValidationFailed("The organization does not exist.", field="grants", code="does_not_exist")
        role = grants.get("role") or roles.MEMBER
        if role not in roles.ALL_ROLES or role == roles.OWNER:
            raise ValidationFailed("Choose a role other than owner.", field="grants", code="invalid_role")
        if not getattr(actor, "is_staff", False):
            try:
                actor_role = require_org_permission(actor, org, "org.members.invite")
            except DomainError as exc:
                raise ValidationFailed(
                    "You may not invite members to this organization.", field="grants", code=exc.code
                ) from exc
            from apps.organizations.services._base import org_settings

            if role not in roles.grantable_roles(actor_role, org_settings(org)):
                raise ValidationFailed(
                    "You may not grant this role.", field="grants", code="role_not_grantable"
                )
        out["organization"], out["role"] = str(org.pk), role
    elif grants.get("role"):
        raise ValidationFailed("A role needs an organization.", field="grants")
    communities = grants.get("communities") or []
    if communities:
        if not isinstance(communities, list) or len(communities) > MAX_COMMUNITIES:
            raise ValidationFailed(f"Give at most {MAX_COMMUNITIES} community ids.", field="grants")
        ids = list(dict.fromkeys(_uuid(c, "grants") for c in communities))
        model = _community_model()
        found = (
            set(model.objects.filter(pk__in=ids, network=network).values_list("pk", flat=True))
            if model
            else set()
        )
        if len(found) != len(ids):
            raise ValidationFailed("A community does not exist.", field="grants", code="does_not_exist")
        out["communities"] = [str(i) for i in ids]
    return out


def apply_grants(*, code: Any, user: Any) -> list[str]:
    """Apply ``code.grants`` to the new ``user`` (inside the signup transaction); returns what was applied."""
    grants = code.grants or {}
    applied: list[str] = []
    if grants.get("organization"):
        if _apply_organization(code=code, user=user, org_id=grants["organization"], role=grants.get("role")):
            applied.append(f"organization:{grants['organization']}")
    maker = code.created_by or code.owner
    for community_id in apply_community_grants(
        user=user, community_ids=grants.get("communities") or [], maker=maker
    ):
        applied.append(f"community:{community_id}")
    return applied


def _apply_organization(*, code: Any, user: Any, org_id: str, role: str | None) -> bool:
    from apps.organizations.models import Organization
    from apps.organizations.services import add_member

    org = Organization.objects.filter(pk=org_id, network_id=user.network_id).first()
    maker = code.created_by or code.owner
    if org is None or maker is None:
        logger.warning("invite %s: organization grant skipped (organization or maker gone)", code.pk)
        return False
    try:
        add_member(
            actor=maker,
            organization=org,
            user=user,
            role=role or "member",
            as_staff=bool(maker.is_staff),
        )
    except DomainError as exc:  # add_member's savepoint is rolled back; the signup goes on
        logger.warning("invite %s: organization grant skipped (%s)", code.pk, exc.code)
        return False
    return True


def apply_community_grants(*, user: Any, community_ids: list[str], maker: Any = None) -> list[str]:
    """Join ``user`` to each community through the social domain's services (the one place invites
    reach into communities).

    When the code's maker moderates the community, the user is added as a moderator would
    (``add_member``: the way into private and restricted communities); otherwise the user
    joins as anyone would (``join_community``: public → active, restricted → a pending request,
    private → skipped). A refused join is skipped and logged.
    """
    if not community_ids:
        return []
    try:
        from apps.social import services as social_services
    except ImportError:  # pragma: no cover - the social app is installed
        social_services = None
    join = getattr(social_services, "join_community", None)
    add = getattr(social_services, "add_member", None)
    model = _community_model()
    if join is None or model is None:
        logger.warning("community grants skipped: apps.social has no join_community service")
        return []
    joined: list[str] = []
    for community in model.objects.filter(pk__in=community_ids, network_id=user.network_id):
        try:
            with transaction.atomic():  # a refused join rolls back alone
                if maker is not None and add is not None:
                    try:
                        with transaction.atomic():
                            add(actor=maker, community=community, user=user)
                    except DomainError:
                        join(actor=user, community=community)
                else:
                    join(actor=user, community=community)
        except DomainError as exc:
            logger.warning("community grant %s skipped (%s)", community.pk, exc.code)
            continue
        joined.append(str(community.pk))
    return joined
