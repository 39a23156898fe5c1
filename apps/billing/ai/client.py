"""Chat completions through the ``openai`` SDK, pointed at a resolved endpoint.

One SDK client per (endpoint, key, headers) and process, so connections are
reused; timeouts and retries come from settings (``AI_PROVIDER_*``). Every
failure becomes a ``ProviderError`` with a short ``reason``; the caller
(``apps.billing.services.ai.complete``) records usage either way.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
from django.conf import settings

from apps.core.ssrf import public_transport_httpx2

from .endpoint import Endpoint, check_base_url
from .errors import ProviderError, ProviderTimeout

_CLIENTS: OrderedDict[tuple, openai.OpenAI] = OrderedDict()
_CLIENTS_LOCK = threading.Lock()
_MAX_CLIENTS = 64


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: Any  # the decoded JSON object, or the raw string when it is not JSON

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass
class ChatResult:
    content: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    finish_reason: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    request_id: str | None = None
    latency_ms: int = 0


def _client(endpoint: Endpoint) -> openai.OpenAI:
    timeout = httpx2.Timeout(
        settings.AI_PROVIDER_TIMEOUT_SECONDS, connect=settings.AI_PROVIDER_CONNECT_TIMEOUT_SECONDS
    )
    cache_key = (
        endpoint.base_url,
        endpoint.api_key,
        tuple(sorted(endpoint.headers.items())),
        settings.AI_PROVIDER_TIMEOUT_SECONDS,
        settings.AI_PROVIDER_CONNECT_TIMEOUT_SECONDS,
        settings.AI_PROVIDER_MAX_RETRIES,
        endpoint.allow_private or settings.AI_PROVIDER_ALLOW_PRIVATE_URLS,
    )
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(cache_key)
        if client is not None:
            _CLIENTS.move_to_end(cache_key)
            return client
        allow_private = endpoint.allow_private or settings.AI_PROVIDER_ALLOW_PRIVATE_URLS
        client = openai.OpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key or "none",
            default_headers=endpoint.headers or None,
            timeout=timeout,
            max_retries=settings.AI_PROVIDER_MAX_RETRIES,
            # every connect re-resolves and refuses private addresses (no DNS-rebinding window)
            http_client=openai.DefaultHttpxClient(
                transport=public_transport_httpx2(allow_private=allow_private), timeout=timeout
            ),
        )
        _CLIENTS[cache_key] = client
        while len(_CLIENTS) > _MAX_CLIENTS:
            _CLIENTS.popitem(last=False)
        return client


def _arguments(raw: str | None) -> Any:
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _usage(result: ChatResult, usage: Any) -> None:
    if usage is None:
        return
    result.input_tokens = max(0, int(getattr(usage, "prompt_tokens", 0) or 0))
    result.output_tokens = max(0, int(getattr(usage, "completion_tokens", 0) or 0))
    details = getattr(usage, "prompt_tokens_details", None)
    result.cached_input_tokens = max(0, int(getattr(details, "cached_tokens", 0) or 0)) if details else 0


def _from_response(response: Any, model: str) -> ChatResult:
    choices = getattr(response, "choices", None)
    if not choices:
        raise ProviderError("The AI provider's answer has no choices.", reason="malformed_response")
    message = choices[0].message
    result = ChatResult(
        content=message.content or "",
        model=getattr(response, "model", None) or model,
        finish_reason=choices[0].finish_reason or "",
        request_id=getattr(response, "id", None),
        tool_calls=[
            ToolCall(id=tc.id or "", name=tc.function.name or "", arguments=_arguments(tc.function.arguments))
            for tc in (message.tool_calls or [])
            if getattr(tc, "function", None) is not None
        ],
    )
    _usage(result, getattr(response, "usage", None))
    return result


def _from_stream(stream: Any, model: str) -> ChatResult:
    result = ChatResult(content="", model=model)
    parts: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    chunks = 0
    for chunk in stream:
        chunks += 1
        result.request_id = result.request_id or getattr(chunk, "id", None)
        if getattr(chunk, "model", None):
            result.model = chunk.model
        _usage(result, getattr(chunk, "usage", None))
        for choice in chunk.choices or []:
            delta = choice.delta
            if delta is not None and delta.content:
                parts.append(delta.content)
            for tc in (delta.tool_calls if delta is not None else None) or []:
                slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] = tc.id or slot["id"]
                if tc.function is not None:
                    slot["name"] += tc.function.name or ""
                    slot["arguments"] += tc.function.arguments or ""
            if choice.finish_reason:
                result.finish_reason = choice.finish_reason
    if not chunks:
        raise ProviderError("The AI provider's stream had no events.", reason="malformed_response")
    result.content = "".join(parts)
    result.tool_calls = [
        ToolCall(id=c["id"], name=c["name"], arguments=_arguments(c["arguments"]))
        for _, c in sorted(calls.items())
    ]
    return result


def chat(
    endpoint: Endpoint,
    *,
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    stream: bool = False,
) -> ChatResult:
    """One chat completion; raises ``ProviderError`` / ``ProviderTimeout`` on failure."""
    check_base_url(endpoint.base_url, allow_private=endpoint.allow_private)  # DNS may have changed
    kwargs: dict[str, Any] = {"model": model, "messages": messages}
    if tools:
        kwargs["tools"] = tools
    if max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
    if temperature is not None:
        kwargs["temperature"] = temperature
    if stream:
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
    started = time.monotonic()
    try:
        response = _client(endpoint).chat.completions.create(**kwargs)
        result = _from_stream(response, model) if stream else _from_response(response, model)
    except openai.APITimeoutError as exc:
        raise ProviderTimeout(reason="timeout") from exc
    except openai.APIStatusError as exc:
        raise ProviderError(
            f"The AI provider answered HTTP {exc.status_code}.", reason=f"http_{exc.status_code}"
        ) from exc
    except openai.APIConnectionError as exc:
        raise ProviderError("The AI provider could not be reached.", reason="connection") from exc
    except (openai.APIResponseValidationError, ValueError, AttributeError, TypeError, KeyError) as exc:
        # an answer that is not the chat-completions JSON (or not JSON at all)
        raise ProviderError(
            "The AI provider's answer could not be read.", reason="malformed_response"
        ) from exc
    except httpx2.HTTPError as exc:  # a broken stream mid-way
        raise ProviderError("The AI provider's answer was cut off.", reason="connection") from exc
    result.latency_ms = int((time.monotonic() - started) * 1000)
    return result
