"""A container's output on its way to a client: ``docker logs`` batches as bytes, live
output relayed from a bounded queue, and a client's stdin pumped in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from dockerscope.engine.api.replies import HijackedStream
from dockerscope.engine.containers.detach import DetachWatcher
from dockerscope.engine.containers.frames import STREAM_IDS, frame
from dockerscope.engine.containers.logs import LogLine
from dockerscope.engine.containers.status import iso
from dockerscope.engine.containers.subscribers import OutputQueue


def batch_bytes(lines: list[LogLine], tty: bool, stamps: bool) -> bytes:
    """Log lines as ``docker logs`` sends them: raw with a tty, else a frame per line."""
    stamp_of: dict[float, bytes] = {}  # the lines of one output chunk share their time
    out = []
    for line in lines:
        data = line.data
        if stamps:
            stamp = stamp_of.get(line.time)
            if stamp is None:
                stamp = stamp_of[line.time] = iso(line.time).encode() + b" "
            data = stamp + data
        out.append(data if tty else frame(STREAM_IDS[line.stream], data))
    return b"".join(out)


async def pump_stdin(
    s: HijackedStream,
    write: Callable[[bytes], None],
    on_eof: Callable[[], None] | None,
    keys: bytes = b"",
    q: asyncio.Queue[Any] | None = None,
) -> None:
    """Client bytes to ``write`` (a container's or an exec's stdin) until the client's EOF,
    then ``on_eof`` (ends that stdin), if given.

    With detach keys (a tty), typing them ends the session: ``None`` goes to the output
    queue ``q`` and the stdin is left open for the next session. Without ``on_eof`` an
    attach goes on after the client's EOF: dockerd would end the output there, racing the
    container's answer to the last input (`echo x | docker attach c` could lose the reply);
    the CLI waits for the container's exit after the stream anyway.
    """
    watcher = DetachWatcher(keys)
    while True:
        data = await s.read()
        if not data:
            break
        data, detached = watcher.feed(data)
        if data:
            write(data)
        if detached:
            if q is not None:
                q.put_nowait(None)
            return
    if on_eof is not None:
        on_eof()


async def relay_output(s: HijackedStream, q: OutputQueue, want: set[str], tty: bool) -> None:
    """Queued output of the ``want`` streams to the client (raw with a tty, else framed)
    until ``None`` arrives or the client is gone."""
    while True:
        item = await q.get()
        if item is None:
            return
        stream, data = item
        if stream in want and not await s.write(data if tty else frame(STREAM_IDS[stream], data)):
            return


async def gone(s: HijackedStream, q: asyncio.Queue[Any]) -> None:
    """End an output-only attach once the client has closed its connection for good.

    Clients half-close after their (empty) stdin, so EOF alone says nothing; a unix socket
    also reports POLLHUP once the peer closed both directions.
    """
    while await s.read():
        pass
    while not s.peer_closed():
        await asyncio.sleep(1)
    q.put_nowait(None)
