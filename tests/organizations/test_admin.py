"""The organizations admin: changes go through the services (audited, invariants kept)."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from apps.core.models import AuditEvent
from apps.organizations.models import OrganizationMember
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import make_agent

from .factories import OrganizationFactory, OrganizationMemberFactory
from .helpers import actions

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/organizations/organization/"


@pytest.fixture
def staff(network):
    return UserFactory(network=network, is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def _change_url(org) -> str:
    return f"{CHANGELIST}{org.pk}/change/"


def _form_data(response) -> dict:
    """The change form's current values, as the browser would post them back."""
    data: dict = {}

    def add(form, prefix=""):
        for name, field in form.fields.items():
            key = f"{prefix}{name}"
            value = field.prepare_value(form[name].value())
            if field.widget.input_type == "checkbox" if hasattr(field.widget, "input_type") else False:
                if value:
                    data[key] = "on"
                continue
            data[key] = "" if value is None else value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form, f"{formset.prefix}-")
        for index, form in enumerate(formset.forms):
            add(form, f"{formset.prefix}-{index}-")
    return data


def _post_change(admin_client, org, **overrides):
    response = admin_client.get(_change_url(org))
    assert response.status_code == 200
    data = _form_data(response)
    data.update(overrides)
    return admin_client.post(_change_url(org), data, follow=True)


def _member_index(response, member) -> int:
    for inline in response.context["inline_admin_formsets"]:
        for index, form in enumerate(inline.formset.forms):
            if form.instance.pk == member.pk:
                return index
    raise AssertionError("member not in the inline")


def _members_prefix(response) -> str:
    for inline in response.context["inline_admin_formsets"]:
        if inline.formset.model is OrganizationMember:
            return inline.formset.prefix
    raise AssertionError("no member inline")


def test_changelist_is_constant_queries_searchable_and_filterable(
    admin_client, network, user, django_assert_max_num_queries
):
    for n in range(5):
        org = OrganizationFactory(network=network, name=f"Team {n}", owner=user)
        OrganizationMemberFactory(organization=org)
    archived = OrganizationFactory(network=network, name="Old team", archived_at="2026-01-01T00:00:00Z")
    with django_assert_max_num_queries(12):
        assert admin_client.get(CHANGELIST).status_code == 200
    response = admin_client.get(CHANGELIST, {"q": "old team"})
    assert list(response.context["cl"].queryset) == [archived]
    response = admin_client.get(CHANGELIST, {"archived": "yes"})
    assert list(response.context["cl"].queryset) == [archived]
    assert admin_client.get("/admin/organizations/organizationmember/").status_code == 200


def test_change_page_links_to_the_orgs_audit_events(admin_client, org):
    response = admin_client.get(_change_url(org))
    assert response.status_code == 200
    link = f"/admin/core/auditevent/?organization__id__exact={org.pk}"
    assert link in response.content.decode()
    assert admin_client.get(link).status_code == 200


def test_inline_role_change_goes_through_the_service_and_is_audited(admin_client, org, staff, member_of):
    target = member_of("member")
    row = OrganizationMember.objects.get(organization=org, user=target)
    page = admin_client.get(_change_url(org))
    prefix = _members_prefix(page)
    response = _post_change(admin_client, org, **{f"{prefix}-{_member_index(page, row)}-role": "admin"})
    assert response.status_code == 200
    row.refresh_from_db()
    assert row.role == "admin"
    event = AuditEvent.objects.filter(organization=org).latest("id")
    assert (event.action, event.actor_id) == ("org.member.role_changed", staff.pk)


def test_inline_cannot_demote_the_last_owner_or_give_agents_admin(admin_client, org, user):
    owner_row = OrganizationMember.objects.get(organization=org, user=user)
    agent = make_agent(organization=org)
    agent_row = OrganizationMemberFactory(organization=org, user=agent, role="member")
    page = admin_client.get(_change_url(org))
    prefix = _members_prefix(page)
    response = _post_change(
        admin_client,
        org,
        **{
            f"{prefix}-{_member_index(page, owner_row)}-role": "member",
            f"{prefix}-{_member_index(page, agent_row)}-role": "admin",
        },
    )
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("last_owner" in t for t in texts), texts
    assert any("agent_role_not_allowed" in t for t in texts), texts
    owner_row.refresh_from_db()
    agent_row.refresh_from_db()
    assert owner_row.role == "owner" and agent_row.role == "member"


def test_staff_change_the_security_policy_through_the_service(admin_client, org, staff):
    response = _post_change(admin_client, org, **{"security_policy-0-ip_allowlist": "10.0.0.1/8"})
    assert response.status_code == 200
    org.security_policy.refresh_from_db()
    assert org.security_policy.ip_allowlist == ["10.0.0.0/8"]
    assert org.security_policy.updated_by_id == staff.pk
    assert actions(org)[-1] == "org.security_policy.updated"


def test_archive_and_restore_actions(admin_client, org, staff):
    agent = make_agent(organization=org)
    response = admin_client.post(
        CHANGELIST, {"action": "archive", "_selected_action": [str(org.pk)]}, follow=True
    )
    assert response.status_code == 200
    org.refresh_from_db()
    agent.refresh_from_db()
    assert org.archived_at is not None and agent.agent_status == "paused"
    admin_client.post(CHANGELIST, {"action": "restore", "_selected_action": [str(org.pk)]}, follow=True)
    org.refresh_from_db()
    assert org.archived_at is None
    assert actions(org)[-2:] == ["org.archived", "org.restored"]
    assert set(AuditEvent.objects.filter(organization=org).values_list("actor_id", flat=True)) == {staff.pk}


def test_transfer_action_asks_for_the_new_owner_then_transfers(admin_client, org, user, member_of):
    target = member_of("admin")
    target_row = OrganizationMember.objects.get(organization=org, user=target)
    response = admin_client.post(
        CHANGELIST, {"action": "transfer_ownership", "_selected_action": [str(org.pk)]}
    )
    assert response.status_code == 200 and b"New owner" in response.content
    response = admin_client.post(
        CHANGELIST,
        {
            "action": "transfer_ownership",
            "_selected_action": [str(org.pk)],
            "apply": "1",
            "new_owner": str(target_row.pk),
        },
        follow=True,
    )
    assert response.status_code == 200
    target_row.refresh_from_db()
    assert target_row.role == "owner"
    assert OrganizationMember.objects.get(organization=org, user=user).role == "owner"  # staff keep owners
    assert actions(org)[-1] == "org.ownership_transferred"


def test_organizations_cannot_be_added_or_deleted_in_the_admin(admin_client, org):
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.get(f"{CHANGELIST}{org.pk}/delete/").status_code == 403
