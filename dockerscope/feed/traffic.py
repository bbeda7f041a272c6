"""The traffic feed: a ``Source`` wrapper that adds a daemon's API calls to the frames.

The observer's frames carry kernel state only. The daemon publishes every request on
``GET /dockerscope/traffic`` (JSON lines); a ``TrafficFeed`` follows that stream, and this
wrapper puts the calls into the frames: with the next kernel frame, or, when the kernel is
quiet (``docker ps`` changes nothing), in a frame of their own that repeats the last snapshot
with an empty diff. Calls are keyed by sequence number, so a source that one day brings its
own traffic is not shown twice.

How the stream is followed is the caller's choice (``opener``): the dashboard and the scenario
runner use ``feed.tap.TapFollower``; tests hand in fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from dockerscope.feed import Frame, Source
from dockerscope.kernel.model import ApiCall


class TrafficFeed(Protocol):
    """Something that collects API calls in the background (``feed.tap.TapFollower``)."""

    def drain(self, settle: float = ...) -> list[ApiCall]:
        """The calls collected since the last drain."""
        ...

    def close(self) -> None:
        """Stop following."""
        ...


#: Opens a traffic feed on a daemon's socket (raises when there is no tap there).
FeedOpener = Callable[[str], TrafficFeed]


class WithTraffic:
    """Frames of ``source`` plus the API calls of a daemon (a ``Source`` itself)."""

    def __init__(
        self, source: Source, socket_path: str, *, opener: FeedOpener, poll: float = 0.1
    ) -> None:
        self.source = source
        self.scope = source.scope
        self.live = getattr(source, "live", True)
        self.socket_path = socket_path
        self.poll = poll
        self._opener = opener
        self._stopped = asyncio.Event()

    async def frames(self) -> AsyncIterator[Frame]:
        """The source's frames with the calls seen meanwhile, and frames of calls alone."""
        loop = asyncio.get_running_loop()
        feed: TrafficFeed | None = None
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
                        item = Frame(
                            item.at, item.snapshot, item.diff, item.traffic, note, item.extra
                        )
                        note = ""
                    yield _with_calls(item, calls)
                elif calls and last is not None:
                    yield Frame(
                        at=max(c.started_at for c in calls), snapshot=last.snapshot, traffic=calls
                    )
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
        """Stop the frames and the source."""
        self._stopped.set()
        await self.source.stop()


def _with_calls(frame: Frame, calls: tuple[ApiCall, ...]) -> Frame:
    if not calls:
        return frame
    return Frame(
        frame.at, frame.snapshot, frame.diff, frame.traffic + calls, frame.note, frame.extra
    )


def traffic_socket_of(source: Any) -> str | None:
    """The API socket a live source watches, when it has one (``LiveSource.api_socket``)."""
    return getattr(source, "api_socket", None)
