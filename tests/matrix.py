"""Registry for the cross-tenant test matrix (tests/test_cross_tenant_matrix.py).

Every API route under /api/v1/ that takes a URL kwarg (a detail or nested
route) must register a ``detail`` case, and every route that accepts POST
must register a ``create`` case — or be ``exempt`` with a reason. A new route
without one fails the matrix test.

Each domain registers its cases in ``tests/<domain>/matrix.py``::

    from tests.matrix import Ctx, create, detail, exempt

    @detail("organization-detail")
    def _org(ctx: Ctx) -> dict:
        # an object in ctx.network that ctx.user (of that network) may fully use
        org = OrganizationFactory(network=ctx.network)
        OrganizationMemberFactory(organization=org, user=ctx.user, role="owner")
        return {"pk": org.pk}

    @create("project-list")
    def _project_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
        # (URL kwargs in own's network, a body that is valid except that one
        #  client-sent FK points at an object of other's network)
        org = OrganizationFactory(network=other.network)
        return {}, {"name": "p", "owner_organization": str(org.pk)}

    exempt("api-schema", "static document")

``detail`` cases may narrow ``methods`` (default GET, PUT, PATCH, DELETE;
methods the route does not allow are skipped automatically). The matrix
checks that ``own.user`` gets a non-404 on its own object, and that the other
network's user gets 404 on it with every method, and nothing changed.
``create`` cases expect 400 (client FK) or 404 (foreign parent in the URL).
Action routes (``…/{pk}/revoke/``) are detail routes too: register them.

**The organization policy walk.** Every route whose view is org-reached (its
model or viewset declares ``organization_field``, or it has an
``organization_url_kwarg`` — see ``apps/organizations/policy.py``) must also
register an ``org_reached`` case, or ``org_exempt(name, reason)``::

    from tests.matrix import OrgCtx, org_reached

    @org_reached("project-detail", methods=("get", "patch", "delete"), body={"name": "x"})
    def _org_project(ctx: OrgCtx) -> dict:
        # a row owned by / reached through ctx.org (ctx.user is its owner)
        return {"pk": OrgProjectFactory(owner_organization=ctx.org).pk}

    @org_reached("project-list", methods=("get", "post"), body=lambda ctx: {"owner_organization": str(ctx.org.pk), "name": "p"})
    def _org_projects(ctx: OrgCtx) -> dict:
        ctx.hidden.append(str(OrgProjectFactory(owner_organization=ctx.org).pk))  # must not be listed
        return {}

The walk applies each refusing policy (IP allowlist, API keys off, 2FA
required — session and key —, session too old, a key limited to another
organization) to ``ctx.org`` and calls every method with a principal that is
otherwise allowed (the owner): none may answer 2xx — except a GET of a list
route, which must then not contain any of ``ctx.hidden`` — and nothing may
change. Then, with the policy lifted, the first method must not be refused
(401/403/404). ``body`` may be a dict or a function of the context.

**The admin secrets walk** (``tests/core/test_admin_secrets.py``) opens every
admin page as a superuser and fails if a secret appears: 2FA seeds and
backup codes, API key secrets, and the plaintext of every
``EncryptedTextField``. Every model with an encrypted column needs rows to
look for: register a maker that creates some (with a value in each encrypted
column), or the walk fails naming the model::

    from tests.matrix import admin_secret_rows

    @admin_secret_rows
    def _sandbox_secrets(ctx: Ctx) -> None:
        SandboxFactory(project=ProjectFactory(owner_user=ctx.user), access_secret="s3cr3t-value-1234")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Ctx:
    network: Any
    user: Any
    client: Any  # an APIClient authenticated as user


@dataclass
class DetailCase:
    url_name: str
    make: Callable[[Ctx], dict]
    methods: tuple[str, ...] = ("get", "put", "patch", "delete", "post")
    body: dict = field(default_factory=dict)


@dataclass
class CreateCase:
    url_name: str
    make: Callable[[Ctx, Ctx], tuple[dict, dict]]


@dataclass
class OrgCtx:
    network: Any
    user: Any  # the owner of org
    org: Any  # the organization whose policy the walk turns on
    hidden: list[str] = field(default_factory=list)  # ids a list route must not show


@dataclass
class OrgCase:
    url_name: str
    make: Callable[[OrgCtx], dict]
    methods: tuple[str, ...] = ("get", "put", "patch", "delete", "post")
    body: dict | Callable[[OrgCtx], dict] = field(default_factory=dict)


DETAIL: dict[str, DetailCase] = {}
CREATE: dict[str, CreateCase] = {}
EXEMPT: dict[str, str] = {}
ORG: dict[str, OrgCase] = {}
ORG_EXEMPT: dict[str, str] = {}
ADMIN_SECRET_MAKERS: list[Callable[[Ctx], None]] = []


def detail(url_name: str, *, methods: tuple[str, ...] | None = None, body: dict | None = None):
    def register(fn: Callable[[Ctx], dict]) -> Callable[[Ctx], dict]:
        DETAIL[url_name] = DetailCase(url_name, fn, methods or DetailCase.methods, body or {})
        return fn

    return register


def create(url_name: str):
    def register(fn):
        CREATE[url_name] = CreateCase(url_name, fn)
        return fn

    return register


def exempt(url_name: str, reason: str) -> None:
    if not reason:
        raise ValueError("an exemption needs a reason")
    EXEMPT[url_name] = reason


def org_reached(
    url_name: str,
    *,
    methods: tuple[str, ...] | None = None,
    body: dict | Callable[[OrgCtx], dict] | None = None,
):
    def register(fn: Callable[[OrgCtx], dict]) -> Callable[[OrgCtx], dict]:
        ORG[url_name] = OrgCase(url_name, fn, methods or OrgCase.methods, body or {})
        return fn

    return register


def org_exempt(url_name: str, reason: str) -> None:
    if not reason:
        raise ValueError("an exemption needs a reason")
    ORG_EXEMPT[url_name] = reason


def admin_secret_rows(fn: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
    ADMIN_SECRET_MAKERS.append(fn)
    return fn
