"""The one resolver of the client's IP address; every IP rule asks it.

Org IP allowlists, login throttles (allauth's adapter), API key usage and
last-used IPs, login history, session rows and audit events all call
``client_ip(request)``.

Forwarded headers are trusted only from the proxies in
``settings.FORWARDED_ALLOW_IPS`` (IPs or CIDRs, ``*`` = any; empty = none, the
default). The Procfile passes the same variable to uvicorn's
``--forwarded-allow-ips``, so uvicorn rewrites the client address only for
those peers — never, by default, for a client on the same host (uvicorn's
own default trusts loopback, which let a local client spoof its address).
This resolver applies the same rule for servers that did not (tests,
``runserver``): ``X-Forwarded-For`` counts only when ``REMOTE_ADDR`` is a
trusted proxy, and then the client is the right-most address that is not
itself a trusted proxy (each proxy appends the address it saw).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse(value: str | None) -> IPAddress | None:
    value = (value or "").strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


@lru_cache(maxsize=8)
def _trusted(entries: tuple[str, ...]) -> tuple[bool, tuple[IPNetwork, ...]]:
    if "*" in entries:
        return True, ()
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    return False, tuple(networks)


def is_trusted_proxy(address: IPAddress | None) -> bool:
    if address is None:
        return False
    always, networks = _trusted(tuple(settings.FORWARDED_ALLOW_IPS))
    return always or any(address.version == n.version and address in n for n in networks)


def client_ip(request: Any) -> str | None:
    """The client's address as a string (None when the peer is unknown or not an IP)."""
    meta = getattr(request, "META", None)
    if meta is None:
        meta = getattr(getattr(request, "_request", None), "META", {})
    peer = _parse(meta.get("REMOTE_ADDR"))
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    if peer is None or not forwarded or not is_trusted_proxy(peer):
        return str(peer) if peer is not None else None
    hops = [_parse(part) for part in forwarded.split(",")]
    always, _ = _trusted(tuple(settings.FORWARDED_ALLOW_IPS))
    if always:
        return str(hops[0]) if hops[0] is not None else None
    for hop in reversed(hops):
        if hop is None:  # a malformed entry where the client should be: unknown, never the proxy
            return None
        if not is_trusted_proxy(hop):
            return str(hop)
    return str(hops[0])
