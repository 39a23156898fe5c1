from __future__ import annotations

import uuid

import pytest

from apps.inbox.services import deliver_inbox_item


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    """deliver_inbox_item calls, committed (on-commit work run) when the block ends."""

    class Deliver:
        def __call__(self, **kwargs):
            with django_capture_on_commit_callbacks(execute=True):
                self.queue(**kwargs)

        def queue(self, **kwargs):
            kwargs.setdefault("kind", "reaction")
            kwargs.setdefault("target_type", "post")
            kwargs.setdefault("target_id", POST)
            kwargs.setdefault("title", "Someone reacted to your post")
            deliver_inbox_item(**kwargs)

        def batch(self):
            return django_capture_on_commit_callbacks(execute=True)

    return Deliver()


POST = uuid.UUID("01890000-0000-7000-8000-000000000001")
