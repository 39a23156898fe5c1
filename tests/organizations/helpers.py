"""URLs and small helpers for the organizations tests."""

from __future__ import annotations

import re

from django.core import mail
from django.urls import reverse

from apps.core.models import AuditEvent


def org_url(org) -> str:
    return reverse("organization-detail", kwargs={"pk": org.pk})


def members_url(org) -> str:
    return reverse("organization-members", kwargs={"organization_pk": org.pk})


def member_url(member) -> str:
    return reverse("organization-member-detail", kwargs={"pk": member.pk})


def settings_url(org) -> str:
    return reverse("organization-settings", kwargs={"organization_pk": org.pk})


def policy_url(org) -> str:
    return reverse("organization-security-policy", kwargs={"organization_pk": org.pk})


def audit_url(org) -> str:
    return reverse("organization-audit-events", kwargs={"organization_pk": org.pk})


def transfer_url(org) -> str:
    return reverse("organization-transfer-ownership", kwargs={"pk": org.pk})


ACCEPT_URL = "/api/v1/organization-invitations/accept/"
LIST_URL = "/api/v1/organizations/"


def invitation_token(message=None) -> str:
    body = (message or mail.outbox[-1]).body
    match = re.search(r"/organizations/invitations/([A-Za-z0-9_-]{40,})/", body)
    assert match, body
    return match.group(1)


def actions(org) -> list[str]:
    return list(AuditEvent.objects.filter(organization=org).order_by("id").values_list("action", flat=True))
