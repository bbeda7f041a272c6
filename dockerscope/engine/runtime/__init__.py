"""Container processes: namespaces, the overlay rootfs, capabilities and cgroups.

``launch`` starts a container's PID 1, ``exec_in`` a process inside a running one; both go
through a small stdlib-only helper (``init.py``) so the daemon itself never forks.

The package itself is the engine's runtime: ``Runtime`` names the part of it the daemon and the
container manager call, so a test can hand them a stand-in and mypy checks every call.
"""

from __future__ import annotations

import os
from typing import Protocol

from dockerscope.engine.runtime import spec as _spec
from dockerscope.engine.runtime.cgroups import CgroupError, CgroupLayout
from dockerscope.engine.runtime.initlayer import make_init_layer
from dockerscope.engine.runtime.launcher import (
    LaunchError,
    exec_in,
    launch,
    oom_killed,
    remove_parent,
    set_subreaper,
    teardown,
)
from dockerscope.engine.runtime.spec import Bind, ContainerSpec, Launched, Resources
from dockerscope.engine.runtime.status import exit_code, parse_signal


class Runtime(Protocol):
    """What the engine uses of a container runtime (this package satisfies it as a module).

    The spec types travel with the functions so a caller builds specs without importing them.
    """

    Bind: type[_spec.Bind]
    ContainerSpec: type[_spec.ContainerSpec]
    Resources: type[_spec.Resources]

    def set_subreaper(self) -> None:
        """Make the calling process the reaper of its orphaned descendants (once, at start)."""

    def make_init_layer(
        self, path: str | os.PathLike[str], image_layers: tuple[str, ...] = ()
    ) -> str:
        """Build the read-only init layer at ``path`` on top of ``image_layers``.

        Returns: the layer's directory, to put first in the spec's lowerdirs.
        """

    def launch(
        self, spec: _spec.ContainerSpec, stdin: int, stdout: int, stderr: int
    ) -> _spec.Launched:
        """Start the container's PID 1 with the given stdio descriptors.

        Returns: its host pid and cgroup paths.
        Raises: ``LaunchError`` (carrying Docker's exit code) if it failed before exec.
        """

    def exec_in(
        self,
        pid: int,
        args: tuple[str, ...] | list[str],
        env: tuple[str, ...] | list[str],
        cwd: str,
        user: str,
        tty: bool,
        stdin: int,
        stdout: int,
        stderr: int,
        *,
        seccomp: str = "default",
    ) -> int:
        """Start a process inside the running container whose PID 1 is ``pid``, under the
        container's ``seccomp`` setting (as in its spec).

        Returns: the new process's host pid (the caller reaps it).
        Raises: ``LaunchError`` as ``launch`` does.
        """

    def oom_killed(self, spec: _spec.ContainerSpec) -> bool:
        """True if the container's cgroup recorded an OOM kill (ask before ``teardown``)."""

    def teardown(self, spec: _spec.ContainerSpec) -> None:
        """Unmount the rootfs and remove the cgroups of an exited container (idempotent)."""

    def exit_code(self, wait_status: int) -> int:
        """Docker's exit code for a ``waitpid`` status (128+N for signal N)."""

    def parse_signal(self, value: str | int) -> int:
        """A signal number from ``KILL``, ``SIGKILL`` or ``9``.

        Raises: ``ValueError`` for a name or number that is no signal.
        """


__all__ = [
    "Bind",
    "CgroupError",
    "CgroupLayout",
    "ContainerSpec",
    "LaunchError",
    "Launched",
    "Resources",
    "Runtime",
    "exec_in",
    "exit_code",
    "launch",
    "make_init_layer",
    "oom_killed",
    "parse_signal",
    "remove_parent",
    "set_subreaper",
    "teardown",
]
