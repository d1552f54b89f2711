"""The SSRF guard's decision, for every refused range, without connecting anywhere."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import pytest

from workers import ssrf
from workers.errors import BlockedAddress, FetchError, InvalidUrl, NetworkError
from workers.ssrf import check_address, parse_allow_networks, resolve_and_check

BLOCKED = [
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.10", "private"),
    ("fc00::1", "private"),
    ("fd12:3456:789a::1", "private"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("169.254.0.1", "link-local"),
    ("169.254.255.254", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("192.0.2.1", "not globally routable"),  # documentation (TEST-NET-1)
    ("198.18.0.1", "not globally routable"),  # benchmarking
    ("2001:db8::1", "not globally routable"),  # documentation
    ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "metadata"),
    ("::ffff:100.64.0.1", "carrier-grade NAT"),
    ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 of 169.254.169.254
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
    ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "11.0.0.1",
    "172.15.255.255",  # just below 172.16/12
    "172.32.0.1",  # just above
    "192.169.0.1",
    "100.63.255.255",  # just below 100.64/10
    "100.128.0.1",  # just above
    "169.253.255.255",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]


@pytest.mark.parametrize(("address", "label"), BLOCKED)
def test_refuses_every_special_range(address: str, label: str) -> None:
    with pytest.raises(BlockedAddress) as caught:
        check_address(address, allow=[])
    assert label in caught.value.reason
    assert caught.value.retryable is False
    assert isinstance(caught.value, FetchError)


@pytest.mark.parametrize("address", ALLOWED)
def test_accepts_public_addresses(address: str) -> None:
    assert check_address(address, allow=[]) == ipaddress.ip_address(address)


def test_accepts_parsed_address_objects() -> None:
    assert check_address(ipaddress.ip_address("8.8.4.4"), allow=[]) == ipaddress.ip_address(
        "8.8.4.4"
    )
    with pytest.raises(BlockedAddress):
        check_address(ipaddress.ip_address("10.1.1.1"), allow=[])


def test_allow_list_exempts_exactly_its_networks() -> None:
    allow = parse_allow_networks("127.0.0.0/8, ::1/128, 10.1.0.0/16")
    assert str(check_address("127.0.0.1", allow=allow)) == "127.0.0.1"
    assert str(check_address("127.3.2.1", allow=allow)) == "127.3.2.1"
    assert str(check_address("::1", allow=allow)) == "::1"
    mapped = ipaddress.ip_address("::ffff:127.0.0.1")
    assert check_address(mapped, allow=allow) == mapped
    assert str(check_address("10.1.200.3", allow=allow)) == "10.1.200.3"
    for refused in ("10.2.0.1", "169.254.169.254", "192.168.0.1", "fe80::1", "::ffff:10.2.0.1"):
        with pytest.raises(BlockedAddress):
            check_address(refused, allow=allow)


def test_allow_list_ipv6_network_does_not_match_ipv4() -> None:
    with pytest.raises(BlockedAddress):
        check_address("127.0.0.1", allow=parse_allow_networks("::/0"))


def test_parse_allow_networks() -> None:
    assert parse_allow_networks("127.0.0.0/8, ::1/128") == [
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    ]
    assert parse_allow_networks("") == []
    assert parse_allow_networks("  10.0.0.0/8   192.168.0.0/16,") == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.0.0/16"),
    ]
    assert parse_allow_networks("127.0.0.1") == [ipaddress.ip_network("127.0.0.1/32")]
    for bad in ("10.0.0.1/8", "not-a-network", "300.0.0.0/8", "10.0.0.0/33"):
        with pytest.raises(ValueError, match="invalid network"):
            parse_allow_networks(bad)


def test_literal_addresses_are_checked_without_resolving() -> None:
    assert resolve_and_check("8.8.8.8", 80, allow=[]) == [ipaddress.ip_address("8.8.8.8")]
    assert resolve_and_check("[2606:4700:4700::1111]", 443, allow=[]) == [
        ipaddress.ip_address("2606:4700:4700::1111")
    ]
    for host in ("127.0.0.1", "[::1]", "169.254.169.254", "[::ffff:192.168.0.1]"):
        with pytest.raises(BlockedAddress):
            resolve_and_check(host, 80, allow=[])
    with pytest.raises(InvalidUrl):
        resolve_and_check("", 80, allow=[])


def test_localhost_name_resolves_to_loopback_and_is_refused() -> None:
    # Real getaddrinfo: "localhost" comes from the hosts file, no DNS traffic.
    with pytest.raises(BlockedAddress, match=r"'localhost' resolves to .*loopback"):
        resolve_and_check("localhost", 80, allow=[])
    addresses = resolve_and_check("localhost", 80, allow=parse_allow_networks("127.0.0.0/8, ::1"))
    assert addresses and all(a.is_loopback for a in addresses)


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "0177.0.0.1"])
def test_numeric_spellings_of_loopback_are_refused(host: str) -> None:
    # getaddrinfo parses these inet_aton forms locally; the guard judges what they resolve to.
    with pytest.raises(BlockedAddress, match="loopback"):
        resolve_and_check(host, 80, allow=[])


def _resolver(mapping: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return mapping[host]

    return resolve


def test_name_refused_when_any_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        ssrf,
        "_resolve",
        _resolver(
            {
                "mixed.example": ["93.184.216.34", "10.0.0.5"],
                "metadata.example": ["169.254.169.254"],
                "mapped.example": ["::ffff:192.168.1.1"],
                "cgnat.example": ["100.64.1.1"],
                "public.example": ["93.184.216.34", "93.184.216.34", "2606:2800:220:1::1"],
            }
        ),
    )
    for host, label in [
        ("mixed.example", "private"),
        ("metadata.example", "metadata"),
        ("mapped.example", "private"),
        ("cgnat.example", "carrier-grade NAT"),
    ]:
        with pytest.raises(BlockedAddress, match=label) as caught:
            resolve_and_check(host, 443, allow=[])
        assert host in caught.value.reason
    assert resolve_and_check("public.example", 443, allow=[]) == [
        ipaddress.ip_address("93.184.216.34"),
        ipaddress.ip_address("2606:2800:220:1::1"),
    ]
    assert resolve_and_check("mixed.example", 443, allow=parse_allow_networks("10.0.0.0/24")) == [
        ipaddress.ip_address("93.184.216.34"),
        ipaddress.ip_address("10.0.0.5"),
    ]


def test_resolution_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssrf, "_resolve", _resolver({"empty.example": []}))
    with pytest.raises(NetworkError) as caught:
        resolve_and_check("missing.example", 80, allow=[])
    assert caught.value.retryable is False

    def temporary_failure(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(ssrf, "_resolve", temporary_failure)
    with pytest.raises(NetworkError) as caught:
        resolve_and_check("flaky.example", 80, allow=[])
    assert caught.value.retryable is True
