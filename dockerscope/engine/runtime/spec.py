"""What a container process is made of: the spec the daemon hands to the runtime."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Resources:
    """Docker's resource flags: ``--memory``, ``--cpus`` (as nano CPUs), ``--cpu-shares``,
    ``--pids-limit``. ``None`` (or 0) means no limit, as in Docker."""

    memory: int | None = None
    nano_cpus: int | None = None
    cpu_shares: int | None = None
    pids_limit: int | None = None


@dataclass(frozen=True)
class Bind:
    """A host path mounted into the container (``-v source:target[:ro]``)."""

    source: str
    target: str
    readonly: bool = False


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to start one container's PID 1."""

    id: str
    hostname: str
    lowerdirs: tuple[str, ...]  # image layer dirs, top-most first
    upperdir: str
    workdir: str
    rootfs: str  # where the overlay is mounted (inside the container's mount ns only)
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: str  # "" = root, "uid[:gid]", "name[:group]" from the rootfs /etc/passwd, /etc/group
    tty: bool
    netns_path: str  # the network namespace to join (container, lab for --net=host, ...)
    etc_files: tuple[tuple[str, str], ...] = ()  # (target in container, host file)
    binds: tuple[Bind, ...] = ()
    resources: Resources = field(default_factory=Resources)
    cgroup_parent: str = "dockerscope/default"
    # Docker's default profile ("default"), none ("unconfined") or a profile's JSON text
    seccomp: str = "default"


@dataclass(frozen=True)
class Launched:
    """A started container: its PID 1 as seen from the host, and its cgroup directories."""

    pid: int
    cgroup_paths: tuple[str, ...]
