"""One Redis pool per process, seen from the Redis server (``CLIENT LIST``) under a live uvicorn.

Before issue 8 every request built a new client, pool and TCP connection
(with its ``HELLO``/``CLIENT SETINFO``/``SELECT`` handshake) and left it open
until garbage collection. Now N requests — session, API key, health — add no
more connections than the pool holds, and once warm no request opens one.
"""

from __future__ import annotations

import contextlib
import os

import httpx
import pytest

from apps.core.redis import CLIENT_NAME, get_redis, pool_size
from tests.accounts.factories import UserFactory
from tests.live import signed_in_browser

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _local_tcp_ports() -> set[int]:
    """The local ports of this process's TCP sockets (the live server runs in a thread of it):
    its socket inodes from ``/proc/self/fd``, their ports from ``/proc/net/tcp``."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _our_connection_ids() -> set[str]:
    """Connections this process's pools opened (named ``colony``, from one of our sockets), by
    server-side id — other processes on the same Redis (another test worker) are not counted."""
    ports = _local_tcp_ports()
    return {
        str(c["id"])
        for c in get_redis().client_list()
        if c.get("name") == CLIENT_NAME and int(str(c.get("addr", ":0")).rsplit(":", 1)[1]) in ports
    }


def test_requests_to_a_live_server_reuse_the_process_pool(live_asgi, network):
    from apps.apikeys.services import create_api_key

    user = UserFactory(network=network)
    token = create_api_key(actor=user, name="pool", scopes=["profile:read"]).token
    with signed_in_browser(live_asgi.url, user) as browser:
        with httpx.Client(base_url=live_asgi.url, headers={"Authorization": f"Bearer {token}"}) as app:

            def burst(n: int) -> None:
                for _ in range(n):
                    assert browser.get("/api/v1/me/").status_code == 200
                    assert app.get("/api/v1/me/").status_code == 200
                    assert app.get("/healthz").status_code == 200

            before = _our_connection_ids()
            burst(5)  # warm: the pool opens what it needs
            warm = _our_connection_ids()
            burst(40)
            after = _our_connection_ids()

    assert len(after - before) <= pool_size()
    assert after - warm == set(), "a warm request opened a new Redis connection"
    assert len(after) <= len(warm)  # nothing left lingering either
