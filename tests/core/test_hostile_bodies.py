"""Hostile bodies never crash a route (issue 7 §6), by construction.

Every write operation of the OpenAPI schema and every allauth-headless
endpoint gets a 50,000-deep nested JSON body and a 2 MB body, as a signed-in
user (on a row of their own when the route has a cross-tenant ``detail``
case) and anonymously: none may answer 5xx. The one reader behind them is
``apps.core.parsers.loads``; a signed infra webhook goes through it too.
"""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from drf_spectacular.generators import SchemaGenerator

from apps.core import parsers
from tests.matrix import DETAIL, Ctx
from tests.test_cross_tenant_matrix import ROUTES

pytestmark = pytest.mark.django_db

DEEP = "[" * 50_000 + "]" * 50_000
BIG = '{"name": "' + "x" * (2 * 1024 * 1024) + '"}'
BODIES = {"nested 50,000 deep": DEEP, "2 MB": BIG}
WRITE_METHODS = ("post", "put", "patch", "delete")
DUMMY = "01890000-0000-7000-8000-000000000000"


def _schema_writes() -> list[tuple[str, str]]:
    """(path template, method) of every write operation in the API schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (path, method) for path, item in schema["paths"].items() for method in item if method in WRITE_METHODS
    )


SCHEMA_WRITES = _schema_writes()


def _fill(template: str) -> str:
    """A concrete URL for a schema path: a UUID in every parameter, or a plain word where the
    route's pattern takes no UUID (``{kind}``, ``{slug}``…) — the walk must reach every route."""
    for filler in (DUMMY, "x"):
        url = re.sub(r"\{[^}]+\}", filler, template)
        try:
            resolve(url)
        except Resolver404:
            continue
        return url
    mixed = re.sub(r"\{(?:id|pk|[a-z_]*_pk|[a-z_]*_id)\}", DUMMY, template)
    return re.sub(r"\{[^}]+\}", "x", mixed)


def _url_name(template: str) -> str | None:
    return resolve(_fill(template)).view_name


def _call(client: Client, method: str, url: str, body: str):
    return getattr(client, method)(url, body, content_type="application/json")


def test_the_walk_sees_the_write_routes():
    assert len(SCHEMA_WRITES) > 20
    assert ("/api/v1/projects/", "post") in SCHEMA_WRITES


@pytest.mark.parametrize(("template", "method"), SCHEMA_WRITES, ids=[f"{m} {p}" for p, m in SCHEMA_WRITES])
def test_hostile_bodies_on_every_write_route_are_never_a_5xx(template, method, network, user, user_client):
    name = _url_name(template)
    url = _fill(template)
    case = DETAIL.get(name)
    if case is not None and name in ROUTES:
        from django.urls import reverse

        url = reverse(name, kwargs=case.make(Ctx(network=network, user=user, client=user_client)))
    for label, body in BODIES.items():
        for who, client in (("signed in", user_client), ("anonymous", Client())):
            response = _call(client, method, url, body)
            assert response.status_code < 500, (
                f"{method.upper()} {url} ({who}, {label}) → {response.status_code}"
            )


def _headless_routes() -> list[tuple[str, str]]:
    out = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            text = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, text)
            elif isinstance(entry, URLPattern):
                out.append((text, entry.name or ""))

    walk(get_resolver().url_patterns, "")
    routes = []
    for text, _name in out:
        if not text.startswith("_allauth/") or "openapi" in text:
            continue
        url = "/" + re.sub(
            r"<(?:\w+:)?(\w+)>", lambda m: "github" if "provider" in m.group(1) else DUMMY, text
        )
        routes.append(url)
    return sorted(set(routes))


HEADLESS = _headless_routes()


def test_the_walk_sees_allauths_headless_endpoints():
    assert "/_allauth/browser/v1/auth/login" in HEADLESS
    assert "/_allauth/app/v1/auth/signup" in HEADLESS


@pytest.mark.parametrize("url", HEADLESS)
def test_hostile_bodies_on_allauth_headless_are_a_400_never_a_5xx(url, network, user):
    signed_in = Client()
    signed_in.force_login(user)
    for label, body in BODIES.items():
        for who, client in (("anonymous", Client()), ("signed in", signed_in)):
            for method in ("post", "put", "patch", "delete"):
                response = _call(client, method, url, body)
                assert response.status_code < 500, f"{method.upper()} {url} ({who}, {label})"
    response = Client().post(url, DEEP, content_type="application/json")
    assert response.status_code in (400, 405), (url, response.status_code)


@pytest.mark.parametrize("url", ["/_allauth/browser/v1/auth/login", "/_allauth/app/v1/auth/signup"])
def test_the_headless_refusal_says_why(url, network):
    response = Client().post(url, DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "json_too_deep"
    response = Client().post(url, BIG, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "body_too_large"


def test_drf_refuses_too_deep_and_too_large_bodies_with_a_code(user_client):
    response = user_client.post("/api/v1/projects/", DEEP, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "json_too_deep"
    response = user_client.patch("/api/v1/me/", BIG, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "body_too_large"
    shallow_but_deep = "[" * 100 + "]" * 100  # under the recursion limit, over JSON_MAX_DEPTH
    response = user_client.patch("/api/v1/me/", shallow_but_deep, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "json_too_deep"


def test_a_signed_webhook_with_a_hostile_body_is_a_400(client):
    from apps.projects import signing

    for body in (DEEP.encode(), BIG.encode()):
        ts = str(int(time.time()))
        response = client.generic(
            "POST",
            "/api/v1/webhooks/sandbox",
            body,
            content_type="application/json",
            headers={signing.TIMESTAMP_HEADER: ts, signing.SIGNATURE_HEADER: signing.sign(ts, body)},
        )
        assert response.status_code == 400, response.content


def test_the_reader_limits(settings):
    settings.JSON_MAX_DEPTH = 3
    assert parsers.loads('{"a": [[1]]}') == {"a": [[1]]}
    for raw, code in (
        ('{"a": [[[1]]]}', "json_too_deep"),
        ("NaN", "invalid_json"),
        (b"\xff", "invalid_json"),
        ("[1,", "invalid_json"),
    ):
        with pytest.raises(parsers.UnsafeJSON) as refused:
            parsers.loads(raw)
        assert refused.value.code == code
    settings.JSON_MAX_BODY_BYTES = 10
    with pytest.raises(parsers.UnsafeJSON, match="too large"):
        parsers.loads('{"a": "0123456789"}')
