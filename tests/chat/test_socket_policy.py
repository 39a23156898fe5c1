"""The organization security policy on the socket, below the live server (tests/chat/test_socket_policy_live.py).

A socket's scope answers the policy's questions as a request would (user, client
address, API key, session); an org channel's groups and events carry its
organization; the chat actions refuse with the API's codes.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings

from apps.chat import services, socket
from apps.chat.models import Conversation
from apps.core.exceptions import DomainError
from apps.organizations.models import OrganizationSecurityPolicy
from apps.realtime import policy
from apps.realtime.services import _event
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory
from tests.projects.factories import OrgProjectFactory

from .factories import group, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(network, user):
    return OrganizationFactory(network=network, owner=user)


@pytest.fixture
def channel(org, user):
    return services.create_channel(
        actor=user, project=OrgProjectFactory(owner_organization=org, network=org.network), title="p"
    )


def _policy(org, user, **changes):
    from apps.accounts.selectors import forget_security_state

    OrganizationSecurityPolicy.objects.filter(organization=org).update(**changes)
    forget_security_state(user.pk)


def _scope(user, address="127.0.0.1", **extra):
    return {"type": "websocket", "user": user, "client": (address, 50000), "headers": [], **extra}


def _refusal_code(scope, conversation) -> str | None:
    try:
        socket._conversation_id(scope, {"conversation_id": str(conversation.pk)})
    except DomainError as exc:
        return exc.code
    return None


def test_the_socket_address_meets_the_ip_allowlist_like_a_request(org, user, channel):
    _policy(org, user, ip_allowlist=["10.0.0.0/8"])
    assert _refusal_code(_scope(user), channel) == "ip_not_allowed"
    assert _refusal_code(_scope(user, "10.1.2.3"), channel) is None
    # a forwarded address counts only from a trusted proxy (apps.core.clientip), as for HTTP
    forwarded = [(b"x-forwarded-for", b"10.1.2.3")]
    assert _refusal_code(_scope(user, headers=forwarded), channel) == "ip_not_allowed"
    with override_settings(FORWARDED_ALLOW_IPS=["127.0.0.1"]):
        assert _refusal_code(_scope(user, headers=forwarded), channel) is None


def test_require_2fa_refuses_a_member_without_a_device(org, user, channel):
    scope = _scope(user)
    assert _refusal_code(scope, channel) is None
    _policy(org, user, require_2fa=True)
    assert _refusal_code(scope, channel) == "org_2fa_required"
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    _policy(org, user)  # drops the cached security state
    assert _refusal_code(scope, channel) is None


def test_an_api_key_ticket_is_held_to_api_keys_allowed(org, user, channel):
    from tests.apikeys.factories import issue_key

    scope = _scope(user, api_key=issue_key(user, scopes=["realtime:connect"]).api_key)
    assert _refusal_code(scope, channel) is None
    _policy(org, user, api_keys_allowed=False)
    assert _refusal_code(scope, channel) == "api_keys_disabled"
    assert _refusal_code(_scope(user), channel) is None  # the same person on a session


def test_only_org_channels_are_refused_and_only_for_the_orgs_members(org, user, channel):
    own = group(user, UserFactory(network=user.network))
    _policy(org, user, ip_allowlist=["10.0.0.0/8"])
    assert _refusal_code(_scope(user), own) is None
    outsider = UserFactory(network=user.network)  # not held to a policy of an org they are not in
    assert _refusal_code(_scope(outsider), channel) is None
    # an unknown conversation has no organization: the service answers it (404), not the policy
    unknown = uuid.uuid4()
    assert socket._conversation_id(_scope(user), {"conversation_id": str(unknown)}) == unknown


def test_an_org_channel_is_named_with_its_organization_for_the_socket(org, user, channel):
    own = group(user, UserFactory(network=user.network))
    groups = dict(socket._groups.func(user))
    assert groups[f"conv.{channel.pk}"] == str(org.pk)
    assert groups[f"conv.{own.pk}"] is None
    # and its events carry it (the consumer drops them for a socket the policy refuses)
    assert _event({"type": "typing"}, org.pk, "conv.x") == {
        "type": "realtime.event",
        "text": '{"type": "typing"}',
        "group": "conv.x",
        "organization_id": str(org.pk),
    }
    assert "organization_id" not in _event({"type": "typing"}, None, "conv.x")


def test_the_consumers_verdict_refuses_the_org_by_its_text_id(org, user, channel):
    _policy(org, user, ip_allowlist=["10.0.0.0/8"])
    verdict = policy.socket_verdict(_scope(user))
    assert policy.refusal(verdict, str(org.pk)).default_code == "ip_not_allowed"
    assert policy.refusal(verdict, str(uuid.uuid4())) is None


def test_a_refused_send_stores_nothing(org, user, channel):
    send(user, channel, "before")
    _policy(org, user, ip_allowlist=["10.0.0.0/8"])
    frame = {"type": "message.send", "conversation_id": str(channel.pk), "body": "x"}
    with pytest.raises(DomainError) as caught:
        socket._send.func(_scope(user), frame)
    assert caught.value.code == "ip_not_allowed"
    assert Conversation.objects.get(pk=channel.pk).last_message_seq == 1
