"""Published ports: host-port allocation, the DNAT rules and the userland proxies.

Per mapping: DNAT, hairpin MASQUERADE and filter ACCEPT rules on the sandbox's first
endpoint, a proxy inside the lab on host_ip:host_port (plus [::]:port when the host ip is
unspecified, as Docker 20.10 reports both) and a forward from the real host's
127.0.0.1:host_port. Proxies run on the publisher's own event-loop thread.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterable
from dataclasses import replace
from ipaddress import IPv4Network

from dockerscope.engine.network import iptables
from dockerscope.engine.network.errors import InvalidNetworkConfig, PortAllocated
from dockerscope.engine.network.hostside import HOST_NETNS
from dockerscope.engine.network.model import Endpoint, Sandbox
from dockerscope.engine.network.ports import PortAllocator, PortBinding, PortMapping
from dockerscope.engine.network.proxy import PortProxy, ProxyLoop, listen_socket
from dockerscope.engine.network.store import NetworkStore
from dockerscope.engine.paths import Lab

log = logging.getLogger(__name__)
ANY_V6 = "::"  # the [::] twin of a 0.0.0.0 mapping: a proxy only, no rules, no allocation


def _bind_error(m: PortMapping, exc: OSError) -> PortAllocated:
    """Docker's words for a lab port that cannot be listened on."""
    if exc.errno == errno.EADDRINUSE:
        return PortAllocated(
            f"Bind for {m.host_ip}:{m.host_port} failed: port is already allocated"
        )
    return PortAllocated(
        f"Error starting userland proxy: listen {m.proto}4 {m.host_ip}:{m.host_port}: "
        f"{exc.strerror}"
    )


class Publisher:
    """The lab's published ports (called with the manager's lock held)."""

    def __init__(self, lab: Lab, store: NetworkStore, rules: iptables.LabIptables) -> None:
        self.lab = lab
        self.store = store
        self.rules = rules
        self.allocator = PortAllocator()
        self.proxies: dict[str, list[PortProxy]] = {}
        self.loop = ProxyLoop()

    def reserve(self, mappings: Iterable[PortMapping]) -> None:
        """Mark saved mappings' host ports as taken (after loading the records)."""
        for m in mappings:
            if m.host_ip != ANY_V6:
                self.allocator.take(m.proto, m.host_ip, m.host_port)

    def _release_ports(self, mappings: Iterable[PortMapping]) -> None:
        for m in mappings:
            if m.host_ip != ANY_V6:
                self.allocator.release(m.proto, m.host_ip, m.host_port)

    def _port_rules(self, sandbox: Sandbox, m: PortMapping) -> list[iptables.Rule]:
        """The three rules of one mapping (none for the [::] twin), on the first endpoint."""
        if m.host_ip == ANY_V6 or not sandbox.endpoints:
            return []
        net = self.store.networks.get(sandbox.endpoints[0].network_id)
        if net is None or not net.bridge:
            return []
        return iptables.publish_rules(
            net.bridge, m.container_ip, m.host_ip, m.host_port, m.container_port, m.proto
        )

    def _uplink_lab_ip(self) -> str | None:
        """The lab's address on its uplink, where the host's loopback forwards go."""
        try:
            return str(IPv4Network(self.store.lab_state()["uplink"]).network_address + 2)
        except (KeyError, ValueError, TypeError):
            return None

    def _host_forward(self, m: PortMapping, uplink_ip: str | None) -> PortProxy | None:
        """The real host's 127.0.0.1:port, like Docker Desktop: into the lab through the
        uplink (so the DNAT rule does the work), or for a specific host_ip, from inside it."""
        if m.host_ip == "0.0.0.0" and uplink_ip:
            target, netns = (uplink_ip, m.host_port), HOST_NETNS
        else:
            target, netns = (m.host_ip, m.host_port), self.lab.netns_path
        try:
            sock = listen_socket(HOST_NETNS, m.proto, "127.0.0.1", m.host_port)
        except OSError as exc:
            log.warning("host loopback forward for port %s not started: %s", m.host_port, exc)
            return None
        return PortProxy(m.proto, sock, target, connect_netns=netns)

    def _proxies_for(self, mappings: Iterable[PortMapping], strict: bool) -> list[PortProxy]:
        """Bind the listening sockets: in the lab on host_ip:port (strict: a taken port is an
        error) and, best effort, on the real host's 127.0.0.1:port."""
        lab_ns = self.lab.netns_path
        uplink_ip = self._uplink_lab_ip()
        proxies: list[PortProxy] = []
        try:
            for m in mappings:
                try:
                    sock = listen_socket(lab_ns, m.proto, m.host_ip, m.host_port)
                except OSError as exc:
                    if m.host_ip == ANY_V6 or not strict:
                        log.warning("proxy for %s:%s not started: %s", m.host_ip, m.host_port, exc)
                        continue
                    raise _bind_error(m, exc) from None
                target = (m.container_ip, m.container_port)
                proxies.append(PortProxy(m.proto, sock, target, connect_netns=lab_ns))
                forward = self._host_forward(m, uplink_ip) if m.host_ip != ANY_V6 else None
                if forward is not None:
                    proxies.append(forward)
        except BaseException:
            for p in proxies:
                p.listen.close()
            raise
        return proxies

    def _start(self, container_id: str, proxies: list[PortProxy]) -> None:
        async def start_all() -> None:
            for p in proxies:
                await p.start()

        self.loop.run(start_all())
        self.proxies.setdefault(container_id, []).extend(proxies)

    def _stop(self, proxies: list[PortProxy]) -> None:
        async def stop_all() -> None:
            for p in proxies:
                await p.stop()

        if proxies:
            self.loop.run(stop_all())

    def restart(self, sandbox: Sandbox) -> None:
        """Listen again for a sandbox's saved mappings (after a daemon restart), best effort."""
        if sandbox.ports and sandbox.container_id not in self.proxies:
            self._start(sandbox.container_id, self._proxies_for(sandbox.ports, strict=False))

    def _allocate(self, wanted: Iterable[PortBinding], ep: Endpoint) -> list[PortMapping]:
        """Host ports for the bindings (0 = an ephemeral one), plus the [::] twins."""
        taken: list[PortMapping] = []
        try:
            for b in wanted:
                host_ip = b.host_ip or "0.0.0.0"
                port = self.allocator.take(b.proto, host_ip, b.host_port)
                taken.append(PortMapping(b.container_port, b.proto, host_ip, port, ep.ip_address))
                if host_ip == "0.0.0.0":
                    taken.append(
                        PortMapping(b.container_port, b.proto, ANY_V6, port, ep.ip_address)
                    )
        except BaseException:
            self._release_ports(taken)
            raise
        return taken

    def _program(
        self, sandbox: Sandbox, taken: list[PortMapping]
    ) -> tuple[list[PortMapping], list[PortProxy]]:
        """Bind the proxies and add the rules; returns the mappings in force and the proxies
        (not started yet). On failure nothing is listening."""
        proxies = self._proxies_for(taken, strict=True)
        # Report [::] only where its proxy could listen (IPv6 may be off in the lab).
        v6 = {(p.proto, p.address[1]) for p in proxies if ":" in p.address[0]}
        taken = [m for m in taken if m.host_ip != ANY_V6 or (m.proto, m.host_port) in v6]
        rules = [r for m in taken for r in self._port_rules(sandbox, m)]
        try:
            self.rules.restore(iptables.render([iptables.Step(r) for r in rules]))
        except BaseException:
            for p in proxies:
                p.listen.close()
            raise
        return taken, proxies

    def publish(
        self, sandbox: Sandbox, endpoint: Endpoint | None, wanted: list[PortBinding]
    ) -> list[PortMapping]:
        """Publish ports on the sandbox's first endpoint; a taken port raises PortAllocated
        and leaves nothing behind. Host and none sandboxes publish nothing (as Docker
        ignores -p with --net=host)."""
        if not wanted or not sandbox.endpoints or sandbox.mode != "bridge":
            return []
        ep = endpoint or sandbox.endpoints[0]
        if ep != sandbox.endpoints[0]:
            raise InvalidNetworkConfig("ports are published on the first network only")
        taken: list[PortMapping] = []
        try:
            taken = self._allocate(wanted, ep)  # on failure it has released its own ports
            taken, proxies = self._program(sandbox, taken)
        except PortAllocated as exc:
            self._release_ports(taken)
            raise PortAllocated(
                f"driver failed programming external connectivity on endpoint "
                f"{sandbox.container_name} ({ep.endpoint_id}): {exc.message}"
            ) from None
        except BaseException:
            self._release_ports(taken)
            raise
        self._start(sandbox.container_id, proxies)
        self.store.save_sandbox(replace(sandbox, ports=sandbox.ports + tuple(taken)))
        return taken

    def unpublish(self, container_id: str) -> None:
        """Remove a container's published ports: proxies, rules, allocations."""
        self._stop(self.proxies.pop(container_id, []))
        sandbox = self.store.sandboxes.get(container_id)
        if sandbox is None or not sandbox.ports:
            return
        self.rules.delete([r for m in sandbox.ports for r in self._port_rules(sandbox, m)])
        self._release_ports(sandbox.ports)
        self.store.save_sandbox(replace(sandbox, ports=()))

    def forget(self, sandbox: Sandbox) -> None:
        """Drop the rules and allocations of a sandbox whose container is gone."""
        rules = [r for m in sandbox.ports for r in self._port_rules(sandbox, m)]
        if rules:
            self.rules.delete(rules)
        self._release_ports(sandbox.ports)

    def close(self) -> None:
        """Stop every proxy and the proxy thread (rules stay)."""
        proxies = [p for ps in self.proxies.values() for p in ps]
        self.proxies.clear()
        self._stop(proxies)
        self.loop.close()
