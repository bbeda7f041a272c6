"""Docker's networks of the lab: the predefined three, lookups, create, remove, prune.

A user network is a Linux bridge ``br-<id12>`` in the lab netns with its gateway address,
plus its iptables rules (NAT, isolation, forwarding); its record lives in the store.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network

from dockerscope.engine.network import iptables, rtnl
from dockerscope.engine.network.errors import (
    InvalidNetworkConfig,
    NetworkExists,
    NetworkInUse,
    NetworkNotFound,
    PredefinedNetwork,
)
from dockerscope.engine.network.hostside import HOST_NETNS
from dockerscope.engine.network.ipam import (
    DEFAULT_BRIDGE_GATEWAY,
    DEFAULT_BRIDGE_SUBNET,
    choose_gateway,
    choose_subnet,
    random_mac,
    to_network,
)
from dockerscope.engine.network.labhost import DOCKER0, create_bridge
from dockerscope.engine.network.model import (
    BRIDGE_DRIVER,
    DEFAULT_BRIDGE_OPTIONS,
    HOST_DRIVER,
    NULL_DRIVER,
    Endpoint,
    Network,
    docker_time,
    new_id,
)
from dockerscope.engine.network.store import NetworkStore
from dockerscope.engine.paths import Lab

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"

#: Bridge driver options dockerscope takes only at Docker's default value: any other value is
#: refused (an invalid argument) rather than ignored, since the network would not behave as asked.
DEFAULT_ONLY_OPTIONS = {
    "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
    "com.docker.network.driver.mtu": "1500",
    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
}


def check_driver_options(options: dict[str, str]) -> None:
    """Refuse a bridge option whose effect dockerscope does not make (see docs/api.md)."""
    for key, default in DEFAULT_ONLY_OPTIONS.items():
        value = options.get(key)
        if value is not None and str(value).strip().lower() != default:
            raise InvalidNetworkConfig(
                f"not supported by dockerscope: network create -o {key}={value} "
                f"(only Docker's default, {default}, is made)"
            )


def check_create_request(name: str, driver: str, subnet: str | None, gateway: str | None) -> None:
    """The refusals of ``network create`` that need no state: name, driver, lone gateway."""
    if not name or not _NAME.match(name):
        raise InvalidNetworkConfig(
            f'invalid network name "{name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'
        )
    if driver != BRIDGE_DRIVER:
        raise InvalidNetworkConfig(f"driver {driver!r} is not supported (only bridge)")
    if gateway is not None and subnet is None:
        raise InvalidNetworkConfig("a gateway needs a subnet (--subnet)")


def bridge_name(network_id: str, options: dict[str, str]) -> str:
    """The bridge's name: the ``bridge.name`` option, else ``br-<id12>`` as Docker names it."""
    bridge = options.get(BRIDGE_NAME_OPTION) or f"br-{network_id[:12]}"
    if len(bridge) > 15:  # IFNAMSIZ - 1
        raise InvalidNetworkConfig(f"bridge name {bridge} is longer than 15 characters")
    return bridge


class Networks:
    """The lab's networks over the store's records (called with the manager's lock held)."""

    def __init__(self, lab: Lab, store: NetworkStore, rules: iptables.LabIptables) -> None:
        self.lab = lab
        self.store = store
        self.rules = rules

    def ensure_predefined(self) -> None:
        """Record bridge (docker0), host and none if missing, as dockerd does at start."""
        names = {n.name for n in self.store.networks.values()}
        now = docker_time()
        if "bridge" not in names:
            mac = self.store.lab_state().get("docker0_mac")
            self.store.save_network(
                Network(
                    id=new_id(),
                    name="bridge",
                    driver=BRIDGE_DRIVER,
                    created=now,
                    subnet=str(DEFAULT_BRIDGE_SUBNET),
                    gateway=str(DEFAULT_BRIDGE_GATEWAY),
                    bridge=DOCKER0,
                    mac=mac,
                    options=dict(DEFAULT_BRIDGE_OPTIONS),
                    ipam_options=None,
                )
            )
        for name, driver in (("host", HOST_DRIVER), ("none", NULL_DRIVER)):
            if name not in names:
                self.store.save_network(
                    Network(id=new_id(), name=name, driver=driver, created=now, ipam_options=None)
                )

    def get(self, ref: str) -> Network:
        """A network by full id, name, or unique id prefix (NetworkNotFound otherwise);
        "default" is the default bridge, as in Docker's NetworkMode."""
        if ref == "default":
            ref = "bridge"
        networks = self.store.networks
        if ref in networks:
            return networks[ref]
        for net in networks.values():
            if net.name == ref:
                return net
        matches = [n for n in networks.values() if ref and n.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        raise NetworkNotFound(f"network {ref} not found")

    def by_name(self) -> list[Network]:
        """All networks, predefined ones included, sorted by name."""
        return sorted(self.store.networks.values(), key=lambda n: n.name)

    def endpoints(self, net: Network) -> list[Endpoint]:
        """The endpoints attached to ``net``."""
        return [
            e
            for sandbox in self.store.sandboxes.values()
            for e in sandbox.endpoints
            if e.network_id == net.id
        ]

    def _routes(self) -> list[IPv4Network]:
        """Routes of the real host and of the lab: a new subnet must overlap none of them."""
        out = []
        for where in (HOST_NETNS, self.lab.netns_path):
            with rtnl.session(where) as ipr:
                out += [n for n in map(to_network, rtnl.ipv4_routes(ipr)) if n]
        return out

    def create(
        self,
        name: str,
        subnet: str | None,
        gateway: str | None,
        internal: bool,
        labels: dict[str, str],
        options: dict[str, str],
        attachable: bool,
    ) -> Network:
        """A new bridge network: record, bridge and rules; nothing is left on failure."""
        if any(n.name == name for n in self.store.networks.values()):
            raise NetworkExists(f"network with name {name} already exists")
        taken = [n.ipv4_subnet for n in self.store.networks.values() if n.subnet]
        net_subnet = choose_subnet(subnet, taken, self._routes())
        gw = choose_gateway(net_subnet, gateway)
        net_id = new_id()
        check_driver_options(options)
        net = Network(
            id=net_id,
            name=name,
            driver=BRIDGE_DRIVER,
            created=docker_time(),
            subnet=str(net_subnet),
            gateway=str(gw),
            bridge=bridge_name(net_id, options),
            mac=random_mac(),
            internal=internal,
            attachable=attachable,
            labels=labels,
            options=options,
            ipam_options={},
        )
        self._make_bridge(net, net_subnet, gw)
        self.store.save_network(net)
        return net

    def _make_bridge(self, net: Network, subnet: IPv4Network, gw: IPv4Address) -> None:
        """The kernel side of a new network: its bridge, then its rules (or neither)."""
        assert net.bridge and net.mac
        with rtnl.session(self.lab.netns_path) as ipr:
            if rtnl.index_of(ipr, net.bridge) is not None:
                raise NetworkExists(f"bridge {net.bridge} already exists in the lab")
            create_bridge(ipr, net.bridge, net.mac, str(gw), subnet.prefixlen)
            try:
                self.rules.restore(
                    iptables.render(iptables.bridge_steps(net.bridge, subnet, net.internal))
                )
            except BaseException:
                rtnl.delete_link(ipr, net.bridge)
                raise

    def remove(self, net: Network) -> None:
        """``docker network rm``: refused for predefined networks and while attached."""
        if net.predefined:
            raise PredefinedNetwork(f"{net.name} is a pre-defined network and cannot be removed")
        if self.endpoints(net):
            raise NetworkInUse(
                f"error while removing network: network {net.name} id {net.id} has active endpoints"
            )
        assert net.bridge
        self.rules.delete(iptables.bridge_rules(net.bridge, net.ipv4_subnet, net.internal))
        with rtnl.session(self.lab.netns_path) as ipr:
            rtnl.delete_link(ipr, net.bridge)
        self.store.forget_network(net.id)

    def prune(self) -> list[str]:
        """Remove the user networks nothing is attached to; their names, sorted."""
        removed = []
        for net in self.store.user_networks():
            if not self.endpoints(net):
                self.remove(net)
                removed.append(net.name)
        return sorted(removed)
