from rest_framework.test import APIRequestFactory

from apps.core.exceptions import Conflict, InvalidState, RateLimited, ValidationFailed, api_exception_handler


def _handle(exc):
    return api_exception_handler(exc, {"request": APIRequestFactory().get("/")})


def test_field_error_is_400_with_field_message_and_code():
    response = _handle(ValidationFailed("Taken.", field="handle", code="handle_taken"))
    assert response.status_code == 400
    assert response.data == {"handle": ["Taken."], "code": "handle_taken"}


def test_field_named_code_keeps_its_message():
    response = _handle(ValidationFailed("That code is not valid.", field="code", code="invalid_code"))
    assert response.data == {"code": ["That code is not valid."], "error_code": "invalid_code"}


def test_state_conflicts_are_409():
    assert _handle(InvalidState()).status_code == 409
    assert _handle(InvalidState()).data["code"] == "invalid_state"
    assert _handle(Conflict("Last owner.", code="last_owner")).data == {
        "detail": "Last owner.",
        "code": "last_owner",
    }


def test_rate_limited_sets_retry_after():
    response = _handle(RateLimited(retry_after=42))
    assert response.status_code == 429
    assert response["Retry-After"] == "42"


def test_database_refusing_a_value_is_400_not_500():
    from django.db import DataError

    response = _handle(DataError("unsupported Unicode escape sequence"))
    assert response.status_code == 400


def test_json_with_nul_or_lone_surrogate_is_refused():
    import pytest
    from django.core.exceptions import ValidationError

    from apps.core.validators import validate_json_storable

    validate_json_storable({"ok": ["fine", {"nested": "é"}]})
    for bad in ({"a\x00": 1}, {"a": ["x\x00"]}, {"a": "\ud800"}):
        with pytest.raises(ValidationError):
            validate_json_storable(bad)


def test_deeply_nested_json_is_400_on_any_endpoint(user_client):
    body = "[" * 100_000 + "]" * 100_000
    response = user_client.patch("/api/v1/me/", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]
