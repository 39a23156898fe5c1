"""Sandboxes and deployments run by an outside system.

The system is told what to do by a signed JSON POST to
``PROJECT_SANDBOX_PROVIDER_URL`` / ``PROJECT_DEPLOY_PROVIDER_URL`` (when set;
otherwise it is expected to poll) and reports every state change back through
the signed webhooks ``/api/v1/webhooks/sandbox`` and ``/webhooks/deploy``.
The request carries the project's secrets as environment variables (the only
place they ever leave encrypted storage) and is signed like the webhooks:
``X-Colony-Signature = hex(HMAC-SHA256(INFRA_WEBHOOK_SECRET, f"{timestamp}.{body}"))``.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings

from .. import signing
from .base import Provider, ProviderError, ProviderUnavailable

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10


def _endpoint(resource: Any) -> str:
    name = (
        "PROJECT_DEPLOY_PROVIDER_URL"
        if resource._meta.model_name == "deployment"
        else "PROJECT_SANDBOX_PROVIDER_URL"
    )
    return str(getattr(settings, name, "") or "")


def _spec(resource: Any) -> dict[str, Any]:
    if resource._meta.model_name == "deployment":
        return {
            "environment": resource.environment,
            "git_ref": resource.git_ref,
            "repo_url": resource.project.repo_url,
        }
    return {
        "name": resource.name,
        "image": resource.image,
        "cpu_millis": resource.cpu_millis,
        "memory_mb": resource.memory_mb,
        "idle_ttl_min": resource.idle_ttl_min,
        "access_secret": resource.access_secret,
        "repo_url": resource.project.repo_url,
        "default_branch": resource.project.default_branch,
    }


MAX_ANSWER_BYTES = 1 << 20


def send(
    resource: Any,
    action: str,
    *,
    env: dict[str, str] | None = None,
    spec: dict[str, Any] | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """POST one signed command; returns the JSON answer ({} when no endpoint is configured)."""
    url = _endpoint(resource)
    if not url:
        return {}
    if not url.startswith(("http://", "https://")):
        raise ProviderError("The provider URL must be http(s).")
    body = json.dumps(
        {
            "action": action,
            "kind": resource._meta.model_name,
            "id": str(resource.pk),
            "project": str(resource.project_id),
            "network": str(resource.network_id),
            "spec": _spec(resource) if action == "provision" else (spec or {}),
            "env": env or {},
        },
        separators=(",", ":"),
    ).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 — scheme checked above
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            signing.TIMESTAMP_HEADER: timestamp,
            signing.SIGNATURE_HEADER: signing.sign(timestamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw = response.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as exc:
        raise ProviderError(f"The provider answered HTTP {exc.code}.") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ProviderError("The provider is unreachable.") from exc
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


class ExternalProvider(Provider):
    name = "external"

    def provision(self, resource: Any, *, env: dict[str, str] | None = None) -> dict[str, Any]:
        answer = send(resource, "provision", env=env)
        ref = answer.get("ref")
        return {"provider_ref": str(ref)[:200]} if ref else {}

    def destroy(self, resource: Any) -> None:
        send(resource, "destroy")

    def command(self, resource: Any, action: str) -> None:
        send(resource, action)

    def exec(self, resource: Any, command: str, *, timeout_s: int) -> dict[str, Any]:
        """``{"action": "exec", "spec": {"command", "timeout_s"}}``; the system runs it and answers
        ``{"exit_code": int, "output": str}`` within the timeout (+5 s for the round trip)."""
        if not _endpoint(resource):
            raise ProviderUnavailable("No sandbox provider endpoint is configured.")
        answer = send(
            resource, "exec", spec={"command": command, "timeout_s": timeout_s}, timeout=timeout_s + 5
        )
        code = answer.get("exit_code")
        if not isinstance(code, int) or isinstance(code, bool):
            raise ProviderError("The provider's answer has no exit code.")
        return {"exit_code": code, "output": str(answer.get("output") or "")}
