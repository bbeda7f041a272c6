"""Address management: Docker's default pools, subnet choice, lowest free address, MACs.

Everything here is pure: callers pass in what is taken (other networks, routes) and get an
answer or an error, so the rules are unit-tested without a kernel.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Iterable, Iterator
from ipaddress import IPv4Address, IPv4Network

from dockerscope.engine.network.errors import (
    AddressExhausted,
    InvalidNetworkConfig,
    PoolExhausted,
    SubnetOverlap,
)

DEFAULT_BRIDGE_SUBNET = IPv4Network("172.17.0.0/16")
DEFAULT_BRIDGE_GATEWAY = IPv4Address("172.17.0.1")
# Carrier-grade NAT space: rarely routed on a developer's host, so lab uplinks go there.
UPLINK_RANGE = IPv4Network("100.64.0.0/10")


def default_pools() -> Iterator[IPv4Network]:
    """Docker's default address pools in order: 172.17-31.0.0/16, then 192.168.N.0/20."""
    for second in range(17, 32):
        yield IPv4Network(f"172.{second}.0.0/16")
    yield from IPv4Network("192.168.0.0/16").subnets(new_prefix=20)


def overlaps(subnet: IPv4Network, taken: Iterable[IPv4Network]) -> bool:
    """True if ``subnet`` shares any address with one of ``taken``."""
    return any(subnet.overlaps(other) for other in taken)


def pick_subnet(taken: Iterable[IPv4Network]) -> IPv4Network:
    """The first default pool that overlaps nothing in ``taken`` (networks and routes)."""
    busy = [t for t in taken if t.prefixlen > 0]  # a default route overlaps everything
    for pool in default_pools():
        if not overlaps(pool, busy):
            return pool
    raise PoolExhausted(
        "could not find an available, non-overlapping IPv4 address pool among the defaults "
        "to assign to the network"
    )


#: Ranges a bridge network cannot use: the kernel treats them specially, or the lab's uplink
#: lives there (a network on it would cut the containers off from the host).
UNUSABLE_SUBNETS = (
    (IPv4Network("127.0.0.0/8"), "the loopback range"),
    (IPv4Network("224.0.0.0/4"), "the multicast range"),
    (IPv4Network("169.254.0.0/16"), "the link-local range"),
    (IPv4Network("240.0.0.0/4"), "the reserved range"),
    (IPv4Network("0.0.0.0/8"), "the 'this network' range"),
    (UPLINK_RANGE, "the range of the labs' uplinks"),
)


def parse_subnet(text: str) -> IPv4Network:
    """A user-given IPv4 subnet in CIDR form; host bits set or a /31-/32 are refused."""
    try:
        net = IPv4Network(text, strict=True)
    except ValueError as exc:
        raise InvalidNetworkConfig(f"invalid subnet {text}: {exc}") from None
    if "/" not in text or net.prefixlen > 30:
        raise InvalidNetworkConfig(f"invalid subnet {text}: use CIDR form, at most /30")
    for reserved, why in UNUSABLE_SUBNETS:
        if net.overlaps(reserved):
            raise InvalidNetworkConfig(
                f"invalid subnet {text}: it overlaps {reserved}, {why}; pick a private range "
                "such as 10.10.0.0/16 or 192.168.100.0/24"
            )
    return net


def choose_subnet(
    requested: str | None, taken_networks: Iterable[IPv4Network], routes: Iterable[IPv4Network]
) -> IPv4Network:
    """The subnet for a new network: the requested one if free, else the next default pool.

    A requested subnet is checked against other networks only (Docker lets users overlap a
    route on purpose); automatic choice also skips subnets overlapping routes.
    """
    networks = list(taken_networks)
    if requested is not None:
        net = parse_subnet(requested)
        if overlaps(net, networks):
            raise SubnetOverlap()
        return net
    return pick_subnet(networks + [r for r in routes if r.prefixlen > 0])


def choose_gateway(subnet: IPv4Network, requested: str | None) -> IPv4Address:
    """The requested gateway (a host address of the subnet) or the subnet's first host."""
    if requested is None:
        return subnet.network_address + 1
    try:
        gw = IPv4Address(requested)
    except ValueError:
        raise InvalidNetworkConfig(f"invalid gateway address {requested}") from None
    if gw not in subnet or gw in (subnet.network_address, subnet.broadcast_address):
        raise InvalidNetworkConfig(
            f"no matching subnet for gateway {requested}"
            if gw not in subnet
            else f"invalid gateway address {requested}"
        )
    return gw


def lowest_free(subnet: IPv4Network, used: Iterable[IPv4Address]) -> IPv4Address:
    """The lowest host address of ``subnet`` not in ``used`` (the gateway belongs in ``used``)."""
    busy = set(used)
    for host in subnet.hosts():
        if host not in busy:
            return host
    raise AddressExhausted(f"no available IPv4 addresses on this network's address pools: {subnet}")


def check_requested_ip(
    subnet: IPv4Network, requested: str, used: Iterable[IPv4Address]
) -> IPv4Address:
    """A user-chosen container address, which must be a free host address of the subnet."""
    try:
        ip = IPv4Address(requested)
    except ValueError:
        raise InvalidNetworkConfig(f"invalid IPv4 address: {requested}") from None
    if ip not in subnet or ip in (subnet.network_address, subnet.broadcast_address):
        raise InvalidNetworkConfig(f"no matching subnet for address {requested}")
    if ip in set(used):
        raise InvalidNetworkConfig(f"Address already in use: {requested}")
    return ip


def mac_for_ip(ip: IPv4Address) -> str:
    """Docker's container MAC: 02:42 followed by the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


def random_mac() -> str:
    """A locally administered 02:42:xx:xx:xx:xx address, as Docker gives its bridges."""
    return "02:42:" + ":".join(f"{b:02x}" for b in os.urandom(4))


def uplink_subnet(lab_name: str, routes: Iterable[IPv4Network]) -> IPv4Network:
    """A /30 in 100.64.0.0/10 for a lab's uplink that overlaps none of ``routes``.

    The search starts at a slot derived from the lab name, so a lab tends to get the same
    addresses each time and parallel labs spread out.
    """
    busy = [r for r in routes if r.prefixlen > 0]
    slots = UPLINK_RANGE.num_addresses // 4
    start = int.from_bytes(hashlib.sha256(lab_name.encode()).digest()[:4], "big") % slots
    base = int(UPLINK_RANGE.network_address)
    for step in range(slots):
        slot = (start + step) % slots
        candidate = IPv4Network((base + 4 * slot, 30))
        if not overlaps(candidate, busy):
            return candidate
    raise PoolExhausted("no free /30 left in 100.64.0.0/10 for the lab uplink")


def to_network(text: str) -> IPv4Network | None:
    """A route's destination as a network, or None for non-IPv4 text."""
    try:
        return ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        return None
