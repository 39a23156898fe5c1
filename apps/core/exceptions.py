"""Domain errors raised by services, and the one DRF handler that maps them.

Services never know about HTTP; they raise these, and ``api_exception_handler``
turns them into DRF's standard error format with a stable ``code``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class DomainError(Exception):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"
    default_message = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.field = field
        self.extra = extra or {}
        super().__init__(self.message)


class ValidationFailed(DomainError):
    """400 — bad input; ``field`` names the offending field when there is one."""


class NotFound(DomainError):
    """404 — missing, or in another network, or not visible: indistinguishable."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"
    default_message = "Not found."


class PermissionDenied(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "permission_denied"
    default_message = "You do not have permission to perform this action."


class NotAuthenticated(DomainError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "not_authenticated"
    default_message = "Authentication credentials were not provided."


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_message = "The request conflicts with the current state."


class InvalidState(Conflict):
    default_code = "invalid_state"
    default_message = "This action is not allowed in the object's current state."


class RateLimited(DomainError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "throttled"
    default_message = "Too many requests."

    def __init__(self, message: str | None = None, *, retry_after: int = 1, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = max(1, int(retry_after))


class PaymentRequired(DomainError):
    status_code = status.HTTP_402_PAYMENT_REQUIRED
    default_code = "payment_required"


def _domain_response(exc: DomainError) -> Response:
    if exc.field and exc.status_code == status.HTTP_400_BAD_REQUEST:
        # a field literally named "code"/"detail" keeps its message; the code moves aside
        code_key = "error_code" if exc.field in ("code", "detail") else "code"
        body: dict[str, Any] = {exc.field: [exc.message], code_key: exc.code}
    else:
        body = {"detail": exc.message, "code": exc.code}
    body.update(exc.extra)
    response = Response(body, status=exc.status_code)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return _domain_response(exc)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            detail: Any = {k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()}
        else:
            detail = {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DataError):
        # a value PostgreSQL refuses (NUL in text/jsonb, out-of-range number) that
        # validation let through: the client's input, so a 400, never a 500
        logger.warning("database refused a value: %s", exc)
        exc = exceptions.ValidationError(
            {"detail": "A value in the request cannot be stored."}, code="invalid"
        )
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException) and isinstance(response.data, dict):
        if "detail" in response.data and "code" not in response.data:
            codes = exc.get_codes()
            if isinstance(codes, str):
                response.data["code"] = codes
    return response
