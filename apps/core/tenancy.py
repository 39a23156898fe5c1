"""Which network a request acts in.

The authenticated principal's network (an API key's, else the user's); for
anonymous requests the network serving the host, else the default network.
"""

from __future__ import annotations

from typing import Any

from apps.networks.models import Network
from apps.networks.selectors import network_for_host


def principal_network(user: Any, auth: Any) -> Network | None:
    key_network = getattr(auth, "network", None)
    if isinstance(key_network, Network):
        return key_network
    if user is not None and getattr(user, "is_authenticated", False):
        return user.network
    return None


def resolve_network(request: Any, *, user: Any = None, auth: Any = None) -> Network | None:
    network = principal_network(user, auth)
    if network is not None:
        return network
    return network_for_host(request.get_host() if hasattr(request, "get_host") else None)
