"""Networks, endpoints and container sandboxes as data, with Docker's JSON shapes."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from dockerscope.engine.network.ports import PortMapping

BRIDGE_DRIVER = "bridge"
HOST_DRIVER = "host"
NULL_DRIVER = "null"
PREDEFINED = ("bridge", "host", "none")
DEFAULT_BRIDGE_OPTIONS = {
    "com.docker.network.bridge.default_bridge": "true",
    "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
    "com.docker.network.bridge.name": "docker0",
    "com.docker.network.driver.mtu": "1500",
}


def new_id() -> str:
    """A random 64-hex id, as Docker's network, endpoint and sandbox ids."""
    return os.urandom(32).hex()


def docker_time(ts: float | None = None) -> str:
    """RFC 3339 with nanoseconds and trailing zeros trimmed, as Go prints times."""
    ns = time.time_ns() if ts is None else int(ts * 1e9)
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    digits = f"{frac:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


@dataclass(frozen=True)
class Network:
    """A Docker network of the lab; bridge networks carry their subnet, gateway and bridge."""

    id: str
    name: str
    driver: str
    created: str
    subnet: str | None = None
    gateway: str | None = None
    bridge: str | None = None
    mac: str | None = None
    internal: bool = False
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    ipam_options: dict[str, str] | None = field(default_factory=dict)

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def ipv4_subnet(self) -> IPv4Network:
        assert self.subnet is not None, f"{self.name} has no subnet"
        return IPv4Network(self.subnet)

    @property
    def ipv4_gateway(self) -> IPv4Address:
        assert self.gateway is not None, f"{self.name} has no gateway"
        return IPv4Address(self.gateway)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "driver": self.driver,
            "created": self.created,
            "subnet": self.subnet,
            "gateway": self.gateway,
            "bridge": self.bridge,
            "mac": self.mac,
            "internal": self.internal,
            "attachable": self.attachable,
            "labels": self.labels,
            "options": self.options,
            "ipam_options": self.ipam_options,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Network:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def inspect(self, endpoints: list[Endpoint]) -> dict[str, Any]:
        """``GET /networks/{id}``: Docker's NetworkResource shape."""
        config = [{"Subnet": self.subnet, "Gateway": self.gateway}] if self.subnet else []
        return {
            "Name": self.name,
            "Id": self.id,
            "Created": self.created,
            "Scope": "local",
            "Driver": self.driver,
            "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": self.ipam_options, "Config": config},
            "Internal": self.internal,
            "Attachable": self.attachable,
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": {
                e.container_id: {
                    "Name": e.container_name,
                    "EndpointID": e.endpoint_id,
                    "MacAddress": e.mac_address,
                    "IPv4Address": f"{e.ip_address}/{e.prefix_len}" if e.ip_address else "",
                    "IPv6Address": "",
                }
                for e in endpoints
            },
            "Options": dict(self.options),
            "Labels": dict(self.labels),
        }


@dataclass(frozen=True)
class Endpoint:
    """A container's attachment to a network: its veth, interface and addresses.

    The one endpoint type of the engine: the network manager makes it, the container records
    keep it (``Container.endpoints``) and inspect renders it.
    """

    container_id: str
    container_name: str
    network_id: str
    network_name: str
    endpoint_id: str
    ifname: str = ""  # inside the container: eth0, eth1...
    veth: str = ""  # lab side, enslaved to the bridge
    ip_address: str = ""
    prefix_len: int = 0
    gateway: str = ""
    mac_address: str = ""
    aliases: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The record as saved in sandbox and container state files."""
        data = dict(self.__dict__)
        data["aliases"] = list(self.aliases)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Endpoint:
        """Read a saved endpoint, in today's shape or an older one: sandbox records before
        the two endpoint types became one said ``ip``, ``prefixlen`` and ``mac``; container
        records said ``network`` for the network's name and had no container or veth fields."""

        def text(*names: str) -> str:
            return str(next((data[n] for n in names if n in data), "") or "")

        return cls(
            container_id=text("container_id"),
            container_name=text("container_name"),
            network_id=text("network_id"),
            network_name=text("network_name", "network"),
            endpoint_id=text("endpoint_id"),
            ifname=text("ifname"),
            veth=text("veth"),
            ip_address=text("ip_address", "ip"),
            prefix_len=int(next((data[n] for n in ("prefix_len", "prefixlen") if n in data), 0)),
            gateway=text("gateway"),
            mac_address=text("mac_address", "mac"),
            aliases=tuple(data.get("aliases") or ()),
        )

    def settings(self) -> dict[str, Any]:
        """One entry of NetworkSettings.Networks in ``docker inspect``."""
        return {
            "IPAMConfig": None,
            "Links": None,
            "Aliases": list(self.aliases) or None,
            "NetworkID": self.network_id,
            "EndpointID": self.endpoint_id,
            "Gateway": self.gateway,
            "IPAddress": self.ip_address,
            "IPPrefixLen": self.prefix_len,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "MacAddress": self.mac_address,
            "DriverOpts": None,
        }


@dataclass(frozen=True)
class Sandbox:
    """A container's network namespace and everything attached to it."""

    container_id: str
    container_name: str
    mode: str  # "bridge" (own netns), "none", "host", "container:<id>"
    netns: str  # path of the netns the container joins
    owns_netns: bool  # False for host and container:<id> modes
    sandbox_id: str = ""
    hostname: str = ""
    etc_dir: str = ""  # where hosts/hostname/resolv.conf are kept, "" if not managed
    hosts_path: str = ""  # a caller's hosts file kept current: hosts_base + peer lines
    hosts_base: str = ""
    endpoints: tuple[Endpoint, ...] = ()
    ports: tuple[PortMapping, ...] = ()

    def with_endpoints(self, endpoints: tuple[Endpoint, ...]) -> Sandbox:
        return replace(self, endpoints=endpoints)

    def endpoint_on(self, network_id: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.network_id == network_id), None)

    def settings(
        self, ports: dict[str, list[dict[str, str]] | None], mode_network: Network | None = None
    ) -> dict[str, Any]:
        """``docker inspect``'s NetworkSettings: ``ports`` as NetworkSettings.Ports renders
        them; ``mode_network``, the host or none network a sandbox of that mode is on."""
        default = next((e for e in self.endpoints if e.network_name == "bridge"), None)
        networks = {e.network_name: e.settings() for e in self.endpoints}
        if mode_network is not None:
            bare = Endpoint(
                self.container_id, self.container_name, mode_network.id, mode_network.name, ""
            )
            networks[mode_network.name] = bare.settings()
        return {
            "Bridge": "",
            "SandboxID": self.sandbox_id,
            "HairpinMode": False,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": ports,
            "SandboxKey": self.netns,
            "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None,
            "EndpointID": default.endpoint_id if default else "",
            "Gateway": default.gateway if default else "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": default.ip_address if default else "",
            "IPPrefixLen": default.prefix_len if default else 0,
            "IPv6Gateway": "",
            "MacAddress": default.mac_address if default else "",
            "Networks": networks,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "container_id": self.container_id,
            "container_name": self.container_name,
            "mode": self.mode,
            "netns": self.netns,
            "owns_netns": self.owns_netns,
            "sandbox_id": self.sandbox_id,
            "hostname": self.hostname,
            "etc_dir": self.etc_dir,
            "hosts_path": self.hosts_path,
            "hosts_base": self.hosts_base,
            "endpoints": [e.to_json() for e in self.endpoints],
            "ports": [p.to_json() for p in self.ports],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sandbox:
        return cls(
            container_id=data["container_id"],
            container_name=data["container_name"],
            mode=data["mode"],
            netns=data["netns"],
            owns_netns=bool(data["owns_netns"]),
            sandbox_id=data.get("sandbox_id", ""),
            hostname=data.get("hostname", ""),
            etc_dir=data.get("etc_dir", ""),
            hosts_path=data.get("hosts_path", ""),
            hosts_base=data.get("hosts_base", ""),
            endpoints=tuple(Endpoint.from_json(e) for e in data.get("endpoints", [])),
            ports=tuple(PortMapping.from_json(p) for p in data.get("ports", [])),
        )
