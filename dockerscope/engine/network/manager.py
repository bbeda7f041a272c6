"""Docker's networks inside one lab: create/remove/attach/publish, persisted and adoptable.

``NetworkManager(lab)`` is synchronous and thread-safe; calls made from a thread running an
event loop move their netlink work to a worker thread (see rtnl.off_loop) and port proxies
run on the manager's own proxy loop thread, so every method is a plain blocking call.
The lab must be up (``LabHost(lab).up()``) before networks or sandboxes are touched.
"""

from __future__ import annotations

import builtins
import errno
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from dockerscope.engine.network import iptables, rtnl
from dockerscope.engine.network.errors import (
    AlreadyAttached,
    EndpointNotFound,
    InvalidNetworkConfig,
    NetworkError,
    NetworkExists,
    NetworkInUse,
    NetworkNotFound,
    PortAllocated,
    PredefinedNetwork,
)
from dockerscope.engine.network.etcfiles import (
    hostname_content,
    hosts_file_content,
    peer_lines,
    resolv_conf_content,
    write_in_place,
)
from dockerscope.engine.network.hostside import HOST_NETNS
from dockerscope.engine.network.ipam import (
    DEFAULT_BRIDGE_GATEWAY,
    DEFAULT_BRIDGE_SUBNET,
    check_requested_ip,
    choose_gateway,
    choose_subnet,
    lowest_free,
    mac_for_ip,
    random_mac,
    to_network,
)
from dockerscope.engine.network.labhost import DOCKER0, STATE_FILE, create_bridge
from dockerscope.engine.network.model import (
    BRIDGE_DRIVER,
    DEFAULT_BRIDGE_OPTIONS,
    HOST_DRIVER,
    NULL_DRIVER,
    Endpoint,
    Network,
    Sandbox,
    docker_time,
    new_id,
)
from dockerscope.engine.network.namespaces import (
    create_netns,
    is_netns,
    remove_netns,
    sandbox_setup,
)
from dockerscope.engine.network.ports import (
    PortAllocator,
    PortBinding,
    PortMapping,
    parse_port_key,
    ports_json,
)
from dockerscope.engine.network.proxy import PortProxy, ProxyLoop, listen_socket
from dockerscope.engine.network.rawlink import RawRtnl
from dockerscope.engine.paths import Lab

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_ID_FILE = re.compile(r"^[0-9a-f]{64}\.json$")
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
LINK_UP_TIMEOUT = 1.0


#: Bridge driver options dockerscope takes only at Docker's default value: any other value
#: is refused (400) rather than ignored, since the network would not behave as asked.
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


ContainerRef = Any  # a container id (str) or an object with .id and .name (the engine's Container)


def _cid(container: ContainerRef) -> str:
    return container if isinstance(container, str) else str(container.id)


def _binding(item: Any) -> PortBinding:
    """A PortBinding from itself or from the engine's (\"80/tcp\", host ip, host port) tuple."""
    if isinstance(item, PortBinding):
        return item
    key, host_ip, host_port = item
    port, proto = parse_port_key(str(key))
    return PortBinding(port, proto, str(host_ip or ""), int(host_port or 0))


class NetworkManager:
    """The lab's networks, container sandboxes, endpoints and published ports."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.iptables = iptables.LabIptables(lab.netns)
        self._lock = threading.RLock()
        self._sandbox_dir = lab.networks_dir / "sandboxes"
        self._networks: dict[str, Network] = {}
        self._sandboxes: dict[str, Sandbox] = {}
        self._allocator = PortAllocator()
        self._proxies: dict[str, list[PortProxy]] = {}
        self._proxy_loop = ProxyLoop()
        self._load()
        if is_netns(lab.netns_path):
            self.adopt()

    # -- persistence ---------------------------------------------------------------------
    def _load(self) -> None:
        self.lab.networks_dir.mkdir(parents=True, exist_ok=True)
        self._sandbox_dir.mkdir(parents=True, exist_ok=True)
        for path in self.lab.networks_dir.glob("*.json"):
            if _ID_FILE.match(path.name):
                try:
                    net = Network.from_json(json.loads(path.read_text()))
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    log.warning("ignoring unreadable network record %s: %s", path, exc)
                    continue
                self._networks[net.id] = net
        for path in self._sandbox_dir.glob("*.json"):
            try:
                sb = Sandbox.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable sandbox record %s: %s", path, exc)
                continue
            self._sandboxes[sb.container_id] = sb
            for m in sb.ports:
                if m.host_ip != "::":
                    self._allocator.take(m.proto, m.host_ip, m.host_port)
        self._ensure_predefined()

    def _ensure_predefined(self) -> None:
        names = {n.name for n in self._networks.values()}
        now = docker_time()
        if "bridge" not in names:
            try:
                mac = json.loads((self.lab.networks_dir / STATE_FILE).read_text())["docker0_mac"]
            except (OSError, ValueError, KeyError):
                mac = None
            self._save_network(
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
        if "host" not in names:
            self._save_network(
                Network(
                    id=new_id(), name="host", driver=HOST_DRIVER, created=now, ipam_options=None
                )
            )
        if "none" not in names:
            self._save_network(
                Network(
                    id=new_id(), name="none", driver=NULL_DRIVER, created=now, ipam_options=None
                )
            )

    def _save_json(self, path: Path, data: dict[str, Any]) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)

    def _save_network(self, net: Network) -> None:
        self._networks[net.id] = net
        self._save_json(self.lab.networks_dir / f"{net.id}.json", net.to_json())

    def _save_sandbox(self, sb: Sandbox) -> None:
        self._sandboxes[sb.container_id] = sb
        self._save_json(self._sandbox_dir / f"{sb.container_id}.json", sb.to_json())

    def _forget_sandbox(self, container_id: str) -> None:
        self._sandboxes.pop(container_id, None)
        (self._sandbox_dir / f"{container_id}.json").unlink(missing_ok=True)

    # -- adoption --------------------------------------------------------------------------
    @rtnl.off_loop
    def adopt(self, containers: Iterable[ContainerRef] | None = None) -> None:
        """Make the kernel match the saved state after a daemon restart or ``lab up``:
        recreate missing bridges and rules, drop sandboxes whose netns is gone (or whose
        container is not in ``containers``, when given), restart the port proxies of the
        containers still running."""
        keep = None if containers is None else {_cid(c) for c in containers}
        with self._lock:
            # Oldest first, so that (inserted at the top) the newest network's rules end up
            # first, as if they had been created in order.
            networks = sorted(self._user_networks(), key=lambda n: n.created)
            with rtnl.session(self.lab.netns_path) as ipr:
                for net in networks:
                    assert net.bridge and net.mac and net.gateway
                    if rtnl.index_of(ipr, net.bridge) is None:
                        create_bridge(
                            ipr, net.bridge, net.mac, net.gateway, net.ipv4_subnet.prefixlen
                        )
            steps = [
                s
                for net in networks
                for s in iptables.bridge_steps(str(net.bridge), net.ipv4_subnet, net.internal)
            ]
            self.iptables.add_missing(steps)
            for sb in list(self._sandboxes.values()):
                alive = is_netns(Path(sb.netns))
                if not alive or (keep is not None and sb.container_id not in keep):
                    self._drop_dead_sandbox(sb)
                elif sb.ports and sb.container_id not in self._proxies:
                    self._start_proxies(sb, sb.ports, strict=False)

    def _drop_dead_sandbox(self, sb: Sandbox) -> None:
        rules = [r for m in sb.ports for r in self._port_rules(sb, m)]
        if rules:
            self.iptables.delete(rules)
        for m in sb.ports:
            if m.host_ip != "::":
                self._allocator.release(m.proto, m.host_ip, m.host_port)
        with RawRtnl(self.lab.netns_path) as nl:
            for e in sb.endpoints:
                nl.delete(e.veth)
        self._forget_sandbox(sb.container_id)

    # -- networks --------------------------------------------------------------------------
    def _user_networks(self) -> builtins.list[Network]:
        return [
            n for n in self._networks.values() if n.driver == BRIDGE_DRIVER and n.bridge != DOCKER0
        ]

    def get(self, ref: str) -> Network:
        """A network by full id, name, or unique id prefix (NetworkNotFound otherwise);
        "default" is the default bridge, as in Docker's NetworkMode."""
        if ref == "default":
            ref = "bridge"
        with self._lock:
            if ref in self._networks:
                return self._networks[ref]
            for net in self._networks.values():
                if net.name == ref:
                    return net
            matches = [n for n in self._networks.values() if ref and n.id.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            raise NetworkNotFound(f"network {ref} not found")

    def list(self) -> builtins.list[Network]:
        """All networks, predefined ones included, by name."""
        with self._lock:
            return sorted(self._networks.values(), key=lambda n: n.name)

    def endpoints(self, network_ref: str) -> builtins.list[Endpoint]:
        """Endpoints attached to a network."""
        with self._lock:
            net = self.get(network_ref)
            return [
                e for sb in self._sandboxes.values() for e in sb.endpoints if e.network_id == net.id
            ]

    def inspect(self, network_ref: str) -> dict[str, Any]:
        """Docker's ``network inspect`` JSON for one network."""
        with self._lock:
            net = self.get(network_ref)
            return net.inspect(self.endpoints(net.id))

    def _routes(self) -> builtins.list[IPv4Network]:
        out = []
        for where in (HOST_NETNS, self.lab.netns_path):
            with rtnl.session(where) as ipr:
                out += [n for n in map(to_network, rtnl.ipv4_routes(ipr)) if n]
        # A network's own bridge route is not a conflict with itself, but it is taken anyway.
        return out

    @rtnl.off_loop
    def create(
        self,
        name: str,
        subnet: str | None = None,
        gateway: str | None = None,
        internal: bool = False,
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
        attachable: bool = False,
        driver: str = BRIDGE_DRIVER,
    ) -> Network:
        """``docker network create``: a bridge ``br-<id12>`` on the next free subnet."""
        if not name or not _NAME.match(name):
            raise InvalidNetworkConfig(
                f'invalid network name "{name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'
            )
        if driver != BRIDGE_DRIVER:
            raise InvalidNetworkConfig(f"driver {driver!r} is not supported (only bridge)")
        if gateway is not None and subnet is None:
            raise InvalidNetworkConfig("a gateway needs a subnet (--subnet)")
        with self._lock:
            if any(n.name == name for n in self._networks.values()):
                raise NetworkExists(f"network with name {name} already exists")
            taken = [n.ipv4_subnet for n in self._networks.values() if n.subnet]
            net_subnet = choose_subnet(subnet, taken, self._routes())
            gw = choose_gateway(net_subnet, gateway)
            net_id = new_id()
            opts = dict(options or {})
            check_driver_options(opts)
            bridge = opts.get(BRIDGE_NAME_OPTION) or f"br-{net_id[:12]}"
            if len(bridge) > 15:
                raise InvalidNetworkConfig(f"bridge name {bridge} is longer than 15 characters")
            net = Network(
                id=net_id,
                name=name,
                driver=BRIDGE_DRIVER,
                created=docker_time(),
                subnet=str(net_subnet),
                gateway=str(gw),
                bridge=bridge,
                mac=random_mac(),
                internal=internal,
                attachable=attachable,
                labels=dict(labels or {}),
                options=opts,
                ipam_options={},
            )
            with rtnl.session(self.lab.netns_path) as ipr:
                if rtnl.index_of(ipr, bridge) is not None:
                    raise NetworkExists(f"bridge {bridge} already exists in the lab")
                create_bridge(ipr, bridge, str(net.mac), str(gw), net_subnet.prefixlen)
                try:
                    self.iptables.restore(
                        iptables.render(iptables.bridge_steps(bridge, net_subnet, internal))
                    )
                except BaseException:
                    rtnl.delete_link(ipr, bridge)
                    raise
            self._save_network(net)
            return net

    @rtnl.off_loop
    def remove(self, ref: str) -> None:
        """``docker network rm``: refused for predefined networks and while attached."""
        with self._lock:
            net = self.get(ref)
            if net.predefined:
                raise PredefinedNetwork(
                    f"{net.name} is a pre-defined network and cannot be removed"
                )
            if self.endpoints(net.id):
                raise NetworkInUse(
                    f"error while removing network: network {net.name} id {net.id} has active "
                    "endpoints"
                )
            assert net.bridge
            self.iptables.delete(iptables.bridge_rules(net.bridge, net.ipv4_subnet, net.internal))
            with rtnl.session(self.lab.netns_path) as ipr:
                rtnl.delete_link(ipr, net.bridge)
            del self._networks[net.id]
            (self.lab.networks_dir / f"{net.id}.json").unlink(missing_ok=True)

    @rtnl.off_loop
    def prune(self) -> builtins.list[str]:
        """``docker network prune``: remove unused user networks, return their names."""
        with self._lock:
            removed: builtins.list[str] = []
            for net in self._user_networks():
                if not self.endpoints(net.id):
                    self.remove(net.id)
                    removed.append(net.name)
            return sorted(removed)

    # -- sandboxes -------------------------------------------------------------------------
    def _find_sandbox(self, ref: str) -> Sandbox | None:
        if ref in self._sandboxes:
            return self._sandboxes[ref]
        for sb in self._sandboxes.values():
            if sb.container_name == ref:
                return sb
        matches = [sb for cid, sb in self._sandboxes.items() if ref and cid.startswith(ref)]
        return matches[0] if len(matches) == 1 else None

    def _sandbox(self, container_id: str) -> Sandbox:
        sb = self._sandboxes.get(container_id)
        if sb is None:
            raise EndpointNotFound(f"container {container_id} has no network sandbox")
        return sb

    def netns_path(self, container_name: str) -> Path:
        """Where a container's own netns is pinned."""
        return self.lab.container_netns_dir / container_name

    @rtnl.off_loop
    def sandbox(
        self,
        container: ContainerRef,
        container_name: str | None = None,
        mode: str | None = None,
        hostname: str = "",
        etc_dir: str | Path | None = None,
    ) -> str:
        """The netns a container joins, made if needed; returns its path.

        ``mode``: "bridge"/"default"/a network name (own netns, attach separately), "none"
        (own netns, lo only), "host" (the lab netns), "container:<name|id>" (that one's).
        With ``etc_dir`` the manager writes hosts, hostname and resolv.conf there and keeps
        hosts current as peers come and go. ``container`` is an id (then give the name) or
        the engine's Container (name, network mode and hostname are read from it).
        """
        container_id = _cid(container)
        if not isinstance(container, str):
            container_name = container_name or str(container.name)
            host = getattr(container, "host", None)
            mode = mode or str(getattr(host, "network_mode", "") or "bridge")
            config = getattr(container, "config", None)
            hostname = hostname or str(getattr(config, "hostname", "") or "")
        if not container_name:
            raise InvalidNetworkConfig("a sandbox needs the container's name")
        mode = mode or "bridge"
        with self._lock:
            if container_id in self._sandboxes:
                return self._sandboxes[container_id].netns
            if "/" in container_name or container_name in ("", ".", ".."):
                raise InvalidNetworkConfig(f"invalid container name {container_name!r}")
            owns = True
            if mode == "host":
                netns, owns = str(self.lab.netns_path), False
            elif mode.startswith("container:"):
                other = self._find_sandbox(mode.split(":", 1)[1])
                if other is None:
                    raise EndpointNotFound(f"No such container: {mode.split(':', 1)[1]}")
                netns, owns = other.netns, False
            else:
                path = self.netns_path(container_name)
                if any(sb.netns == str(path) and sb.owns_netns for sb in self._sandboxes.values()):
                    raise AlreadyAttached(f"a network namespace named {container_name} is in use")
                if path.exists():
                    remove_netns(path)  # stale pin of a container that did not clean up
                create_netns(path, sandbox_setup)
                netns = str(path)
                mode = "none" if mode == "none" else "bridge"
            sb = Sandbox(
                container_id=container_id,
                container_name=container_name,
                mode=mode,
                netns=netns,
                owns_netns=owns,
                sandbox_id=new_id(),
                hostname=hostname or container_id[:12],
                etc_dir=str(etc_dir or ""),
            )
            try:
                self._save_sandbox(sb)
                self._write_etc(sb)
            except BaseException:
                self._forget_sandbox(container_id)
                if owns:
                    remove_netns(Path(netns))
                raise
            return netns

    def etc_files(self, container: ContainerRef) -> dict[str, str]:
        """Files to bind-mount into the container: {"/etc/hosts": host path, ...}."""
        container_id = _cid(container)
        with self._lock:
            sb = self._sandbox(container_id)
            if not sb.etc_dir:
                return {}
            return {
                f"/etc/{n}": str(Path(sb.etc_dir) / n) for n in ("hosts", "hostname", "resolv.conf")
            }

    def _peers(self, sb: Sandbox) -> builtins.list[tuple[str, str]]:
        """(ip, name) of the containers sharing a user network with ``sb``."""
        user = {n.id for n in self._user_networks()}
        mine = {e.network_id for e in sb.endpoints if e.network_id in user}
        out = []
        for other in self._sandboxes.values():
            if other.container_id == sb.container_id:
                continue
            for e in other.endpoints:
                if e.network_id in mine and e.ip:
                    out.append((e.ip, other.container_name))
                    out += [(e.ip, alias) for alias in e.aliases]
        return out

    def peers(self, container: ContainerRef) -> builtins.list[tuple[str, str]]:
        """(ip, name) of the containers sharing a user network with this one (its /etc/hosts
        entries for name resolution)."""
        with self._lock:
            return self._peers(self._sandbox(_cid(container)))

    def manage_hosts(self, container: ContainerRef, path: str | Path, base: str) -> None:
        """Keep the caller's hosts file at ``path`` as ``base`` plus one ``ip\tname`` line per
        peer on the container's user networks, rewritten in place as peers come and go."""
        with self._lock:
            sb = replace(self._sandbox(_cid(container)), hosts_path=str(path), hosts_base=base)
            self._save_sandbox(sb)
            self._write_etc(sb, hosts_only=True)

    def _write_etc(self, sb: Sandbox, hosts_only: bool = False) -> None:
        if sb.hosts_path:
            write_in_place(Path(sb.hosts_path), sb.hosts_base + peer_lines(self._peers(sb)))
        if not sb.etc_dir:
            return
        etc = Path(sb.etc_dir)
        etc.mkdir(parents=True, exist_ok=True)
        own_ip = sb.endpoints[0].ip if sb.endpoints else None
        write_in_place(etc / "hosts", hosts_file_content(sb.hostname, own_ip, self._peers(sb)))
        if not hosts_only:
            write_in_place(etc / "hostname", hostname_content(sb.hostname))
            write_in_place(etc / "resolv.conf", resolv_conf_content())

    def _refresh_hosts(self, network_ids: Iterable[str]) -> None:
        nets = set(network_ids)
        for other in self._sandboxes.values():
            if (other.etc_dir or other.hosts_path) and any(
                e.network_id in nets for e in other.endpoints
            ):
                self._write_etc(other, hosts_only=True)

    # -- endpoints -------------------------------------------------------------------------
    def _plumb(
        self,
        sb: Sandbox,
        bridge: str,
        ifname: str,
        mac: str,
        addr: IPv4Address,
        subnet: IPv4Network,
        gw: IPv4Address,
        default_route: bool,
    ) -> str:
        """The kernel side of attach: veth into the bridge, eth<N> configured in the sandbox.
        Returns the lab-side veth name; on failure the veth is gone again."""
        with RawRtnl(self.lab.netns_path) as lab_nl:
            bridge_idx = lab_nl.index(bridge)
            if bridge_idx is None:
                raise NetworkError(f"bridge {bridge} is missing from the lab")
            fd = os.open(sb.netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                for _ in range(20):
                    veth = "veth" + os.urandom(4).hex()[:7]
                    try:
                        lab_nl.add_veth(veth, bridge_idx, ifname, mac, fd)
                        break
                    except FileExistsError:
                        continue  # that random name is taken: draw another
                else:
                    raise NetworkError("could not find a free veth name")
            finally:
                os.close(fd)
            try:
                with RawRtnl(Path(sb.netns)) as ct:
                    idx = ct.index(ifname)
                    assert idx is not None
                    ct.add_address(idx, addr, subnet.prefixlen, subnet.broadcast_address)
                    ct.set_up(idx)
                    if default_route:
                        ct.add_default_route(gw, idx)
                    # Carrier reaches operstate (and the bridge port) through the kernel's
                    # linkwatch, a moment later: wait for it so the container's first packets
                    # are not dropped (usually well under a millisecond).
                    deadline = time.monotonic() + LINK_UP_TIMEOUT
                    while not (ct.is_oper_up(ifname) and lab_nl.is_oper_up(veth)):
                        if time.monotonic() > deadline:
                            log.warning(
                                "%s of %s not up after %.1f s",
                                ifname,
                                sb.container_name,
                                LINK_UP_TIMEOUT,
                            )
                            break
                        time.sleep(0.0005)
            except BaseException:
                lab_nl.delete(veth)
                raise
            return veth

    @rtnl.off_loop
    def attach(
        self,
        container: ContainerRef,
        network_ref: str,
        ip: str | None = None,
        aliases: Iterable[str] = (),
    ) -> Endpoint:
        """Join a container's sandbox to a bridge network: veth, eth<N>, address, route."""
        container_id = _cid(container)
        with self._lock:
            sb = self._sandbox(container_id)
            net = self.get(network_ref)
            if net.driver != BRIDGE_DRIVER:
                raise AlreadyAttached(
                    f"container cannot be connected to network {net.name} (driver {net.driver})"
                )
            if not sb.owns_netns or sb.mode == "none":
                raise AlreadyAttached(
                    "container sharing network namespace with another container or host, or "
                    "in none mode, cannot be connected to any other network"
                )
            existing = sb.endpoint_on(net.id)
            if existing is not None and network_ref == "default":
                # Docker's CLI names the default bridge twice (NetworkMode "default" and an
                # EndpointsConfig "default"); the daemon treats both as one attachment.
                return existing
            if existing is not None:
                raise AlreadyAttached(
                    f"endpoint with name {sb.container_name} already exists in network {net.name}"
                )
            subnet, gw = net.ipv4_subnet, net.ipv4_gateway
            used = {gw} | {IPv4Address(e.ip) for e in self.endpoints(net.id) if e.ip}
            if ip:
                if net.bridge == DOCKER0:
                    raise InvalidNetworkConfig(
                        "user specified IP address is supported on user defined networks only"
                    )
                addr = check_requested_ip(subnet, ip, used)
            else:
                addr = lowest_free(subnet, used)
            taken_if = {e.ifname for e in sb.endpoints}
            ifname = next(f"eth{i}" for i in range(len(taken_if) + 1) if f"eth{i}" not in taken_if)
            mac = mac_for_ip(addr)
            assert net.bridge
            veth = self._plumb(
                sb, net.bridge, ifname, mac, addr, subnet, gw, default_route=not sb.endpoints
            )
            ep = Endpoint(
                container_id=container_id,
                container_name=sb.container_name,
                network_id=net.id,
                network_name=net.name,
                endpoint_id=new_id(),
                ifname=ifname,
                veth=veth,
                ip=str(addr),
                prefixlen=subnet.prefixlen,
                gateway=str(gw),
                mac=mac,
                aliases=tuple(aliases),
            )
            sb = sb.with_endpoints(sb.endpoints + (ep,))
            self._save_sandbox(sb)
            self._write_etc(sb, hosts_only=True)
            if net.bridge != DOCKER0:
                self._refresh_hosts([net.id])
            return ep

    @rtnl.off_loop
    def detach(self, container: ContainerRef, network_ref: str) -> None:
        """Leave a network (``network disconnect``): ports on that endpoint go too."""
        container_id = _cid(container)
        with self._lock:
            sb = self._sandbox(container_id)
            net = self.get(network_ref)
            ep = sb.endpoint_on(net.id)
            if ep is None:
                raise EndpointNotFound(
                    f"container {sb.container_name} is not connected to network {net.name}"
                )
            if sb.ports and sb.endpoints[0] == ep:
                self.unpublish(container_id)
                sb = self._sandbox(container_id)
            with RawRtnl(self.lab.netns_path) as nl:
                nl.delete(ep.veth)
            sb = sb.with_endpoints(tuple(e for e in sb.endpoints if e != ep))
            self._save_sandbox(sb)
            self._write_etc(sb, hosts_only=True)
            self._refresh_hosts([net.id])

    @rtnl.off_loop
    def release(self, container: ContainerRef) -> None:
        """Undo everything for a container: ports, endpoints, its netns (idempotent)."""
        container_id = _cid(container)
        with self._lock:
            sb = self._sandboxes.get(container_id)
            if sb is None:
                return
            self.unpublish(container_id)
            with RawRtnl(self.lab.netns_path) as nl:
                for e in sb.endpoints:
                    nl.delete(e.veth)
            if sb.owns_netns:
                remove_netns(Path(sb.netns))
            self._forget_sandbox(container_id)
            self._refresh_hosts(e.network_id for e in sb.endpoints)

    def sandboxes(self) -> builtins.list[Sandbox]:
        with self._lock:
            return list(self._sandboxes.values())

    # -- published ports -------------------------------------------------------------------
    def _port_rules(self, sb: Sandbox, m: PortMapping) -> builtins.list[iptables.Rule]:
        """The three rules of one mapping (none for the [::] twin), on the first endpoint."""
        if m.host_ip == "::" or not sb.endpoints:
            return []
        ep = sb.endpoints[0]
        net = self._networks.get(ep.network_id)
        if net is None or not net.bridge:
            return []
        return iptables.publish_rules(
            net.bridge, m.container_ip, m.host_ip, m.host_port, m.container_port, m.proto
        )

    def _uplink_lab_ip(self) -> str | None:
        try:
            data = json.loads((self.lab.networks_dir / STATE_FILE).read_text())
            return str(IPv4Network(data["uplink"]).network_address + 2)
        except (OSError, ValueError, KeyError):
            return None

    def _proxies_for(
        self, sb: Sandbox, mappings: Iterable[PortMapping], strict: bool
    ) -> builtins.list[PortProxy]:
        """Bind the listening sockets: in the lab on host_ip:port (strict: a taken port is an
        error) and, best effort, on the real host's 127.0.0.1:port."""
        lab_ns = self.lab.netns_path
        uplink_ip = self._uplink_lab_ip()
        proxies: builtins.list[PortProxy] = []
        try:
            for m in mappings:
                target = (m.container_ip, m.container_port)
                try:
                    sock = listen_socket(lab_ns, m.proto, m.host_ip, m.host_port)
                except OSError as exc:
                    if m.host_ip == "::" or not strict:
                        log.warning("proxy for %s:%s not started: %s", m.host_ip, m.host_port, exc)
                        continue
                    raise PortAllocated(
                        f"Bind for {m.host_ip}:{m.host_port} failed: port is already allocated"
                        if exc.errno == errno.EADDRINUSE
                        else f"Error starting userland proxy: listen {m.proto}4 "
                        f"{m.host_ip}:{m.host_port}: {exc.strerror}"
                    ) from None
                proxies.append(PortProxy(m.proto, sock, target, connect_netns=lab_ns))
                if m.host_ip == "::":
                    continue
                # The real host's loopback, like Docker Desktop: into the lab through the uplink
                # (so the DNAT rule does the work), or for a specific host_ip, from inside it.
                if m.host_ip == "0.0.0.0" and uplink_ip:
                    fwd_target, fwd_ns = (uplink_ip, m.host_port), HOST_NETNS
                else:
                    fwd_target, fwd_ns = (m.host_ip, m.host_port), lab_ns
                try:
                    host_sock = listen_socket(HOST_NETNS, m.proto, "127.0.0.1", m.host_port)
                except OSError as exc:
                    log.warning(
                        "host loopback forward for port %s not started: %s", m.host_port, exc
                    )
                    continue
                proxies.append(PortProxy(m.proto, host_sock, fwd_target, connect_netns=fwd_ns))
        except BaseException:
            for p in proxies:
                p.listen.close()
            raise
        return proxies

    def _start_proxies(self, sb: Sandbox, mappings: Iterable[PortMapping], strict: bool) -> None:
        proxies = self._proxies_for(sb, mappings, strict)

        async def start_all() -> None:
            for p in proxies:
                await p.start()

        self._proxy_loop.run(start_all())
        self._proxies.setdefault(sb.container_id, []).extend(proxies)

    @rtnl.off_loop
    def publish(
        self, container: ContainerRef, endpoint: Endpoint | None, bindings: Iterable[Any]
    ) -> builtins.list[PortMapping]:
        """Publish ports of a container on its first bridge endpoint (or ``endpoint``).

        Per binding: DNAT, hairpin MASQUERADE and filter ACCEPT rules (one batch), a proxy
        inside the lab on host_ip:host_port (plus [::]:port when the host ip is unspecified,
        as Docker 20.10 reports both), and a forward from the host's 127.0.0.1:host_port.
        A taken port raises PortAllocated and leaves nothing behind. Host and none
        containers publish nothing (as Docker ignores -p with --net=host).
        """
        container_id = _cid(container)
        wanted = [_binding(b) for b in bindings]
        with self._lock:
            sb = self._sandbox(container_id)
            if not wanted or not sb.endpoints or sb.mode != "bridge":
                return []
            ep = endpoint or sb.endpoints[0]
            if ep != sb.endpoints[0]:
                raise InvalidNetworkConfig("ports are published on the first network only")
            taken: builtins.list[PortMapping] = []
            try:
                for b in wanted:
                    host_ip = b.host_ip or "0.0.0.0"
                    port = self._allocator.take(b.proto, host_ip, b.host_port)
                    taken.append(PortMapping(b.container_port, b.proto, host_ip, port, ep.ip))
                    if host_ip == "0.0.0.0":
                        taken.append(PortMapping(b.container_port, b.proto, "::", port, ep.ip))
                proxies = self._proxies_for(sb, taken, strict=True)
                # Report [::] only where its proxy could listen (IPv6 may be off in the lab).
                v6 = {(p.proto, p.address[1]) for p in proxies if ":" in p.address[0]}
                taken = [m for m in taken if m.host_ip != "::" or (m.proto, m.host_port) in v6]
                rules = [r for m in taken for r in self._port_rules(sb, m)]
                try:
                    self.iptables.restore(iptables.render([iptables.Step(r) for r in rules]))
                except BaseException:
                    for p in proxies:
                        p.listen.close()
                    raise
            except PortAllocated as exc:
                self._release_ports(taken)
                raise PortAllocated(
                    f"driver failed programming external connectivity on endpoint "
                    f"{sb.container_name} ({ep.endpoint_id}): {exc.message}"
                ) from None
            except BaseException:
                self._release_ports(taken)
                raise

            async def start_all() -> None:
                for p in proxies:
                    await p.start()

            self._proxy_loop.run(start_all())
            self._proxies.setdefault(container_id, []).extend(proxies)
            self._save_sandbox(replace(sb, ports=sb.ports + tuple(taken)))
            return taken

    def _release_ports(self, mappings: Iterable[PortMapping]) -> None:
        for m in mappings:
            if m.host_ip != "::":
                self._allocator.release(m.proto, m.host_ip, m.host_port)

    @rtnl.off_loop
    def unpublish(self, container: ContainerRef) -> None:
        """Remove a container's published ports: proxies, rules, allocations."""
        container_id = _cid(container)
        with self._lock:
            sb = self._sandboxes.get(container_id)
            proxies = self._proxies.pop(container_id, [])

            async def stop_all() -> None:
                for p in proxies:
                    await p.stop()

            if proxies:
                self._proxy_loop.run(stop_all())
            if sb is None or not sb.ports:
                return
            rules = [r for m in sb.ports for r in self._port_rules(sb, m)]
            self.iptables.delete(rules)
            self._release_ports(sb.ports)
            self._save_sandbox(replace(sb, ports=()))

    def ports(self, container: ContainerRef) -> builtins.list[PortMapping]:
        """``docker port``: the container's mappings."""
        container_id = _cid(container)
        with self._lock:
            sb = self._sandboxes.get(container_id)
            return list(sb.ports) if sb else []

    def network_settings(
        self, container: ContainerRef, exposed: Iterable[str] = ()
    ) -> dict[str, Any]:
        """``docker inspect``'s NetworkSettings for a container."""
        container_id = _cid(container)
        with self._lock:
            sb = self._sandbox(container_id)
            default = next((e for e in sb.endpoints if e.network_name == "bridge"), None)
            networks: dict[str, Any] = {e.network_name: e.settings() for e in sb.endpoints}
            if sb.mode in ("host", "none"):
                net = self.get(sb.mode)
                networks[sb.mode] = replace(
                    Endpoint(container_id, sb.container_name, net.id, net.name, ""),
                ).settings()
            return {
                "Bridge": "",
                "SandboxID": sb.sandbox_id,
                "HairpinMode": False,
                "LinkLocalIPv6Address": "",
                "LinkLocalIPv6PrefixLen": 0,
                "Ports": ports_json(sb.ports, exposed),
                "SandboxKey": sb.netns,
                "SecondaryIPAddresses": None,
                "SecondaryIPv6Addresses": None,
                "EndpointID": default.endpoint_id if default else "",
                "Gateway": default.gateway if default else "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "IPAddress": default.ip if default else "",
                "IPPrefixLen": default.prefixlen if default else 0,
                "IPv6Gateway": "",
                "MacAddress": default.mac if default else "",
                "Networks": networks,
            }

    @rtnl.off_loop
    def close(self) -> None:
        """Stop every proxy and the proxy thread (daemon shutdown; rules and netns stay)."""
        with self._lock:
            proxies = [p for ps in self._proxies.values() for p in ps]
            self._proxies.clear()

            async def stop_all() -> None:
                for p in proxies:
                    await p.stop()

            if proxies:
                self._proxy_loop.run(stop_all())
            self._proxy_loop.close()
