"""The SSRF guard: which IP addresses a featurebot may connect to when it fetches a user's URL.

Anyone can register a URL, and the bots fetch it from inside the operator's network, so a URL
must not reach the operator's own services: private and loopback networks, link-local and
cloud-metadata endpoints, CGNAT, multicast, reserved and other special-purpose ranges. IPv6
forms that embed an IPv4 address (IPv4-mapped, NAT64 `64:ff9b::/96`, 6to4) are judged by the
address they embed. Operators may exempt networks (`COCHLEA_FETCH_ALLOW_NETWORKS`), e.g. a
loopback test server or an internal media host; an allowed network wins over every rule.

`check_address` is the pure decision. `resolve_and_check` resolves a host name and refuses
when ANY of its addresses is refused (a name with one public and one private address is
refused: the connection could go to either), returning the addresses so that the caller
connects to exactly what was checked rather than resolving again (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

from workers.errors import BlockedAddress, InvalidUrl, NetworkError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

__all__ = [
    "BLOCKED_NETWORKS",
    "IPAddress",
    "IPNetwork",
    "check_address",
    "parse_allow_networks",
    "resolve_and_check",
]

_net = ipaddress.ip_network

# Checked in order; the first match names the reason. Anything not listed but not globally
# routable (documentation ranges, benchmarking, 240/4, ...) is refused by the catch-all below.
BLOCKED_NETWORKS: tuple[tuple[IPNetwork, str], ...] = (
    (_net("169.254.169.254/32"), "cloud metadata endpoint"),
    (_net("fd00:ec2::254/128"), "cloud metadata endpoint"),
    (_net("0.0.0.0/8"), "unspecified/'this network' address"),
    (_net("::/128"), "unspecified address"),
    (_net("127.0.0.0/8"), "loopback address"),
    (_net("::1/128"), "loopback address"),
    (_net("10.0.0.0/8"), "private network"),
    (_net("172.16.0.0/12"), "private network"),
    (_net("192.168.0.0/16"), "private network"),
    (_net("fc00::/7"), "private (unique local) network"),
    (_net("169.254.0.0/16"), "link-local address"),
    (_net("fe80::/10"), "link-local address"),
    (_net("100.64.0.0/10"), "carrier-grade NAT (shared) network"),
    (_net("224.0.0.0/4"), "multicast address"),
    (_net("ff00::/8"), "multicast address"),
    (_net("240.0.0.0/4"), "reserved address"),
)

_NAT64 = _net("64:ff9b::/96")


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def _refusal(ip: IPAddress) -> str | None:
    for network, label in BLOCKED_NETWORKS:
        if ip.version == network.version and ip in network:
            return f"{label} ({network})"
    if ip.is_multicast:
        return "multicast address"
    if not ip.is_global:
        return "special-purpose address that is not globally routable"
    return None


def check_address(ip: IPAddress | str, *, allow: Sequence[IPNetwork]) -> IPAddress:
    """Return `ip` (parsed) if a featurebot may connect to it; raise `BlockedAddress` if not.

    Pure: no I/O. An address inside one of `allow` (in either form, for IPv6 embedding IPv4)
    is always accepted. IPv4-mapped and NAT64 addresses are judged by the IPv4 address they
    stand for; 6to4 addresses must pass both as IPv4 and as IPv6.
    """
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
    embedded = _embedded_ipv4(address)
    candidates = [address] if embedded is None else [embedded, address]
    if any(c.version == n.version and c in n for c in candidates for n in allow):
        return address
    if embedded is not None:
        reason = _refusal(embedded)
        if reason is not None:
            raise BlockedAddress(f"{address} embeds {embedded}, a {reason}")
        if isinstance(address, ipaddress.IPv6Address) and (
            address.ipv4_mapped is not None or address in _NAT64
        ):
            return address  # these forms stand exactly for their IPv4 address, which is fine
    reason = _refusal(address)
    if reason is not None:
        raise BlockedAddress(f"{address} is a {reason}")
    return address


def parse_allow_networks(text: str) -> list[IPNetwork]:
    """Parse a comma- or space-separated list of CIDRs ("127.0.0.0/8, ::1/128").

    Strict: "10.0.0.1/8" (host bits set) is rejected with ValueError rather than silently
    widened, since this is a security exemption. A bare address means that one host.
    """
    networks: list[IPNetwork] = []
    for item in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise ValueError(f"invalid network in allow list: {item!r} ({exc})") from None
    return networks


def _resolve(host: str, port: int) -> list[str]:
    """The host's addresses as strings, from the system's getaddrinfo (blocking)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def resolve_and_check(host: str, port: int, *, allow: Sequence[IPNetwork]) -> list[IPAddress]:
    """Resolve `host` and return its addresses (deduplicated, resolver order) if ALL are allowed.

    Blocking (it may wait for DNS): the fetcher calls it from its thread, before each hop.

    Raises `BlockedAddress` if any address is refused, `NetworkError` if the name does not
    resolve (retryable only for temporary resolver failures), `InvalidUrl` for an empty host.
    """
    host = host.strip("[]")
    if not host:
        raise InvalidUrl("the URL has no host")
    try:
        return [check_address(ipaddress.ip_address(host), allow=allow)]
    except ValueError:
        pass  # a name, not an address literal
    try:
        resolved = _resolve(host, port)
    except socket.gaierror as exc:
        raise NetworkError(
            f"cannot resolve {host!r}: {exc.strerror}", retryable=exc.errno == socket.EAI_AGAIN
        ) from None
    except UnicodeError:
        raise InvalidUrl(f"invalid host name {host!r}") from None
    addresses: list[IPAddress] = []
    for text in resolved:
        try:
            address = check_address(text, allow=allow)
        except BlockedAddress as exc:
            raise BlockedAddress(f"{host!r} resolves to {exc.reason}") from None
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise NetworkError(f"{host!r} resolved to no address", retryable=True)
    return addresses
