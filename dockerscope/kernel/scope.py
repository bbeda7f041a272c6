"""What one observer looks at: a lab, one named netns, or the whole machine."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    """What one observer looks at."""

    label: str  # "lab:<name>", "netns:<name>", "host"
    kind: str  # "lab" | "netns" | "host"
    name: str = ""
    netns_files: tuple[str, ...] = ()  # single named namespaces (/run/netns/<lab>)
    netns_dirs: tuple[str, ...] = ()  # every namespace in these dirs
    include_host: bool = False
    cgroup_parent: str | None = None  # "dockerscope/<lab>", "docker"
    api_socket: str | None = None  # where hints come from, if it exists
    docker: bool = False  # the socket is a real Docker's

    @classmethod
    def lab(
        cls, name: str, run_root: str = "/run/dockerscope", netns_root: str = "/run/netns"
    ) -> Scope:
        """A dockerscope lab: its host netns, its containers' netns dir, its cgroups."""
        base = os.path.join(run_root, name)
        return cls(
            label=f"lab:{name}",
            kind="lab",
            name=name,
            netns_files=(os.path.join(netns_root, name),),
            netns_dirs=(os.path.join(base, "netns"),),
            cgroup_parent=f"dockerscope/{name}",
            api_socket=os.path.join(base, "docker.sock"),
        )

    @classmethod
    def netns(cls, name: str, netns_root: str = "/run/netns") -> Scope:
        """One named network namespace (no cgroups, no hints)."""
        path = name if os.path.isabs(name) else os.path.join(netns_root, name)
        return cls(
            label=f"netns:{os.path.basename(path)}", kind="netns", name=name, netns_files=(path,)
        )

    @classmethod
    def host(
        cls,
        netns_root: str = "/run/netns",
        docker_socket: str | None = None,
        cgroup_parent: str = "docker",
    ) -> Scope:
        """The machine: its own netns, /run/netns, containers' unnamed netns, Docker's cgroups.

        ``docker_socket`` defaults to ``DOCKER_HOST`` when that names a unix socket, else
        ``/var/run/docker.sock``, as the docker CLI chooses. Containers' cgroups are looked for
        under ``cgroup_parent`` and wherever the API's containers' processes live (a daemon
        started with ``--cgroup-parent``, or the systemd driver's ``docker-<id>.scope``).
        """
        return cls(
            label="host",
            kind="host",
            netns_dirs=(netns_root,),
            include_host=True,
            cgroup_parent=cgroup_parent,
            api_socket=docker_socket or default_docker_socket(),
            docker=True,
        )

    def watch_dirs(self) -> list[str]:
        """Directories whose entries announce namespaces coming and going."""
        dirs = {os.path.dirname(f) for f in self.netns_files} | set(self.netns_dirs)
        return sorted(dirs)


def default_docker_socket(env: dict[str, str] | None = None) -> str:
    """Docker's socket as the docker CLI finds it: ``DOCKER_HOST=unix://...``, else the default."""
    value = (os.environ if env is None else env).get("DOCKER_HOST", "")
    if value.startswith("unix://") and value[len("unix://") :].startswith("/"):
        return value[len("unix://") :]
    return "/var/run/docker.sock"
