"""The shared SSRF rule (``apps.core.ssrf``): save-time URL checks and a client that re-checks every connect."""

from __future__ import annotations

import pytest

from apps.core.exceptions import ValidationFailed
from apps.core.ssrf import UnsafeAddress, check_public_url, public_client


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://8.8.8.8/api", "url_not_https"),
        ("https://127.0.0.1/api", "url_private"),
        ("https://10.0.0.1/api", "url_private"),
        ("https://169.254.169.254/latest/meta-data", "url_private"),
        ("https://[fe80::1]/api", "url_private"),
        ("https://[::ffff:192.168.1.1]/api", "url_private"),
        ("https://localhost/api", "url_private"),
        ("https://user:pw@8.8.8.8/api", "url_credentials"),
        ("https://no-such-host.invalid/api", "url_unresolvable"),
    ],
)
def test_unsafe_urls_are_refused(url, code):
    with pytest.raises(ValidationFailed) as exc:
        check_public_url(url)
    assert exc.value.code == code and exc.value.field == "url"


def test_public_https_url_passes_and_the_flag_allows_local():
    assert check_public_url("https://8.8.8.8/api/") == "https://8.8.8.8/api"
    assert check_public_url("http://127.0.0.1:8080/x", allow_private=True) == "http://127.0.0.1:8080/x"


def test_the_client_refuses_to_connect_to_loopback_after_resolving(saas):
    url = saas.url.replace("127.0.0.1", "localhost") + "/saas/ping"
    with public_client() as client, pytest.raises(UnsafeAddress):
        client.get(url)
    assert saas.calls["saas GET"] == 0
    with public_client(allow_private=True) as client:
        assert client.get(url).json()["path"] == "/saas/ping"
    assert saas.calls["saas GET"] == 1


def test_billing_base_urls_follow_the_same_rule():
    from apps.billing.ai.endpoint import check_base_url

    with pytest.raises(ValidationFailed) as exc:
        check_base_url("https://169.254.169.254/v1")
    assert (exc.value.field, exc.value.code) == ("base_url", "base_url_private")


def test_llm_calls_connect_only_to_public_addresses_even_if_the_check_is_passed(llm_server, settings):
    """The openai SDK client is built on the same backend: a host that resolves to loopback at connect
    time (DNS rebinding after the save-time check) is refused before any byte is sent."""
    import openai

    from apps.billing.ai.client import _client
    from apps.billing.ai.endpoint import Endpoint

    settings.AI_PROVIDER_ALLOW_PRIVATE_URLS = False
    endpoint = Endpoint(
        base_url=llm_server.url.replace("127.0.0.1", "localhost"), api_key="k", provider="openai"
    )
    with pytest.raises(openai.APIConnectionError):
        _client(endpoint).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert not llm_server.requests
