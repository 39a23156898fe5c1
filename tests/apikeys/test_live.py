"""End to end: a real uvicorn server answering a bearer key over HTTP."""

from __future__ import annotations

import httpx
import pytest

from apps.apikeys import usage
from tests.accounts.factories import UserFactory

from .factories import issue_key

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_me_over_http_with_a_bearer_key(live_asgi, network):
    user = UserFactory(network=network)
    issued = issue_key(user, scopes=["profile:read"])
    with httpx.Client(base_url=live_asgi.url, timeout=10) as http:
        ok = http.get("/api/v1/me/", headers={"Authorization": f"Bearer {issued.token}"})
        assert ok.status_code == 200
        assert ok.json()["id"] == str(user.pk)
        denied = http.patch(
            "/api/v1/me/", json={"display_name": "x"}, headers={"Authorization": f"Bearer {issued.token}"}
        )
        assert denied.status_code == 403 and denied.json()["code"] == "insufficient_scope"
        bad = http.get("/api/v1/me/", headers={"Authorization": "Bearer col_ZZZZZZZZZZ_" + "x" * 43})
        assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    assert usage.pending(issued.api_key.pk) == {"r": 2, "e": 1, "t": 0}
