"""A container's stdio seen from clients: attach subscribers, stdin, logs, the tty size."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from dockerscope.engine.containers.live import Live
from dockerscope.engine.containers.logread import LogFilter, LogReader
from dockerscope.engine.containers.logs import LogLine, LogWatch
from dockerscope.engine.containers.model import Container
from dockerscope.engine.containers.process import FdWriter, set_winsize
from dockerscope.engine.containers.registry import EarlyStdin, Registry
from dockerscope.engine.containers.subscribers import OutputQueue
from dockerscope.engine.errors import Conflict, InvalidArgument

NO_READING = "configured logging driver does not support reading"  # Docker's words


class LogLagged(Conflict):
    """A ``logs -f`` client fell more than the whole rotated log behind: it is dropped."""


def attach(reg: Registry, ref: str) -> tuple[Container, OutputQueue]:
    """Subscribe to a container's live output; ``None`` arrives when it exits, or when the
    client fell ``CLIENT_BUFFER`` bytes behind (``q.overflowed``)."""
    c = reg.get(ref)
    q = OutputQueue()
    reg.attached.setdefault(c.id, set()).add(q)
    return c, q


def unsubscribe(reg: Registry, cid: str, q: OutputQueue) -> None:
    """Forget an attach subscriber (idempotent)."""
    subs = reg.attached.get(cid)
    if subs is not None:
        subs.discard(q)


def write_stdin(reg: Registry, cid: str, data: bytes) -> None:
    """Bytes for the container's stdin; kept until the start if it does not run yet."""
    live = reg.live.get(cid)
    if live is not None:
        if live.stdin is not None:
            live.stdin.write(data)
    elif cid in reg.containers:
        reg.early_stdin.setdefault(cid, EarlyStdin()).data.extend(data)


def close_stdin(reg: Registry, cid: str) -> None:
    """End the container's stdin (now, or right after the start)."""
    live = reg.live.get(cid)
    if live is not None:
        if live.stdin is not None:
            live.stdin.close()
            live.stdin = None
    elif cid in reg.containers:
        reg.early_stdin.setdefault(cid, EarlyStdin()).closed = True


def open_stdin(reg: Registry, cid: str, live: Live, fd: int, owns_fd: bool) -> None:
    """Give a starting container its stdin writer, fed first with what came before the start."""
    live.stdin = FdWriter(fd, owns_fd=owns_fd)
    early = reg.early_stdin.pop(cid, None)
    if early is not None:
        live.stdin.write(bytes(early.data))
        if early.closed:
            live.stdin.close()
            live.stdin = None


def deliver_output(reg: Registry, cid: str, stream: str, data: bytes) -> None:
    """Output of a running container: into its json log and to every attach subscriber."""
    live = reg.live.get(cid)
    if live is None:
        return
    if live.log is not None:
        live.log.write(stream, data)
    for q in reg.attached.get(cid, ()):
        q.put_nowait((stream, data))


def resize(reg: Registry, ref: str, height: int, width: int) -> None:
    """Set the tty size of a running container (nothing without a tty)."""
    live = reg.running(reg.get(ref))
    if live.stdio.pty_master is not None:
        set_winsize(live.stdio.pty_master, height, width)


async def logs(
    reg: Registry,
    ref: str,
    stdout: bool,
    stderr: bool,
    follow: bool,
    tail: int | None,
    since: float | None,
    until: float | None,
) -> AsyncIterator[list[LogLine]]:
    """Batches of log lines from the json files (rotated ones first), then (``follow``) the
    lines written later until the container exits.

    The log is read from files held open, a batch at a time in a thread, so neither the size
    of the log nor a slow client costs the daemon memory; a follower that falls too far
    behind the rotation (``logs.LAG_BYTES``) is dropped (LogLagged). Following is reading the
    file on as the writer appends, woken by each write: every line comes once, in order,
    across rotations.
    """
    c = reg.get(ref)
    if not c.host.log_config.keeps_log:
        raise InvalidArgument(NO_READING)
    live = reg.live.get(c.id)
    watch: LogWatch | None = None
    wake = asyncio.Event()
    flt = LogFilter(stdout, stderr, since, until)
    # The files are opened and the watch joins the writer with no await in between: what the
    # files hold and what the writer appends later meet exactly.
    if follow and live is not None and live.log is not None:
        watch = LogWatch(wake=wake.set)
        live.log.watches.add(watch)
    reader = LogReader.open(reg.store.log_path(c.id), flt, watch)
    try:
        if tail is not None and tail >= 0:  # a negative --tail is "all", as dockerd reads it
            await asyncio.to_thread(reader.skip_to_tail, tail)
        while True:
            wake.clear()  # before the read: a write after it wakes the wait below
            batch = await asyncio.to_thread(reader.next_batch)
            if watch is not None and watch.lagged:
                raise LogLagged(f"logs -f of {c.id[:12]} fell behind the rotated log")
            if batch is None:
                return
            if batch:
                yield batch
            elif watch is not None:
                if until is not None and time.time() > until:
                    return  # caught up, and --until has passed: the follow ends
                await wake.wait()
    finally:
        if watch is not None and live is not None and live.log is not None:
            live.log.watches.discard(watch)
        reader.close()
