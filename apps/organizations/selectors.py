"""Reads of the organizations domain (shared by the API, admin, other apps)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.db import connection
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from .models import Organization, OrganizationMember, OrganizationSecurityPolicy


def api_keys_allowed(org: Organization) -> bool:
    """Whether API keys may act in ``org`` (its security policy; no policy row = allowed)."""
    policy = security_policy(org)
    return policy is None or bool(policy.api_keys_allowed)


def security_policy(org: Organization) -> OrganizationSecurityPolicy | None:
    try:
        return org.security_policy
    except OrganizationSecurityPolicy.DoesNotExist:
        return None


@lru_cache(maxsize=1)
def _active_organization_ids_sql() -> str:
    quote = connection.ops.quote_name
    meta = OrganizationMember._meta
    org, user, status = (quote(meta.get_field(name).column) for name in ("organization", "user", "status"))
    # identifiers from the model's own _meta, quoted; the values are parameters
    return f"SELECT {org} FROM {quote(meta.db_table)} WHERE {user} = %s AND {status} = %s"  # noqa: S608


def active_organization_ids(user: Any) -> RawSQL:
    """Subquery (for ``…__in=``): ids of the organizations where ``user`` is an active member.

    One SQL string with two parameters rather than an ORM subquery or an
    ``Exists``: those are built, resolved into the outer query and compiled
    again on every request (~0.35 ms of a project list, whose visibility
    rule reads it); the plan is the same (the member table's index on user).
    """
    return RawSQL(_active_organization_ids_sql(), (getattr(user, "pk", None), "active"))  # noqa: S611 — fixed SQL


def with_viewer_role(qs: QuerySet[Organization], *, viewer: Any) -> QuerySet[Organization]:
    """Annotate ``viewer_role`` (the viewer's active role or None) and ``member_count``."""
    role = OrganizationMember.objects.filter(
        organization=OuterRef("pk"), user_id=getattr(viewer, "pk", None), status="active"
    ).values("role")[:1]
    members = (
        OrganizationMember.objects.filter(organization=OuterRef("pk"), status="active")
        .order_by()
        .values("organization")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return qs.annotate(
        viewer_role=Subquery(role),
        member_count=Coalesce(Subquery(members, output_field=IntegerField()), Value(0)),
    )


def visible_organizations(qs: QuerySet[Organization], *, viewer: Any) -> QuerySet[Organization]:
    """Orgs of the (already network-filtered) queryset the viewer may see.

    Live orgs are visible to everyone in the network; archived ones only to
    their members.
    """
    return qs.filter(Q(archived_at__isnull=True) | Q(pk__in=active_organization_ids(viewer)))


def user_organizations(
    qs: QuerySet[Organization], *, user: Any, archived: bool = False
) -> QuerySet[Organization]:
    """The orgs the user is an active member of (live ones, or archived ones)."""
    return qs.filter(pk__in=active_organization_ids(user), archived_at__isnull=not archived)


def inviting_organization_ids(viewer: Any) -> list[Any]:
    """Organizations where the viewer's active role may invite (``org.members.invite``)."""
    from . import roles

    mine = OrganizationMember.objects.filter(user_id=getattr(viewer, "pk", None), status="active")
    return [
        m.organization_id
        for m in mine.select_related("organization__settings")
        if roles.org_role_allows(m.role, m.organization, "org.members.invite")
    ]


def visible_memberships(qs: QuerySet[OrganizationMember], *, viewer: Any) -> QuerySet[OrganizationMember]:
    """The one visibility rule of member rows, for the list and the detail alike.

    Active rows: in the organizations where the viewer is an active member.
    Pending invitations (with their email): only where the viewer's role may
    invite — a viewer neither lists nor reads one by id (404).
    """
    active = OrganizationMember.Status.ACTIVE
    invited = OrganizationMember.Status.INVITED
    return qs.filter(
        Q(status=active, organization_id__in=active_organization_ids(viewer))
        | Q(status=invited, organization_id__in=inviting_organization_ids(viewer))
    ).select_related("organization", "user")


def active_member_user_ids(organization: Organization) -> list[Any]:
    return list(
        OrganizationMember.objects.filter(organization=organization, status="active").values_list(
            "user_id", flat=True
        )
    )
