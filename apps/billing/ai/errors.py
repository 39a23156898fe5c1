"""Errors of AI calls; the one API handler maps them (402, 409, 502, 504)."""

from __future__ import annotations

from rest_framework import status

from apps.core.exceptions import Conflict, DomainError, PaymentRequired, ValidationFailed


class AIQuotaExceeded(PaymentRequired):
    """A budget or allowance would be exceeded: refused before anything was sent."""

    default_code = "ai_quota_exceeded"
    default_message = "The AI budget for this call is used up."


class ModelNotAllowed(ValidationFailed):
    default_code = "model_not_allowed"
    default_message = "This model is not allowed by the AI provider configuration."


class ProviderNotConfigured(Conflict):
    default_code = "ai_provider_not_configured"
    default_message = "No AI provider is configured for this call."


class ProviderError(DomainError):
    """The provider was called and failed (HTTP error, bad answer, connection)."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "ai_provider_error"
    default_message = "The AI provider failed to answer."

    def __init__(self, message: str | None = None, *, reason: str = "error", **kwargs) -> None:
        super().__init__(message, **kwargs)
        #: short machine reason stored in AIUsage.error_code (``http_500``, ``malformed_response``…)
        self.reason = reason
        self.extra.setdefault("reason", reason)


class ProviderTimeout(ProviderError):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    default_code = "ai_provider_timeout"
    default_message = "The AI provider did not answer in time."
