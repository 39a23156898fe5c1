"""Signals other domains connect to (fan-out only: this app never depends on a receiver).

``organization_archived`` is sent inside the archiving transaction, after the
organization row is marked and its agents paused; the projects app archives
the organization's projects in its receiver (same transaction, so an error
there rolls the archive back). Keyword arguments: ``organization``, ``actor``.
``organization_restored`` is sent the same way when staff restore one.
"""

from django.dispatch import Signal

organization_archived = Signal()
organization_restored = Signal()
