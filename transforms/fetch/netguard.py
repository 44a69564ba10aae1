"""SSRF guard: links from feeds are untrusted, so newsbeam only connects to public addresses.

A feed can link to ``http://169.254.169.254/`` (cloud metadata), ``http://localhost:6379/`` or a
name whose DNS answer points into our own network, and a public page can redirect there. So the
check cannot be a look at the URL: it sits in the httpx connection layer (an httpcore network
backend), which resolves the host name, drops every address that is not public, and opens the
socket to one of the vetted addresses itself. The address checked is the address connected to:
no second DNS lookup happens between the check and the connection (no DNS-rebinding window), and
every redirect hop to a new host opens a new, vetted connection. TLS still verifies the host name.

Residual risks (documented, not handled): environment proxies are not used (``trust_env=False``),
because a proxy would resolve the name itself; any port of a public address is allowed; and a public
address that forwards to internal services (an open proxy on the internet) is out of our reach.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from newsbeam.transforms.errors import BlockedAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_FLAG = "--allow-private-networks"

_RFC1918 = tuple(ipaddress.IPv4Network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address really reaches (mapped, 6to4, NAT64, v4-compatible), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_class(address: IPAddress) -> str | None:
    """Why newsbeam refuses to connect to ``address`` (e.g. ``"loopback"``), or None if it is public.

    IPv6 forms that carry an IPv4 address (``::ffff:127.0.0.1``, 6to4, NAT64) are judged by that
    IPv4 address, since that is where the packets go.
    """
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_ipv4(address)) is not None:
        why = address_class(inner)
        return None if why is None else f"{why} (IPv4 {inner} inside an IPv6 address)"
    if address.is_link_local:
        return "link-local (where cloud metadata services live)"
    if address.is_multicast:
        return "multicast"
    if any(address in net for net in _RFC1918) or address in _UNIQUE_LOCAL:
        return "private"
    if address.is_reserved or address.is_private or not address.is_global:
        return "not publicly routable (reserved or special-purpose)"
    return None


def parse_networks(networks: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings as networks; ``ValueError`` names the bad one."""
    return tuple(ipaddress.ip_network(net.strip(), strict=False) for net in networks)


def vetted_addresses(host: str, port: int, exempt: tuple[IPNetwork, ...] = ()) -> list[IPAddress]:
    """Resolve ``host`` and keep only the addresses we may connect to, in resolver order.

    Raises ``BlockedAddressError`` naming the first refused address and its class when none is left,
    and ``httpcore.ConnectError`` when the name does not resolve (httpx maps it to a connect error).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from error
    allowed: list[IPAddress] = []
    refused: list[tuple[IPAddress, str]] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        why = None if any(address in net for net in exempt) else address_class(address)
        if why is None:
            if address not in allowed:
                allowed.append(address)
        else:
            refused.append((address, why))
    if not allowed:
        if not refused:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        address, why = refused[0]
        subject = f"{host} is" if host.strip("[]") == str(address) else f"{host} resolves to {address},"
        raise BlockedAddressError(
            f"{subject} a {why} address; newsbeam only connects to public addresses so that feed links "
            f"cannot reach private networks (SSRF guard); pass {ALLOW_FLAG} (HttpConfig.allow_private_networks) "
            "if this host is meant to be fetched"
        )
    return allowed


class GuardedBackend(httpcore.SyncBackend):  # type: ignore[misc]
    """httpcore's socket backend, connecting only to vetted addresses (all, if private networks are allowed)."""

    def __init__(self, *, allow_private: bool, exempt: tuple[IPNetwork, ...] = ()) -> None:
        super().__init__()
        self.allow_private = allow_private
        self.exempt = exempt

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if self.allow_private:
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        last: Exception | None = None
        for address in vetted_addresses(host, port, self.exempt):
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last = error  # try the next vetted address, as socket.create_connection would
        assert last is not None  # vetted_addresses never returns an empty list
        raise last


class GuardedTransport(httpx.HTTPTransport):  # type: ignore[misc]
    """httpx's own transport (its request, response and error mapping) on a ``GuardedBackend`` pool.

    httpx has no public hook for the network backend, so the pool it built is replaced by an
    equivalent one; if a future httpx no longer has that pool we stop instead of running unguarded.
    """

    def __init__(self, limits: httpx.Limits, backend: GuardedBackend) -> None:
        super().__init__(limits=limits, trust_env=False)
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError(
                "this httpx version builds its transport differently, so newsbeam cannot install its SSRF "
                "guard; use the httpx version pinned in pyproject.toml"
            )
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
