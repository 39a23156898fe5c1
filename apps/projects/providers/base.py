from __future__ import annotations

from typing import Any, ClassVar


class ProviderError(Exception):
    """The provider could not do it; the message is safe to store (no secrets)."""


class ProviderUnavailable(ProviderError):
    """The provider is not configured on this deployment."""


class Provider:
    """What every infrastructure provider implements.

    ``provision`` and ``destroy`` must be idempotent: a retried task calls
    them again. They return the columns to store on success.
    """

    name: ClassVar[str] = ""

    def provision(self, resource: Any) -> dict[str, Any]:
        raise NotImplementedError

    def destroy(self, resource: Any) -> None:
        raise NotImplementedError

    def refresh(self, resource: Any) -> dict[str, Any]:
        return {}

    def command(self, resource: Any, action: str) -> None:
        """Lifecycle commands other than provision/destroy (start, stop, cancel)."""

    def exec(self, resource: Any, command: str, *, timeout_s: int) -> dict[str, Any]:
        """Run ``command`` in the (running) sandbox and wait at most ``timeout_s`` for it:
        ``{"exit_code": int, "output": str}`` (output may be cut by the provider)."""
        raise ProviderUnavailable(f"The {self.name or 'configured'} provider runs no commands.")
