"""The lab host: a network namespace playing the course's Docker VM.

``LabHost(lab).up()`` makes (or adopts) the lab netns with lo up and forwarding on, an uplink
veth to the real host (``eth0`` inside, ``ds<8 hex>`` outside, a /30 from 100.64.0.0/10), a
default route out through it, host-side forwarding and one tagged MASQUERADE rule, then
``docker0`` and Docker's chains inside. ``down()`` removes all of it, host side included.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from ipaddress import IPv4Network

from pyroute2 import IPRoute

from dockerscope.engine.network import hostside, iptables, rtnl
from dockerscope.engine.network.hostside import HOST_NETNS, HostState
from dockerscope.engine.network.ipam import (
    DEFAULT_BRIDGE_GATEWAY,
    DEFAULT_BRIDGE_SUBNET,
    random_mac,
    to_network,
    uplink_subnet,
)
from dockerscope.engine.network.namespaces import (
    create_netns,
    is_netns,
    remove_netns,
    run_in,
    set_link_up,
    write_sysctl,
)
from dockerscope.engine.paths import Lab
from dockerscope.engine.private import private_dir, write_private

LAB_UPLINK = "eth0"
DOCKER0 = "docker0"
STATE_FILE = "lab.json"


def uplink_name(lab_name: str) -> str:
    """Host side of a lab's uplink: ``ds`` + 8 hex of a hash of the lab name."""
    return "ds" + hashlib.sha256(lab_name.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Uplink:
    """The lab's link to the host: a /30, host end .1, lab end .2."""

    subnet: IPv4Network
    host_ifname: str

    @property
    def host_ip(self) -> str:
        return str(self.subnet.network_address + 1)

    @property
    def lab_ip(self) -> str:
        return str(self.subnet.network_address + 2)


def _lab_setup() -> None:
    """Inside a new lab netns: lo up, routing on, bridged traffic through iptables."""
    set_link_up("lo")
    _lab_sysctls()


def _lab_sysctls() -> None:
    write_sysctl("net.ipv4.ip_forward", "1")
    for name in ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables"):
        # Without br_netfilter bridged frames skip iptables, as on a VM without it.
        with contextlib.suppress(OSError):
            write_sysctl(f"net.bridge.{name}", "1")


def create_bridge(ipr: IPRoute, name: str, mac: str, gateway: str, prefixlen: int) -> int:
    """A Docker bridge: STP off, the given MAC, gateway address with broadcast, up."""
    network = IPv4Network(f"{gateway}/{prefixlen}", strict=False)
    ipr.link("add", ifname=name, kind="bridge", br_stp_state=0, address=mac, mtu=1500)
    idx = rtnl.index_of(ipr, name)
    assert idx is not None
    ipr.addr(
        "add",
        index=idx,
        address=gateway,
        prefixlen=prefixlen,
        broadcast=str(network.broadcast_address),
    )
    ipr.link("set", index=idx, state="up")
    return idx


class LabHost:
    """Creates, adopts and removes one lab's netns, uplink, docker0 and base rules."""

    def __init__(self, lab: Lab, host_state: HostState | None = None) -> None:
        self.lab = lab
        self.host_state = host_state or HostState()
        self.state_file = lab.networks_dir / STATE_FILE
        self.iptables = iptables.LabIptables(lab.netns)

    # -- state -------------------------------------------------------------------------
    def _load(self) -> dict[str, str]:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return {}

    def _save(self, data: dict[str, str]) -> None:
        private_dir(self.state_file.parent)  # 0700 dir, 0600 file: the lab's state is root's
        write_private(self.state_file, json.dumps(data, indent=1).encode())

    @property
    def is_up(self) -> bool:
        return is_netns(self.lab.netns_path)

    def uplink(self) -> Uplink | None:
        """The uplink as configured in the kernel (None if the lab is not up)."""
        host_if = uplink_name(self.lab.name)
        with rtnl.session(HOST_NETNS) as ipr:
            found = rtnl.first_ipv4(ipr, host_if)
        if not found:
            return None
        return Uplink(IPv4Network(f"{found[0]}/{found[1]}", strict=False), host_if)

    # -- up ----------------------------------------------------------------------------
    @rtnl.off_loop
    def up(self) -> Uplink:
        """Create the lab, or adopt what exists of it after a daemon restart (idempotent)."""
        state = self._load()
        state.setdefault("docker0_mac", random_mac())
        self._save(state)
        self.lab.container_netns_dir.mkdir(parents=True, exist_ok=True)
        if self.is_up:
            run_in(self.lab.netns_path, _lab_sysctls)
        else:
            if self.lab.netns_path.exists():
                remove_netns(self.lab.netns_path)  # a stale pin without a namespace
            create_netns(self.lab.netns_path, _lab_setup)
        uplink = self._ensure_uplink()
        state["uplink"] = str(uplink.subnet)
        self._save(state)
        hostside.enable(self.lab.name, uplink.subnet, uplink.host_ifname, self.host_state)
        self._ensure_docker0(state["docker0_mac"])
        self._ensure_rules()
        return uplink

    def _ensure_uplink(self) -> Uplink:
        host_if = uplink_name(self.lab.name)
        with rtnl.session(HOST_NETNS) as host, rtnl.session(self.lab.netns_path) as lab:
            existing = rtnl.first_ipv4(host, host_if)
            lab_side = rtnl.first_ipv4(lab, LAB_UPLINK)
            if existing and lab_side:
                return Uplink(IPv4Network(f"{existing[0]}/{existing[1]}", strict=False), host_if)
            rtnl.delete_link(host, host_if)  # half-made: start over
            rtnl.delete_link(lab, LAB_UPLINK)
            # Host-wide lock: two labs coming up together must not pick the same /30.
            with self.host_state.locked():
                routes = [n for n in map(to_network, rtnl.ipv4_routes(host)) if n]
                subnet = uplink_subnet(self.lab.name, routes)
                uplink = Uplink(subnet, host_if)
                fd = os.open(self.lab.netns_path, os.O_RDONLY)
                try:
                    host.link(
                        "add",
                        ifname=host_if,
                        kind="veth",
                        peer={"ifname": LAB_UPLINK, "net_ns_fd": fd},
                    )
                finally:
                    os.close(fd)
                idx = rtnl.index_of(host, host_if)
                host.addr("add", index=idx, address=uplink.host_ip, prefixlen=30)
                host.link("set", index=idx, state="up")
            lab_idx = rtnl.index_of(lab, LAB_UPLINK)
            lab.addr("add", index=lab_idx, address=uplink.lab_ip, prefixlen=30)
            lab.link("set", index=lab_idx, state="up")
            lab.route("add", dst="0.0.0.0/0", gateway=uplink.host_ip, oif=lab_idx)
            return uplink

    def _ensure_docker0(self, mac: str) -> None:
        with rtnl.session(self.lab.netns_path) as ipr:
            if rtnl.index_of(ipr, DOCKER0) is None:
                create_bridge(
                    ipr, DOCKER0, mac, str(DEFAULT_BRIDGE_GATEWAY), DEFAULT_BRIDGE_SUBNET.prefixlen
                )

    def _ensure_rules(self) -> None:
        if "DOCKER" not in iptables.chains(self.iptables.save(iptables.NAT), iptables.NAT):
            self.iptables.restore(iptables.fresh_batch())
            return
        steps = iptables.base_steps() + iptables.bridge_steps(DOCKER0, DEFAULT_BRIDGE_SUBNET)
        self.iptables.add_missing(steps)

    # -- down --------------------------------------------------------------------------
    @rtnl.off_loop
    def down(self) -> None:
        """Remove the lab: container netns, bridges, veths, rules, the netns, the host side."""
        netns_dir = self.lab.container_netns_dir
        if netns_dir.is_dir():
            for pin in sorted(netns_dir.iterdir()):
                remove_netns(pin)
        if self.is_up:
            with rtnl.session(self.lab.netns_path) as ipr:
                for link in ipr.get_links():
                    kind = link.get(("IFLA_LINKINFO", "IFLA_INFO_KIND"))
                    if kind in ("bridge", "veth") and link.get("ifname") != LAB_UPLINK:
                        rtnl.delete_link(ipr, str(link.get("ifname")))
            # The netns may outlive its pin if a process still sits in it: leave it empty.
            self.iptables.flush()
        with rtnl.session(HOST_NETNS) as host:
            rtnl.delete_link(host, uplink_name(self.lab.name))
        hostside.disable(self.lab.name, self.host_state)
        remove_netns(self.lab.netns_path)
        sandboxes = self.lab.networks_dir / "sandboxes"
        if sandboxes.is_dir():
            for record in sandboxes.glob("*.json"):
                record.unlink(missing_ok=True)
