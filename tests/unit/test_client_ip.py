"""The client's address (api/client_ip.py): the peer, unless a trusted proxy vouches for
another through X-Forwarded-For."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from isomix.api.client_ip import TrustedProxies, client_ip

NOBODY = TrustedProxies.parse("")
PROXIES = TrustedProxies.parse("10.0.0.1, 10.0.1.0/24, 2001:db8::/32")


def scope(peer: str | None, *forwarded: str) -> dict[str, Any]:
    return {
        "type": "http",
        "client": None if peer is None else (peer, 40000),
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    spoofed = scope("203.0.113.9", "1.2.3.4", "10.0.0.1")
    assert client_ip(spoofed, NOBODY) == "203.0.113.9"
    assert client_ip(spoofed, PROXIES) == "203.0.113.9"


def test_a_trusted_proxy_names_the_client() -> None:
    assert client_ip(scope("10.0.0.1", "198.51.100.7"), PROXIES) == "198.51.100.7"
    assert client_ip(scope("10.0.0.1"), PROXIES) == "10.0.0.1"  # nothing forwarded


def test_addresses_the_client_wrote_left_of_it_are_ignored() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4, 10.0.1.9"; our proxy appended what it saw.
    forwarded = scope("10.0.0.1", "1.2.3.4, 10.0.1.9, 198.51.100.7")
    assert client_ip(forwarded, PROXIES) == "198.51.100.7"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right() -> None:
    chain = scope("10.0.0.1", "198.51.100.7, 10.0.1.5, 10.0.1.6")
    assert client_ip(chain, PROXIES) == "198.51.100.7"
    # Several headers are one list, in order.
    split = scope("10.0.0.1", "1.2.3.4, 198.51.100.7", "10.0.1.5", "10.0.1.6")
    assert client_ip(split, PROXIES) == "198.51.100.7"


def test_all_trusted_gives_the_leftmost() -> None:
    assert client_ip(scope("10.0.0.1", "10.0.1.2, 10.0.1.3"), PROXIES) == "10.0.1.2"


def test_cidr_and_single_address_entries() -> None:
    trusted = TrustedProxies.parse("192.168.0.0/16")
    assert client_ip(scope("192.168.44.3", "198.51.100.7"), trusted) == "198.51.100.7"
    assert client_ip(scope("192.169.0.1", "198.51.100.7"), trusted) == "192.169.0.1"
    # A host address with a prefix counts as its network.
    assert TrustedProxies.parse("10.1.2.3/8") == TrustedProxies.parse("10.0.0.0/8")


def test_ipv6() -> None:
    assert client_ip(scope("2001:db8::1", "2a00:1450::1"), PROXIES) == "2a00:1450::1"
    assert client_ip(scope("2001:db8::1", "[2a00:1450::1]:443"), PROXIES) == "2a00:1450::1"
    assert client_ip(scope("2001:db8::1", "2a00:1450::1, 2001:db8::9"), PROXIES) == "2a00:1450::1"
    assert client_ip(scope("2a00:1450::1", "198.51.100.7"), PROXIES) == "2a00:1450::1"
    # An IPv4 proxy seen through a dual-stack socket.
    assert client_ip(scope("::ffff:10.0.0.1", "198.51.100.7"), PROXIES) == "198.51.100.7"
    assert client_ip(scope("2001:0db8:0000::0001"), NOBODY) == "2001:db8::1"


def test_ports_written_by_a_proxy_are_dropped() -> None:
    assert client_ip(scope("10.0.0.1", "198.51.100.7:5123"), PROXIES) == "198.51.100.7"


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("198.51.100.7, garbage, 10.0.1.5", "10.0.1.5"),
        ("198.51.100.7, unknown", "10.0.0.1"),
        ("198.51.100.7,, 10.0.1.5", "10.0.1.5"),
        ("198.51.100.7, 10.0.1.5, [::1", "10.0.0.1"),
        ("", "10.0.0.1"),
        ("999.1.1.1", "10.0.0.1"),
    ],
)
def test_a_malformed_entry_stops_the_walk(forwarded: str, expected: str) -> None:
    assert client_ip(scope("10.0.0.1", forwarded), PROXIES) == expected


def test_without_a_peer_address() -> None:
    assert client_ip(scope(None, "198.51.100.7"), PROXIES) == "unknown"
    assert client_ip(scope("testclient"), PROXIES) == "testclient"  # not an address: as is


def test_a_request_works_like_its_scope() -> None:
    request = Request(scope("10.0.0.1", "198.51.100.7"))
    assert client_ip(request, PROXIES) == "198.51.100.7"


def test_parse_names_a_bad_entry_and_caches() -> None:
    for bad in ("10.0.0.1, proxy.example", "10.0.0.0/33", "10.0.0.1 10.0.0.2"):
        with pytest.raises(ValueError, match="ISOMIX_TRUSTED_PROXIES: not an IP") as error:
            TrustedProxies.parse(bad)
        assert bad.split(",")[-1].strip() in str(error.value)
    assert TrustedProxies.parse(" , ").networks == ()
    assert TrustedProxies.parse("10.0.0.1") is TrustedProxies.parse("10.0.0.1")
