"""Containers as Docker's JSON: ``inspect`` and ``ps`` shapes."""

from __future__ import annotations

import hashlib
import time
from functools import lru_cache
from typing import Any

import re2

from dockerscope.engine.containers.model import Container
from dockerscope.engine.containers.status import iso, status_text


def _state(c: Container) -> dict[str, Any]:
    s = c.state
    return {
        "Status": s.status,
        "Running": s.status in ("running", "paused"),
        "Paused": s.status == "paused",
        "Restarting": s.status == "restarting",
        "OOMKilled": s.oom_killed,
        "Dead": s.status == "dead",
        "Pid": s.pid,
        "ExitCode": s.exit_code,
        "Error": s.error,
        "StartedAt": iso(s.started_at),
        "FinishedAt": iso(s.finished_at),
    }


def _ports(c: Container) -> dict[str, Any]:
    out: dict[str, Any] = {p: None for p in c.config.exposed_ports}
    for port, _ in c.host.port_bindings:
        out.setdefault(port, None)
    if c.state.running:
        for m in c.ports:
            out.setdefault(m.key, None)
            out[m.key] = (out[m.key] or []) + [{"HostIp": m.host_ip, "HostPort": str(m.host_port)}]
    return out


def _networks(c: Container) -> dict[str, Any]:
    nets: dict[str, Any] = {}
    running = c.state.running
    for ep in c.endpoints:
        nets[ep.network_name] = {
            "IPAMConfig": None,
            "Links": None,
            "Aliases": list(ep.aliases) or None,
            "NetworkID": ep.network_id,
            "EndpointID": ep.endpoint_id if running else "",
            "Gateway": ep.gateway if running else "",
            "IPAddress": ep.ip_address if running else "",
            "IPPrefixLen": ep.prefix_len if running else 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "MacAddress": ep.mac_address if running else "",
            "DriverOpts": None,
        }
    mode = c.host.network_mode
    if not nets and not mode.startswith("container:"):  # a joiner has no network of its own
        name = "bridge" if mode == "default" else mode
        nets[name] = {
            "IPAMConfig": None,
            "Links": None,
            "Aliases": None,
            "NetworkID": "",
            "EndpointID": "",
            "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "MacAddress": "",
            "DriverOpts": None,
        }
    return nets


def _mounts(c: Container) -> list[dict[str, Any]]:
    out = []
    for b in c.host.binds:
        parts = b.split(":")
        mode = parts[2] if len(parts) == 3 else ""
        out.append(
            {
                "Type": "bind",
                "Source": parts[0],
                "Destination": parts[1],
                "Mode": mode,
                "RW": "ro" not in mode.split(","),
                "Propagation": "rprivate",
            }
        )
    return out


def inspect(
    c: Container,
    container_dir: str,
    lowerdirs: list[str],
    exec_ids: list[str],
) -> dict[str, Any]:
    """``GET /containers/{id}/json`` (see reference 07-inspect-container.json)."""
    argv = c.config.argv
    nets = _networks(c)
    bridge = nets.get("bridge", {})
    sandbox_id = (
        hashlib.sha256(f"{c.id}:{c.sandbox_key}".encode()).hexdigest() if c.sandbox_key else ""
    )
    return {
        "Id": c.id,
        "Created": iso(c.created),
        "Path": argv[0] if argv else "",
        "Args": list(argv[1:]),
        "State": _state(c),
        "Image": c.image_id,
        "ResolvConfPath": f"{container_dir}/resolv.conf",
        "HostnamePath": f"{container_dir}/hostname",
        "HostsPath": f"{container_dir}/hosts",
        "LogPath": f"{container_dir}/{c.id}-json.log",
        "Name": "/" + c.name,
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": exec_ids or None,
        "HostConfig": c.host.to_docker(),
        "GraphDriver": {
            "Data": {
                "LowerDir": ":".join(lowerdirs),
                "MergedDir": f"{container_dir}/rootfs",
                "UpperDir": f"{container_dir}/upper",
                "WorkDir": f"{container_dir}/work",
            },
            "Name": "overlay2",
        },
        "Mounts": _mounts(c),
        "Config": c.config.to_docker(),
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": sandbox_id,
            "HairpinMode": False,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": _ports(c),
            "SandboxKey": c.sandbox_key,
            "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None,
            "EndpointID": bridge.get("EndpointID", ""),
            "Gateway": bridge.get("Gateway", ""),
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": bridge.get("IPAddress", ""),
            "IPPrefixLen": bridge.get("IPPrefixLen", 0),
            "IPv6Gateway": "",
            "MacAddress": bridge.get("MacAddress", ""),
            "Networks": nets,
        },
    }


def summary(c: Container, now: float | None = None) -> dict[str, Any]:
    """One element of ``GET /containers/json`` (``docker ps``)."""
    now = time.time() if now is None else now
    ports = []
    for m in c.ports if c.state.running else ():
        ports.append(
            {
                "IP": m.host_ip,
                "PrivatePort": m.container_port,
                "PublicPort": m.host_port,
                "Type": m.proto,
            }
        )
    bound = {m.key for m in (c.ports if c.state.running else ())}
    # Docker lists exposed-only ports of running containers; a stopped one has none.
    for port in c.config.exposed_ports if c.state.running else ():
        if port not in bound:
            num, _, proto = port.partition("/")
            ports.append({"PrivatePort": int(num), "Type": proto})
    return {
        "Id": c.id,
        "Names": ["/" + c.name],
        "Image": c.config.image,
        "ImageID": c.image_id,
        "Command": " ".join(c.config.argv),
        "Created": int(c.created),
        "Ports": ports,
        "Labels": dict(c.config.labels),
        "State": c.state.status,
        "Status": status_text(
            c.state.status, now, c.state.started_at, c.state.finished_at, c.state.exit_code
        ),
        "HostConfig": {"NetworkMode": c.host.network_mode},
        "NetworkSettings": {"Networks": _networks(c)},
        "Mounts": _mounts(c),
    }


STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def filter_containers(
    containers: list[Container], filters: dict[str, list[str]], all_: bool
) -> list[Container]:
    """Docker's ``ps`` filters: id, name, status, label, exited, ancestor, network."""
    for key in filters:
        if key not in (
            "id",
            "name",
            "status",
            "label",
            "exited",
            "ancestor",
            "network",
            "before",
            "since",
            "volume",
            "health",
            "publish",
            "expose",
            "is-task",
        ):
            raise ValueError(f"invalid filter '{key}'")
        if key in ("volume", "health", "publish", "expose", "is-task", "before", "since"):
            raise ValueError(f"not supported by dockerscope: ps --filter {key}")
    for status in filters.get("status", []):
        if status not in STATUSES:
            raise ValueError(f"invalid filter 'status={status}'")
    names = [name_pattern(v) for v in filters.get("name", [])]  # a bad pattern: 400 at once
    out = []
    for c in containers:
        if not all_ and not filters.get("status") and not c.state.running:
            continue
        if "id" in filters and not any(c.id.startswith(v) for v in filters["id"]):
            continue
        if names and not any(p.search(c.name) for p in names):
            continue
        if "status" in filters and c.state.status not in filters["status"]:
            continue
        if "label" in filters and not all(_label(c, v) for v in filters["label"]):
            continue
        if "exited" in filters and not (
            c.state.status == "exited" and str(c.state.exit_code) in filters["exited"]
        ):
            continue
        if "ancestor" in filters and not any(
            v in (c.config.image, c.image_id) or c.image_id.removeprefix("sha256:").startswith(v)
            for v in filters["ancestor"]
        ):
            continue
        if "network" in filters and not any(
            v in {e.network_name for e in c.endpoints} | {e.network_id for e in c.endpoints}
            or v == c.host.network_mode
            for v in filters["network"]
        ):
            continue
        out.append(c)
    return out


def _label(c: Container, spec: str) -> bool:
    labels = dict(c.config.labels)
    k, sep, v = spec.partition("=")
    return k in labels and (not sep or labels[k] == v)


def parse_filters(raw: Any) -> dict[str, list[str]]:
    """Docker's ``filters`` query: {"k": ["v"]} or the old {"k": {"v": true}}."""
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("filters must be a JSON object")
    out: dict[str, list[str]] = {}
    for k, v in raw.items():
        if isinstance(v, dict):
            out[k] = [x for x, on in v.items() if on]
        elif isinstance(v, list):
            out[k] = [str(x) for x in v]
        else:
            out[k] = [str(v)]
    return out


#: Longest name filter taken (Docker's RE2 has no such limit; a name is at most 255 characters).
MAX_NAME_PATTERN = 512

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


@lru_cache(maxsize=256)
def name_pattern(pattern: str) -> Any:
    """A ``name`` filter compiled by RE2, as dockerd compiles it with Go's regexp: matching takes
    time linear in the name, so no crafted pattern can stall the daemon. A bad pattern is a
    ``ValueError`` (answered 400)."""
    if len(pattern) > MAX_NAME_PATTERN:
        raise ValueError(f"invalid filter 'name': longer than {MAX_NAME_PATTERN} characters")
    try:
        return re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as exc:
        detail = (
            exc.args[0].decode(errors="replace")
            if exc.args and isinstance(exc.args[0], bytes)
            else str(exc)
        )
        raise ValueError(f"error parsing regexp in filter 'name={pattern}': {detail}") from None
