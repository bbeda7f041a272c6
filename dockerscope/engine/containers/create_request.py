"""Reading Docker's ``POST /containers/create`` body: supported fields, and loud refusals.

Clients send every field, most at their zero value (the docker CLI sends ``"Privileged":
false``, ``"Devices": []``, ``"MemorySwappiness": -1``...). A field at its zero value is fine;
a field dockerscope does not implement, set to anything else, is refused with the docker flag
that sets it, never silently ignored.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from dockerscope.engine.containers.logconfig import parse_log_config
from dockerscope.engine.containers.model import ContainerConfig, HostSettings
from dockerscope.engine.containers.security_opts import security_opts
from dockerscope.engine.errors import InvalidArgument, NotSupported
from dockerscope.engine.network.errors import InvalidNetworkConfig
from dockerscope.engine.network.ports import parse_host_ip

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

# HostConfig fields we do not implement -> the docker flag that sets them.
REFUSED_HOST = {
    "Privileged": "--privileged",
    "CapAdd": "--cap-add",
    "CapDrop": "--cap-drop",
    "Devices": "--device",
    "DeviceCgroupRules": "--device-cgroup-rule",
    "DeviceRequests": "--gpus",
    "VolumesFrom": "--volumes-from",
    "VolumeDriver": "--volume-driver",
    "Links": "--link",
    "GroupAdd": "--group-add",
    "PidMode": "--pid",
    "UTSMode": "--uts",
    "UsernsMode": "--userns",
    "ReadonlyRootfs": "--read-only",
    "Tmpfs": "--tmpfs",
    "Mounts": "--mount",
    "Sysctls": "--sysctl",
    "Ulimits": "--ulimit",
    "Init": "--init",
    "OomKillDisable": "--oom-kill-disable",
    "OomScoreAdj": "--oom-score-adj",
    "CpuPeriod": "--cpu-period",
    "CpuQuota": "--cpu-quota",
    "CpuRealtimePeriod": "--cpu-rt-period",
    "CpuRealtimeRuntime": "--cpu-rt-runtime",
    "CpusetCpus": "--cpuset-cpus",
    "CpusetMems": "--cpuset-mems",
    "CpuCount": "--cpu-count",
    "CpuPercent": "--cpu-percent",
    "BlkioWeight": "--blkio-weight",
    "BlkioWeightDevice": "--blkio-weight-device",
    "BlkioDeviceReadBps": "--device-read-bps",
    "BlkioDeviceWriteBps": "--device-write-bps",
    "BlkioDeviceReadIOps": "--device-read-iops",
    "BlkioDeviceWriteIOps": "--device-write-iops",
    "IOMaximumIOps": "--io-maxiops",
    "IOMaximumBandwidth": "--io-maxbandwidth",
    "MemoryReservation": "--memory-reservation",
    "KernelMemory": "--kernel-memory",
    "KernelMemoryTCP": "--kernel-memory-tcp",
    "CgroupParent": "--cgroup-parent",
    "Cgroup": "--cgroup",
    "Isolation": "--isolation",
    "StorageOpt": "--storage-opt",
    "VolumeOptions": "--mount volume options",
    "MaskedPaths": "masked paths",
    "ReadonlyPaths": "read-only paths",
    "Annotations": "--annotation",
}
# HostConfig fields whose value is fine when it equals one of these defaults.
DEFAULT_OK: dict[str, tuple[Any, ...]] = {
    "IpcMode": ("", "private", "shareable"),
    # The runtime makes no cgroup namespace: containers see the host's (cgroup v1's default).
    "CgroupnsMode": ("", "host"),
    "Runtime": ("", "runc"),
    "MemorySwappiness": (None, -1),
    "MemorySwap": (None, 0, -1),
    "ShmSize": (None, 0, 67108864),
}
# Fields read or safe to pass over: client-side only, or handled below.
HANDLED_HOST = {
    "Binds",
    "PortBindings",
    "PublishAllPorts",
    "NetworkMode",
    "Memory",
    "NanoCpus",
    "CpuShares",
    "PidsLimit",
    "AutoRemove",
    "ExtraHosts",
    "Dns",
    "DnsSearch",
    "DnsOptions",
    "ConsoleSize",
    "ContainerIDFile",
    "LogConfig",
    "RestartPolicy",
    "DiskQuota",
    "SecurityOpt",
}
REFUSED_CONFIG = {
    "Healthcheck": "--health-cmd",
    "MacAddress": "--mac-address",
    "NetworkDisabled": "--network-disabled",
    "Volumes": "anonymous volumes (-v /path without a host path)",
    "OnBuild": "OnBuild",
    "Shell": "Shell",
}
HANDLED_CONFIG = {
    "Image",
    "Cmd",
    "Entrypoint",
    "Env",
    "WorkingDir",
    "User",
    "Hostname",
    "Domainname",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Labels",
    "ExposedPorts",
    "StopSignal",
    "StopTimeout",
    "HostConfig",
    "NetworkingConfig",
    "ArgsEscaped",
    "Platform",
}


@dataclass(frozen=True)
class CreateRequest:
    """A validated create request, before it is merged with the image's config."""

    name: str | None
    config: ContainerConfig
    host: HostSettings


def _empty(value: Any) -> bool:
    """Zero value, the way Go would have sent it: null, false, 0, "", [] or {} of zeros."""
    if value is None or value is False or value == 0 or value == "":
        return True
    if isinstance(value, list):
        return all(_empty(v) for v in value)
    if isinstance(value, dict):
        # A struct of zero fields ({"Type": "", "Config": {}}) is empty; a map whose keys are
        # data ({"/data": {}} for Volumes, {"/run": ""} for Tmpfs) is not.
        return all(k[:1].isupper() and _empty(v) for k, v in value.items())
    return False


def _strings(value: Any, field: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidArgument(f"{field} must be a list of strings")


INT64_MAX = 2**63 - 1


def console_size(value: Any, field: str = "ConsoleSize") -> tuple[int, int]:
    """A ``[height, width]`` console size (absent or empty: 0, 0), each 0..65535 as a tty's."""
    if value is None or value == []:
        return (0, 0)
    if not (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 65535 for c in value)
    ):
        raise InvalidArgument(f"{field} must be [height, width], each 0..65535")
    return (value[0], value[1])


def _host_ip(text: str) -> str:
    """A binding's HostIp: empty (every address) or an IPv4 address, parsed as ``-p`` is."""
    if not text:
        return ""
    try:
        return parse_host_ip(text)
    except InvalidNetworkConfig as exc:  # the network's own error kind: a 400 here
        raise InvalidArgument(f"HostConfig.PortBindings HostIp: {exc}") from None


def _int(value: Any, field: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{field} must be an integer")
    if value < 0:
        raise InvalidArgument(f"{field} must not be negative")
    return value


def _bool(value: Any, field: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidArgument(f"{field} must be true or false")
    return value


def _str(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be a string")
    return value


def _dict(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field} must be a JSON object")
    return value


def _port_key(port: str) -> str:
    num, _, proto = port.partition("/")
    proto = proto or "tcp"
    if not num.isdigit() or not 0 < int(num) < 65536 or proto not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid port specification: {port!r}")
    return f"{int(num)}/{proto}"


def check_name(name: str) -> str:
    """A container name without its "/", or a 400 with Docker's wording."""
    if not NAME_RE.match(name):
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name.lstrip("/")


def _check_binds(binds: tuple[str, ...]) -> tuple[str, ...]:
    for b in binds:
        parts = b.split(":")
        if len(parts) not in (2, 3):
            raise InvalidArgument(f"invalid volume specification: '{b}'")
        src, dst = parts[0], parts[1]
        mode = parts[2] if len(parts) == 3 else "rw"
        if not src.startswith("/"):
            raise NotSupported(f"named volumes (-v {b}): use a host path")
        if not dst.startswith("/"):
            raise InvalidArgument(
                f"invalid volume specification: '{b}': mount path must be absolute"
            )
        for m in mode.split(","):
            if m not in ("ro", "rw", "z", "Z", "private", "rprivate", "nocopy", ""):
                raise NotSupported(f"volume mode {m!r} in -v {b}")
    return binds


def _refuse_unhandled(hc: dict[str, Any]) -> None:
    """Every HostConfig field we do not implement, set to anything but its default, is a 400
    naming the docker flag (never silently ignored)."""
    for key, value in hc.items():
        if key in HANDLED_HOST:
            continue
        if key in DEFAULT_OK:
            if value not in DEFAULT_OK[key]:
                raise NotSupported(f"HostConfig.{key}={value!r}")
            continue
        if _empty(value):
            continue
        raise NotSupported(REFUSED_HOST.get(key, f"HostConfig.{key}"))
    restart = _dict(hc.get("RestartPolicy"), "HostConfig.RestartPolicy")
    if restart.get("Name") not in (None, "", "no"):
        raise NotSupported(f"--restart {restart.get('Name')}")
    # The docker CLI turns `--security-opt systempaths=unconfined` into empty lists here (null
    # otherwise): no masked or read-only /proc paths, which we do not do.
    if hc.get("MaskedPaths") == [] or hc.get("ReadonlyPaths") == []:
        raise NotSupported("--security-opt systempaths=unconfined")


def _port_bindings(hc: dict[str, Any]) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """``-p`` as (container port key, ((host ip, host port), ...)) with each value checked."""
    port_bindings = []
    for port, binds in _dict(hc.get("PortBindings"), "HostConfig.PortBindings").items():
        key = _port_key(port)
        pairs = []
        if binds is not None and not isinstance(binds, list):
            raise InvalidArgument(f"HostConfig.PortBindings[{port!r}] must be a list of bindings")
        for b in binds or [{}]:
            b = _dict(b, "HostConfig.PortBindings entry")
            host_port = _str(b.get("HostPort"), "HostPort")
            if host_port and not (
                host_port.isascii() and host_port.isdigit() and 0 < int(host_port) < 65536
            ):
                raise InvalidArgument(f"invalid host port {host_port!r} for {port}")
            pairs.append((_host_ip(_str(b.get("HostIp"), "HostIp")), host_port))
        port_bindings.append((key, tuple(pairs)))
    return tuple(port_bindings)


def _limits(hc: dict[str, Any]) -> tuple[int, int, int | None]:
    """(memory, nano_cpus, pids limit or None), each within what dockerd accepts."""
    pids = hc.get("PidsLimit")
    if pids is not None and not isinstance(pids, int):
        raise InvalidArgument("HostConfig.PidsLimit must be an integer")
    memory = _int(hc.get("Memory"), "HostConfig.Memory")
    if memory and memory < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if memory > INT64_MAX:
        raise InvalidArgument("HostConfig.Memory is out of range (at most 2^63-1 bytes)")
    nano = _int(hc.get("NanoCpus"), "HostConfig.NanoCpus")
    cpus = os.cpu_count() or 1
    if nano and not 10_000_000 <= nano <= cpus * 1_000_000_000:
        raise InvalidArgument(
            f"Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )
    return memory, nano, pids if pids and pids > 0 else None


def _network_mode(hc: dict[str, Any], publishes: bool) -> str:
    """``--network``, with dockerd's refusal of ports for a container-type network mode."""
    network_mode = _str(hc.get("NetworkMode"), "HostConfig.NetworkMode") or "default"
    if network_mode.startswith("container:"):
        # Joining another container's network stack: nothing of the stack is ours to shape.
        if not network_mode.partition(":")[2]:
            raise InvalidArgument("--network container: needs a container name or id")
        if publishes:
            raise InvalidArgument(
                "conflicting options: port publishing and the container type network mode"
            )
    return network_mode


def _endpoints(networking: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """NetworkingConfig's endpoints as (network, aliases); other endpoint settings refused."""
    endpoints = []
    for net, cfg in _dict(
        networking.get("EndpointsConfig"), "NetworkingConfig.EndpointsConfig"
    ).items():
        cfg = _dict(cfg, f"EndpointsConfig.{net}")
        for key, value in cfg.items():
            if key not in (
                "Aliases",
                "NetworkID",
                "EndpointID",
                "DriverOpts",
                "Links",
            ) and not _empty(value):
                raise NotSupported(f"EndpointsConfig.{key} (--ip, --link-local-ip...)")
        if cfg.get("Links"):
            raise NotSupported("--link")
        endpoints.append((net, _strings(cfg.get("Aliases"), "Aliases") or ()))
    return tuple(endpoints)


def _host_settings(hc: dict[str, Any], networking: dict[str, Any]) -> HostSettings:
    _refuse_unhandled(hc)
    log_config = parse_log_config(_dict(hc.get("LogConfig"), "HostConfig.LogConfig"))
    port_bindings = _port_bindings(hc)
    memory, nano, pids_limit = _limits(hc)
    console = console_size(hc.get("ConsoleSize"), "HostConfig.ConsoleSize")
    security_opt, seccomp = security_opts(hc.get("SecurityOpt"))
    publish_all = _bool(hc.get("PublishAllPorts"), "HostConfig.PublishAllPorts")
    network_mode = _network_mode(hc, bool(port_bindings) or publish_all)
    return HostSettings(
        binds=_check_binds(_strings(hc.get("Binds"), "HostConfig.Binds") or ()),
        port_bindings=port_bindings,
        publish_all_ports=publish_all,
        network_mode=network_mode,
        memory=memory,
        nano_cpus=nano,
        cpu_shares=_int(hc.get("CpuShares"), "HostConfig.CpuShares"),
        pids_limit=pids_limit,
        auto_remove=_bool(hc.get("AutoRemove"), "HostConfig.AutoRemove"),
        extra_hosts=_strings(hc.get("ExtraHosts"), "HostConfig.ExtraHosts") or (),
        dns=_strings(hc.get("Dns"), "HostConfig.Dns") or (),
        dns_search=_strings(hc.get("DnsSearch"), "HostConfig.DnsSearch") or (),
        dns_options=_strings(hc.get("DnsOptions"), "HostConfig.DnsOptions") or (),
        console_size=console,
        endpoints=_endpoints(networking),
        security_opt=security_opt,
        seccomp=seccomp,
        log_driver=log_config.type,
        log_opts=log_config.config,
    )


def parse_create(body: Any, name: str | None = None) -> CreateRequest:
    """Validate a create body; raise ``InvalidArgument`` (or ``NotSupported``) on anything off."""
    if not isinstance(body, dict):
        raise InvalidArgument("container config must be a JSON object")
    for key, value in body.items():
        if key in HANDLED_CONFIG:
            continue
        if _empty(value):
            continue
        raise NotSupported(REFUSED_CONFIG.get(key, f"Config.{key}"))
    image = _str(body.get("Image"), "Image")
    if not image:
        raise InvalidArgument("Config.Image is required")
    for field in ("Cmd", "Entrypoint"):
        v = body.get(field)
        if v is not None and not isinstance(v, (list, str)):
            raise InvalidArgument(f"{field} must be a list of strings")
    env = _strings(body.get("Env"), "Env") or ()
    for e in env:
        if not e or e.startswith("="):
            raise InvalidArgument(f"invalid environment variable: {e!r}")
    labels = _dict(body.get("Labels"), "Labels")
    exposed = tuple(_port_key(p) for p in _dict(body.get("ExposedPorts"), "ExposedPorts"))
    stop_timeout = body.get("StopTimeout")
    if stop_timeout is not None and (
        isinstance(stop_timeout, bool) or not isinstance(stop_timeout, int)
    ):
        raise InvalidArgument("StopTimeout must be an integer")
    hostname = _str(body.get("Hostname"), "Hostname")
    if hostname and not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9.-]{0,62}$", hostname):
        raise InvalidArgument(f"invalid hostname {hostname!r}")
    config = ContainerConfig(
        image=image,
        cmd=_strings(body.get("Cmd"), "Cmd"),
        entrypoint=_strings(body.get("Entrypoint"), "Entrypoint"),
        env=env,
        working_dir=_str(body.get("WorkingDir"), "WorkingDir"),
        user=_str(body.get("User"), "User"),
        hostname=hostname,
        domainname=_str(body.get("Domainname"), "Domainname"),
        tty=_bool(body.get("Tty"), "Tty"),
        open_stdin=_bool(body.get("OpenStdin"), "OpenStdin"),
        stdin_once=_bool(body.get("StdinOnce"), "StdinOnce"),
        attach_stdin=_bool(body.get("AttachStdin"), "AttachStdin"),
        attach_stdout=_bool(body.get("AttachStdout"), "AttachStdout"),
        attach_stderr=_bool(body.get("AttachStderr"), "AttachStderr"),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        exposed_ports=exposed,
        stop_signal=_str(body.get("StopSignal"), "StopSignal"),
        stop_timeout=stop_timeout,
    )
    if config.working_dir and not config.working_dir.startswith("/"):
        raise InvalidArgument(
            f"the working directory '{config.working_dir}' is invalid, "
            "it needs to be an absolute path"
        )
    host = _host_settings(
        _dict(body.get("HostConfig"), "HostConfig"),
        _dict(body.get("NetworkingConfig"), "NetworkingConfig"),
    )
    return CreateRequest(check_name(name) if name else None, config, host)


def merge_env(image_env: tuple[str, ...], env: tuple[str, ...]) -> tuple[str, ...]:
    """The image's env with the container's on top (same key: the container's wins).

    An entry without "=" (what ``docker run -e FOO`` sends when FOO is not set in the client's
    environment) unsets that key and is not passed on, as dockerd does.
    """
    out: dict[str, str] = {}
    for e in (*image_env, *env):
        key, eq, _ = e.partition("=")
        if eq:
            out[key] = e
        else:
            out.pop(key, None)
    return tuple(out.values())
