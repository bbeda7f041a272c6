"""A container's stdio seen from clients: attach subscribers, stdin, logs, the tty size."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from dockerscope.engine.containers.live import Live
from dockerscope.engine.containers.logs import LogLine, read_log
from dockerscope.engine.containers.model import Container
from dockerscope.engine.containers.process import FdWriter, set_winsize
from dockerscope.engine.containers.registry import EarlyStdin, OutputQueue, Registry


def attach(reg: Registry, ref: str) -> tuple[Container, OutputQueue]:
    """Subscribe to a container's live output; ``None`` arrives when it exits."""
    c = reg.get(ref)
    q: OutputQueue = asyncio.Queue()
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


def deliver_line(reg: Registry, cid: str, line: LogLine) -> None:
    """A line just written to the json log, to every ``logs --follow`` of the container."""
    live = reg.live.get(cid)
    if live is not None:
        for q in live.followers:
            q.put_nowait(line)


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
) -> AsyncIterator[LogLine]:
    """Log lines from the json file, then (``follow``) live ones until the container exits."""
    c = reg.get(ref)
    live = reg.live.get(c.id)
    q: asyncio.Queue[LogLine | None] | None = None
    if follow and live is not None:
        q = asyncio.Queue()
        live.followers.add(q)  # the log file is unbuffered: what was written is readable
    # The file is read up to its size at the moment of subscribing (no await in between):
    # lines written later come from the queue, so none is lost or doubled. The read runs in
    # a thread: a large log never holds the daemon's event loop.
    path = reg.store.log_path(c.id)
    try:
        end = path.stat().st_size
    except OSError:
        end = 0
    lines = await asyncio.to_thread(read_log, path, stdout, stderr, since, until, tail, end)
    try:
        for line in lines:
            yield line
        if q is None:
            return
        wanted = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}
        while True:
            item = await q.get()
            if item is None or (until is not None and item.time > until):
                return
            if item.stream in wanted:
                yield item
    finally:
        if q is not None and live is not None:
            live.followers.discard(q)
