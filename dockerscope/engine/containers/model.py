"""A container's configuration and state, as frozen records that persist as JSON.

``Endpoint`` and ``PortMapping`` are the network module's types, re-exported here for the
container side's convenience.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# A container's endpoints and published ports are the network module's records, kept as made.
from dockerscope.engine.containers.logconfig import DEFAULT_OPTS, JSON_FILE, LogConfig
from dockerscope.engine.network.model import Endpoint
from dockerscope.engine.network.ports import PortMapping

# What inspect reports is what the runtime applies: one list, the runtime's.
from dockerscope.engine.runtime.init import MASKED_PATHS, READONLY_PATHS

Pairs = tuple[tuple[str, str], ...]


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value


def _from_dict(cls: Any, data: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: _tuplify(v) for k, v in data.items() if k in names})


@dataclass(frozen=True)
class ContainerConfig:
    """What runs: Docker's container ``Config``, already merged with the image's config."""

    image: str  # the name the client asked for ("busybox", "busybox:latest", an id)
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    hostname: str = ""
    domainname: str = ""
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    labels: Pairs = ()
    exposed_ports: tuple[str, ...] = ()  # "80/tcp"
    stop_signal: str = ""
    stop_timeout: int | None = None

    @property
    def argv(self) -> tuple[str, ...]:
        """Entrypoint followed by Cmd: the container's PID 1 command line."""
        return tuple(self.entrypoint or ()) + tuple(self.cmd or ())

    def to_docker(self) -> dict[str, Any]:
        """Docker's ``Config`` object (inspect)."""
        return {
            "Hostname": self.hostname,
            "Domainname": self.domainname,
            "User": self.user,
            "AttachStdin": self.attach_stdin,
            "AttachStdout": self.attach_stdout,
            "AttachStderr": self.attach_stderr,
            **({"ExposedPorts": {p: {} for p in self.exposed_ports}} if self.exposed_ports else {}),
            "Tty": self.tty,
            "OpenStdin": self.open_stdin,
            "StdinOnce": self.stdin_once,
            "Env": list(self.env) or None,
            "Cmd": list(self.cmd) if self.cmd is not None else None,
            "Image": self.image,
            "Volumes": None,
            "WorkingDir": self.working_dir,
            "Entrypoint": list(self.entrypoint) if self.entrypoint is not None else None,
            "OnBuild": None,
            "Labels": dict(self.labels),
            **({"StopSignal": self.stop_signal} if self.stop_signal else {}),
            **({"StopTimeout": self.stop_timeout} if self.stop_timeout is not None else {}),
        }


@dataclass(frozen=True)
class HostSettings:
    """How it runs: the parts of Docker's ``HostConfig`` dockerscope supports."""

    binds: tuple[str, ...] = ()  # "/host:/ctr[:ro]"
    # (container port "80/tcp", ((host ip, host port), ...))
    port_bindings: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    publish_all_ports: bool = False
    network_mode: str = "default"
    memory: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    pids_limit: int | None = None
    auto_remove: bool = False
    extra_hosts: tuple[str, ...] = ()  # "name:ip"
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    console_size: tuple[int, int] = (0, 0)
    # user networks to join at start besides NetworkMode: (name, aliases)
    endpoints: tuple[tuple[str, tuple[str, ...]], ...] = ()
    security_opt: tuple[str, ...] = ()  # --security-opt values as sent (inspect shows them)
    seccomp: str = "default"  # "default", "unconfined" or a profile's JSON text
    # HostConfig.LogConfig (records from before it existed get the lab's default cap)
    log_driver: str = JSON_FILE
    log_opts: Pairs = DEFAULT_OPTS

    @property
    def log_config(self) -> LogConfig:
        """The container's log driver and options."""
        return LogConfig(self.log_driver, self.log_opts)

    def to_docker(self) -> dict[str, Any]:
        """Docker's ``HostConfig`` object (inspect), with Docker's defaults for the rest."""
        return {
            "Binds": list(self.binds) or None,
            "ContainerIDFile": "",
            "LogConfig": self.log_config.to_docker(),
            "NetworkMode": self.network_mode,
            "PortBindings": {
                port: [{"HostIp": ip, "HostPort": hp} for ip, hp in binds]
                for port, binds in self.port_bindings
            },
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "AutoRemove": self.auto_remove,
            "VolumeDriver": "",
            "VolumesFrom": None,
            "CapAdd": None,
            "CapDrop": None,
            "CgroupnsMode": "host",
            "Dns": list(self.dns),
            "DnsOptions": list(self.dns_options),
            "DnsSearch": list(self.dns_search),
            "ExtraHosts": list(self.extra_hosts) or None,
            "GroupAdd": None,
            "IpcMode": "private",
            "Cgroup": "",
            "Links": None,
            "OomScoreAdj": 0,
            "PidMode": "",
            "Privileged": False,
            "PublishAllPorts": self.publish_all_ports,
            "ReadonlyRootfs": False,
            "SecurityOpt": list(self.security_opt) or None,
            "UTSMode": "",
            "UsernsMode": "",
            "ShmSize": 67108864,
            "Runtime": "runc",
            "ConsoleSize": list(self.console_size),
            "Isolation": "",
            "CpuShares": self.cpu_shares,
            "Memory": self.memory,
            "NanoCpus": self.nano_cpus,
            "CgroupParent": "",
            "BlkioWeight": 0,
            "BlkioWeightDevice": [],
            "BlkioDeviceReadBps": [],
            "BlkioDeviceWriteBps": [],
            "BlkioDeviceReadIOps": [],
            "BlkioDeviceWriteIOps": [],
            "CpuPeriod": 0,
            "CpuQuota": 0,
            "CpuRealtimePeriod": 0,
            "CpuRealtimeRuntime": 0,
            "CpusetCpus": "",
            "CpusetMems": "",
            "Devices": [],
            "DeviceCgroupRules": None,
            "DeviceRequests": None,
            "KernelMemory": 0,
            "KernelMemoryTCP": 0,
            "MemoryReservation": 0,
            "MemorySwap": 0,
            "MemorySwappiness": None,
            "OomKillDisable": False,
            "PidsLimit": self.pids_limit,
            "Ulimits": [],
            "CpuCount": 0,
            "CpuPercent": 0,
            "IOMaximumIOps": 0,
            "IOMaximumBandwidth": 0,
            "MaskedPaths": list(MASKED_PATHS),
            "ReadonlyPaths": list(READONLY_PATHS),
        }


@dataclass(frozen=True)
class State:
    """Docker's ``State``: status, pid, exit code and times (unix seconds; None = never)."""

    status: str = "created"  # created | running | paused | restarting | removing | exited | dead
    pid: int = 0
    pid_start: int = 0  # /proc/<pid>/stat start time, to recognise the same process later
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused")


@dataclass(frozen=True)
class Container:
    """One container record: identity, configuration, and its latest state."""

    id: str
    name: str  # without the leading "/"
    created: float
    image_id: str  # "sha256:..."
    config: ContainerConfig
    host: HostSettings
    state: State = field(default_factory=State)
    restart_count: int = 0
    sandbox_key: str = ""  # the container's netns path while it runs
    endpoints: tuple[Endpoint, ...] = ()
    ports: tuple[PortMapping, ...] = ()

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Container:
        return cls(
            id=data["id"],
            name=data["name"],
            created=data["created"],
            image_id=data["image_id"],
            config=_from_dict(ContainerConfig, data["config"]),
            host=_from_dict(HostSettings, data["host"]),
            state=_from_dict(State, data.get("state", {})),
            restart_count=data.get("restart_count", 0),
            sandbox_key=data.get("sandbox_key", ""),
            endpoints=tuple(Endpoint.from_json(e) for e in data.get("endpoints", ())),
            ports=tuple(PortMapping.from_json(p) for p in data.get("ports", ())),
        )
