import base64
import os

import pytest
from django.core.management import call_command
from django.db import connection

from apps.core import crypto
from apps.core.crypto import DecryptionError
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

PLAINTEXT = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"


def _raw(widget_id) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM testapp_widget WHERE id = %s", [widget_id])
        return bytes(cursor.fetchone()[0])


def test_round_trip(network):
    widget = Widget.objects.create(network=network, name="w", secret=PLAINTEXT)
    assert Widget.objects.get(pk=widget.pk).secret == PLAINTEXT


def test_stored_value_does_not_contain_plaintext(network):
    widget = Widget.objects.create(network=network, name="w", secret=PLAINTEXT)
    raw = _raw(widget.pk)
    assert PLAINTEXT.encode() not in raw
    assert raw[0] == crypto.current_key_id()
    assert len(raw) == 1 + 12 + len(PLAINTEXT) + 16


def test_hint_is_masked_and_computed_on_write(network):
    widget = Widget.objects.create(network=network, name="w", secret=PLAINTEXT)
    widget.refresh_from_db()
    assert widget.secret_hint == "ghp_…6789"
    assert PLAINTEXT not in widget.secret_hint


def test_lists_do_not_decrypt(network, settings):
    Widget.objects.create(network=network, name="w", secret=PLAINTEXT)
    settings.FIELD_ENCRYPTION_KEYS = {99: os.urandom(32)}  # decrypting now would fail
    rows = list(Widget.objects.all())
    assert rows[0].secret_hint == "ghp_…6789"


def test_rotation_reencrypts_rows_with_newest_key(network, settings, capsys):
    old = dict(settings.FIELD_ENCRYPTION_KEYS)
    widgets = [
        Widget.objects.create(network=network, name=f"w{i}", secret=f"{PLAINTEXT}{i}") for i in range(3)
    ]
    empty = Widget.objects.create(network=network, name="empty")
    new_id = max(old) + 1
    settings.FIELD_ENCRYPTION_KEYS = {new_id: os.urandom(32), **old}
    call_command("rotate_encryption_keys", "--batch-size", "2")
    for i, widget in enumerate(widgets):
        assert _raw(widget.pk)[0] == new_id
        assert Widget.objects.get(pk=widget.pk).secret == f"{PLAINTEXT}{i}"
    assert Widget.objects.get(pk=empty.pk).secret is None
    out = capsys.readouterr().out
    assert "3/3 100%" in out
    # the old key can now be dropped
    settings.FIELD_ENCRYPTION_KEYS = {new_id: settings.FIELD_ENCRYPTION_KEYS[new_id]}
    assert Widget.objects.get(pk=widgets[0].pk).secret == f"{PLAINTEXT}0"


def test_tampered_ciphertext_raises_clear_error(network):
    widget = Widget.objects.create(network=network, name="w", secret=PLAINTEXT)
    raw = bytearray(_raw(widget.pk))
    raw[-1] ^= 0x01
    with connection.cursor() as cursor:
        cursor.execute("UPDATE testapp_widget SET secret = %s WHERE id = %s", [bytes(raw), widget.pk])
    loaded = Widget.objects.get(pk=widget.pk)
    with pytest.raises(DecryptionError, match="failed authentication"):
        _ = loaded.secret


def test_unknown_key_id_raises_clear_error(network, settings):
    widget = Widget.objects.create(network=network, name="w", secret=PLAINTEXT)
    settings.FIELD_ENCRYPTION_KEYS = {42: base64.b64decode(base64.b64encode(os.urandom(32)))}
    with pytest.raises(DecryptionError, match="not in FIELD_ENCRYPTION_KEYS"):
        _ = Widget.objects.get(pk=widget.pk).secret


def test_ciphertext_bound_to_its_column(network):
    blob = crypto.encrypt(PLAINTEXT, aad="other.model.field")
    with pytest.raises(DecryptionError):
        crypto.decrypt(blob, aad="testapp.widget.secret")
