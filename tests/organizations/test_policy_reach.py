"""The organization's security policy reaches every row owned by or reached through it.

Issue 7 §1: the policy held on ``/organizations/…`` but not on the org's
projects, their infrastructure and brain rows. The check now lives in the
base permission chain (``apps.organizations.policy.OrganizationPolicy``) and
in the base queryset, driven by the ``organization_field`` rows declare.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import UserSession
from tests.apikeys.factories import bearer, issue_key
from tests.brain.factories import ProjectDecisionFactory
from tests.preferences.helpers import logged_in_client
from tests.projects.factories import DatabaseFactory, OrgProjectFactory, ProjectFactory, SandboxFactory

from .conftest import client_for
from .factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def _policy(org, **changes):
    type(org.security_policy).objects.filter(pk=org.security_policy.pk).update(**changes)


@pytest.fixture
def project(org):
    return OrgProjectFactory(owner_organization=org, network=org.network)


def test_ip_allowlist_refuses_the_orgs_projects_infra_and_brain(org, user, project):
    sandbox = SandboxFactory(project=project)
    database = DatabaseFactory(project=project, status="ready")
    decision = ProjectDecisionFactory(project=project)
    mine = ProjectFactory(owner_user=user)
    _policy(org, ip_allowlist=["10.0.0.0/8"])
    client = client_for(user)
    for url in (
        f"/api/v1/organizations/{org.pk}/",
        f"/api/v1/projects/{project.pk}/",
        f"/api/v1/projects/{project.pk}/sandboxes/",
        f"/api/v1/projects/{project.pk}/databases/",
        f"/api/v1/projects/{project.pk}/decisions/",
        f"/api/v1/sandboxes/{sandbox.pk}/",
        f"/api/v1/databases/{database.pk}/",
        f"/api/v1/project-decisions/{decision.pk}/",
    ):
        response = client.get(url)
        assert response.status_code == 403, (url, response.status_code)
        assert response.json()["code"] == "ip_not_allowed", url
    response = client.post(f"/api/v1/projects/{project.pk}/decisions/", {"title": "x"}, format="json")
    assert response.status_code == 403
    assert project.decisions.count() == 1
    # lists leave the org's rows out; the user's own project stays
    ids = [row["id"] for row in client.get("/api/v1/projects/").json()["results"]]
    assert ids == [str(mine.pk)]
    # from inside the allowlist everything answers
    assert client.get(f"/api/v1/projects/{project.pk}/", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get(f"/api/v1/sandboxes/{sandbox.pk}/", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_a_body_fk_into_a_refusing_org_is_refused(org, user):
    _policy(org, ip_allowlist=["10.0.0.0/8"])
    response = client_for(user).post(
        "/api/v1/projects/", {"name": "p", "owner_organization": str(org.pk)}, format="json"
    )
    assert response.status_code == 403 and response.json()["code"] == "ip_not_allowed"


def test_api_keys_off_refuses_keys_on_the_orgs_projects(org, user, project):
    _policy(org, api_keys_allowed=False)
    issued = issue_key(user)
    response = APIClient().get(f"/api/v1/projects/{project.pk}/sandboxes/", **bearer(issued.token))
    assert response.status_code == 403 and response.json()["code"] == "api_keys_disabled"
    response = APIClient().post(
        f"/api/v1/projects/{project.pk}/decisions/", {"title": "x"}, format="json", **bearer(issued.token)
    )
    assert response.status_code == 403 and response.json()["code"] == "api_keys_disabled"


def test_require_2fa_refuses_keys_of_members_without_2fa_on_the_orgs_projects(org, user, project):
    _policy(org, require_2fa=True)
    issued = issue_key(user)
    response = APIClient().get(f"/api/v1/projects/{project.pk}/", **bearer(issued.token))
    assert response.status_code == 403 and response.json()["code"] == "org_2fa_required"


def test_session_too_old_refuses_the_orgs_projects(org, user, project):
    _policy(org, session_max_age_hours=1)
    client, key = logged_in_client(user)
    assert client.get(f"/api/v1/projects/{project.pk}/").status_code == 200
    UserSession.objects.filter(session_key=key).update(created_at=timezone.now() - timedelta(hours=2))
    response = client.get(f"/api/v1/projects/{project.pk}/")
    assert response.status_code == 401 and response.json()["code"] == "reauthentication_required"


def test_a_key_limited_to_another_org_cannot_reach_this_orgs_projects(org, user, project, network):
    other = OrganizationFactory(network=network, owner=user)
    issued = issue_key(user, organization=other)
    response = APIClient().get(f"/api/v1/projects/{project.pk}/decisions/", **bearer(issued.token))
    assert response.status_code == 403 and response.json()["code"] == "api_key_wrong_organization"
    listed = APIClient().get("/api/v1/projects/", **bearer(issued.token)).json()["results"]
    assert str(project.pk) not in [row["id"] for row in listed]


def test_non_members_reading_a_network_project_are_not_held_to_the_member_policy(org, project, outsider):
    type(project).objects.filter(pk=project.pk).update(visibility="network")
    _policy(org, ip_allowlist=["10.0.0.0/8"])
    assert client_for(outsider).get(f"/api/v1/projects/{project.pk}/").status_code == 200


#: FKs to an organization (or an org-reached row) that are not ownership, with the reason
NOT_OWNED_BY_THE_ORGANIZATION = {
    "accounts.user": "agent_owner_organization: agents are users; the agents domain declares on its views",
    "accounts.usersession": "active_organization is the session's UI preference, not ownership",
    "apikeys.apikey": "organization limits the key (api_key_wrong_organization); the key is its user's",
    "social.follow": "followee_organization/community is what the follower follows; the row is the follower's",
}


def test_every_model_reaching_an_organization_declares_organization_field():
    from django.apps import apps as django_apps

    from apps.organizations.models import Organization
    from apps.organizations.policy import model_organization_field

    missing, broken = [], []
    for model in django_apps.get_models():
        if not model.__module__.startswith("apps."):
            continue
        label = model._meta.label_lower
        declared = model_organization_field(model)
        if declared:
            lookup = "pk__isnull" if declared == "pk" else f"{declared}__isnull"
            try:
                str(model._default_manager.filter(**{lookup: False}).query)
            except Exception as exc:  # noqa: BLE001 — any FieldError names the broken path
                broken.append(f"{label}.organization_field={declared!r}: {exc}")
            continue
        reaches = [
            f.name
            for f in model._meta.concrete_fields
            if f.is_relation
            and f.related_model is not None
            and (f.related_model is Organization or model_organization_field(f.related_model))
        ]
        exempt = label in NOT_OWNED_BY_THE_ORGANIZATION or bool(getattr(model, "organization_exempt", ""))
        if reaches and not exempt:
            missing.append(f"{label} (via {', '.join(reaches)})")
    assert not broken, broken
    assert not missing, (
        "models that reach an organization must declare organization_field (the lookup path to "
        "the owning Organization; see apps/organizations/policy.py) — or, when the organization only "
        'names a party and does not own the row, say why: organization_exempt = "<reason>": '
        f"{missing}"
    )
