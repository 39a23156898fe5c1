"""Which network a request acts in.

The authenticated principal's network (an API key's, else the user's); for
anonymous requests the network serving the host, else the default network.
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import LazyObject, empty

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


#: what a request that resolves no network is told (fresh database, or a host naming none and no default)
NO_NETWORK_MESSAGE = (
    "No network serves this host and there is no default network: "
    "run `manage.py bootstrap_colony`, or give a network this domain."
)


def request_network(request: Any) -> Network | None:
    """``request.network`` as a real value: None when nothing resolved.

    ``NetworkMiddleware`` sets a lazy object; one that resolved to nothing is
    not ``None`` (``lazy is None`` is False, its attributes raise), so code
    that may meet a network-less request reads it through here and fails
    closed instead of dereferencing None.
    """
    return unwrap_lazy(getattr(request, "network", None))


def unwrap_lazy(value: Any) -> Any:
    """The object behind Django's lazy proxies (evaluated if it was not yet), or the value itself."""
    while isinstance(value, LazyObject):
        if value._wrapped is empty:
            value._setup()
        value = value._wrapped
    return value
