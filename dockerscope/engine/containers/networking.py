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
from typing import Any

from dockerscope.engine.containers.model import Container, Endpoint
from dockerscope.engine.paths import Lab

log = logging.getLogger(__name__)

MNT_DETACH = 2


@dataclass(frozen=True)
class NetSetup:
    """Where a started container's network lives and what it got."""

    netns_path: str
    endpoints: tuple[Endpoint, ...] = ()
    ports: tuple[tuple[str, str, str], ...] = ()  # (container port, host ip, host port)


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

    def __init__(self, lab: Lab, networks: Any | None = None) -> None:
        self.lab = lab
        self.networks = networks  # a NetworkManager, or None when networking is not available

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
            endpoints = []
            for name in names:
                ep = net.attach(c, name, aliases=tuple(aliases.get(name, ())))
                endpoints.append(_endpoint(name, ep))
            ports: list[tuple[str, str, str]] = []
            wanted = _bindings(c)
            if wanted:
                ports = [_mapping(m) for m in net.publish(c, None, wanted)]
            return NetSetup(netns, tuple(endpoints), tuple(ports))
        except BaseException:
            self.release(c)
            raise

    def keep_hosts(self, c: Container, path: Path, base: str) -> None:
        """Let the network module keep ``path`` as ``base`` plus the peers on user networks."""
        manage = getattr(self.networks, "manage_hosts", None)
        mode = c.host.network_mode
        shared = mode in ("host", "none") or mode.startswith("container:")
        if manage is not None and not shared:
            manage(c, path, base)

    def release(self, c: Container) -> None:
        """Undo ``setup`` (idempotent: also used to clean after a daemon crash)."""
        if self.networks is not None:
            try:
                self.networks.release(c)
            except Exception as exc:  # cleanup goes on; say what failed
                log.warning("releasing the network of %s failed: %s", c.name, exc)
        else:
            remove_netns(self.netns_file(c))


def _bindings(c: Container) -> list[tuple[str, str, str]]:
    """(container port, host ip, host port) wanted; PublishAllPorts adds exposed ports."""
    out = [(port, ip, hp) for port, binds in c.host.port_bindings for ip, hp in binds]
    if c.host.publish_all_ports:
        bound = {p for p, _, _ in out}
        out += [(p, "", "") for p in c.config.exposed_ports if p not in bound]
    return out


def _get(obj: Any, *names: str, default: Any = "") -> Any:
    for n in names:
        if isinstance(obj, dict) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            return getattr(obj, n)
    return default


def _endpoint(network: str, ep: Any) -> Endpoint:
    ip = str(_get(ep, "ip_address", "ip", "address", "IPAddress"))
    prefix = _get(ep, "prefix_len", "prefixlen", "IPPrefixLen", default=0)
    if "/" in ip:
        ip, _, p = ip.partition("/")
        prefix = int(p)
    return Endpoint(
        network=str(_get(ep, "network_name", "network", default=network)) or network,
        network_id=str(_get(ep, "network_id", "NetworkID")),
        endpoint_id=str(_get(ep, "endpoint_id", "id", "EndpointID")),
        ip_address=ip,
        prefix_len=int(prefix or 0),
        gateway=str(_get(ep, "gateway", "Gateway")),
        mac_address=str(_get(ep, "mac_address", "mac", "MacAddress")),
        aliases=tuple(_get(ep, "aliases", default=()) or ()),
    )


def _mapping(m: Any) -> tuple[str, str, str]:
    port = _get(m, "container_port", "private_port", default="")
    proto = _get(m, "proto", "protocol", default="tcp")
    key = str(port) if "/" in str(port) else f"{port}/{proto}"
    return (key, str(_get(m, "host_ip", default="0.0.0.0")), str(_get(m, "host_port")))


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
