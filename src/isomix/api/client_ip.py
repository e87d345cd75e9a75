"""The address a request came from, for rate limits and logs.

The TCP peer is the client unless it is a proxy the administrator trusts
(`ISOMIX_TRUSTED_PROXIES`: IPs and CIDRs, comma-separated; empty trusts nobody). Only then is
`X-Forwarded-For` read, from the right: each trusted proxy appends the address it saw, so the
right-most entry that is not one of ours is the first address nobody we trust vouches against.
Entries left of it were written by the client and may be anything. A header from an untrusted
peer is ignored entirely, or anyone could pick the address their rate limit is counted on.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from starlette.requests import HTTPConnection

from isomix.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"  # no peer address (a unix socket): one shared bucket


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """The setting's value; an entry that is no address or network is a ValueError."""
        return _parse(text)

    def trusts(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


@lru_cache(maxsize=8)
def _parse(text: str) -> TrustedProxies:
    networks: list[IPNetwork] = []
    for entry in (item.strip() for item in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"ISOMIX_TRUSTED_PROXIES: not an IP address or network: {entry!r}"
            ) from None
    return TrustedProxies(tuple(networks))


def parse_address(text: str) -> IPAddress | None:
    """An address as a proxy writes it (`1.2.3.4`, `1.2.3.4:80`, `[::1]`, `[::1]:80`, `::1`);
    IPv4-mapped IPv6 as IPv4, so `::ffff:10.0.0.1` matches `10.0.0.0/8`. None: malformed."""
    text = text.strip()
    if text.startswith("["):
        text, bracket, _port = text[1:].partition("]")
        if not bracket:
            return None
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_ip(scope_or_request: Mapping[str, Any] | HTTPConnection, trusted: TrustedProxies) -> str:
    scope = (
        scope_or_request.scope if isinstance(scope_or_request, HTTPConnection) else scope_or_request
    )
    client = scope.get("client")
    peer_text = str(client[0]) if client and client[0] else ""
    if not peer_text:
        return UNKNOWN
    peer = parse_address(peer_text)
    if peer is None or not trusted.trusts(peer):
        return peer_text if peer is None else str(peer)

    entries = [
        entry
        for name, value in scope.get("headers", [])
        if name.lower() == b"x-forwarded-for"
        for entry in value.decode("latin-1").split(",")
    ]
    found = peer
    for entry in reversed(entries):
        address = parse_address(entry)
        if address is None:  # garbage: nothing left of it can be trusted to mean anything
            break
        found = address
        if not trusted.trusts(address):
            break
    return str(found)


def client_ip_of(request: HTTPConnection, settings: Settings) -> str:
    """The client address of a request under this server's ISOMIX_TRUSTED_PROXIES."""
    return client_ip(request, TrustedProxies.parse(settings.trusted_proxies))
