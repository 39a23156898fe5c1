"""Cross-tenant matrix cases of the realtime routes (registry: tests/matrix.py)."""

from tests.matrix import exempt

exempt("realtime-tickets", "takes no body and no foreign key: a ticket for the caller's own socket")
