"""Keys for tests are minted through the service, like the API does."""

from __future__ import annotations

from typing import Any

from apps.apikeys import services


def issue_key(
    user: Any, *, scopes: list[str] | None = None, actor: Any = None, **kwargs: Any
) -> services.IssuedKey:
    """A key acting as ``user`` (an agent's key is minted by its owner: pass ``actor``)."""
    if user.is_ai:
        return services.create_api_key(
            actor=actor or user.agent_owner_user,
            agent=user,
            name="test key",
            scopes=scopes or ["full"],
            **kwargs,
        )
    return services.create_api_key(actor=user, name="test key", scopes=scopes or ["full"], **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def make_agent(*, owner: Any = None, organization: Any = None, network: Any = None) -> Any:
    """An active agent owned by a user or an organization."""
    from tests.accounts.factories import UserFactory

    network = network or (owner.network if owner is not None else organization.network)
    return UserFactory(
        network=network,
        email=None,
        is_ai=True,
        agent_status="active",
        agent_owner_user=owner,
        agent_owner_organization=organization,
        verified=False,
    )
