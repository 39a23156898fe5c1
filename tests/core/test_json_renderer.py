"""The API's orjson renderer gives DRF's bytes, and DRF's own path for what orjson would encode differently."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import uuid

import pytest
from django.utils.translation import gettext_lazy
from rest_framework import renderers
from rest_framework.exceptions import ErrorDetail
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from apps.core.renderers import JSONRenderer

UTC = datetime.UTC


@dataclasses.dataclass
class Point:
    x: int


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


SAME_AS_DRF = {
    "plain": {"a": 1, "b": [True, False, None], "c": "text", "d": 1.5, "e": -(2**63)},
    "unicode unescaped": {"name": "Zoë — 日本語 🐝", "quote": 'say "hi"\n\t\\'},
    "line separators escaped": {"js": "a\u2028b\u2029c"},
    "nested serializer output": ReturnDict(
        {"results": ReturnList([{"id": "x", "n": 1}], serializer=None), "next": None}, serializer=None
    ),
    "error details": {"name": [ErrorDetail("This field is required.", code="required")]},
    "lazy text": {"detail": gettext_lazy("Not found.")},
    "uuid": {"id": uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")},
    "aware datetime": {"at": datetime.datetime(2026, 12, 4, 20, 1, 2, 345678, tzinfo=UTC)},
    "datetime without microseconds": {"at": datetime.datetime(2026, 12, 4, 20, 1, 2, tzinfo=UTC)},
    "naive datetime": {"at": datetime.datetime(2026, 12, 4, 20, 1, 2)},  # noqa: DTZ001 — naive on purpose
    "date and time": {"d": datetime.date(2026, 12, 4), "t": datetime.time(8, 30)},
    "decimal": {"amount": decimal.Decimal("12.50")},
    "bytes": {"raw": b"abc"},
    "tuple and set-free iterables": {"pair": (1, 2)},
    "timedelta": {"d": datetime.timedelta(hours=1, seconds=3)},
    "beyond 64 bits": {"big": 2**70},
    "non-string keys": {1: "one", None: "none"},
    "deeper than orjson's limit": _nested(300),
}


@pytest.mark.parametrize("data", SAME_AS_DRF.values(), ids=SAME_AS_DRF.keys())
def test_renders_the_bytes_drf_renders(data):
    assert JSONRenderer().render(data) == renderers.JSONRenderer().render(data)


def test_an_aware_time_fails_as_it_does_in_drf():
    value = {"t": datetime.time(8, 30, tzinfo=UTC)}
    with pytest.raises(ValueError, match="aware"):
        renderers.JSONRenderer().render(value)
    with pytest.raises(ValueError, match="aware"):
        JSONRenderer().render(value)


def test_a_dataclass_fails_as_it_does_in_drf():
    with pytest.raises(TypeError):
        renderers.JSONRenderer().render({"p": Point(1)})
    with pytest.raises(TypeError):
        JSONRenderer().render({"p": Point(1)})


def test_an_indent_asked_for_is_drfs_indented_output():
    data = {"a": [1, {"b": 2}]}
    media = "application/json; indent=4"
    assert JSONRenderer().render(data, media) == renderers.JSONRenderer().render(data, media)
    assert b"\n    " in JSONRenderer().render(data, media)


def test_none_is_an_empty_body():
    assert JSONRenderer().render(None) == b""


def test_nan_is_null_instead_of_a_server_error():
    with pytest.raises(ValueError):
        renderers.JSONRenderer().render({"x": float("nan")})
    assert JSONRenderer().render({"x": float("nan"), "y": float("inf")}) == b'{"x":null,"y":null}'


@pytest.mark.django_db
def test_the_api_renders_with_it(client):
    response = client.get("/api/v1/me/")
    assert response.status_code in (401, 403)
    assert isinstance(response.accepted_renderer, JSONRenderer)
    assert response.content.startswith(b'{"')
