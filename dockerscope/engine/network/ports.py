"""Published ports: parsing ``-p``/``-P``/PortBindings, and the lab's host-port allocator.

Pure code: the kernel side (rules, proxies) lives in manager.py and proxy.py.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dockerscope.engine.network.errors import InvalidNetworkConfig, PortAllocated

EPHEMERAL_FIRST = 49153  # Docker's default ephemeral range for -p <port> and -P
EPHEMERAL_LAST = 65535
PROTOCOLS = ("tcp", "udp")


@dataclass(frozen=True)
class PortBinding:
    """One requested publication: container port/proto to host ip:port (0 = pick one)."""

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port: int = 0

    @property
    def key(self) -> str:
        """Docker's port key, e.g. ``8080/tcp``."""
        return f"{self.container_port}/{self.proto}"


@dataclass(frozen=True)
class PortMapping:
    """A publication in force: ``host_ip:host_port`` reaches ``container_ip:container_port``.

    The one mapping type of the engine: the network manager makes it, the container records
    keep it (``Container.ports``) and inspect and ps render it.
    """

    container_port: int
    proto: str
    host_ip: str
    host_port: int
    container_ip: str = ""

    @property
    def key(self) -> str:
        """Docker's port key, e.g. ``80/tcp``."""
        return f"{self.container_port}/{self.proto}"

    def to_json(self) -> dict[str, Any]:
        """The record as saved in sandbox and container state files."""
        return {
            "container_port": self.container_port,
            "proto": self.proto,
            "host_ip": self.host_ip,
            "host_port": self.host_port,
            "container_ip": self.container_ip,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | Sequence[str]) -> PortMapping:
        """Read a saved mapping: a dict as :meth:`to_json` writes it, or the triple
        ``["80/tcp", host ip, "8080"]`` container records held before the two mapping types
        became one."""
        if not isinstance(data, Mapping):
            key, host_ip, host_port = data
            port, proto = parse_port_key(str(key))
            return cls(port, proto, str(host_ip), int(host_port))
        return cls(
            int(data["container_port"]),
            str(data["proto"]),
            str(data["host_ip"]),
            int(data["host_port"]),
            str(data.get("container_ip", "")),
        )


def _port(text: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= 65535:
        raise InvalidNetworkConfig(f"Invalid {what}: {text}")
    return int(text)


def _port_range(text: str, what: str) -> list[int]:
    if "-" in text:
        first_text, last_text = text.split("-", 1)
        first, last = _port(first_text, what), _port(last_text, what)
        if last < first:
            raise InvalidNetworkConfig(f"Invalid range specified for the {what}: {text}")
        return list(range(first, last + 1))
    return [_port(text, what)]


def parse_host_ip(text: str) -> str:
    """A host address to publish on (``-p ip:...`` or a binding's HostIp): unicast IPv4."""
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        raise InvalidNetworkConfig(f"Invalid ip address: {text}") from None
    if ip.version != 4:
        raise InvalidNetworkConfig(f"Invalid ip address: {text}: only IPv4 host addresses")
    if ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255"):
        raise InvalidNetworkConfig(f"Invalid ip address: {text}: not a unicast address")
    return str(ip)


def parse_publish(spec: str) -> list[PortBinding]:
    """Parse one ``-p`` value: ``[ip:][hostPort:]containerPort[/proto]``, ranges allowed.

    >>> parse_publish("127.0.0.1:8080:80/udp")
    [PortBinding(container_port=80, proto='udp', host_ip='127.0.0.1', host_port=8080)]
    """
    text = spec.strip()
    if not text:
        raise InvalidNetworkConfig("invalid port specification: empty")
    proto = "tcp"
    if "/" in text:
        text, proto = text.rsplit("/", 1)
        proto = proto.lower()
        if proto not in PROTOCOLS:
            raise InvalidNetworkConfig(f"Invalid proto: {proto}")
    host_ip, host_part = "", ""
    if text.startswith("["):  # [ip]:host:container
        close = text.find("]")
        if close < 0:
            raise InvalidNetworkConfig(f"invalid port specification: {spec}")
        host_ip = parse_host_ip(text[: close + 1])
        rest = text[close + 2 :].split(":")
        if len(rest) != 2:
            raise InvalidNetworkConfig(f"invalid port specification: {spec}")
        host_part, container_part = rest
    else:
        parts = text.split(":")
        if len(parts) == 1:
            container_part = parts[0]
        elif len(parts) == 2:
            host_part, container_part = parts
        elif len(parts) == 3:
            host_ip = parse_host_ip(parts[0])
            host_part, container_part = parts[1], parts[2]
        else:
            raise InvalidNetworkConfig(f"invalid port specification: {spec}")
    if not container_part:
        raise InvalidNetworkConfig(f"No port specified: {spec}<empty>")
    container_ports = _port_range(container_part, "containerPort")
    host_ports = _port_range(host_part, "hostPort") if host_part else [0] * len(container_ports)
    if len(host_ports) != len(container_ports):
        if host_part and len(host_ports) > 1 and len(container_ports) == 1:
            # Docker: a host range with one container port means "any one of these".
            raise InvalidNetworkConfig(
                f"invalid port specification: {spec}: host port ranges for one container "
                "port are not supported"
            )
        raise InvalidNetworkConfig(
            f"Invalid ranges specified for container and host Ports: {container_part} and "
            f"{host_part}"
        )
    return [
        PortBinding(container_port=c, proto=proto, host_ip=host_ip, host_port=h)
        for c, h in zip(container_ports, host_ports, strict=True)
    ]


def parse_port_key(key: str) -> tuple[int, str]:
    """``"8080/tcp"`` (or ``"8080"``) -> (8080, "tcp")."""
    port_text, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise InvalidNetworkConfig(f"Invalid proto: {proto}")
    return _port(port_text, "containerPort"), proto


def bindings_from_json(port_bindings: Mapping[str, Any] | None) -> list[PortBinding]:
    """Docker's HostConfig.PortBindings: ``{"8080/tcp": [{"HostIp": "", "HostPort": "8080"}]}``."""
    out: list[PortBinding] = []
    for key, entries in (port_bindings or {}).items():
        container_port, proto = parse_port_key(key)
        for entry in entries or [{}]:
            host_ip = str((entry or {}).get("HostIp") or "")
            host_port_text = str((entry or {}).get("HostPort") or "")
            out.append(
                PortBinding(
                    container_port=container_port,
                    proto=proto,
                    host_ip=parse_host_ip(host_ip) if host_ip else "",
                    host_port=_port(host_port_text, "hostPort") if host_port_text else 0,
                )
            )
    return out


def bindings_to_json(bindings: Iterable[PortBinding]) -> dict[str, list[dict[str, str]]]:
    """The inverse of :func:`bindings_from_json`."""
    out: dict[str, list[dict[str, str]]] = {}
    for b in bindings:
        out.setdefault(b.key, []).append(
            {"HostIp": b.host_ip, "HostPort": str(b.host_port) if b.host_port else ""}
        )
    return out


def publish_all(exposed: Iterable[str], explicit: Iterable[PortBinding] = ()) -> list[PortBinding]:
    """``-P``: every exposed port (``"80/tcp"`` keys) not already bound gets a random host port."""
    bound = {b.key for b in explicit}
    out = list(explicit)
    for key in exposed:
        port, proto = parse_port_key(key)
        if f"{port}/{proto}" not in bound:
            out.append(PortBinding(container_port=port, proto=proto))
            bound.add(f"{port}/{proto}")
    return out


def ports_json(
    mappings: Iterable[PortMapping], exposed: Iterable[str] = ()
) -> dict[str, list[dict[str, str]] | None]:
    """NetworkSettings.Ports: each exposed or published port, ``None`` when not published."""
    out: dict[str, list[dict[str, str]] | None] = {}
    for key in exposed:
        port, proto = parse_port_key(key)
        out[f"{port}/{proto}"] = None
    for m in mappings:
        entries = out.get(m.key) or []
        entries.append({"HostIp": m.host_ip, "HostPort": str(m.host_port)})
        out[m.key] = entries
    return out


def _conflicts(a: str, b: str) -> bool:
    return a == b or "0.0.0.0" in (a, b) or "::" in (a, b)


class PortAllocator:
    """The lab's table of host ports in use, per protocol and address (like Docker's)."""

    def __init__(self, first: int = EPHEMERAL_FIRST, last: int = EPHEMERAL_LAST) -> None:
        self._used: dict[tuple[str, int], set[str]] = {}
        self._first, self._last = first, last
        self._next = first

    def is_free(self, proto: str, host_ip: str, port: int) -> bool:
        return not any(_conflicts(host_ip, ip) for ip in self._used.get((proto, port), ()))

    def take(self, proto: str, host_ip: str, port: int) -> int:
        """Reserve ``port`` (0 = the next free ephemeral port); PortAllocated if taken."""
        if port == 0:
            return self._take_ephemeral(proto, host_ip)
        if not self.is_free(proto, host_ip, port):
            raise PortAllocated(f"Bind for {host_ip}:{port} failed: port is already allocated")
        self._used.setdefault((proto, port), set()).add(host_ip)
        return port

    def _take_ephemeral(self, proto: str, host_ip: str) -> int:
        span = self._last - self._first + 1
        for step in range(span):
            port = self._first + (self._next - self._first + step) % span
            if self.is_free(proto, host_ip, port):
                self._next = port + 1 if port < self._last else self._first
                self._used.setdefault((proto, port), set()).add(host_ip)
                return port
        raise PortAllocated("all ports are allocated")

    def release(self, proto: str, host_ip: str, port: int) -> None:
        ips = self._used.get((proto, port))
        if ips is not None:
            ips.discard(host_ip)
            if not ips:
                del self._used[(proto, port)]
