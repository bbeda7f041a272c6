"""Name resolution by /etc/hosts: each sandbox's hosts file lists its peers on user networks.

Docker's embedded DNS answers a container's peers by name; dockerscope writes them into the
container's hosts file instead, and rewrites it in place whenever a peer comes or goes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dockerscope.engine.network.etcfiles import (
    hostname_content,
    hosts_file_content,
    peer_lines,
    resolv_conf_content,
    write_in_place,
)
from dockerscope.engine.network.model import Sandbox
from dockerscope.engine.network.store import NetworkStore


class HostsSync:
    """Keeps sandboxes' /etc files current (called with the manager's lock held)."""

    def __init__(self, store: NetworkStore) -> None:
        self.store = store

    def peers(self, sandbox: Sandbox) -> list[tuple[str, str]]:
        """(ip, name) of the containers sharing a user network with ``sandbox``, aliases too."""
        user = {n.id for n in self.store.user_networks()}
        mine = {e.network_id for e in sandbox.endpoints if e.network_id in user}
        out = []
        for other in self.store.sandboxes.values():
            if other.container_id == sandbox.container_id:
                continue
            for e in other.endpoints:
                if e.network_id in mine and e.ip_address:
                    out.append((e.ip_address, other.container_name))
                    out += [(e.ip_address, alias) for alias in e.aliases]
        return out

    def write(self, sandbox: Sandbox, hosts_only: bool = False) -> None:
        """Write ``sandbox``'s hosts file (a caller's, or in its etc_dir) and, unless
        ``hosts_only``, its hostname and resolv.conf."""
        if sandbox.hosts_path:
            write_in_place(
                Path(sandbox.hosts_path), sandbox.hosts_base + peer_lines(self.peers(sandbox))
            )
        if not sandbox.etc_dir:
            return
        etc = Path(sandbox.etc_dir)
        etc.mkdir(parents=True, exist_ok=True)
        own_ip = sandbox.endpoints[0].ip_address if sandbox.endpoints else None
        write_in_place(
            etc / "hosts", hosts_file_content(sandbox.hostname, own_ip, self.peers(sandbox))
        )
        if not hosts_only:
            write_in_place(etc / "hostname", hostname_content(sandbox.hostname))
            write_in_place(etc / "resolv.conf", resolv_conf_content())

    def refresh(self, network_ids: Iterable[str]) -> None:
        """Rewrite the hosts files of every sandbox on one of these networks."""
        nets = set(network_ids)
        for other in self.store.sandboxes.values():
            if (other.etc_dir or other.hosts_path) and any(
                e.network_id in nets for e in other.endpoints
            ):
                self.write(other, hosts_only=True)
