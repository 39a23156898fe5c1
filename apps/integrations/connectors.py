"""The one connector interface and its two connectors.

``connector_for(integration)`` → an object with::

    execute(integration, tool, arguments) -> ToolOutput   # raises ConnectorError / ConnectorTimeout
    revoke(integration) -> None

* ``ComposioConnector`` — a Composio-style provider: its base URL and key come
  from settings only (``COMPOSIO_BASE_URL``, ``COMPOSIO_API_KEY``). It keeps the
  OAuth tokens; we keep the connected-account id. HTTP API (v3 shape)::

      GET    /api/v3/toolkits                     → {"items": [{"slug", "name", "description"}]}
      GET    /api/v3/tools?toolkit_slug=<slug>    → {"items": [{"slug", "name", "description",
                                                     "input_parameters", "tags"}]}
      POST   /api/v3/connected_accounts           {"auth_config": {"id"}, "connection": {"user_id",
                                                     "callback_url"}} → {"id", "redirect_url", "status"}
      GET    /api/v3/connected_accounts/<id>      → {"id", "status", "toolkit": {"slug"}, ...}
      DELETE /api/v3/connected_accounts/<id>
      POST   /api/v3/tools/execute/<tool>         {"connected_account_id", "arguments", "user_id"}
                                                  → {"data", "successful", "error", "log_id"}

* ``HttpConnector`` — the built-in ``http`` toolkit: ``HTTP_GET`` (read) and
  ``HTTP_POST`` (write) against the connection's allowlisted https base URL,
  with its encrypted bearer token, through ``apps.core.ssrf.public_client``
  (private, loopback and link-local addresses refused after DNS resolution;
  ``INTEGRATIONS_ALLOW_PRIVATE_URLS`` lifts it for tests).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from django.conf import settings

from apps.core.exceptions import DomainError
from apps.core.ssrf import UnsafeAddress, check_public_url, public_client


class ConnectorError(DomainError):
    status_code = 502
    default_code = "integration_provider_error"
    default_message = "The integration provider failed."


class ConnectorTimeout(ConnectorError):
    status_code = 504
    default_code = "integration_timeout"
    default_message = "The integration provider did not answer in time."


@dataclass
class ToolOutput:
    data: Any
    external_id: str | None = None
    duration_ms: int = 0


@dataclass(frozen=True)
class Tool:
    slug: str
    toolkit: str
    description: str = ""
    parameters: dict | None = None
    risk: str = "write"

    def as_function(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.slug,
                "description": (self.description or self.slug)[:1000],
                "parameters": self.parameters or {"type": "object", "properties": {}},
            },
        }


_READ_WORDS = ("GET", "LIST", "SEARCH", "FETCH", "READ", "FIND", "VIEW")
_DESTRUCTIVE_WORDS = ("DELETE", "REMOVE", "DESTROY", "ARCHIVE", "PURGE")


def risk_of(slug: str, tags: list[str] | None = None) -> str:
    """A tool's risk from the provider's tags (readOnlyHint / destructiveHint), else from its name."""
    tags = [str(t).lower() for t in tags or []]
    if "destructivehint" in tags:
        return "destructive"
    if "readonlyhint" in tags:
        return "read"
    words = slug.upper().split("_")
    if any(w in _DESTRUCTIVE_WORDS for w in words):
        return "destructive"
    if any(w in _READ_WORDS for w in words[1:3]):
        return "read"
    return "write"


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ConnectorError(
            "The integration provider's answer is not JSON.", code="integration_bad_answer"
        ) from exc


# --- Composio-style provider ------------------------------------------------------


class ComposioConnector:
    name = "composio"

    def _client(self) -> httpx.Client:
        if not settings.COMPOSIO_API_KEY:
            raise ConnectorError(
                "The integration provider is not configured.", code="integration_not_configured"
            )
        return httpx.Client(
            base_url=settings.COMPOSIO_BASE_URL.rstrip("/"),
            headers={"x-api-key": settings.COMPOSIO_API_KEY},
            timeout=httpx.Timeout(settings.INTEGRATIONS_HTTP_TIMEOUT_SECONDS, connect=5.0),
            trust_env=False,
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            with self._client() as client:
                response = client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ConnectorTimeout() from exc
        except httpx.HTTPError as exc:
            raise ConnectorError(
                "The integration provider could not be reached.", code="integration_unreachable"
            ) from exc
        if response.status_code == 404:
            raise ConnectorError(
                "The provider does not know this account or tool.", code="integration_not_found"
            )
        if response.status_code >= 400:
            raise ConnectorError(f"The integration provider answered HTTP {response.status_code}.")
        if method == "DELETE" or not response.content:
            return {}
        data = _decode(response)
        if not isinstance(data, dict):
            raise ConnectorError(
                "The integration provider's answer is not an object.", code="integration_bad_answer"
            )
        return data

    def toolkits(self) -> list[dict[str, Any]]:
        items = self._call("GET", "/api/v3/toolkits").get("items") or []
        return [
            {
                "slug": str(i.get("slug", "")).lower(),
                "name": i.get("name") or i.get("slug"),
                "description": i.get("description", ""),
            }
            for i in items
            if isinstance(i, dict) and i.get("slug")
        ]

    def tools(self, toolkit: str) -> list[Tool]:
        items = self._call("GET", "/api/v3/tools", params={"toolkit_slug": toolkit}).get("items") or []
        out = []
        for item in items:
            if not isinstance(item, dict) or not item.get("slug"):
                continue
            slug = str(item["slug"])[:128]
            params = item.get("input_parameters") if isinstance(item.get("input_parameters"), dict) else None
            out.append(Tool(slug=slug, toolkit=toolkit, description=str(item.get("description") or ""),
                            parameters=params, risk=risk_of(slug, item.get("tags"))))  # fmt: skip
        return out

    def start_connection(self, *, toolkit: str, user_ref: str, callback_url: str) -> dict[str, Any]:
        auth_config = settings.COMPOSIO_AUTH_CONFIGS.get(toolkit)
        if not auth_config:
            raise ConnectorError(f"No auth config for {toolkit!r}.", code="integration_not_configured")
        data = self._call(
            "POST",
            "/api/v3/connected_accounts",
            json={
                "auth_config": {"id": auth_config},
                "connection": {"user_id": user_ref, "callback_url": callback_url},
            },
        )
        if not data.get("id") or not data.get("redirect_url"):
            raise ConnectorError("The provider's answer has no connection.", code="integration_bad_answer")
        return {
            "id": str(data["id"]),
            "redirect_url": str(data["redirect_url"]),
            "auth_config_id": auth_config,
        }

    def account(self, external_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v3/connected_accounts/{external_id}")

    def revoke(self, integration: Any) -> None:
        if integration.external_account_id:
            try:
                self._call("DELETE", f"/api/v3/connected_accounts/{integration.external_account_id}")
            except ConnectorError as exc:
                if exc.code != "integration_not_found":  # already gone there: revoked is revoked
                    raise

    def execute(self, integration: Any, tool: str, arguments: dict[str, Any]) -> ToolOutput:
        started = time.monotonic()
        data = self._call(
            "POST",
            f"/api/v3/tools/execute/{tool}",
            json={"connected_account_id": integration.external_account_id, "arguments": arguments,
                  "user_id": str(integration.user_id)},
        )  # fmt: skip
        if data.get("successful") is False:
            raise ConnectorError(str(data.get("error") or "The tool failed.")[:1000], code="tool_failed")
        return ToolOutput(data=data.get("data"), external_id=str(data.get("log_id") or "") or None,
                          duration_ms=int((time.monotonic() - started) * 1000))  # fmt: skip


# --- the built-in HTTP connector -----------------------------------------------------

HTTP_TOOLS = (
    Tool(
        slug="HTTP_GET",
        toolkit="http",
        description="GET a path under the connection's base URL.",
        parameters={
            "type": "object",
            "properties": {"path": {"type": "string"}, "query": {"type": "object"}},
            "required": ["path"],
        },
        risk="read",
    ),
    Tool(
        slug="HTTP_POST",
        toolkit="http",
        description="POST a JSON body to a path under the connection's base URL.",
        parameters={
            "type": "object",
            "properties": {"path": {"type": "string"}, "body": {"type": "object"}},
            "required": ["path"],
        },
        risk="write",
    ),
)


def check_http_base_url(url: str) -> str:
    url = check_public_url(url, field="base_url", allow_private=settings.INTEGRATIONS_ALLOW_PRIVATE_URLS)
    host = (urlsplit(url).hostname or "").lower()
    allowed = [h.lower() for h in settings.INTEGRATIONS_HTTP_ALLOWED_HOSTS]
    if allowed and host not in allowed and not any(host.endswith("." + h) for h in allowed):
        from apps.core.exceptions import ValidationFailed

        raise ValidationFailed(
            "This host is not on the allowlist.", field="base_url", code="base_url_not_allowed"
        )
    return url


class HttpConnector:
    name = "http"

    def tools(self, toolkit: str = "http") -> list[Tool]:
        return list(HTTP_TOOLS)

    def revoke(self, integration: Any) -> None:
        return None  # nothing held elsewhere: the token is erased with the row's credentials

    def _url(self, integration: Any, path: Any) -> str:
        base = str((integration.config or {}).get("base_url") or "")
        if (
            not isinstance(path, str)
            or not path.startswith("/")
            or ".." in path
            or "//" in path
            or "\\" in path
        ):
            raise ConnectorError(
                "path must be an absolute path under the base URL.", code="tool_bad_arguments"
            )
        url = urljoin(base.rstrip("/") + "/", path.lstrip("/"))
        if urlsplit(url).netloc != urlsplit(base).netloc:
            raise ConnectorError("path leaves the connection's host.", code="tool_bad_arguments")
        return url

    def execute(self, integration: Any, tool: str, arguments: dict[str, Any]) -> ToolOutput:
        url = self._url(integration, arguments.get("path"))
        headers = {"Accept": "application/json"}
        token = integration.credentials
        if token:
            headers["Authorization"] = f"Bearer {token}"
        started = time.monotonic()
        try:
            with public_client(
                allow_private=settings.INTEGRATIONS_ALLOW_PRIVATE_URLS,
                timeout=settings.INTEGRATIONS_HTTP_TIMEOUT_SECONDS,
            ) as client:
                if tool == "HTTP_GET":
                    query = arguments.get("query") if isinstance(arguments.get("query"), dict) else None
                    response = client.get(url, params=query, headers=headers)
                elif tool == "HTTP_POST":
                    response = client.post(url, json=arguments.get("body") or {}, headers=headers)
                else:
                    raise ConnectorError(f"Unknown tool {tool!r}.", code="tool_unknown")
        except UnsafeAddress as exc:
            raise ConnectorError(
                "The endpoint resolves to a private, loopback or link-local address.", code="url_private"
            ) from exc
        except httpx.TimeoutException as exc:
            raise ConnectorTimeout() from exc
        except httpx.HTTPError as exc:
            raise ConnectorError(
                "The endpoint could not be reached.", code="integration_unreachable"
            ) from exc
        if response.status_code >= 400:
            raise ConnectorError(f"The endpoint answered HTTP {response.status_code}.", code="tool_failed")
        try:
            data: Any = response.json()
        except ValueError:
            data = response.text
        return ToolOutput(data={"status": response.status_code, "body": data},
                          duration_ms=int((time.monotonic() - started) * 1000))  # fmt: skip


_COMPOSIO = ComposioConnector()
_HTTP = HttpConnector()


def connector_for(integration: Any) -> ComposioConnector | HttpConnector:
    return _HTTP if integration.provider == "direct" else _COMPOSIO


def composio() -> ComposioConnector:
    return _COMPOSIO


def result_json(data: Any, limit: int) -> tuple[Any, bool]:
    """The output as stored: JSON-able and ≤ ``limit`` bytes (else a truncated text)."""
    text = json.dumps(data, default=str, ensure_ascii=False)
    if len(text.encode()) <= limit:
        return data, False
    return {"truncated": True, "text": text.encode()[: limit - 100].decode(errors="ignore")}, True
