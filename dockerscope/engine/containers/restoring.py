"""After a daemon (re)start: load the records; containers left running are killed.

Their stdio pipes died with the old daemon, so they cannot be adopted usefully (like dockerd
without live-restore): each is killed (if its PID 1 is still the same process), torn down
and recorded as exited.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal

from dockerscope.engine.containers import reconcile
from dockerscope.engine.containers.exiting import exited
from dockerscope.engine.containers.model import Container
from dockerscope.engine.containers.registry import Registry
from dockerscope.engine.containers.runspec import container_spec
from dockerscope.engine.procinfo import proc_start_time

log = logging.getLogger(__name__)

KILL_WAIT = 5.0  # seconds to wait for a killed leftover PID 1 to go
UNFINISHED = ("running", "paused", "restarting", "removing")


def restore(reg: Registry) -> list[str]:
    """Load every record; clean up those the old daemon left unfinished. Returns notes on
    what was cleaned."""
    notes = []
    records = reg.store.load_all()
    # What a daemon killed between two steps left without a record: cgroups, mounts, dirs.
    orphans = reconcile.find_orphans(reg.lab, {c.id for c in records})
    notes += reconcile.remove_orphans(reg.lab, orphans)
    for c in records:
        reg.containers[c.id] = c
        reg.removed_future(c.id)
        if c.state.status in UNFINISHED:
            notes.append(_clean_leftover(reg, c))
        else:
            # Killed in the middle of a start, a "created" container may already have a
            # process, cgroups, a rootfs mount or a sandbox that its record does not mention.
            _release(reg, c)
    return notes


def _release(reg: Registry, c: Container) -> None:
    """Kill what is left of a container's processes and remove its cgroups, rootfs mount and
    network sandbox (idempotent: a container with none of them is left as it is)."""
    # Teardown needs only the id, the cgroup parent and the rootfs: no image lookup
    # (the image may be gone).
    spec = container_spec(reg, c, c.sandbox_key or "", (), lowerdirs=())
    try:
        reg.runtime.teardown(spec)
    except Exception as exc:
        log.warning("cleaning %s after a restart failed: %s", c.name, exc)
    reg.net.release(c)


def _clean_leftover(reg: Registry, c: Container) -> str:
    """Kill, tear down and record as exited a container the old daemon left running."""
    alive = _kill_if_same(c.state.pid, c.state.pid_start)
    _release(reg, c)
    if alive:
        c = exited(c, 137)  # as SIGKILL
    else:
        c = exited(c, 255, error="the container ended while the daemon was down")
    reg.save(c)
    if c.host.auto_remove:
        reg.containers.pop(c.id, None)
        reg.store.delete(c.id)
    return f"{c.name}: {'killed' if alive else 'found dead'} after a daemon restart"


def _kill_if_same(pid: int, pid_start: int) -> bool:
    """SIGKILL ``pid`` and wait for it, if it is still the recorded process (same start
    time, not a recycled pid); False if that process is gone."""
    if not (pid and pid_start and proc_start_time(pid) == pid_start):
        return False
    with contextlib.suppress(OSError):
        fd = os.pidfd_open(pid)
        try:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
            _wait_pidfd(fd, KILL_WAIT)
        finally:
            os.close(fd)
    return True


def _wait_pidfd(fd: int, timeout: float) -> None:
    """Until the process of ``fd`` exits, at most ``timeout`` seconds."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    p.poll(int(timeout * 1000))
