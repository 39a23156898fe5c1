"""Cross-tenant matrix cases for the preferences routes (see tests/matrix.py).

Everything here acts on the caller's own rows: ids in URLs are looked up
among the caller's rows only, so another network's (or user's) id is a 404.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.utils import timezone

from apps.preferences.models import DataExport
from tests.matrix import Ctx, detail, exempt


def _ready_export(ctx: Ctx) -> DataExport:
    # no file is written: the owner's download then answers 410 (file gone), which is not a 404
    return DataExport.objects.create(
        network=ctx.network,
        user=ctx.user,
        status=DataExport.Status.READY,
        progress=100,
        file=f"exports/{ctx.user.pk}/matrix-{secrets.token_hex(6)}.zip",
        expires_at=timezone.now() + timedelta(days=7),
    )


@detail("account-export-detail", methods=("get",))
def _export(ctx: Ctx) -> dict:
    return {"pk": _ready_export(ctx).pk}


@detail("account-export-download", methods=("get",))
def _export_download(ctx: Ctx) -> dict:
    return {"pk": _ready_export(ctx).pk}


_OWN_ROWS = "acts on the caller's own rows only; no id in the URL and no client-sent foreign key"
for _name in (
    "account-settings",
    "account-preferences",
    "account-login-history-list",
    "account-email-change",
    "account-email-change-confirm",
    "account-deletion-request",
    "account-export-list",
):
    exempt(_name, _OWN_ROWS)
