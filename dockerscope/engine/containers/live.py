"""What the daemon holds in memory for running containers and execs (never persisted)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from dockerscope.engine.containers.logs import JsonLogWriter
from dockerscope.engine.containers.process import FdWriter, OutputReader, Stdio
from dockerscope.engine.runtime.spec import ContainerSpec


@dataclass
class Live:
    """A running container: its PID 1, the host ends of its stdio, its log and followers."""

    spec: ContainerSpec
    pid: int
    pidfd: int
    pidns: int | None
    stdio: Stdio
    reader: OutputReader | None = None
    stdin: FdWriter | None = None
    log: JsonLogWriter | None = None  # None with --log-driver none
    cgroup_paths: tuple[str, ...] = ()


@dataclass
class ExecInstance:
    """One ``docker exec``: created, then started once."""

    id: str
    container_id: str
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: str
    tty: bool
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    console_size: tuple[int, int] = (0, 0)
    # ``docker exec --detach-keys`` (or the default): they end a tty session, not the process
    detach_keys: str = ""
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    pty_master: int | None = None
    done: asyncio.Future[int] | None = None

    def to_docker(self) -> dict[str, Any]:
        """The exec as ``GET /exec/{id}/json`` shows it."""
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": self.tty,
                "entrypoint": self.args[0] if self.args else "",
                "arguments": list(self.args[1:]),
                "privileged": False,
                "user": self.user,
            },
            "OpenStdin": self.attach_stdin,
            "OpenStderr": self.attach_stderr,
            "OpenStdout": self.attach_stdout,
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": self.detach_keys,
            "Pid": self.pid,
        }
