"""Outbound HTTP to URLs that users configure, without server-side request forgery.

One home for the rule every user-configured outbound URL follows (AI
provider base URLs, integration HTTP endpoints):

* ``check_public_url(url, field=…)`` — at save time: http(s), no credentials
  in the URL, ``https`` only, and the host must resolve only to global
  addresses (no loopback, private, link-local — 169.254.169.254 —, CGNAT,
  reserved or multicast ranges; IPv4-mapped IPv6 unwrapped). Errors are
  ``ValidationFailed`` on ``field`` with codes ``<field>_not_https``,
  ``<field>_private``, ``<field>_unresolvable``, ``<field>_credentials``.
* ``public_client(...)`` (``httpx``) / ``public_transport_httpx2(...)`` (the ``openai`` SDK's
  ``httpx2``) — at call time: an ``httpx.Client`` whose TCP
  connections resolve the host themselves, refuse (``UnsafeAddress``) any
  non-global address and connect to the address they checked, so a DNS
  answer that changes between the check and the connect (rebinding) cannot
  reach an internal host. TLS still verifies the certificate for the host
  name (SNI is the URL's host). No proxies from the environment, no
  redirects.

``allow_private=True`` lifts the address rules (tests, a local Ollama, staff
configs); the caller decides from its own setting.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from httpcore._backends.sync import SyncBackend

from .exceptions import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeAddress(httpx.TransportError):
    """A connection to a non-global address was refused (raised while connecting)."""


def is_public_address(address: IPAddress | str) -> bool:
    ip = ipaddress.ip_address(str(address).split("%")[0]) if isinstance(address, str) else address
    mapped = getattr(ip, "ipv4_mapped", None) or ip
    return bool(mapped.is_global) and not mapped.is_multicast


def resolve(host: str, port: int = 443) -> list[IPAddress]:
    """The host's addresses (a literal IP is its own answer); ``OSError`` when it does not resolve."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def check_public_url(
    url: str, *, field: str = "url", allow_private: bool = False, strip_slash: bool = True
) -> str:
    """The normalised URL, or ``ValidationFailed`` on ``field`` (see the module docstring)."""
    url = (url or "").strip()
    if strip_slash:
        url = url.rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — raises ValueError for a bad port
    except ValueError as exc:
        raise ValidationFailed("Enter a valid URL.", field=field) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed("Enter a valid http(s) URL.", field=field)
    if parts.username or parts.password:
        raise ValidationFailed(
            "Put credentials in the key or token, not in the URL.", field=field, code=f"{field}_credentials"
        )
    if allow_private:
        return url
    if parts.scheme != "https":
        raise ValidationFailed("The URL must use https.", field=field, code=f"{field}_not_https")
    try:
        addresses = resolve(parts.hostname, parts.port or 443)
    except (OSError, UnicodeError) as exc:
        raise ValidationFailed(
            f"The host {parts.hostname!r} does not resolve.", field=field, code=f"{field}_unresolvable"
        ) from exc
    if not addresses or not all(is_public_address(a) for a in addresses):
        raise ValidationFailed(
            "The URL resolves to a private, loopback or reserved address.",
            field=field,
            code=f"{field}_private",
        )
    return url


def _public_only(base: type, connect_error: type) -> type:
    """A subclass of an httpcore(-compatible) socket backend that connects only to checked global addresses."""

    class PublicOnlyBackend(base):  # type: ignore[misc, valid-type]
        def __init__(self, *, allow_private: bool) -> None:
            self.allow_private = allow_private

        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> Any:
            if self.allow_private:
                return super().connect_tcp(host, port, timeout, local_address, socket_options)
            try:
                addresses = resolve(host, port)
            except (OSError, UnicodeError) as exc:
                raise connect_error(f"{host} does not resolve") from exc
            if not addresses or not all(is_public_address(a) for a in addresses):
                raise UnsafeAddress(f"{host} resolves to a private, loopback or reserved address")
            # connect to the address just checked, not to a second DNS answer
            return super().connect_tcp(str(addresses[0]), port, timeout, local_address, socket_options)

    return PublicOnlyBackend


_PublicOnlyBackend = _public_only(SyncBackend, httpcore.ConnectError)


def public_transport_httpx2(*, allow_private: bool = False) -> Any:
    """The same rule for ``httpx2`` (the HTTP stack of the ``openai`` SDK): a transport for its client."""
    import httpcore2
    import httpx2
    from httpcore2._backends.sync import SyncBackend as SyncBackend2

    transport = httpx2.HTTPTransport(retries=0)
    transport._pool._network_backend = _public_only(SyncBackend2, httpcore2.ConnectError)(
        allow_private=allow_private
    )
    return transport


def public_client(
    *, allow_private: bool = False, timeout: float = 10.0, connect_timeout: float = 5.0, **kwargs: Any
) -> httpx.Client:
    """An ``httpx.Client`` that only connects to global addresses (see the module docstring)."""
    transport = httpx.HTTPTransport(retries=0)
    transport._pool._network_backend = _PublicOnlyBackend(allow_private=allow_private)
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        follow_redirects=False,
        trust_env=False,
        **kwargs,
    )
