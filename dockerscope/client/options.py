"""From docker-style command line flags to Docker Engine API request bodies, stdlib only."""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .units import parse_ram


class UsageError(ValueError):
    """A flag value the docker CLI would reject before talking to the daemon."""


def split_image_ref(ref: str, missing_tag: str = "latest") -> tuple[str, str]:
    """("busybox", "latest") from "busybox"; ("reg:5000/x", "1") from "reg:5000/x:1".

    A digest (``@sha256:...``) is dropped; ``missing_tag`` stands in when there is no tag."""
    name = ref.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, missing_tag


def full_ref(ref: str) -> str:
    """The reference with its tag, as the CLI names it ("busybox" -> "busybox:latest")."""
    if "@" in ref:
        return ref
    repo, tag = split_image_ref(ref)
    return f"{repo}:{tag}"


def parse_env(
    entries: Sequence[str], env_files: Sequence[str] = (), environ: Mapping[str, str] | None = None
) -> list[str]:
    """``-e K=V`` entries, ``-e K`` (taken from our environment if set) and --env-file lines."""
    environ = os.environ if environ is None else environ
    out: list[str] = []
    lines: list[str] = []
    for path in env_files:
        try:
            with open(path, encoding="utf-8") as fh:
                lines += [ln.strip() for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
        except OSError as exc:
            raise UsageError(f"open {path}: {exc.strerror}") from exc
    for item in [*lines, *entries]:
        key, sep, _ = item.partition("=")
        if not key:
            raise UsageError(f"invalid environment variable: {item}")
        if sep:
            out.append(item)
        elif key in environ:
            out.append(f"{key}={environ[key]}")
    return out


def parse_volume(spec: str) -> tuple[str | None, str, str]:
    """``-v SRC:DST[:MODE]`` or ``-v DST``: (source or None for an anonymous volume, target, mode).

    A relative source that looks like a path is made absolute (as current docker CLIs do).
    """
    parts = spec.split(":")
    if len(parts) == 1:
        target = parts[0]
        if not target.startswith("/"):
            raise UsageError(f"invalid volume specification: '{spec}'")
        return None, target, ""
    if len(parts) > 3:
        raise UsageError(f"invalid volume specification: '{spec}'")
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    if not source or not target.startswith("/"):
        raise UsageError(f"invalid volume specification: '{spec}'")
    if mode and not set(mode.split(",")) <= {
        "ro",
        "rw",
        "z",
        "Z",
        "shared",
        "slave",
        "private",
        "rshared",
        "rslave",
        "rprivate",
        "nocopy",
    }:
        raise UsageError(f"invalid mode: {mode}")
    if source.startswith(".") or (not source.startswith("/") and "/" in source):
        source = os.path.abspath(source)
    return source, target, mode


def _port_range(text: str, what: str, spec: str) -> list[int]:
    start, sep, end = text.partition("-")
    try:
        first = int(start)
        last = int(end) if sep else first
    except ValueError:
        raise UsageError(f"invalid {what} port in '{spec}'") from None
    if not (0 < first <= last <= 65535) and not (what == "host" and first == 0 == last):
        raise UsageError(f"invalid {what} port in '{spec}'")
    return list(range(first, last + 1))


def parse_publish(spec: str) -> list[tuple[str, str, str]]:
    """``-p [IP:][HOST:]CONTAINER[/PROTO]``: [(container "80/tcp", host ip, host port), ...].

    Port ranges pair up one to one; an empty host port means "any free port".
    """
    proto = "tcp"
    body = spec
    if "/" in spec:
        body, proto = spec.rsplit("/", 1)
        if proto not in ("tcp", "udp", "sctp"):
            raise UsageError(f"invalid proto: {proto}")
    ip = ""
    if body.startswith("["):  # [::1]:8080:80
        end = body.find("]")
        if end < 0:
            raise UsageError(f"invalid IP address in '{spec}'")
        ip, body = body[1:end], body[end + 1 :].lstrip(":")
        parts = body.split(":")
    else:
        parts = body.split(":")
        if len(parts) == 3:
            ip = parts.pop(0)
    if len(parts) == 1:
        host_text, ctr_text = "", parts[0]
    elif len(parts) == 2:
        host_text, ctr_text = parts
    else:
        raise UsageError(f"invalid publish specification: '{spec}'")
    container_ports = _port_range(ctr_text, "container", spec)
    if not host_text:
        return [(f"{p}/{proto}", ip, "") for p in container_ports]
    host_ports = _port_range(host_text, "host", spec)
    if len(host_ports) == 1 and len(container_ports) > 1:
        raise UsageError(f"invalid ranges specified for container and host ports: '{spec}'")
    if len(host_ports) > 1 and len(host_ports) != len(container_ports):
        # docker allows a larger host range for one container port: any free port in it
        if len(container_ports) == 1:
            return [(f"{container_ports[0]}/{proto}", ip, host_text)]
        raise UsageError(f"invalid ranges specified for container and host ports: '{spec}'")
    return [(f"{c}/{proto}", ip, str(h)) for c, h in zip(container_ports, host_ports, strict=True)]


def parse_labels(entries: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in entries:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _mounts(specs: Sequence[str]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """``-v`` flags as (HostConfig.Binds, Config.Volumes): a bind has a source, a volume not."""
    binds: list[str] = []
    volumes: dict[str, dict[str, Any]] = {}
    for spec in specs:
        source, target, mode = parse_volume(spec)
        if source is None:
            volumes[target] = {}
        else:
            binds.append(f"{source}:{target}" + (f":{mode}" if mode else ""))
    return binds, volumes


def _ports(
    publish: Sequence[str], expose: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, str]]]]:
    """``-p`` and ``--expose`` flags as (Config.ExposedPorts, HostConfig.PortBindings)."""
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in publish:
        for port, ip, host_port in parse_publish(spec):
            exposed[port] = {}
            bindings.setdefault(port, []).append({"HostIp": ip, "HostPort": host_port})
    for spec in expose:
        port, _, proto = spec.partition("/")
        for p in _port_range(port, "container", spec):
            exposed[f"{p}/{proto or 'tcp'}"] = {}
    return exposed, bindings


def _memory(text: str | None) -> int:
    """``-m``/``--memory`` in bytes (0 when not given), rejected with the CLI's words."""
    if not text:
        return 0
    try:
        return parse_ram(text)
    except ValueError as exc:
        raise UsageError(f'invalid argument "{text}" for "-m, --memory" flag: {exc}') from None


def _nano_cpus(text: str | None) -> int:
    """``--cpus`` in billionths of a CPU (0 when not given), rejected with the CLI's words."""
    if not text:
        return 0
    try:
        nano_cpus = round(float(text) * 1e9)
    except ValueError:
        raise UsageError(
            f'invalid argument "{text}" for "--cpus" flag: '
            f"failed to parse {text} as a rational number"
        ) from None
    if nano_cpus <= 0:
        raise UsageError("range of CPUs is from 0.01 to the number of CPUs")
    return nano_cpus


def _host_config(
    args: Any, binds: list[str], bindings: dict[str, list[dict[str, str]]]
) -> dict[str, Any]:
    """The ``HostConfig`` part of a create request: mounts, ports, limits, privileges."""
    return {
        "Binds": binds or None,
        "NetworkMode": args.network or "default",
        "PortBindings": bindings,
        "RestartPolicy": {"Name": args.restart or "no", "MaximumRetryCount": 0},
        "AutoRemove": bool(args.rm),
        "PublishAllPorts": bool(args.publish_all),
        "Privileged": bool(args.privileged),
        "CapAdd": args.cap_add or None,
        "CapDrop": args.cap_drop or None,
        "ReadonlyRootfs": bool(args.read_only),
        "Memory": _memory(args.memory),
        "NanoCpus": _nano_cpus(args.cpus),
        "CpuShares": int(args.cpu_shares or 0),
        "PidsLimit": args.pids_limit,
    }


def container_config(args: Any, attach: bool) -> dict[str, Any]:
    """The body of ``POST /containers/create`` for ``docker run``/``create`` flags in ``args``.

    ``attach`` is True when the client will attach (run without -d).
    """
    env = parse_env(args.env or [], args.env_file or [])
    binds, volumes = _mounts(args.volume or [])
    exposed, bindings = _ports(args.publish or [], args.expose or [])
    host_config = _host_config(args, binds, bindings)
    interactive = bool(args.interactive)
    # the docker CLI sends no endpoint settings unless --ip/--alias ask for some
    endpoints: dict[str, Any] = {}
    return {
        "Hostname": args.hostname or "",
        "Domainname": "",
        "User": args.user or "",
        "AttachStdin": interactive and attach,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "ExposedPorts": exposed or None,
        "Tty": bool(args.tty),
        "OpenStdin": interactive,
        "StdinOnce": interactive and attach,
        "Env": env,
        "Cmd": list(args.command) if args.command else None,
        "Image": args.image,
        "Volumes": volumes,
        "WorkingDir": args.workdir or "",
        "Entrypoint": None if args.entrypoint is None else [args.entrypoint],
        "Labels": parse_labels(args.label or []),
        "HostConfig": host_config,
        "NetworkingConfig": {"EndpointsConfig": endpoints},
    }


def network_config(args: Any) -> dict[str, Any]:
    """The body of ``POST /networks/create`` for ``docker network create`` flags."""
    subnets = args.subnet or []
    gateways = args.gateway or []
    ranges = args.ip_range or []
    if len(gateways) > len(subnets) or len(ranges) > len(subnets):
        raise UsageError("every ip-range or gateway must have a corresponding subnet")
    ipam = []
    for i, subnet in enumerate(subnets):
        entry = {"Subnet": subnet}
        if i < len(ranges):
            entry["IPRange"] = ranges[i]
        if i < len(gateways):
            entry["Gateway"] = gateways[i]
        ipam.append(entry)
    options = {}
    for item in args.opt or []:
        key, _, value = item.partition("=")
        options[key] = value
    return {
        "Name": args.name,
        "CheckDuplicate": True,
        "Driver": args.driver,
        "Scope": "",
        "EnableIPv6": bool(args.ipv6),
        "IPAM": {"Driver": "default", "Options": {}, "Config": ipam},
        "Internal": bool(args.internal),
        "Attachable": bool(args.attachable),
        "Ingress": False,
        "ConfigOnly": False,
        "ConfigFrom": None,
        "Options": options,
        "Labels": parse_labels(args.label or []),
    }


def parse_filters(entries: Sequence[str] | None) -> dict[str, list[str]]:
    """``--filter key=value`` flags as {key: [values]}."""
    out: dict[str, list[str]] = {}
    for item in entries or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"bad format of filter (expected name=value): {item}")
        out.setdefault(key.strip().lower(), []).append(value)
    return out


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float | None:
    """A Go duration ("10m", "1h30m", "1.5s") in seconds, or None if ``text`` is not one."""
    if not text or _DURATION_PART.sub("", text) not in ("", "-", "+"):
        return None
    parts = _DURATION_PART.findall(text)
    if not parts:
        return None
    total = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    return -total if text.startswith("-") else total


def timestamp_param(value: str | None, now: float) -> str | None:
    """``--since``/``--until`` as the docker CLI sends them: a relative duration ("1h") or a date
    ("2026-11-27T20:00:00Z", "2026-11-27") becomes Unix seconds; a number passes unchanged."""
    if value is None or value == "":
        return value
    seconds = parse_duration(value)
    if seconds is not None and value != "0":
        return str(int(now - seconds))
    try:
        float(value)
        return value
    except ValueError:
        pass
    try:
        when = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"invalid value for --since/--until: {value!r}") from None
    return str(int(when.timestamp()))
