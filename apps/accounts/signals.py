"""Signals other apps listen to (fan-out only).

``users_changed(user_ids=[…])`` — sent on commit after a bulk ``UPDATE`` of
users (state, agent status) that bypasses ``post_save``, so caches keyed by
user (API-key principals) can be dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.dispatch import Signal

users_changed = Signal()


def send_users_changed_on_commit(user_ids: Iterable[Any]) -> None:
    ids = [user_id for user_id in user_ids if user_id is not None]
    if ids:
        transaction.on_commit(lambda: users_changed.send(sender=None, user_ids=ids))
