"""The SSRF guard: which addresses are refused, and that the refusal happens on every hop over real sockets."""

from __future__ import annotations

import ipaddress
import time

import pytest
from httpserver import LoopbackServer

from newsbeam.transforms.errors import BlockedAddressError, ConfigError
from newsbeam.transforms.fetch.http import HttpConfig, HttpxClient
from newsbeam.transforms.fetch.netguard import address_class, vetted_addresses
from newsbeam.transforms.fetch.politeness import PoliteClient

GUARDED = HttpConfig(connect_timeout=1.0, read_timeout=1.0, total_timeout=2.0, min_delay=0, backoff_base=0.01)
ONLY_127_0_0_1 = HttpConfig(
    connect_timeout=1.0, read_timeout=1.0, total_timeout=2.0, min_delay=0, allowed_networks=("127.0.0.1/32",)
)
"""The guard on, with exactly the test server's address exempt: anything a redirect points to is vetted."""


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("127.0.0.1", "loopback"),
        ("127.5.5.5", "loopback"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback (IPv4 127.0.0.1 inside"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:a00:1::", "private (IPv4 10.0.0.1 inside"),  # 6to4
        ("64:ff9b::c0a8:101", "private (IPv4 192.168.1.1 inside"),  # NAT64
        ("fc00::1", "private"),
        ("100.64.0.1", "not publicly routable"),  # carrier-grade NAT
        ("255.255.255.255", "not publicly routable"),
    ],
)
def test_non_public_addresses_are_classified(address: str, why: str) -> None:
    found = address_class(ipaddress.ip_address(address))
    assert found is not None and found.startswith(why), found


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "172.32.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_pass(address: str) -> None:
    assert address_class(ipaddress.ip_address(address)) is None


def test_resolution_vets_every_answer_and_names_the_flag() -> None:
    with pytest.raises(BlockedAddressError) as caught:
        vetted_addresses("localhost", 80)
    assert caught.value.reason.startswith("localhost resolves to ")
    assert "loopback" in caught.value.reason and "--allow-private-networks" in caught.value.reason
    exempt = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert all(address.is_loopback for address in vetted_addresses("localhost", 80, exempt))


@pytest.mark.parametrize(
    ("host", "subject"),
    [("127.0.0.1", "127.0.0.1 is a loopback address"), ("localhost", "localhost resolves to ")],
)
def test_loopback_is_refused_before_any_connection(http_server: LoopbackServer, host: str, subject: str) -> None:
    url = http_server.add("/secret", "internal data").replace("127.0.0.1", host)
    with HttpxClient(GUARDED) as http, pytest.raises(BlockedAddressError) as caught:
        http.get(url)
    assert caught.value.reason.startswith(f"refused {url}: {subject}")
    assert "--allow-private-networks" in caught.value.reason
    assert http_server.requests == []


def test_ipv6_loopback_literal_is_refused() -> None:
    with HttpxClient(GUARDED) as http, pytest.raises(BlockedAddressError, match=r"::1 is a loopback address"):
        http.get("http://[::1]:9/")


def test_allow_private_networks_lets_the_test_server_through(http_server: LoopbackServer) -> None:
    url = http_server.add("/ok", "fine")
    with HttpxClient(HttpConfig(allow_private_networks=True)) as http:
        assert http.get(url).body == b"fine"


def test_exempt_network_connects_to_the_vetted_address(http_server: LoopbackServer) -> None:
    url = http_server.add("/ok", "fine").replace("127.0.0.1", "localhost")
    with HttpxClient(HttpConfig(allowed_networks=("127.0.0.0/8",))) as http:
        response = http.get(url)
    assert response.body == b"fine"
    assert http_server.headers_for("/ok")["host"] == f"localhost:{http_server.port}"


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/", "169.254.169.254 is a link-local"),
        ("http://10.0.0.1/admin", "10.0.0.1 is a private address"),
        ("http://127.0.0.2:{port}/other", "127.0.0.2 is a loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/", "loopback (IPv4 127.0.0.1 inside"),
    ],
)
def test_redirect_hops_are_vetted(http_server: LoopbackServer, target: str, why: str) -> None:
    location = target.format(port=http_server.port)
    url = http_server.add("/jump", b"", status=302, headers={"Location": location})
    started = time.monotonic()
    with HttpxClient(ONLY_127_0_0_1) as http, pytest.raises(BlockedAddressError) as caught:
        http.get(url)
    assert time.monotonic() - started < 0.5  # refused without trying to connect
    assert caught.value.reason.startswith(f"refused {location} (requested {url}, after 1 redirect): ")
    assert why in caught.value.reason
    assert http_server.requests == ["/jump"]


def test_blocked_address_is_not_retried(http_server: LoopbackServer) -> None:
    url = http_server.add("/x", "x")
    with PoliteClient(HttpxClient(GUARDED), GUARDED) as polite, pytest.raises(BlockedAddressError) as caught:
        polite.get(url)
    assert "attempts" not in caught.value.reason
    assert http_server.requests == []


def test_allowed_networks_are_validated() -> None:
    with pytest.raises(ConfigError, match="CIDR"):
        HttpConfig(allowed_networks=("not-a-network",))
