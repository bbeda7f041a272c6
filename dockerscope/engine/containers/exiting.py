"""A container's PID 1 exits: reap it, drain its output, record the exit, clean up.

PID 1 is a child of the daemon (a child subreaper): its exit is noticed with ``pidfd_open`` +
``loop.add_reader`` and collected with ``waitpid(WNOHANG)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import replace

from dockerscope.engine.containers.live import Live
from dockerscope.engine.containers.model import Container
from dockerscope.engine.containers.registry import Registry
from dockerscope.engine.containers.removing import discard

log = logging.getLogger(__name__)

DRAIN_AFTER_EXIT = 2.0  # seconds to wait for a dead container's last output


def exited(c: Container, code: int, *, oom_killed: bool = False, error: str = "") -> Container:
    """``c`` as recorded once its PID 1 is gone: no pid, no sandbox, no ports."""
    state = replace(
        c.state,
        status="exited",
        pid=0,
        exit_code=code,
        oom_killed=oom_killed,
        error=error,
        finished_at=time.time(),
    )
    return replace(c, sandbox_key="", ports=(), state=state)


def watch_exit(reg: Registry, cid: str, live: Live) -> None:
    """Reap the container when its pidfd becomes readable (its PID 1 exited)."""
    asyncio.get_running_loop().add_reader(live.pidfd, _reap, reg, cid)


def _reap(reg: Registry, cid: str) -> None:
    live = reg.live.get(cid)
    if live is None:
        return
    try:
        pid, status = os.waitpid(live.pid, os.WNOHANG)
    except ChildProcessError:
        pid, status = live.pid, 255 << 8  # not our child (should not happen): unknown code
    if pid == 0:
        return
    loop = asyncio.get_running_loop()
    loop.remove_reader(live.pidfd)
    os.close(live.pidfd)
    code = reg.runtime.exit_code(status)
    reg.finishing[cid] = loop.create_task(_finish(reg, cid, live, code))


async def _finish(reg: Registry, cid: str, live: Live, code: int) -> None:
    """Record the exit, answer the waiters, then clean up (and ``--rm``)."""
    try:
        await _close_stdio(live)
        oom = False
        with contextlib.suppress(Exception):
            oom = bool(reg.runtime.oom_killed(live.spec))  # before the cgroup goes
        c = reg.containers.get(cid)
        _forget(reg, cid, live)
        if c is None:
            _cleanup(reg, cid, live, None)
            return
        c = reg.save(exited(c, code, oom_killed=oom))
        reg.emit(c, "die", exitCode=str(code))
        fut = reg.exit_futs.get(cid)
        if fut is not None and not fut.done():
            fut.set_result(code)
        # Waiters have their answer; the cleanup still happens before this task ends,
        # and start/remove of this container wait for the task.
        await asyncio.sleep(0)
        _cleanup(reg, cid, live, c)
        if c.host.auto_remove:
            await discard(reg, c)
    finally:
        reg.finishing.pop(cid, None)


async def _close_stdio(live: Live) -> None:
    """Let the last output arrive (a short while), then close the log, stdin and the pty."""
    if live.reader is not None:
        try:
            await asyncio.wait_for(asyncio.shield(live.reader.done), DRAIN_AFTER_EXIT)
        except TimeoutError:
            live.reader.stop()
    if live.log is not None:
        live.log.close()
    if live.stdin is not None:
        live.stdin.close()
    if live.stdio.pty_master is not None:
        with contextlib.suppress(OSError):
            os.close(live.stdio.pty_master)


def _forget(reg: Registry, cid: str, live: Live) -> None:
    """The container no longer runs: end its attaches (closing the log ended its followers)."""
    reg.live.pop(cid, None)
    if live.pidns is not None:
        reg.pidns_names.pop(live.pidns, None)
    reg.end_output(cid)


def _cleanup(reg: Registry, cid: str, live: Live, c: Container | None) -> None:
    """Cgroups and network of a container whose PID 1 is gone."""
    try:
        reg.runtime.teardown(live.spec)
    except Exception as exc:
        log.warning("teardown of %s failed: %s", cid[:12], exc)
    if c is not None:
        reg.net.release(c)
        reg.emit_endpoints(c, "disconnect")
