"""One resolver of the client address; forwarded headers only from trusted proxies (issue 7 §12)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest
from django.test import RequestFactory

from apps.core.clientip import client_ip
from tests.live import ROOT, free_port, wait_for, worker_env

pytestmark = pytest.mark.django_db


def _request(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_forwarded_for_from_an_untrusted_peer_is_ignored(settings):
    settings.FORWARDED_ALLOW_IPS = []
    assert client_ip(_request("127.0.0.1", "10.1.2.3")) == "127.0.0.1"
    assert client_ip(_request("192.0.2.7", "10.1.2.3")) == "192.0.2.7"


def test_a_trusted_proxy_names_the_right_most_untrusted_hop(settings):
    settings.FORWARDED_ALLOW_IPS = ["127.0.0.1", "10.0.0.0/8"]
    assert client_ip(_request("127.0.0.1", "198.51.100.9")) == "198.51.100.9"
    # the client prepends a spoofed hop; proxies append: the right-most untrusted one wins
    assert client_ip(_request("127.0.0.1", "10.9.9.9, 198.51.100.9, 10.0.0.2")) == "198.51.100.9"
    assert client_ip(_request("127.0.0.1", "not-an-ip")) is None
    assert client_ip(_request("192.0.2.7", "198.51.100.9")) == "192.0.2.7"


def test_ip_rules_use_the_resolver(settings, user, network):
    from rest_framework.test import APIClient

    from tests.organizations.factories import OrganizationFactory

    org = OrganizationFactory(network=network, owner=user)
    type(org.security_policy).objects.filter(pk=org.security_policy.pk).update(ip_allowlist=["10.0.0.0/8"])
    client = APIClient()
    client.force_login(user)
    url = f"/api/v1/organizations/{org.pk}/"
    settings.FORWARDED_ALLOW_IPS = []
    assert client.get(url, HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403
    settings.FORWARDED_ALLOW_IPS = ["127.0.0.1"]
    assert client.get(url, HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 200


def _procfile_web() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no web process in the Procfile")


def _serve(env_extra: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**worker_env(), "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "1"}
    env.pop("FORWARDED_ALLOW_IPS", None)  # unset = the deployment default
    env.update(env_extra)
    env["PATH"] = f"{Path(os.sys.executable).parent}:{env.get('PATH', '')}"
    process = subprocess.Popen(
        ["/bin/sh", "-c", f"exec {_procfile_web()}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError("the Procfile's web process exited")
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=30, message="the Procfile web process")
    return process, base


@pytest.mark.live
def test_procfile_uvicorn_does_not_let_a_local_client_spoof_its_ip(transactional_db):
    from tests.accounts.factories import UserFactory
    from tests.apikeys.factories import bearer, issue_key
    from tests.networks.factories import NetworkFactory
    from tests.organizations.factories import OrganizationFactory

    network = NetworkFactory(slug="alpha", is_default=True)
    owner = UserFactory(network=network)
    org = OrganizationFactory(network=network, owner=owner)
    type(org.security_policy).objects.filter(pk=org.security_policy.pk).update(ip_allowlist=["10.0.0.0/8"])
    headers = {**{k.replace("HTTP_", "").title(): v for k, v in bearer(issue_key(owner).token).items()}}
    headers["X-Forwarded-For"] = "10.1.2.3"
    url = f"/api/v1/organizations/{org.pk}/"
    # unset (the default): uvicorn's own default would trust loopback; the Procfile pins "none"
    for env_extra, expected in (({}, 403), ({"FORWARDED_ALLOW_IPS": "127.0.0.1"}, 200)):
        process, base = _serve(env_extra)
        try:
            response = httpx.get(base + url, headers=headers, timeout=10)
            assert response.status_code == expected, (env_extra, response.text)
            if expected == 403:
                assert response.json()["code"] == "ip_not_allowed"
        finally:
            process.terminate()
            process.wait(10)
