"""The cross-tenant matrix: no API route lets one network reach another's rows.

Walks every URL pattern under ``/api/v1/`` (from the resolver, so routes added
later are included automatically) and the cases registered in
``tests/<domain>/matrix.py`` (registry and rules: ``tests/matrix.py``).

* A route with URL kwargs (detail, nested or action route) needs a ``detail``
  case: the other network's user gets 404 on every method the route allows
  (GET/PUT/PATCH/DELETE/POST) and nothing in the database changes; the owning
  network's user does not get a 404.
* A route that accepts POST without URL kwargs needs a ``create`` case: a body
  whose client-sent FK points into the other network is rejected (400, or 404
  when the foreign object is the URL parent) and nothing is written. Nested
  routes (kwargs + POST) may register a ``create`` case too; it then runs.
* Otherwise the route must be ``exempt(name, reason)``. A route with neither
  fails ``test_route_is_covered[<name>]`` naming it.

The same walk carries the organization policy walk: a route whose view is
org-reached (``organization_field`` / ``organization_url_kwarg``, see
``apps/organizations/policy.py``) needs an ``org_reached`` case (or
``org_exempt``); under each refusing policy the otherwise-allowed owner gets
no 2xx (a list GET must leave the org's rows out) and nothing changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

import pytest
from django.apps import apps as django_apps
from django.urls import URLPattern, URLResolver, get_resolver, include, path, resolve, reverse
from rest_framework import serializers, viewsets
from rest_framework.routers import SimpleRouter

import tests
from apps.core.api import UnscopedViewSet
from apps.organizations.policy import is_org_reached
from tests.matrix import (
    CREATE,
    DETAIL,
    EXEMPT,
    ORG,
    ORG_EXEMPT,
    CreateCase,
    Ctx,
    DetailCase,
    OrgCtx,
)
from tests.testapp.models import Widget

API_PREFIX = "api/v1/"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
#: columns a request may legitimately touch without changing anything (presence trackers)
VOLATILE_FIELDS = frozenset({"last_seen_at", "last_login", "last_used_at", "last_used_ip"})
VOLATILE_MODELS = frozenset({"accounts.usersession"})


def _load_registrations() -> None:
    for module in pkgutil.walk_packages(tests.__path__, "tests."):
        if module.name.rsplit(".", 1)[-1] == "matrix" and module.name != "tests.matrix":
            importlib.import_module(module.name)


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    kwargs: frozenset[str]
    methods: frozenset[str]
    org_reached: bool = False

    @property
    def needs_detail(self) -> bool:
        return bool(self.kwargs)

    @property
    def needs_create(self) -> bool:
        return "post" in self.methods and not self.kwargs


def allowed_methods(callback) -> frozenset[str]:
    """The HTTP methods a view answers (viewset action maps, APIView handlers)."""
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is None:  # a plain function view: assume it may read and write
        return frozenset({"get", "post"})
    names = set(getattr(cls, "http_method_names", HTTP_METHODS))
    actions = getattr(callback, "actions", None)
    if actions:
        return frozenset(m for m in actions if m in names and m in HTTP_METHODS)
    return frozenset(m for m in HTTP_METHODS if m in names and hasattr(cls, m))


def _pattern_kwargs(pattern) -> set[str]:
    regex_groups = set(pattern.regex.groupindex)
    return regex_groups | set(getattr(pattern, "converters", {}))


def _walk(patterns, prefix: str = "", namespace: str = "", inherited: frozenset[str] = frozenset()):
    for entry in patterns:
        kwargs = inherited | _pattern_kwargs(entry.pattern)
        text = prefix + str(entry.pattern).lstrip("^").rstrip("$")
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, text, ns, frozenset(kwargs))
        elif isinstance(entry, URLPattern):
            yield (
                text,
                (f"{namespace}{entry.name}" if entry.name else None),
                frozenset(kwargs),
                entry.callback,
            )


def api_routes() -> dict[str, Route]:
    routes: dict[str, Route] = {}
    for text, name, kwargs, callback in _walk(get_resolver().url_patterns):
        if not text.startswith(API_PREFIX):
            continue
        kwargs = kwargs - {"format"}
        key = name or f"<unnamed {text}>"
        if key in routes:  # format-suffix twins share the name
            continue
        cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        org = bool(cls is not None and is_org_reached(cls))
        routes[key] = Route(key, "/" + text, kwargs, allowed_methods(callback), org)
    return routes


def all_route_names() -> set[str]:
    return {name for _, name, _, _ in _walk(get_resolver().url_patterns) if name}


_load_registrations()
ROUTES = api_routes()
TO_COVER = sorted(name for name, r in ROUTES.items() if r.needs_detail or r.needs_create)
ORG_TO_COVER = sorted(name for name, r in ROUTES.items() if r.org_reached)


@pytest.fixture
def own(network, user, user_client) -> Ctx:
    return Ctx(network=network, user=user, client=user_client)


@pytest.fixture
def other(other_network, other_user, other_client) -> Ctx:
    return Ctx(network=other_network, user=other_user, client=other_client)


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every project model (minus presence trackers), for "nothing changed"."""
    state: dict[str, list[tuple]] = {}
    for model in django_apps.get_models():
        if not model.__module__.startswith("apps.") or model._meta.label_lower in VOLATILE_MODELS:
            continue
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in VOLATILE_FIELDS]
        state[model._meta.label_lower] = list(model._default_manager.order_by("pk").values_list(*fields))
    return state


def changed_models(before: dict, after: dict) -> list[str]:
    return sorted(label for label in before if before[label] != after.get(label))


def _call(client, method: str, url: str, body: dict):
    if method == "get":
        return client.get(url)
    return getattr(client, method)(url, body, format="json")


@pytest.mark.parametrize("url_name", TO_COVER)
def test_route_is_covered(url_name):
    route = ROUTES[url_name]
    if url_name in EXEMPT:
        return
    missing = []
    if route.needs_detail and url_name not in DETAIL:
        missing.append(f"a detail(...) case (it has URL kwargs {sorted(route.kwargs)})")
    if route.needs_create and url_name not in CREATE:
        missing.append("a create(...) case (it accepts POST)")
    assert not missing, (
        f"API route {url_name!r} ({route.pattern}) is not in the cross-tenant matrix: register "
        + " and ".join(missing)
        + " in tests/<domain>/matrix.py, or exempt(name, reason)"
    )


def test_registrations_name_existing_routes():
    known = all_route_names()
    stale = sorted(name for name in {*DETAIL, *CREATE, *EXEMPT} if name not in known)
    assert not stale, f"matrix registrations for routes that do not exist: {stale}"


def assert_detail_isolated(case, own: Ctx, other: Ctx) -> None:
    url = reverse(case.url_name, kwargs=case.make(own))
    route = ROUTES.get(case.url_name)
    allowed = route.methods if route else allowed_methods(resolve(url).func)
    methods = [m for m in case.methods if m in allowed]
    assert methods, f"{case.url_name}: none of {case.methods} is allowed by the route ({sorted(allowed)})"
    before = snapshot()
    for method in methods:
        response = _call(other.client, method, url, case.body)
        assert response.status_code == 404, (
            f"{method.upper()} {url} by another network's user answered {response.status_code}, not 404"
        )
    assert changed_models(before, snapshot()) == [], f"{case.url_name}: a 404 request changed rows"
    own_method = "get" if "get" in methods else methods[0]
    response = _call(own.client, own_method, url, case.body)
    assert response.status_code != 404, f"{own_method.upper()} {url} by its own network's user is 404"
    assert response.status_code < 500, f"{own_method.upper()} {url} by its own network's user crashed"


def assert_create_rejected(case, own: Ctx, other: Ctx) -> None:
    url_kwargs, body = case.make(own, other)
    url = reverse(case.url_name, kwargs=url_kwargs or None)
    before = snapshot()
    response = own.client.post(url, body, format="json")
    assert response.status_code in (400, 404), (
        f"POST {url} with a foreign key into another network answered {response.status_code}"
    )
    assert changed_models(before, snapshot()) == [], f"{case.url_name}: a rejected create wrote rows"


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", sorted(DETAIL))
def test_other_networks_object_is_404_and_unchanged(url_name, own, other):
    assert_detail_isolated(DETAIL[url_name], own, other)


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", sorted(CREATE))
def test_foreign_fk_on_create_is_rejected(url_name, own, other):
    assert_create_rejected(CREATE[url_name], own, other)


# --- the organization policy walk ----------------------------------------------------------


@pytest.mark.parametrize("url_name", ORG_TO_COVER)
def test_org_reached_route_is_in_the_policy_walk(url_name):
    route = ROUTES[url_name]
    assert url_name in ORG or url_name in ORG_EXEMPT, (
        f"API route {url_name!r} ({route.pattern}) reaches organization rows (organization_field / "
        "organization_url_kwarg) but is not in the policy walk: register an org_reached(...) case in "
        "tests/<domain>/matrix.py, or org_exempt(name, reason)"
    )


def test_policy_walk_registrations_name_org_reached_routes():
    stale = sorted(name for name in {*ORG, *ORG_EXEMPT} if name not in ROUTES or not ROUTES[name].org_reached)
    assert not stale, f"policy-walk registrations for routes that are not org-reached: {stale}"


_OPEN_POLICY = {
    "require_2fa": False,
    "ip_allowlist": [],
    "api_keys_allowed": True,
    "session_max_age_hours": None,
}


def _set_policy(org, user, **changes) -> None:
    from apps.accounts.selectors import forget_security_state
    from apps.organizations.models import OrganizationSecurityPolicy

    OrganizationSecurityPolicy.objects.filter(organization=org).update(**{**_OPEN_POLICY, **changes})
    forget_security_state(user.pk)


def _principals(ctx: OrgCtx) -> list[tuple[str, dict, object]]:
    """(label, refusing policy, a client of the otherwise-allowed owner)."""
    from datetime import timedelta

    from django.utils import timezone
    from rest_framework.test import APIClient

    from apps.accounts.models import UserSession
    from tests.apikeys.factories import bearer, issue_key
    from tests.organizations.factories import OrganizationFactory
    from tests.preferences.helpers import logged_in_client

    session, _ = logged_in_client(ctx.user)
    old_session, old_key = logged_in_client(ctx.user)
    UserSession.objects.filter(session_key=old_key).update(created_at=timezone.now() - timedelta(hours=2))
    key = APIClient()
    key.credentials(**bearer(issue_key(ctx.user).token))
    elsewhere = OrganizationFactory(network=ctx.network, owner=ctx.user)
    other_key = APIClient()
    other_key.credentials(**bearer(issue_key(ctx.user, organization=elsewhere).token))
    return [
        ("ip_allowlist", {"ip_allowlist": ["10.0.0.0/8"]}, session),
        ("ip_allowlist (key)", {"ip_allowlist": ["10.0.0.0/8"]}, key),
        ("api_keys_allowed", {"api_keys_allowed": False}, key),
        ("require_2fa (session)", {"require_2fa": True}, session),
        ("require_2fa (key)", {"require_2fa": True}, key),
        ("session_max_age_hours", {"session_max_age_hours": 1}, old_session),
        ("key limited to another organization", {}, other_key),
    ]


def _body(case, ctx: OrgCtx) -> dict:
    return case.body(ctx) if callable(case.body) else case.body


def assert_policy_refuses(case, ctx: OrgCtx) -> None:
    kwargs = case.make(ctx)
    url = reverse(case.url_name, kwargs=kwargs or None)
    route = ROUTES[case.url_name]
    methods = [m for m in case.methods if m in route.methods]
    assert methods, (
        f"{case.url_name}: none of {case.methods} is allowed by the route ({sorted(route.methods)})"
    )
    body = _body(case, ctx)
    principals = _principals(ctx)
    before = snapshot()
    for label, policy, client in principals:
        _set_policy(ctx.org, ctx.user, **policy)
        for method in methods:
            response = _call(client, method, url, body)
            assert response.status_code < 500, f"{method.upper()} {url} under {label} crashed"
            if not 200 <= response.status_code < 300:
                continue
            listed = method == "get" and not route.kwargs
            text = response.content.decode()
            assert listed, (
                f"{method.upper()} {url} answered {response.status_code} under a refusing {label} policy"
            )
            leaked = [value for value in ctx.hidden if value in text]
            assert not leaked, f"GET {url} under a refusing {label} policy lists the org's rows {leaked}"
    assert changed_models(before, snapshot()) == [], f"{case.url_name}: a refused request changed rows"
    _set_policy(ctx.org, ctx.user)
    from tests.preferences.helpers import logged_in_client

    client, _ = logged_in_client(ctx.user)
    response = _call(client, methods[0], url, body)
    assert response.status_code not in (401, 403, 404), (
        f"{methods[0].upper()} {url} by the owner with the policy lifted answered {response.status_code}: "
        "the case does not build a row the owner may use"
    )
    if not route.kwargs and methods[0] == "get":
        text = response.content.decode()
        assert all(value in text for value in ctx.hidden), (
            f"GET {url}: the lifted policy does not list the rows"
        )


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", sorted(ORG))
def test_refusing_org_policy_stops_every_org_reached_route(url_name, network, user):
    from tests.organizations.factories import OrganizationFactory

    org = OrganizationFactory(network=network, owner=user)
    assert_policy_refuses(ORG[url_name], OrgCtx(network=network, user=user, org=org))


# --- the matrix bites: a deliberately leaky route fails it ---------------------------------


class _LeakyWidgetSerializer(serializers.ModelSerializer):
    parent = serializers.PrimaryKeyRelatedField(queryset=Widget.objects.all(), required=False)

    class Meta:
        model = Widget
        fields = ("id", "name", "parent")


class _LeakyWidgets(UnscopedViewSet, viewsets.ModelViewSet):
    unscoped_reason = "deliberately leaky, for the matrix self-test"
    serializer_class = _LeakyWidgetSerializer

    def get_queryset(self):
        return Widget.objects.all()  # no network filter: the bug the matrix must catch

    def perform_create(self, serializer):
        serializer.save(network=self.request.user.network)


class _LeakyUrls:
    _router = SimpleRouter()
    _router.register("leaky-widgets", _LeakyWidgets, basename="leaky-widget")
    urlpatterns = [path("api/v1/", include(_router.urls))]


@pytest.mark.django_db
def test_matrix_catches_a_route_that_leaks_across_networks(own, other, settings):
    settings.ROOT_URLCONF = _LeakyUrls
    routes = {name: r for name, r in api_routes().items() if name.startswith("leaky-widget")}
    assert routes["leaky-widget-detail"].kwargs == {"pk"}
    assert routes["leaky-widget-detail"].methods == {"get", "put", "patch", "delete"}
    assert routes["leaky-widget-list"].needs_create

    case = DetailCase(
        "leaky-widget-detail", lambda ctx: {"pk": Widget.objects.create(network=ctx.network, name="w").pk}
    )
    with pytest.raises(AssertionError, match="answered 200, not 404"):
        assert_detail_isolated(case, own, other)

    def foreign_parent(own_ctx: Ctx, other_ctx: Ctx) -> tuple[dict, dict]:
        return {}, {
            "name": "child",
            "parent": str(Widget.objects.create(network=other_ctx.network, name="x").pk),
        }

    with pytest.raises(AssertionError, match="answered 201"):
        assert_create_rejected(CreateCase("leaky-widget-list", foreign_parent), own, other)
