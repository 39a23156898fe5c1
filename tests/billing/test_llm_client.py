"""The SDK client against the local OpenAI-compatible server, and base-URL safety."""

from __future__ import annotations

import pytest

from apps.billing.ai.client import chat
from apps.billing.ai.endpoint import Endpoint, check_base_url, parse_extra_headers
from apps.billing.ai.errors import ProviderError, ProviderTimeout
from apps.core.exceptions import ValidationFailed
from tests.llm_server import Reply

USER = [{"role": "user", "content": "hello there"}]


def _endpoint(server, **kwargs) -> Endpoint:
    return Endpoint(base_url=server.url, api_key="sk-test-key-123456", provider="openai", **kwargs)


def test_chat_returns_content_and_usage(llm_server):
    llm_server.enqueue(Reply(content="Hi!", usage=(12, 3, 4)))
    result = chat(_endpoint(llm_server), model="gpt-test", messages=USER, max_tokens=20, temperature=0.2)
    assert (result.content, result.input_tokens, result.output_tokens, result.cached_input_tokens) == (
        "Hi!",
        12,
        3,
        4,
    )
    sent = llm_server.requests[0]
    assert sent.json["model"] == "gpt-test" and sent.json["max_tokens"] == 20
    assert sent.headers["authorization"] == "Bearer sk-test-key-123456"


def test_streaming_collects_text_tool_calls_and_usage(llm_server):
    llm_server.enqueue(
        Reply(
            content="a longer streamed answer",
            tool_calls=[{"name": "search", "arguments": {"q": "x"}}],
            usage=(9, 7, 0),
        )
    )
    result = chat(_endpoint(llm_server), model="gpt-test", messages=USER, stream=True)
    assert result.content == "a longer streamed answer"
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("search", {"q": "x"})]
    assert (result.input_tokens, result.output_tokens, result.finish_reason) == (9, 7, "tool_calls")
    assert llm_server.requests[0].json["stream_options"] == {"include_usage": True}


def test_tool_call_arguments_that_are_not_json_stay_raw(llm_server):
    llm_server.enqueue(Reply(content="", tool_calls=[{"name": "t", "arguments": {}}]))
    result = chat(_endpoint(llm_server), model="tools-lookup", messages=USER)
    assert result.tool_calls[0].arguments == {}


def test_extra_headers_are_sent(llm_server):
    chat(_endpoint(llm_server, headers={"X-Org": "acme"}), model="m", messages=USER)
    assert llm_server.requests[0].headers["x-org"] == "acme"


@pytest.mark.parametrize(
    ("model", "reason"),
    [("error-500", "http_500"), ("error-429", "http_429"), ("malformed", "malformed_response")],
)
def test_provider_failures_are_provider_errors(llm_server, model, reason):
    with pytest.raises(ProviderError) as caught:
        chat(_endpoint(llm_server), model=model, messages=USER)
    assert caught.value.reason == reason and caught.value.status_code == 502


def test_non_json_stream_is_malformed(llm_server):
    llm_server.enqueue(Reply(body=b"<html>gateway</html>"))
    with pytest.raises(ProviderError) as caught:
        chat(_endpoint(llm_server), model="m", messages=USER, stream=True)
    assert caught.value.reason == "malformed_response"


def test_slow_answer_times_out(llm_server, settings):
    settings.AI_PROVIDER_TIMEOUT_SECONDS = 0.3
    with pytest.raises(ProviderTimeout) as caught:
        chat(_endpoint(llm_server), model="slow-3", messages=USER)
    assert caught.value.status_code == 504 and caught.value.reason == "timeout"


def test_endpoint_repr_hides_the_key():
    assert "sk-" not in repr(Endpoint(base_url="https://x/v1", api_key="sk-secret-value", provider="openai"))


# --- base URLs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://8.8.8.8/v1", "base_url_not_https"),
        ("https://127.0.0.1/v1", "base_url_private"),
        ("https://10.1.2.3/v1", "base_url_private"),
        ("https://192.168.0.10/v1", "base_url_private"),
        ("https://169.254.169.254/latest", "base_url_private"),
        ("https://100.64.0.1/v1", "base_url_private"),
        ("https://[::1]/v1", "base_url_private"),
        ("https://[::ffff:127.0.0.1]/v1", "base_url_private"),
        ("https://localhost/v1", "base_url_private"),
        ("https://user:pw@8.8.8.8/v1", "base_url_credentials"),
        ("ftp://8.8.8.8/", "invalid"),
    ],
)
def test_unsafe_base_urls_are_refused(url, code, settings):
    settings.AI_PROVIDER_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ValidationFailed) as caught:
        check_base_url(url)
    assert caught.value.code == code and caught.value.field == "base_url"


def test_public_https_base_url_is_accepted(settings):
    settings.AI_PROVIDER_ALLOW_PRIVATE_URLS = False
    assert check_base_url("https://8.8.8.8/v1/") == "https://8.8.8.8/v1"


def test_setting_allows_local_models(settings):
    settings.AI_PROVIDER_ALLOW_PRIVATE_URLS = True
    assert check_base_url("http://127.0.0.1:11434/v1") == "http://127.0.0.1:11434/v1"


def test_private_url_is_checked_again_at_call_time(settings):
    settings.AI_PROVIDER_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ValidationFailed):
        chat(
            Endpoint(base_url="https://127.0.0.1/v1", api_key="k", provider="openai"),
            model="m",
            messages=USER,
        )


@pytest.mark.parametrize("value", [["a"], {"Host": "x"}, {"X-A": "b\r\nc"}, {"X A": "b"}, {"X-A": 1}])
def test_bad_extra_headers_are_refused(value):
    with pytest.raises(ValidationFailed):
        parse_extra_headers(value)
