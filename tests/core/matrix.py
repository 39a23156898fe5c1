"""Cross-tenant matrix entries for the foundation's own routes (see tests/matrix.py).

``users`` / ``users/{pk}`` / ``users/by-handle/{handle}`` are registered by the
accounts tests; the rest have neither URL kwargs nor a client-sent FK.
"""

from __future__ import annotations

from tests.matrix import detail, exempt

exempt("me", "the caller's own user row; no id in the URL, no foreign key in the body")
exempt("network-current", "the request's own network; no id in the URL")
exempt("api-schema", "static OpenAPI document")
exempt("api-docs", "static Swagger UI page")
exempt("api-redoc", "static ReDoc page")


# --- uploads (apps/core/uploads.py) -------------------------------------------------------


def _pending_upload(ctx):
    from apps.core.uploads import start_upload

    return start_upload(actor=ctx.user, kind="file", mime="application/pdf", size_bytes=10)


@detail("upload-detail", methods=("get",))
def _upload(ctx) -> dict:
    return {"pk": _pending_upload(ctx).pk}


@detail("upload-complete", methods=("post",))
def _upload_complete(ctx) -> dict:
    return {"pk": _pending_upload(ctx).pk}


exempt("upload-list", "no client-sent foreign key: the uploader and network are the caller's")
