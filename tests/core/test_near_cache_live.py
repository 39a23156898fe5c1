"""The near cache under a live uvicorn: warm calls are served from copies, and a change shows at once.

The server answers a warm ``/api/v1/me/`` from its process-local copies; a
suspension saved through the ORM, a revoked API key, and a change made by
another process entirely (its own Redis connection, a raw SQL ``UPDATE``)
are all refused on the very next request — no waiting, no polling — because
Redis pushes the invalidation to the server's tracking connection before
the writer has its reply.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from django.conf import settings
from django.db import connection

from apps.accounts import principals
from apps.core.nearcache import near
from tests.accounts.factories import UserFactory
from tests.live import signed_in_browser

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

ME = "/api/v1/me/"


def _warm(client: httpx.Client) -> None:
    for _ in range(3):
        assert client.get(ME).status_code == 200
    assert near.get(principals.user_key(client.get(ME).json()["id"])) is not None  # served from copies


def test_a_suspension_saved_through_the_orm_refuses_the_next_session_call(live_asgi, network):
    user = UserFactory(network=network)
    with signed_in_browser(live_asgi.url, user) as browser:
        _warm(browser)
        user.is_active = False
        user.save()
        assert browser.get(ME).status_code in (401, 403)


def test_a_revoked_api_key_is_refused_on_the_next_call(live_asgi, network):
    from apps.apikeys.services import create_api_key, revoke_api_key

    user = UserFactory(network=network)
    issued = create_api_key(actor=user, name="live", scopes=["profile:read"])
    with httpx.Client(base_url=live_asgi.url, headers={"Authorization": f"Bearer {issued.token}"}) as app:
        _warm(app)
        revoke_api_key(actor=user, api_key=issued.api_key)
        response = app.get(ME)
    assert response.status_code == 401 and response.json()["code"] == "api_key_revoked"


def test_a_change_made_by_another_process_shows_on_the_next_call(live_asgi, network):
    user = UserFactory(network=network)
    with signed_in_browser(live_asgi.url, user) as browser:
        _warm(browser)
        with connection.cursor() as cursor:  # behind the ORM's back: no signal, no invalidation of ours
            table = connection.ops.quote_name(type(user)._meta.db_table)
            cursor.execute(f"UPDATE {table} SET is_active = false WHERE id = %s", [user.pk])  # noqa: S608
        # a separate process, with its own Redis connection, drops the cached user
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import redis, sys; redis.Redis.from_url(sys.argv[1]).delete(sys.argv[2])",
                settings.REDIS_URL,
                principals.user_key(user.pk),
            ],
            check=True,
            timeout=30,
        )
        assert browser.get(ME).status_code in (401, 403)
