"""Signals to a container's PID 1 and waiting for its exit: stop, kill, wait, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from dockerscope.engine.containers.model import Container
from dockerscope.engine.containers.registry import Registry
from dockerscope.engine.errors import Conflict, InvalidArgument, NotModified

DEFAULT_STOP_TIMEOUT = 10  # seconds, Docker's when neither the request nor the config says


def send_signal(reg: Registry, cid: str, sig: int) -> None:
    """Signal a running container's PID 1 through its pidfd (never a recycled pid)."""
    live = reg.live.get(cid)
    if live is None:
        return
    with contextlib.suppress(ProcessLookupError, OSError):
        signal.pidfd_send_signal(live.pidfd, sig)


def exiting(reg: Registry, cid: str) -> bool:
    """True while a container's exit is being recorded and cleaned up."""
    return cid in reg.finishing


async def await_exit(reg: Registry, cid: str, timeout: float | None = None) -> None:
    """Until the container has exited and its exit is fully processed (at once if it is not
    running)."""
    if cid in reg.live:  # the exit is not recorded yet (that drops the live entry first)
        await asyncio.wait_for(asyncio.shield(reg.exit_future(cid)), timeout)
    # Past the record, only the cleanup may be left. (Waiting on the exit future then would
    # wait on a fresh one, for an exit that never comes.)
    task = reg.finishing.get(cid)
    if task is not None:
        await asyncio.shield(task)


async def stop(reg: Registry, ref: str, timeout: int | None = None) -> Container:
    """SIGTERM (or the StopSignal), then SIGKILL after ``timeout`` seconds."""
    c = reg.get(ref)
    if not c.state.running:
        raise NotModified("container already stopped")
    if timeout is None:
        timeout = c.config.stop_timeout
        if timeout is None:
            timeout = DEFAULT_STOP_TIMEOUT
    sig = reg.runtime.parse_signal(c.config.stop_signal or "SIGTERM")
    fut = reg.exit_future(c.id)
    if timeout != 0:
        send_signal(reg, c.id, sig)
    try:
        if timeout < 0:  # a negative timeout waits for good
            await asyncio.shield(fut)
        else:
            await asyncio.wait_for(asyncio.shield(fut), max(timeout, 0))
    except TimeoutError:
        send_signal(reg, c.id, signal.SIGKILL)
    await await_exit(reg, c.id)
    return reg.containers.get(c.id, c)


def kill(reg: Registry, ref: str, sig_text: str | None = None) -> Container:
    """``docker kill``: a signal (SIGKILL by default) to a running container."""
    c = reg.get(ref)
    try:
        sig = reg.runtime.parse_signal(sig_text or "SIGKILL")
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    if not c.state.running or c.id not in reg.live:
        raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
    send_signal(reg, c.id, sig)
    return c


async def wait(reg: Registry, ref: str, condition: str = "not-running") -> int:
    """Docker's wait: the exit code once ``condition`` holds."""
    c = reg.get(ref)
    if condition in ("", "not-running"):
        if not c.state.running:
            # The exit is recorded; its cleanup may still run: answer once it is done. (A
            # fresh exit future here would wait for an exit that never comes.)
            task = reg.finishing.get(c.id)
            if task is not None:
                await asyncio.shield(task)
            return c.state.exit_code
        return await asyncio.shield(reg.exit_future(c.id))
    if condition == "next-exit":
        return await asyncio.shield(reg.exit_future(c.id))
    if condition == "removed":
        return await asyncio.shield(reg.removed_future(c.id))
    raise InvalidArgument(f"invalid condition: {condition!r}")


async def stop_all(reg: Registry, timeout: int | None = None) -> None:
    """Stop every running container (StopSignal, then SIGKILL after each one's stop
    timeout, or ``timeout``), all at once, as dockerd does on exit."""
    running = list(reg.live)
    await asyncio.gather(*(stop(reg, cid, timeout) for cid in running), return_exceptions=True)
    for task in list(reg.finishing.values()):
        with contextlib.suppress(BaseException):
            await task
