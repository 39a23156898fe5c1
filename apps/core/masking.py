"""Masked hints for secrets: enough to recognise one, never enough to use it."""

from __future__ import annotations

import re

# Only the well-known public prefixes of vendors' keys are shown. A generic
# "letters then - or _" rule misread random url-safe secrets ("RN_x…") as
# prefixed and showed their first characters.
_PREFIX = re.compile(r"^((?:sk|rk|pk|whsec|gh[pousr]|github_pat|glpat|col|xox[abprs])[-_])")


def mask_secret(value: str | None) -> str:
    """``sk-abcdef…1234`` → ``sk-…1234``; short values show no characters."""
    if not value:
        return ""
    if len(value) < 12:
        return "•" * 4
    match = _PREFIX.match(value)
    prefix = match.group(1) if match else ""
    return f"{prefix}…{value[-4:]}"


_SECRET_PATTERNS = [
    re.compile(r"col_[A-Za-z0-9]{8,12}_[A-Za-z0-9_\-]{20,}"),  # Colony API keys
    re.compile(r"\b(sk|rk|pk)_(live|test)_[A-Za-z0-9]{10,}"),  # Stripe
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),  # OpenAI-style
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"(postgres(?:ql)?://[^:/\s]+:)[^@\s]+(@)"),  # DSN passwords
]


def redact(text: str) -> str:
    """Replace anything that looks like a secret with its mask."""
    for pattern in _SECRET_PATTERNS:
        if pattern.groups == 2 and pattern.pattern.startswith("(postgres"):
            text = pattern.sub(r"\1***\2", text)
        else:
            text = pattern.sub(lambda m: mask_secret(m.group(0)), text)
    return text
