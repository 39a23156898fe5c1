"""Notifications' one door: ``notify`` (push / email / in-app per the user's settings).

INTERFACE (fixed; other domains may call it directly for items that have no inbox row):

    notify(*, recipient, kind: str, title: str, body: str = "", data: dict | None = None,
           inbox_item=None, dedupe_key: str) -> None

Safe inside a transaction (acts on commit); idempotent per (recipient, channel, dedupe_key).
"""

from __future__ import annotations

from typing import Any


def notify(
    *,
    recipient: Any,
    kind: str,
    title: str,
    body: str = "",
    data: dict | None = None,
    inbox_item: Any = None,
    dedupe_key: str,
) -> None:
    """Placeholder until apps/notifications is built (issue 10)."""
