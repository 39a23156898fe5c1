"""Outcome-check runners that reach outside: ``ci_status`` (a commit's CI status over HTTP) and
``command`` (a command in the project's sandbox through its provider).

Each returns ``(status, result, log_excerpt)``; ``status`` is a ``RunStatus`` or ``PENDING``
(CI still running: the run stays ``running`` and is polled again). The log excerpt is bounded
here and redacted by ``finish_run``; answers are read up to ``MAX_ANSWER_BYTES``.

ci_status — config ``{"repo": "owner/name", "api_url": "https://api.github.com", "contexts":
[…], "poll_s": 30, "sha": …}``. The commit is ``sha`` or the outcome's first artifact with a
``sha``/``commit`` (or a ``pr``/``pull_request`` number, read through ``GET /repos/{repo}/pulls/{n}``
for its head); its status is GitHub's combined commit status, ``GET
/repos/{repo}/commits/{sha}/status``, through the SSRF-safe client (``apps.core.ssrf``):
success → passed; failure or error → failed; pending → polled; a required context missing →
pending; 404 → failed; 5xx, 429, an unreadable answer or no connection → error (retried).
A token, when ``DISPATCHER_CI_TOKEN`` is set, goes in ``Authorization`` (never in a log).

command — config ``{"command": "pytest -q", "sandbox": "name"}``: the project's running sandbox
(that name, else the newest running one) runs it through ``Provider.exec`` within the check's
timeout; exit 0 → passed, another exit code → failed; no running sandbox or a provider failure
→ error (retried).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from django.conf import settings

from .models import RunStatus, VerificationRun

PENDING = "pending"
MAX_ANSWER_BYTES = 1 << 20
LOG_LIMIT = 16_000
MAX_COMMAND = 2_000
DEFAULT_API = "https://api.github.com"
REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")

Result = tuple[str, dict[str, Any], str]


def validate_ci_status(config: dict[str, Any]) -> str | None:
    """The first problem of a ci_status config, or None."""
    if not REPO.match(str(config.get("repo") or "")):
        return "A ci_status check needs repo as owner/name."
    if not str(config.get("api_url") or DEFAULT_API).startswith(("http://", "https://")):
        return "api_url must be http(s)."
    if config.get("sha") is not None and not SHA.match(str(config["sha"])):
        return "sha must be a commit hash."
    contexts = config.get("contexts")
    if contexts is not None and not (
        isinstance(contexts, list) and all(isinstance(c, str) and c for c in contexts)
    ):
        return "contexts must be a list of names."
    return None


def validate_command(config: dict[str, Any]) -> str | None:
    command = config.get("command")
    if not isinstance(command, str) or not command.strip():
        return "A command check needs a command."
    if len(command) > MAX_COMMAND:
        return f"The command is longer than {MAX_COMMAND} characters."
    return None


def poll_seconds(config: dict[str, Any]) -> int:
    try:
        return max(5, min(int(config.get("poll_s", 30)), 3600))
    except (TypeError, ValueError):
        return 30


# --- ci_status -------------------------------------------------------------------------------


def _commit_ref(config: dict[str, Any], artifacts: Any) -> tuple[str, Any] | None:
    """("sha", value) or ("pr", number) of the submitted commit."""
    if config.get("sha"):
        return "sha", str(config["sha"])
    for item in artifacts if isinstance(artifacts, list) else []:
        if not isinstance(item, dict):
            continue
        sha = item.get("sha") or item.get("commit")
        if isinstance(sha, str) and SHA.match(sha):
            return "sha", sha
        pr = item.get("pr") or item.get("pull_request")
        if isinstance(pr, int) and not isinstance(pr, bool) and pr > 0:
            return "pr", pr
    return None


def _get_json(client: httpx.Client, url: str, headers: dict[str, str]) -> tuple[int, Any]:
    with client.stream("GET", url, headers=headers) as response:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:
                raise ValueError("answer too large")
        status = response.status_code
    if status >= 300:
        return status, None
    return status, json.loads(bytes(body) or b"null")


def _verdict(answer: dict[str, Any], contexts: list[str] | None) -> tuple[str, str]:
    """(status, log) from a combined status answer."""
    statuses = [s for s in answer.get("statuses") or [] if isinstance(s, dict)]
    lines = [
        f"{s.get('context', '?')}: {s.get('state', '?')} — {s.get('description') or ''}".rstrip(" —")
        for s in statuses[:200]
    ]
    if contexts:
        by_context = {s.get("context"): s.get("state") for s in statuses}
        states = [by_context.get(c) for c in contexts]
        lines += [f"{c}: missing" for c, st in zip(contexts, states, strict=True) if st is None]
        if any(st in ("failure", "error") for st in states):
            state = "failure"
        elif all(st == "success" for st in states):
            state = "success"
        else:
            state = "pending"
    else:
        state = str(answer.get("state") or "pending")
    log = f"combined state: {state}\n" + "\n".join(lines)
    if state == "success":
        return RunStatus.PASSED, log
    if state in ("failure", "error"):
        return RunStatus.FAILED, log
    return PENDING, log


def run_ci_status(run: VerificationRun) -> Result:
    from apps.core.ssrf import UnsafeAddress, public_client

    check = run.outcome_check
    config = check.config or {}
    ref = _commit_ref(config, run.outcome.artifacts)
    if ref is None:
        return (
            RunStatus.FAILED,
            {"error": "no_commit"},
            "The outcome names no commit (sha) or pull request (pr).",
        )
    api = str(config.get("api_url") or DEFAULT_API).rstrip("/")
    repo = str(config["repo"])
    headers = {"Accept": "application/vnd.github+json", "User-Agent": "colony-dispatcher"}
    token = str(getattr(settings, "DISPATCHER_CI_TOKEN", "") or "")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with public_client(allow_private=settings.DISPATCHER_HTTP_CHECKS_ALLOW_PRIVATE,
                           timeout=max(1, min(check.timeout_s, 30))) as client:  # fmt: skip
            kind, value = ref
            if kind == "pr":
                code, pull = _get_json(client, f"{api}/repos/{repo}/pulls/{value}", headers)
                head = pull.get("head") if isinstance(pull, dict) else None
                sha = head.get("sha") if isinstance(head, dict) else None
                if code >= 300 or not isinstance(sha, str) or not SHA.match(sha):
                    return _http_problem(code, f"pull request {value}")
                value = sha
            code, answer = _get_json(client, f"{api}/repos/{repo}/commits/{value}/status", headers)
    except UnsafeAddress:
        return RunStatus.FAILED, {"error": "unsafe_address"}, "The CI API resolves to a private address."
    except httpx.HTTPError as exc:
        return RunStatus.ERROR, {"error": type(exc).__name__}, str(exc)[:2000]
    except ValueError as exc:  # JSON or size
        return RunStatus.ERROR, {"error": "bad_answer"}, f"The CI API's answer is unreadable: {exc}"[:2000]
    if code >= 300 or not isinstance(answer, dict):
        return _http_problem(code, f"commit {value}")
    status, log = _verdict(answer, config.get("contexts"))
    result = {"sha": value, "state": str(answer.get("state") or ""), "status_code": code}
    return status, result, log[:LOG_LIMIT]


def _http_problem(code: int, what: str) -> Result:
    if code == 404:
        return (
            RunStatus.FAILED,
            {"error": "not_found", "status_code": code},
            f"The CI API does not know {what}.",
        )
    return RunStatus.ERROR, {"error": "http_status", "status_code": code}, f"The CI API answered HTTP {code}."


# --- command ---------------------------------------------------------------------------------


def run_command(run: VerificationRun) -> Result:
    from apps.projects.models import Sandbox, SandboxStatus
    from apps.projects.providers import ProviderError, get_provider

    check = run.outcome_check
    config = check.config or {}
    sandboxes = Sandbox.objects.filter(project_id=run.outcome.task.project_id, status=SandboxStatus.RUNNING)
    if config.get("sandbox"):
        sandboxes = sandboxes.filter(name=str(config["sandbox"]))
    sandbox = sandboxes.order_by("-id").first()
    if sandbox is None:
        return (
            RunStatus.ERROR,
            {"error": "no_running_sandbox"},
            "The project has no running sandbox for this check.",
        )
    timeout = max(1, min(check.timeout_s, 3600))
    try:
        done = get_provider(sandbox).exec(sandbox, str(config["command"]), timeout_s=timeout)
    except ProviderError as exc:
        return RunStatus.ERROR, {"error": "provider", "sandbox": str(sandbox.pk)}, str(exc)[:2000]
    output = done["output"]
    if len(output) > LOG_LIMIT:  # the end of a command's output says why it failed
        output = "…" + output[-(LOG_LIMIT - 1) :]
    status = RunStatus.PASSED if done["exit_code"] == 0 else RunStatus.FAILED
    return status, {"exit_code": done["exit_code"], "sandbox": str(sandbox.pk)}, output
