"""The integrations back office: bounded changelists, no credentials on any page, staff expire / cancel
pending calls through the service, the log read-only."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.inbox.models import InboxItem
from apps.integrations.models import PendingToolExecution, ToolExecutionLog
from apps.integrations.services import request_tool_call
from tests.accounts.factories import UserFactory

from .factories import HttpIntegrationFactory, github_grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(other_network):
    client = Client()
    client.force_login(UserFactory(network=other_network, is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    "path", ["userintegration", "agentintegration", "pendingtoolexecution", "toolexecutionlog"]
)
def test_changelists_are_query_bounded(staff_client, user, saas, path, django_assert_max_num_queries):
    for n in range(5):
        grant = github_grant(user, approval_policy="always")
        request_tool_call(agent=grant.agent, tool="GITHUB_LIST_ISSUES", arguments={}, idempotency_key=str(n))
        ToolExecutionLog.objects.create(network=user.network, agent=grant.agent, tool="x", status="denied")
    staff_client.get(f"/admin/integrations/{path}/")
    with django_assert_max_num_queries(14):
        assert staff_client.get(f"/admin/integrations/{path}/").status_code == 200


def test_connection_pages_show_the_hint_never_the_token(staff_client, user):
    integration = HttpIntegrationFactory(
        user=user, config={"base_url": "https://8.8.8.8/"}, credentials="tok-secret-98765"
    )
    for url in (
        "/admin/integrations/userintegration/",
        f"/admin/integrations/userintegration/{integration.pk}/change/",
    ):
        page = staff_client.get(url).content.decode()
        assert "tok-secret-98765" not in page and integration.credentials_hint in page


def test_staff_expire_a_pending_call_and_the_inbox_item_closes(
    staff_client, user, saas, django_capture_on_commit_callbacks
):
    grant = github_grant(user, approval_policy="always")
    with django_capture_on_commit_callbacks(execute=True):
        execution = request_tool_call(agent=grant.agent, tool="GITHUB_LIST_ISSUES", arguments={}).execution
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            "/admin/integrations/pendingtoolexecution/",
            {"action": "expire", "_selected_action": [str(execution.pk)]},
        )
    assert PendingToolExecution.objects.get(pk=execution.pk).status == "expired"
    assert InboxItem.objects.get(kind="tool_approval").action_state == "dismissed"
    assert saas.executions() == 0


def test_the_log_cannot_be_changed_in_the_admin(staff_client, user, saas):
    log = ToolExecutionLog.objects.create(network=user.network, tool="x", status="denied")
    url = f"/admin/integrations/toolexecutionlog/{log.pk}/"
    assert staff_client.post(url + "delete/", {"post": "yes"}).status_code == 403
    assert ToolExecutionLog.objects.filter(pk=log.pk).exists()
