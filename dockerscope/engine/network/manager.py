"""Docker's networks inside one lab: the ``NetworkManager`` facade.

``NetworkManager(lab)`` is synchronous and thread-safe: it owns the lab's shared state (the
records, the port allocations and proxies, one lock) and hands each call to the module of
its concern, holding the lock. Calls made from a thread running an event loop move their
netlink work to a worker thread (see rtnl.off_loop) and port proxies run on the publisher's
own loop thread, so every method is a plain blocking call. The lab must be up
(``LabHost(lab).up()``) before networks or sandboxes are touched.

The concerns: ``store`` (records on disk), ``networks`` (create/remove/list/inspect/prune),
``sandboxes`` (a container's netns), ``endpoints`` (veth, attach/detach), ``hostsync``
(peers in /etc/hosts), ``publishing`` (ports) and ``adoption`` (after a restart).
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dockerscope.engine.network import endpoints, iptables, rtnl
from dockerscope.engine.network.adoption import adopt_sandboxes, restore_bridges
from dockerscope.engine.network.errors import EndpointNotFound, InvalidNetworkConfig
from dockerscope.engine.network.hostsync import HostsSync
from dockerscope.engine.network.labhost import DOCKER0
from dockerscope.engine.network.model import BRIDGE_DRIVER, Endpoint, Network, Sandbox
from dockerscope.engine.network.namespaces import is_netns
from dockerscope.engine.network.networks import Networks, check_create_request
from dockerscope.engine.network.ports import PortBinding, PortMapping, ports_json
from dockerscope.engine.network.publishing import Publisher
from dockerscope.engine.network.refs import ContainerRef, SandboxOwner, container_id
from dockerscope.engine.network.sandboxes import Sandboxes
from dockerscope.engine.network.store import NetworkStore
from dockerscope.engine.paths import Lab


class NetworkManager:
    """The lab's networks, container sandboxes, endpoints and published ports."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.iptables = iptables.LabIptables(lab.netns)
        self._lock = threading.RLock()
        self._store = NetworkStore(lab.networks_dir)
        self._networks = Networks(lab, self._store, self.iptables)
        self._hosts = HostsSync(self._store)
        self._sandboxes = Sandboxes(lab, self._store, self._hosts)
        self._publisher = Publisher(lab, self._store, self.iptables)
        self._store.load()
        for sandbox in self._store.sandboxes.values():
            self._publisher.reserve(sandbox.ports)
        self._networks.ensure_predefined()
        if is_netns(lab.netns_path):
            self.adopt()

    # -- adoption --------------------------------------------------------------------------
    @rtnl.off_loop
    def adopt(self, containers: Iterable[ContainerRef] | None = None) -> None:
        """Make the kernel match the saved state after a daemon restart or ``lab up``:
        recreate missing bridges and rules, drop sandboxes whose netns is gone (or whose
        container is not in ``containers``, when given), restart the port proxies of the
        containers still running."""
        keep = None if containers is None else {container_id(c) for c in containers}
        with self._lock:
            restore_bridges(self.lab.netns_path, self._store, self.iptables)
            adopt_sandboxes(self.lab.netns_path, self._store, self._publisher, keep)

    # -- networks --------------------------------------------------------------------------
    def get(self, ref: str) -> Network:
        """A network by full id, name, or unique id prefix (NetworkNotFound otherwise);
        "default" is the default bridge, as in Docker's NetworkMode."""
        with self._lock:
            return self._networks.get(ref)

    def list(self) -> builtins.list[Network]:
        """All networks, predefined ones included, by name."""
        with self._lock:
            return self._networks.by_name()

    def endpoints(self, network_ref: str) -> builtins.list[Endpoint]:
        """Endpoints attached to a network."""
        with self._lock:
            return self._networks.endpoints(self._networks.get(network_ref))

    def inspect(self, network_ref: str) -> dict[str, Any]:
        """Docker's ``network inspect`` JSON for one network."""
        with self._lock:
            net = self._networks.get(network_ref)
            return net.inspect(self._networks.endpoints(net))

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
        check_create_request(name, driver, subnet, gateway)
        with self._lock:
            return self._networks.create(
                name,
                subnet,
                gateway,
                internal,
                dict(labels or {}),
                dict(options or {}),
                attachable,
            )

    @rtnl.off_loop
    def remove(self, ref: str) -> None:
        """``docker network rm``: refused for predefined networks and while attached."""
        with self._lock:
            self._networks.remove(self._networks.get(ref))

    @rtnl.off_loop
    def prune(self) -> builtins.list[str]:
        """``docker network prune``: remove unused user networks, return their names."""
        with self._lock:
            return self._networks.prune()

    # -- sandboxes -------------------------------------------------------------------------
    def netns_path(self, container_name: str) -> Path:
        """Where a container's own netns is pinned."""
        return self._sandboxes.netns_path(container_name)

    @rtnl.off_loop
    def sandbox(
        self,
        container: str | SandboxOwner,
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
        if not isinstance(container, str):
            container_name = container_name or container.name
            mode = mode or container.host.network_mode or "bridge"
            hostname = hostname or container.config.hostname or ""
        if not container_name:
            raise InvalidNetworkConfig("a sandbox needs the container's name")
        with self._lock:
            return self._sandboxes.make(
                container_id(container),
                container_name,
                mode or "bridge",
                hostname,
                str(etc_dir or ""),
            )

    def sandboxes(self) -> builtins.list[Sandbox]:
        """Every sandbox on record."""
        with self._lock:
            return list(self._store.sandboxes.values())

    def etc_files(self, container: ContainerRef) -> dict[str, str]:
        """Files to bind-mount into the container: {"/etc/hosts": host path, ...}."""
        with self._lock:
            return self._sandboxes.etc_files(self._sandboxes.require(container_id(container)))

    def peers(self, container: ContainerRef) -> builtins.list[tuple[str, str]]:
        """(ip, name) of the containers sharing a user network with this one (its /etc/hosts
        entries for name resolution)."""
        with self._lock:
            return self._hosts.peers(self._sandboxes.require(container_id(container)))

    def manage_hosts(self, container: ContainerRef, path: str | Path, base: str) -> None:
        """Keep the caller's hosts file at ``path`` as ``base`` plus one ``ip\tname`` line per
        peer on the container's user networks, rewritten in place as peers come and go."""
        with self._lock:
            sandbox = self._sandboxes.require(container_id(container))
            self._sandboxes.keep_hosts(sandbox, str(path), base)

    @rtnl.off_loop
    def release(self, container: ContainerRef) -> None:
        """Undo everything for a container: ports, endpoints, its netns (idempotent)."""
        cid = container_id(container)
        with self._lock:
            sandbox = self._store.sandboxes.get(cid)
            if sandbox is None:
                return
            self._publisher.unpublish(cid)
            endpoints.delete_veths(self.lab.netns_path, sandbox.endpoints)
            self._sandboxes.remove(sandbox)
            self._hosts.refresh(e.network_id for e in sandbox.endpoints)

    # -- endpoints -------------------------------------------------------------------------
    @rtnl.off_loop
    def attach(
        self,
        container: ContainerRef,
        network_ref: str,
        ip: str | None = None,
        aliases: Iterable[str] = (),
    ) -> Endpoint:
        """Join a container's sandbox to a bridge network: veth, eth<N>, address, route."""
        with self._lock:
            sandbox = self._sandboxes.require(container_id(container))
            net = self._networks.get(network_ref)
            endpoints.check_attachable(sandbox, net)
            existing = endpoints.existing_endpoint(sandbox, net, network_ref)
            if existing is not None:
                return existing
            in_use = self._networks.endpoints(net)
            ep = endpoints.attach(self.lab.netns_path, sandbox, net, in_use, ip, aliases)
            sandbox = sandbox.with_endpoints(sandbox.endpoints + (ep,))
            self._store.save_sandbox(sandbox)
            self._hosts.write(sandbox, hosts_only=True)
            if net.bridge != DOCKER0:
                self._hosts.refresh([net.id])
            return ep

    @rtnl.off_loop
    def detach(self, container: ContainerRef, network_ref: str) -> None:
        """Leave a network (``network disconnect``): ports on that endpoint go too."""
        cid = container_id(container)
        with self._lock:
            sandbox = self._sandboxes.require(cid)
            net = self._networks.get(network_ref)
            ep = sandbox.endpoint_on(net.id)
            if ep is None:
                raise EndpointNotFound(
                    f"container {sandbox.container_name} is not connected to network {net.name}"
                )
            if sandbox.ports and sandbox.endpoints[0] == ep:
                self._publisher.unpublish(cid)
                sandbox = self._sandboxes.require(cid)
            endpoints.delete_veths(self.lab.netns_path, [ep])
            sandbox = sandbox.with_endpoints(tuple(e for e in sandbox.endpoints if e != ep))
            self._store.save_sandbox(sandbox)
            self._hosts.write(sandbox, hosts_only=True)
            self._hosts.refresh([net.id])

    # -- published ports -------------------------------------------------------------------
    @rtnl.off_loop
    def publish(
        self, container: ContainerRef, endpoint: Endpoint | None, bindings: Iterable[PortBinding]
    ) -> builtins.list[PortMapping]:
        """Publish ports of a container on its first bridge endpoint (or ``endpoint``).

        Per binding: DNAT, hairpin MASQUERADE and filter ACCEPT rules (one batch), a proxy
        inside the lab on host_ip:host_port (plus [::]:port when the host ip is unspecified,
        as Docker 20.10 reports both), and a forward from the host's 127.0.0.1:host_port.
        A taken port raises PortAllocated and leaves nothing behind. Host and none
        containers publish nothing (as Docker ignores -p with --net=host).
        """
        wanted = list(bindings)
        with self._lock:
            sandbox = self._sandboxes.require(container_id(container))
            return self._publisher.publish(sandbox, endpoint, wanted)

    @rtnl.off_loop
    def unpublish(self, container: ContainerRef) -> None:
        """Remove a container's published ports: proxies, rules, allocations."""
        with self._lock:
            self._publisher.unpublish(container_id(container))

    def ports(self, container: ContainerRef) -> builtins.list[PortMapping]:
        """``docker port``: the container's mappings."""
        with self._lock:
            sandbox = self._store.sandboxes.get(container_id(container))
            return list(sandbox.ports) if sandbox else []

    def network_settings(
        self, container: ContainerRef, exposed: Iterable[str] = ()
    ) -> dict[str, Any]:
        """``docker inspect``'s NetworkSettings for a container."""
        with self._lock:
            sandbox = self._sandboxes.require(container_id(container))
            shared = self._networks.get(sandbox.mode) if sandbox.mode in ("host", "none") else None
            return sandbox.settings(ports_json(sandbox.ports, exposed), shared)

    @rtnl.off_loop
    def close(self) -> None:
        """Stop every proxy and the proxy thread (daemon shutdown; rules and netns stay)."""
        with self._lock:
            self._publisher.close()
