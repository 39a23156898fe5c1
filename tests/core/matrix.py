"""Cross-tenant matrix entries for the foundation's own routes (see tests/matrix.py).

``users`` / ``users/{pk}`` / ``users/by-handle/{handle}`` are registered by the
accounts tests; the rest have neither URL kwargs nor a client-sent FK.
"""

from __future__ import annotations

from tests.matrix import exempt

exempt("me", "the caller's own user row; no id in the URL, no foreign key in the body")
exempt("network-current", "the request's own network; no id in the URL")
exempt("api-schema", "static OpenAPI document")
exempt("api-docs", "static Swagger UI page")
