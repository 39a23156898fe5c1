"""Message attachments (``MessageMedia`` over the core ``Upload``)."""

from __future__ import annotations

from typing import Any


def media_by_message(message_ids: list[Any]) -> dict[Any, list[dict[str, Any]]]:
    return {}
