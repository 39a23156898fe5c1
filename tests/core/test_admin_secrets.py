"""No secret on any admin page (issue 7 §4), by construction.

Walks every admin URL — the index, each app, and for every registered model
admin every URL it serves (changelist, add, change, history, delete, its own
views) on a real row — as a superuser, and fails if a secret appears: TOTP
seeds (hex and base32), backup codes, an API key's token and secret, and
the plaintext of every ``EncryptedTextField`` row. Rows with encrypted columns
come from the makers domains register (``tests/matrix.py``:
``admin_secret_rows``); a model with an encrypted column and no row fails.
"""

from __future__ import annotations

import base64

import pytest
from django.apps import apps as django_apps
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core.fields import encrypted_fields
from tests.accounts.factories import UserFactory
from tests.accounts.helpers import enable_totp
from tests.apikeys.factories import issue_key
from tests.matrix import ADMIN_SECRET_MAKERS, Ctx
from tests.test_cross_tenant_matrix import _load_registrations

pytestmark = pytest.mark.django_db

_load_registrations()

MODEL_ADMINS = sorted(model._meta.label_lower for model in admin.site._registry)
#: URLs that act rather than show (GET would sign the staff member out)
SKIPPED_NAMES = {"logout", "autocomplete", "view_on_site"}


def _make_secret_rows(network) -> tuple[list[str], list[str]]:
    """Create a row of every kind that holds a secret: (every secret's plaintext, columns left empty)."""
    ctx = Ctx(network=network, user=UserFactory(network=network), client=None)
    for make in ADMIN_SECRET_MAKERS:
        make(ctx)
    enable_totp(ctx.user)
    issued = issue_key(ctx.user)
    found = [issued.token, issued.token.rsplit("_", 1)[-1]]
    for device in TOTPDevice.objects.all():
        found += [device.key, base64.b32encode(device.bin_key).decode().rstrip("=")]
    for token in StaticToken.objects.values_list("token", flat=True):
        found += [token, f"{token[:4]}-{token[4:]}"]
    missing = []
    for model in django_apps.get_models():
        if not model.__module__.startswith("apps."):
            continue
        for field in encrypted_fields(model):
            values = [getattr(row, field.attname) for row in model._default_manager.all()]
            values = [v for v in values if v]
            if not values:
                missing.append(f"{model._meta.label_lower}.{field.name}")
            found += values
    return [s for s in found if len(s) >= 8], missing


@pytest.fixture
def secrets(network) -> list[str]:
    return _make_secret_rows(network)[0]


def test_every_encrypted_column_has_a_row_to_look_for(network):
    """The walk below can only catch what it knows: a column nobody fills is a failure here
    (and only here — the page walks still run on every other secret)."""
    _found, missing = _make_secret_rows(network)
    assert not missing, (
        "encrypted columns with no row to look for on admin pages: register an admin_secret_rows "
        f"maker in tests/<domain>/matrix.py that fills them (see tests/matrix.py): {missing}"
    )


@pytest.fixture
def staff_client(network) -> Client:
    client = Client()
    client.force_login(UserFactory(network=network, is_staff=True, is_superuser=True))
    return client


def _assert_clean(client: Client, url: str, secrets: list[str]) -> None:
    response = client.get(url)
    assert response.status_code < 500, f"GET {url} → {response.status_code}"
    text = response.content.decode(errors="replace")
    leaked = [s[:6] + "…" for s in secrets if s in text]
    assert not leaked, f"GET {url} shows secrets {leaked}"


def test_admin_index_and_app_pages_show_no_secret(staff_client, secrets):
    _assert_clean(staff_client, reverse("admin:index"), secrets)
    for app_label in sorted({m._meta.app_label for m in admin.site._registry}):
        _assert_clean(staff_client, reverse("admin:app_list", kwargs={"app_label": app_label}), secrets)


@pytest.mark.parametrize("label", MODEL_ADMINS)
def test_every_admin_page_of_the_model_shows_no_secret(label, staff_client, secrets):
    model = django_apps.get_model(label)
    model_admin = admin.site._registry[model]
    rows = list(model._default_manager.all()[:1])
    for pattern in model_admin.get_urls():
        if not isinstance(pattern, URLPattern) or not pattern.name or pattern.name in SKIPPED_NAMES:
            continue
        kwargs = set(pattern.pattern.converters) | set(pattern.pattern.regex.groupindex)
        if not kwargs:
            _assert_clean(staff_client, reverse(f"admin:{pattern.name}"), secrets)
            continue
        if kwargs - {"object_id", "pk", "id"}:
            continue  # a URL needing other parameters (none registered today)
        for row in rows:
            (name,) = kwargs
            _assert_clean(staff_client, reverse(f"admin:{pattern.name}", kwargs={name: row.pk}), secrets)
