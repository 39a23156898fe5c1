"""A local OpenAI-compatible HTTP server for tests (the LLM network boundary).

Serves ``POST /v1/chat/completions`` (plain JSON and SSE streaming, tool
calls, usage blocks) and ``GET /v1/models`` on 127.0.0.1, in a thread of the
test process; a Celery worker subprocess reaches it over HTTP like any
provider. Behaviour per request, first match wins:

1. a queued ``Reply`` (``server.enqueue(Reply(...), ...)``, FIFO);
2. ``server.responder(request_json) -> Reply | None`` (e.g. a rubric judge
   that answers JSON scores);
3. the model name: ``error-<status>`` answers that HTTP status,
   ``malformed`` answers a body that is not JSON, ``slow-<seconds>`` waits
   first, ``tools-<name>`` proposes one call of tool ``<name>``;
4. otherwise an echo: ``"ok: <last user message>"``.

Every request is recorded in ``server.requests`` (path, headers, JSON body).
Usage defaults to about one token per four characters.

Fixtures (registered in ``tests/conftest.py``): ``llm_server`` — the shared
server, reset, with ``AI_PROVIDER_ALLOW_PRIVATE_URLS`` on so configs may
point at it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Reply:
    content: str = "ok"
    #: [{"name": "tool", "arguments": {...}}] (an ``id`` is made up when missing)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    #: (prompt, completion, cached) tokens; None = estimated from the text
    usage: tuple[int, int, int] | None = None
    include_usage: bool = True
    status: int = 200
    #: a raw body instead of the JSON answer (malformed JSON, HTML error pages)
    body: bytes | None = None
    #: seconds to wait before answering (a slow provider)
    delay: float = 0.0
    finish_reason: str | None = None
    error_message: str = "The server had an error."


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    json: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.json.get("messages") or []

    @property
    def system_prompt(self) -> str:
        return "\n".join(str(m.get("content") or "") for m in self.messages if m.get("role") == "system")

    @property
    def text(self) -> str:
        return "\n".join(str(m.get("content") or "") for m in self.messages)


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class LLMServer:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.responder: Any = None
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        handler = type("Handler", (_Handler,), {"llm": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        """The base URL to configure (OpenAI-style, ending in /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LLMServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            self.responder = None

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    @property
    def calls(self) -> int:
        return len(self.requests)

    # -- behaviour ------------------------------------------------------------
    def _record(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            if self._queue:
                return self._queue.pop(0)
            responder = self.responder
        if responder is not None:
            reply = responder(received.json)
            if reply is not None:
                return reply
        return self._by_model(received)

    def _by_model(self, received: Received) -> Reply:
        model = str(received.json.get("model") or "")
        if model.startswith("error-") and model[6:].isdigit():
            return Reply(status=int(model[6:]))
        if model == "malformed":
            return Reply(body=b'{"id": "cmpl-1", "choices": [{"message": ')
        if model.startswith("tools-"):
            return Reply(content="", tool_calls=[{"name": model[6:], "arguments": {"ok": True}}])
        reply = Reply()
        if model.startswith("slow-"):
            try:
                reply.delay = float(model[5:])
            except ValueError:
                reply.delay = 1.0
        last_user = next(
            (str(m.get("content") or "") for m in reversed(received.messages) if m.get("role") == "user"), ""
        )
        reply.content = f"ok: {last_user[:200]}"
        return reply

    def wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    llm: LLMServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            self.close_connection = True

    def _send_json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": [{"id": "test-model", "object": "model"}]})
        else:
            self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = {}
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": "not found"}})
            return
        received = Received(
            path=self.path, headers={k.lower(): v for k, v in self.headers.items()}, json=payload
        )
        reply = self.llm._record(received)
        if reply.delay:
            self.llm.wait(reply.delay)
        if reply.body is not None:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            return
        if reply.status >= 400:
            self._send_json(
                reply.status,
                {
                    "error": {
                        "message": reply.error_message,
                        "type": "server_error",
                        "code": str(reply.status),
                    }
                },
            )
            return
        model = str(payload.get("model") or "test-model")
        usage = reply.usage or (_tokens(received.text), _tokens(reply.content), 0)
        calls = [
            {
                "id": call.get("id") or f"call_{i}",
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(call.get("arguments", {}))},
            }
            for i, call in enumerate(reply.tool_calls)
        ]
        finish = reply.finish_reason or ("tool_calls" if calls else "stop")
        usage_block = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
            "prompt_tokens_details": {"cached_tokens": usage[2]},
        }
        if payload.get("stream"):
            self._stream(model, reply, calls, finish, usage_block, payload)
            return
        answer: dict[str, Any] = {
            "id": f"chatcmpl-{len(self.llm.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": reply.content or None,
                        "tool_calls": calls or None,
                    },
                    "finish_reason": finish,
                }
            ],
        }
        if reply.include_usage:
            answer["usage"] = usage_block
        self._send_json(200, answer)

    def _stream(self, model: str, reply: Reply, calls: list, finish: str, usage: dict, payload: dict) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        base = {"id": f"chatcmpl-{len(self.llm.requests)}", "object": "chat.completion.chunk", "model": model}

        def send(choices: list, **extra: Any) -> None:
            chunk = {**base, "created": int(time.time()), "choices": choices, **extra}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()

        send([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        text = reply.content or ""
        for start in range(0, len(text), 8):
            send([{"index": 0, "delta": {"content": text[start : start + 8]}, "finish_reason": None}])
        for i, call in enumerate(calls):
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            first = {
                "index": i,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"]},
            }
            first["function"]["arguments"] = arguments[:half]
            send([{"index": 0, "delta": {"tool_calls": [first]}, "finish_reason": None}])
            send(
                [
                    {
                        "index": 0,
                        "delta": {"tool_calls": [{"index": i, "function": {"arguments": arguments[half:]}}]},
                        "finish_reason": None,
                    }
                ]
            )
        send([{"index": 0, "delta": {}, "finish_reason": finish}])
        if reply.include_usage and (payload.get("stream_options") or {}).get("include_usage"):
            send([], usage=usage)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


_shared: LLMServer | None = None


def shared_server() -> LLMServer:
    """One server per test process (xdist worker), started on first use."""
    global _shared
    if _shared is None:
        _shared = LLMServer().start()
    return _shared


@pytest.fixture
def llm_server(settings) -> LLMServer:
    """The local OpenAI-compatible server, reset; configs may point at 127.0.0.1."""
    server = shared_server()
    server.reset()
    settings.AI_PROVIDER_ALLOW_PRIVATE_URLS = True
    settings.AI_PROVIDER_MAX_RETRIES = 0
    yield server
    server.reset()
