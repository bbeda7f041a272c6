"""``docker exec``: create an exec instance, start it once, reap it, resize its tty."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Callable
from typing import Any

from dockerscope.engine.containers.create_request import console_size, merge_env
from dockerscope.engine.containers.detach import parse_keys
from dockerscope.engine.containers.live import ExecInstance, Live
from dockerscope.engine.containers.process import FdWriter, OutputReader, Stdio, set_winsize
from dockerscope.engine.containers.registry import Registry
from dockerscope.engine.errors import Conflict, InvalidArgument, NotFound

DRAIN_AFTER_EXIT = 2.0  # seconds to wait for an exec's last output after its exit

OnData = Callable[[str, bytes], None]
"""Receives an exec's output: (stream name, bytes)."""


def exec_create(reg: Registry, ref: str, body: dict[str, Any]) -> ExecInstance:
    """Check a ``POST /containers/{id}/exec`` body and record the exec (nothing runs yet)."""
    c = reg.get(ref)
    reg.running(c)
    cmd = _command(body)
    env = body.get("Env") or []
    if not isinstance(env, list) or not all(isinstance(e, str) for e in env):
        raise InvalidArgument("Env must be a list of strings")
    for key in ("User", "WorkingDir", "DetachKeys"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise InvalidArgument(f"{key} must be a string")
    size = console_size(body.get("ConsoleSize"))
    detach_keys = body.get("DetachKeys") or ""
    try:
        parse_keys(detach_keys)
    except (ValueError, AttributeError):
        raise InvalidArgument(f"Invalid detach keys ({detach_keys}) provided") from None
    e = ExecInstance(
        id=secrets.token_hex(32),
        container_id=c.id,
        args=tuple(cmd),
        env=merge_env(c.config.env, tuple(env)),
        cwd=body.get("WorkingDir") or c.config.working_dir or "/",
        user=body.get("User") or c.config.user,
        tty=bool(body.get("Tty")),
        attach_stdin=bool(body.get("AttachStdin")),
        attach_stdout=bool(body.get("AttachStdout")),
        attach_stderr=bool(body.get("AttachStderr")),
        console_size=size,
        detach_keys=detach_keys,
    )
    reg.execs[e.id] = e
    reg.emit(c, f"exec_create: {' '.join(e.args)}", execID=e.id)
    return e


def _command(body: dict[str, Any]) -> list[str]:
    """The exec's argv (a string is one argument); privileged execs are refused."""
    cmd = body.get("Cmd")
    if isinstance(cmd, str):
        cmd = [cmd]
    if not cmd or not isinstance(cmd, list) or not all(isinstance(a, str) for a in cmd):
        raise InvalidArgument("No exec command specified")
    if body.get("Privileged"):
        raise InvalidArgument("not supported by dockerscope: exec --privileged")
    return cmd


def exec_get(reg: Registry, exec_id: str) -> ExecInstance:
    """An exec instance by id; NotFound otherwise."""
    e = reg.execs.get(exec_id)
    if e is None:
        raise NotFound(f"No such exec instance: {exec_id}")
    return e


def exec_start(
    reg: Registry, exec_id: str, on_data: OnData | None
) -> tuple[ExecInstance, FdWriter | None]:
    """Start an exec; its output goes to ``on_data``; returns (exec, its stdin writer)."""
    e = exec_get(reg, exec_id)
    if e.started:
        raise Conflict(f"Error: Exec command {exec_id} has already run")
    live = reg.live.get(e.container_id)
    if live is None:
        raise Conflict(f"Container {e.container_id} is not running")
    stdio = _exec_stdio(e, live)
    try:
        pid = reg.runtime.exec_in(
            live.pid, e.args, e.env, e.cwd, e.user, e.tty, *stdio.child, seccomp=live.spec.seccomp
        )
    except BaseException:
        stdio.close_all()
        raise
    stdio.close_child_ends()
    e.started = e.running = True
    e.pid = pid
    e.pty_master = stdio.pty_master
    e.done = asyncio.get_running_loop().create_future()
    reader = OutputReader(stdio, on_data or (lambda s, d: None))
    writer = None
    if stdio.stdin_fd is not None:
        writer = FdWriter(stdio.stdin_fd, owns_fd=stdio.stdin_fd != stdio.pty_master)
    _watch(reg, e, stdio, reader, writer)
    c = reg.get(e.container_id)
    reg.emit(c, f"exec_start: {' '.join(e.args)}", execID=e.id)
    return e, writer


def _exec_stdio(e: ExecInstance, live: Live) -> Stdio:
    """The exec's stdio: with a tty, a pty from the container's own devpts when it has one."""
    devpts = f"/proc/{live.pid}/root/dev/pts"
    try:
        return Stdio.make(e.tty, e.attach_stdin, e.console_size, devpts if e.tty else None)
    except OSError:
        # No usable devpts in the container: a host pty still works, without a name inside.
        return Stdio.make(e.tty, e.attach_stdin, e.console_size)


def _watch(
    reg: Registry, e: ExecInstance, stdio: Stdio, reader: OutputReader, writer: FdWriter | None
) -> None:
    """Reap the exec's process when its pidfd says it exited, then :func:`_finish` it."""
    loop = asyncio.get_running_loop()
    pid = e.pid
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except ProcessLookupError:
        pidfd = None

    def reaped() -> None:
        try:
            wpid, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            wpid, status = pid, 0
        if wpid == 0:
            return
        if pidfd is not None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
        loop.create_task(_finish(reg, e, stdio, reader, writer, reg.runtime.exit_code(status)))

    if pidfd is None:  # gone already (and reaped by someone else): nothing to wait for
        loop.create_task(_finish(reg, e, stdio, reader, writer, 0))
    else:
        loop.add_reader(pidfd, reaped)


async def _finish(
    reg: Registry,
    e: ExecInstance,
    stdio: Stdio,
    reader: OutputReader,
    writer: FdWriter | None,
    code: int,
) -> None:
    """Drain the exec's last output, close its fds, record its exit code, tell waiters."""
    try:
        await asyncio.wait_for(asyncio.shield(reader.done), DRAIN_AFTER_EXIT)
    except TimeoutError:
        reader.stop()
    if writer is not None:
        writer.close()
    if stdio.pty_master is not None:
        with contextlib.suppress(OSError):
            os.close(stdio.pty_master)
    e.running = False
    e.exit_code = code
    e.pty_master = None
    c = reg.containers.get(e.container_id)
    if c is not None:
        reg.emit(c, "exec_die", execID=e.id, exitCode=str(code))
    assert e.done is not None
    if not e.done.done():
        e.done.set_result(code)


def exec_resize(reg: Registry, exec_id: str, height: int, width: int) -> None:
    """Set the tty size of an exec (nothing without a tty)."""
    e = exec_get(reg, exec_id)
    if e.pty_master is not None:
        set_winsize(e.pty_master, height, width)
