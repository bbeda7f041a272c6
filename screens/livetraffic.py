"""Live socket traffic for the dashboard: a ``Source`` wrapper that adds the daemon's API calls.

The observer's frames carry kernel state only. The daemon publishes every request on
``GET /dockerscope/traffic`` (JSON lines); this wrapper follows that stream and puts the calls
into the frames: with the next kernel frame, or, when the kernel is quiet (``docker ps``
changes nothing), in a frame of their own that repeats the last snapshot with an empty diff.
Calls are keyed by sequence number, so a source that one day brings its own traffic is not
shown twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from dockerscope.feed import Frame, Source
from dockerscope.kernel.model import ApiCall


class Feed(Protocol):
    """Something that collects API calls in the background (``scenario.lab.TrafficFeed``)."""

    def drain(self, settle: float = ...) -> list[ApiCall]: ...
    def close(self) -> None: ...


def open_traffic_feed(socket_path: str) -> Feed:
    """Follow a dockerscope daemon's traffic tap (raises OSError or LabError if there is none)."""
    from dockerscope.scenario.lab import TrafficFeed

    return TrafficFeed(socket_path)


class WithTraffic:
    """Frames of ``source`` plus the API calls of a daemon."""

    def __init__(self, source: Source, socket_path: str, *, poll: float = 0.1,
                 opener: Callable[[str], Feed] = open_traffic_feed) -> None:
        self.source = source
        self.scope = source.scope
        self.live = getattr(source, "live", True)
        self.socket_path = socket_path
        self.poll = poll
        self._opener = opener
        self._stopped = asyncio.Event()

    async def frames(self) -> AsyncIterator[Frame]:
        loop = asyncio.get_running_loop()
        feed: Feed | None = None
        note = ""
        try:
            feed = await loop.run_in_executor(None, self._opener, self.socket_path)
        except Exception as exc:  # noqa: BLE001 - no tap (a real Docker, a daemon going down)
            note = f"no API traffic from {self.socket_path}: {exc}"
        queue: asyncio.Queue[Frame | None] = asyncio.Queue()
        pump = asyncio.ensure_future(self._pump(queue))
        last: Frame | None = None
        try:
            while not self._stopped.is_set():
                try:
                    item = await asyncio.wait_for(queue.get(), self.poll)
                except TimeoutError:
                    item = None
                    if pump.done():
                        break
                calls = tuple(feed.drain(0)) if feed is not None else ()
                if item is not None:
                    last = item
                    if note and not item.note:
                        item = Frame(item.at, item.snapshot, item.diff, item.traffic, note,
                                     item.extra)
                        note = ""
                    yield _with_calls(item, calls)
                elif calls and last is not None:
                    yield Frame(at=max(c.started_at for c in calls), snapshot=last.snapshot,
                                traffic=calls)
            if pump.done() and not pump.cancelled() and pump.exception() is not None:
                raise pump.exception()  # type: ignore[misc]
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            if feed is not None:
                await loop.run_in_executor(None, feed.close)

    async def _pump(self, queue: asyncio.Queue[Frame | None]) -> None:
        async for frame in self.source.frames():
            await queue.put(frame)

    async def stop(self) -> None:
        self._stopped.set()
        await self.source.stop()


def _with_calls(frame: Frame, calls: tuple[ApiCall, ...]) -> Frame:
    if not calls:
        return frame
    return Frame(frame.at, frame.snapshot, frame.diff, frame.traffic + calls, frame.note,
                 frame.extra)


def traffic_socket_of(source: Any) -> str | None:
    """The API socket a live observer source watches, when it has one."""
    scope = getattr(getattr(source, "observer", None), "scope", None)
    return getattr(scope, "api_socket", None)
