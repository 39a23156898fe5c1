"""The inbox's one door: every domain reports to a user through ``deliver_inbox_item``.

INTERFACE (fixed; other domains call it while the inbox is being built):

    deliver_inbox_item(
        *, recipient, kind: str, target_type: str, target_id,
        actor=None, title: str = "", body: str = "", target_url: str = "",
        data: dict | None = None, requires_action: bool = False,
    ) -> None

    close_action_items(*, kind: str, target_type: str, target_id, state: str = "done") -> None

Both are safe to call inside a transaction: they act on commit and never raise
for a recipient who cannot receive (self-action, block, muted kind).
"""

from __future__ import annotations

from typing import Any


def deliver_inbox_item(
    *,
    recipient: Any,
    kind: str,
    target_type: str,
    target_id: Any,
    actor: Any = None,
    title: str = "",
    body: str = "",
    target_url: str = "",
    data: dict | None = None,
    requires_action: bool = False,
) -> None:
    """Placeholder until apps/inbox is built (issue 10): records nothing yet."""


def close_action_items(*, kind: str, target_type: str, target_id: Any, state: str = "done") -> None:
    """Placeholder until apps/inbox is built (issue 10)."""
