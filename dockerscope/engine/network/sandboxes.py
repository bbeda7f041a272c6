"""Container sandboxes: the network namespace each container joins, and its /etc files.

A sandbox is made per container: its own netns (bridge and none modes), the lab's (host
mode) or another container's (``container:<name|id>``). Endpoints are added separately.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dockerscope.engine.network.errors import (
    AlreadyAttached,
    EndpointNotFound,
    InvalidNetworkConfig,
)
from dockerscope.engine.network.hostsync import HostsSync
from dockerscope.engine.network.model import Sandbox, new_id
from dockerscope.engine.network.namespaces import create_netns, remove_netns, sandbox_setup
from dockerscope.engine.network.store import NetworkStore
from dockerscope.engine.paths import Lab

ETC_FILES = ("hosts", "hostname", "resolv.conf")


def check_container_name(name: str) -> None:
    """A container name must be usable as the netns pin's file name."""
    if not name or "/" in name or name in (".", ".."):
        raise InvalidNetworkConfig(f"invalid container name {name!r}")


class Sandboxes:
    """Makes, finds and records sandboxes (called with the manager's lock held)."""

    def __init__(self, lab: Lab, store: NetworkStore, hosts: HostsSync) -> None:
        self.lab = lab
        self.store = store
        self.hosts = hosts

    def find(self, ref: str) -> Sandbox | None:
        """A sandbox by container id, name or unique id prefix."""
        sandboxes = self.store.sandboxes
        if ref in sandboxes:
            return sandboxes[ref]
        for sandbox in sandboxes.values():
            if sandbox.container_name == ref:
                return sandbox
        matches = [sandbox for cid, sandbox in sandboxes.items() if ref and cid.startswith(ref)]
        return matches[0] if len(matches) == 1 else None

    def require(self, container_id: str) -> Sandbox:
        """The container's sandbox, or EndpointNotFound."""
        sandbox = self.store.sandboxes.get(container_id)
        if sandbox is None:
            raise EndpointNotFound(f"container {container_id} has no network sandbox")
        return sandbox

    def netns_path(self, container_name: str) -> Path:
        """Where a container's own netns is pinned."""
        return self.lab.container_netns_dir / container_name

    def _netns_for(self, container_name: str, mode: str) -> tuple[str, bool, str]:
        """(netns path, whether the sandbox owns it, the recorded mode) for ``mode``;
        an own netns is made here."""
        if mode == "host":
            return str(self.lab.netns_path), False, mode
        if mode.startswith("container:"):
            ref = mode.split(":", 1)[1]
            other = self.find(ref)
            if other is None:
                raise EndpointNotFound(f"No such container: {ref}")
            return other.netns, False, mode
        path = self.netns_path(container_name)
        if any(
            sandbox.netns == str(path) and sandbox.owns_netns
            for sandbox in self.store.sandboxes.values()
        ):
            raise AlreadyAttached(f"a network namespace named {container_name} is in use")
        if path.exists():
            remove_netns(path)  # stale pin of a container that did not clean up
        create_netns(path, sandbox_setup)
        return str(path), True, "none" if mode == "none" else "bridge"

    def make(
        self, container_id: str, container_name: str, mode: str, hostname: str, etc_dir: str
    ) -> str:
        """The container's netns, made and recorded if it has none yet; returns its path."""
        if container_id in self.store.sandboxes:
            return self.store.sandboxes[container_id].netns
        check_container_name(container_name)
        netns, owns, mode = self._netns_for(container_name, mode)
        sandbox = Sandbox(
            container_id=container_id,
            container_name=container_name,
            mode=mode,
            netns=netns,
            owns_netns=owns,
            sandbox_id=new_id(),
            hostname=hostname or container_id[:12],
            etc_dir=etc_dir,
        )
        try:
            self.store.save_sandbox(sandbox)
            self.hosts.write(sandbox)
        except BaseException:
            self.store.forget_sandbox(container_id)
            if owns:
                remove_netns(Path(netns))
            raise
        return netns

    def etc_files(self, sandbox: Sandbox) -> dict[str, str]:
        """Files to bind-mount into the container: {"/etc/hosts": host path, ...}."""
        if not sandbox.etc_dir:
            return {}
        return {f"/etc/{n}": str(Path(sandbox.etc_dir) / n) for n in ETC_FILES}

    def keep_hosts(self, sandbox: Sandbox, path: str, base: str) -> None:
        """From now on keep the hosts file at ``path`` as ``base`` plus the peer lines."""
        sandbox = replace(sandbox, hosts_path=path, hosts_base=base)
        self.store.save_sandbox(sandbox)
        self.hosts.write(sandbox, hosts_only=True)

    def remove(self, sandbox: Sandbox) -> None:
        """Forget the record and remove the netns if it is the sandbox's own."""
        if sandbox.owns_netns:
            remove_netns(Path(sandbox.netns))
        self.store.forget_sandbox(sandbox.container_id)
