"""Signed webhook deliveries, as a provider sends them."""

from __future__ import annotations

import json
import time
from typing import Any

from apps.projects import signing


def signed_post(
    client, url: str, payload: dict[str, Any], *, timestamp: int | None = None, signature: str | None = None
):
    body = json.dumps(payload).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return client.generic(
        "POST",
        url,
        body,
        content_type="application/json",
        headers={
            signing.TIMESTAMP_HEADER: ts,
            signing.SIGNATURE_HEADER: signature if signature is not None else signing.sign(ts, body),
        },
    )
