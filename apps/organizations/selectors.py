"""Reads of the organizations domain (shared by the API, admin, other apps)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from apps.core.models import AuditEvent

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
    member_of = OrganizationMember.objects.filter(user_id=viewer.pk, status="active").values(
        "organization_id"
    )
    return qs.filter(Q(archived_at__isnull=True) | Q(pk__in=member_of))


def user_organizations(
    qs: QuerySet[Organization], *, user: Any, archived: bool = False
) -> QuerySet[Organization]:
    """The orgs the user is an active member of (live ones, or archived ones)."""
    member_of = OrganizationMember.objects.filter(user_id=user.pk, status="active").values("organization_id")
    return qs.filter(pk__in=member_of, archived_at__isnull=not archived)


def organization_members(
    organization: Organization, *, include_invited: bool = False, status: str | None = None
) -> QuerySet[OrganizationMember]:
    qs = OrganizationMember.objects.filter(
        network_id=organization.network_id, organization=organization
    ).select_related("user", "invited_by")
    if status:
        qs = qs.filter(status=status)
    if not include_invited:
        qs = qs.filter(status=OrganizationMember.Status.ACTIVE)
    return qs


def visible_memberships(qs: QuerySet[OrganizationMember], *, viewer: Any) -> QuerySet[OrganizationMember]:
    """Member rows (of a network-filtered queryset) in orgs where the viewer is an active member."""
    member_of = OrganizationMember.objects.filter(user_id=viewer.pk, status="active").values(
        "organization_id"
    )
    return qs.filter(organization_id__in=member_of).select_related("organization", "user")


def organization_audit_events(organization: Organization) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        network_id=organization.network_id, organization=organization
    ).select_related("actor")


def owner_count(organization: Organization) -> int:
    return OrganizationMember.objects.filter(
        organization=organization, status="active", role=OrganizationMember.Role.OWNER
    ).count()


def active_member_user_ids(organization: Organization) -> list[Any]:
    return list(
        OrganizationMember.objects.filter(organization=organization, status="active").values_list(
            "user_id", flat=True
        )
    )
