"""Network resolution: principal's network, else host, else the default."""

from __future__ import annotations

from django.core.cache import cache

from .models import Network

_HOST_TTL = 300


def _host_cache_key(host: str) -> str:
    return f"network:host:{host}"


def network_for_host(host: str | None) -> Network | None:
    """The network serving ``host`` (cached in Redis 5 min), else the default."""
    host = (host or "").split(":")[0].lower().strip()
    network_id = cache.get(_host_cache_key(host)) if host else None
    if network_id:
        network = Network.objects.filter(pk=network_id).first()
        if network:
            return network
    network = Network.objects.filter(domain=host).first() if host else None
    if network is None:
        network = default_network()
    if network is not None and host:
        cache.set(_host_cache_key(host), str(network.pk), _HOST_TTL)
    return network


def default_network() -> Network | None:
    return Network.objects.filter(is_default=True).first()


def forget_host(host: str | None) -> None:
    if host:
        cache.delete(_host_cache_key(host.lower()))
