"""A container's network namespace: through the lab's NetworkManager, or a bare netns.

When the network module is available, ``NetworkManager`` makes the sandbox, attaches the
container to its networks and publishes its ports. Without it (a lab with no networking yet, or
``--network none``), the container gets a namespace of its own with only ``lo`` up.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dockerscope.engine.containers.model import Container
from dockerscope.engine.network.model import Endpoint
from dockerscope.engine.network.ports import PortBinding, PortMapping, parse_port_key, publish_all
from dockerscope.engine.paths import Lab

if TYPE_CHECKING:  # the manager pulls in pyroute2; the daemon hands one in
    from dockerscope.engine.network.manager import NetworkManager

log = logging.getLogger(__name__)

MNT_DETACH = 2


@dataclass(frozen=True)
class NetSetup:
    """Where a started container's network lives and what it got."""

    netns_path: str
    endpoints: tuple[Endpoint, ...] = ()
    ports: tuple[PortMapping, ...] = ()


def _umount(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.umount2(path.encode(), MNT_DETACH)


def bare_netns(path: Path) -> None:
    """A new network namespace pinned at ``path`` with only ``lo``, up."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    try:
        subprocess.run(
            ["unshare", f"--net={path}", "ip", "link", "set", "lo", "up"],
            check=True,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        remove_netns(path)
        raise RuntimeError(f"cannot create a network namespace at {path}: {exc}") from exc


def remove_netns(path: Path) -> None:
    """Unpin and delete a netns file (idempotent)."""
    if path.exists():
        _umount(str(path))
        with contextlib.suppress(OSError):
            path.unlink()


class ContainerNetworking:
    """Sets up and releases containers' networking for one lab."""

    def __init__(self, lab: Lab, networks: NetworkManager | None = None) -> None:
        self.lab = lab
        self.networks = networks  # None when networking is not available

    def netns_file(self, c: Container) -> Path:
        return self.lab.container_netns_dir / c.name

    def setup(self, c: Container, joined: Container | None = None) -> NetSetup:
        """Give a container about to start its netns, endpoints and published ports.

        ``joined``: for ``--network container:<id>``, that (running) container."""
        mode = c.host.network_mode
        if mode == "host":
            return NetSetup(str(self.lab.netns_path))
        if joined is not None and self.networks is None:
            return NetSetup(joined.sandbox_key or "")
        if self.networks is None or mode == "none":
            path = self.netns_file(c)
            bare_netns(path)
            return NetSetup(str(path))
        return self._setup_with_manager(c)

    def _setup_with_manager(self, c: Container) -> NetSetup:
        net = self.networks
        assert net is not None
        netns = str(net.sandbox(c))
        try:
            mode = c.host.network_mode
            if mode in ("host", "none") or mode.startswith("container:"):
                return NetSetup(netns)  # no endpoint of its own: the joined one's are shared
            names = ["bridge" if mode in ("default", "bridge") else mode]
            aliases: dict[str, tuple[str, ...]] = {}
            for n, a in c.host.endpoints:
                n = "bridge" if n == "default" else n  # clients name the default bridge so
                aliases[n] = a
                if n not in names:
                    names.append(n)
            endpoints = tuple(
                net.attach(c, name, aliases=tuple(aliases.get(name, ()))) for name in names
            )
            wanted = _bindings(c)
            ports = tuple(net.publish(c, None, wanted)) if wanted else ()
            return NetSetup(netns, endpoints, ports)
        except BaseException:
            self.release(c)
            raise

    def keep_hosts(self, c: Container, path: Path, base: str) -> None:
        """Let the network module keep ``path`` as ``base`` plus the peers on user networks."""
        mode = c.host.network_mode
        shared = mode in ("host", "none") or mode.startswith("container:")
        if self.networks is not None and not shared:
            self.networks.manage_hosts(c, path, base)

    def release(self, c: Container) -> None:
        """Undo ``setup`` (idempotent: also used to clean after a daemon crash)."""
        if self.networks is not None:
            try:
                self.networks.release(c)
            except Exception as exc:  # cleanup goes on; say what failed
                log.warning("releasing the network of %s failed: %s", c.name, exc)
        else:
            remove_netns(self.netns_file(c))


def _bindings(c: Container) -> list[PortBinding]:
    """The publications wanted: PortBindings, plus the exposed ports with PublishAllPorts."""
    explicit = [
        PortBinding(*parse_port_key(key), host_ip=ip, host_port=int(hp) if hp else 0)
        for key, binds in c.host.port_bindings
        for ip, hp in binds
    ]
    if c.host.publish_all_ports:
        return publish_all(c.config.exposed_ports, explicit)
    return explicit


def cleanup_stale_netns(lab: Lab, keep: set[str]) -> None:
    """Remove netns files in the lab's dir that no running container owns (after a crash)."""
    d = lab.container_netns_dir
    if not d.is_dir():
        return
    for f in d.iterdir():
        if f.name not in keep:
            remove_netns(f)


def netns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None
