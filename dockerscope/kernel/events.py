"""Event sources: async generators that end when their stop event is set.

- ``netlink_events``: message types arriving on a subscribed netlink socket (links, addresses,
  routes; nf_tables ruleset changes; new and destroyed conntrack entries).
- ``dir_events``: files appearing or disappearing in directories (``/run/netns``, a lab's netns
  dir, cgroup parents), through watchfiles.
- ``ticks``: a steady clock for what the kernel does not announce (counters, cgroup figures).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

#: Pseudo message type meaning "messages were lost: re-read everything of this socket".
OVERRUN = -1

_HDR = struct.Struct("=IHHII")


def message_types(data: bytes) -> list[int]:
    """The nlmsg_type of each netlink message in one datagram."""
    out = []
    off = 0
    while off + _HDR.size <= len(data):
        length, mtype, _flags, _seq, _pid = _HDR.unpack_from(data, off)
        if length < _HDR.size:
            break
        out.append(mtype)
        off += (length + 3) & ~3
    return out


async def _wait(stop: asyncio.Event, fut: asyncio.Future[None]) -> bool:
    """Wait for ``fut`` or ``stop``; True when ``fut`` fired."""
    stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    waiting: set[asyncio.Future[Any]] = {fut, stopper}
    try:
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    return fut in done


async def netlink_events(sock: socket.socket, stop: asyncio.Event) -> AsyncIterator[list[int]]:
    """Batches of message types read from ``sock`` until ``stop`` is set.

    The socket must be non-blocking-capable and already subscribed to its groups. A batch is
    everything readable at once, so a burst of changes wakes the consumer once.
    """
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    fd = sock.fileno()
    while not stop.is_set():
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, lambda f=ready: f.done() or f.set_result(None))  # type: ignore[misc]
        try:
            fired = await _wait(stop, ready)
        finally:
            loop.remove_reader(fd)
        if not fired:
            return
        types: list[int] = []
        while True:
            try:
                data = sock.recv(1 << 16)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # the kernel dropped events: resync
                    types.append(OVERRUN)
                    continue
                return
            if not data:
                break
            types.extend(message_types(data))
        if types:
            yield types


async def dir_events(
    paths: Iterable[str | Path], stop: asyncio.Event, debounce_ms: int = 50
) -> AsyncIterator[set[str]]:
    """Sets of changed paths in ``paths`` (not recursive) until ``stop`` is set.

    Only existing directories are watched; an empty list just waits for ``stop``.
    """
    from watchfiles import awatch

    existing = [str(p) for p in paths if Path(p).is_dir()]
    if not existing:
        await stop.wait()
        return
    async for changes in awatch(
        *existing,
        watch_filter=None,
        debounce=debounce_ms,
        step=50,
        stop_event=stop,
        recursive=False,
        rust_timeout=500,
    ):
        yield {path for _change, path in changes}


async def ticks(interval: float, stop: asyncio.Event) -> AsyncIterator[float]:
    """The loop time every ``interval`` seconds until ``stop`` is set."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), interval)
            return
        except TimeoutError:
            yield loop.time()
