"""Endpoints: a container's sandbox joined to a bridge network by a veth pair.

The lab side of the pair is enslaved to the network's bridge; the container side becomes
``eth<N>`` with an address of the network's subnet (and, for the first, the default route).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from dockerscope.engine.network.errors import (
    AlreadyAttached,
    InvalidNetworkConfig,
    NetworkError,
)
from dockerscope.engine.network.ipam import check_requested_ip, lowest_free, mac_for_ip
from dockerscope.engine.network.labhost import DOCKER0
from dockerscope.engine.network.model import BRIDGE_DRIVER, Endpoint, Network, Sandbox, new_id
from dockerscope.engine.network.rawlink import RawRtnl

log = logging.getLogger(__name__)
LINK_UP_TIMEOUT = 1.0
VETH_NAME_TRIES = 20


@dataclass(frozen=True)
class Wiring:
    """What one veth pair is plumbed with: the container side's name, MAC and address."""

    bridge: str
    ifname: str
    mac: str
    address: IPv4Address
    subnet: IPv4Network
    gateway: IPv4Address
    default_route: bool


def check_attachable(sandbox: Sandbox, net: Network) -> None:
    """Refuse networks that take no endpoints and sandboxes that cannot have their own."""
    if net.driver != BRIDGE_DRIVER:
        raise AlreadyAttached(
            f"container cannot be connected to network {net.name} (driver {net.driver})"
        )
    if not sandbox.owns_netns or sandbox.mode == "none":
        raise AlreadyAttached(
            "container sharing network namespace with another container or host, or "
            "in none mode, cannot be connected to any other network"
        )


def existing_endpoint(sandbox: Sandbox, net: Network, network_ref: str) -> Endpoint | None:
    """The endpoint ``sandbox`` has on ``net`` when asked for the default bridge by its alias
    "default"; None when there is none; AlreadyAttached otherwise."""
    existing = sandbox.endpoint_on(net.id)
    if existing is not None and network_ref == "default":
        # Docker's CLI names the default bridge twice (NetworkMode "default" and an
        # EndpointsConfig "default"); the daemon treats both as one attachment.
        return existing
    if existing is not None:
        raise AlreadyAttached(
            f"endpoint with name {sandbox.container_name} already exists in network {net.name}"
        )
    return None


def choose_address(net: Network, in_use: Iterable[Endpoint], wanted: str | None) -> IPv4Address:
    """The endpoint's address: ``wanted`` if given and free, else the lowest free one."""
    used = {net.ipv4_gateway} | {IPv4Address(e.ip_address) for e in in_use if e.ip_address}
    if not wanted:
        return lowest_free(net.ipv4_subnet, used)
    if net.bridge == DOCKER0:
        raise InvalidNetworkConfig(
            "user specified IP address is supported on user defined networks only"
        )
    return check_requested_ip(net.ipv4_subnet, wanted, used)


def next_ifname(sandbox: Sandbox) -> str:
    """The lowest ``eth<N>`` the sandbox does not use yet."""
    taken = {e.ifname for e in sandbox.endpoints}
    return next(f"eth{i}" for i in range(len(taken) + 1) if f"eth{i}" not in taken)


def delete_veths(lab_netns: Path, endpoints: Iterable[Endpoint]) -> None:
    """Remove endpoints' veth pairs (deleting the lab side takes the container side too)."""
    with RawRtnl(lab_netns) as nl:
        for e in endpoints:
            nl.delete(e.veth)


def _add_veth(lab_nl: RawRtnl, sandbox_netns: str, wiring: Wiring) -> str:
    """A veth pair with a fresh random lab-side name; the other end moved into the sandbox."""
    bridge_idx = lab_nl.index(wiring.bridge)
    if bridge_idx is None:
        raise NetworkError(f"bridge {wiring.bridge} is missing from the lab")
    fd = os.open(sandbox_netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for _ in range(VETH_NAME_TRIES):
            veth = "veth" + os.urandom(4).hex()[:7]
            try:
                lab_nl.add_veth(veth, bridge_idx, wiring.ifname, wiring.mac, fd)
                return veth
            except FileExistsError:
                continue  # that random name is taken: draw another
        raise NetworkError("could not find a free veth name")
    finally:
        os.close(fd)


def _configure_inside(lab_nl: RawRtnl, sandbox: Sandbox, veth: str, wiring: Wiring) -> None:
    """Address, link up and route in the sandbox; then wait until both ends are up."""
    with RawRtnl(Path(sandbox.netns)) as ct:
        idx = ct.index(wiring.ifname)
        assert idx is not None
        ct.add_address(
            idx, wiring.address, wiring.subnet.prefixlen, wiring.subnet.broadcast_address
        )
        ct.set_up(idx)
        if wiring.default_route:
            ct.add_default_route(wiring.gateway, idx)
        # Carrier reaches operstate (and the bridge port) through the kernel's linkwatch, a
        # moment later: wait for it so the container's first packets are not dropped
        # (usually well under a millisecond).
        deadline = time.monotonic() + LINK_UP_TIMEOUT
        while not (ct.is_oper_up(wiring.ifname) and lab_nl.is_oper_up(veth)):
            if time.monotonic() > deadline:
                log.warning(
                    "%s of %s not up after %.1f s",
                    wiring.ifname,
                    sandbox.container_name,
                    LINK_UP_TIMEOUT,
                )
                break
            time.sleep(0.0005)


def plumb(lab_netns: Path, sandbox: Sandbox, wiring: Wiring) -> str:
    """The kernel side of attach: veth into the bridge, eth<N> configured in the sandbox.
    Returns the lab-side veth name; on failure the veth is gone again."""
    with RawRtnl(lab_netns) as lab_nl:
        veth = _add_veth(lab_nl, sandbox.netns, wiring)
        try:
            _configure_inside(lab_nl, sandbox, veth, wiring)
        except BaseException:
            lab_nl.delete(veth)
            raise
        return veth


def attach(
    lab_netns: Path,
    sandbox: Sandbox,
    net: Network,
    in_use: Iterable[Endpoint],
    ip: str | None,
    aliases: Iterable[str],
) -> Endpoint:
    """Plumb a new endpoint of ``sandbox`` on ``net`` (``in_use``: the network's endpoints);
    the caller has checked it may (:func:`check_attachable`, :func:`existing_endpoint`)."""
    addr = choose_address(net, in_use, ip)
    assert net.bridge
    wiring = Wiring(
        bridge=net.bridge,
        ifname=next_ifname(sandbox),
        mac=mac_for_ip(addr),
        address=addr,
        subnet=net.ipv4_subnet,
        gateway=net.ipv4_gateway,
        default_route=not sandbox.endpoints,
    )
    veth = plumb(lab_netns, sandbox, wiring)
    return Endpoint(
        container_id=sandbox.container_id,
        container_name=sandbox.container_name,
        network_id=net.id,
        network_name=net.name,
        endpoint_id=new_id(),
        ifname=wiring.ifname,
        veth=veth,
        ip_address=str(addr),
        prefix_len=wiring.subnet.prefixlen,
        gateway=str(wiring.gateway),
        mac_address=wiring.mac,
        aliases=tuple(aliases),
    )
