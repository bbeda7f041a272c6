"""The traffic tap: every API request as an ``ApiCall``, kept and streamed to the dashboard."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import deque
from collections.abc import AsyncIterator, Callable

from dockerscope.engine.api.replies import Exchange
from dockerscope.kernel.model import ApiCall

KEEP = 1000


def _preview(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


class TrafficTap:
    """Keeps the last ``KEEP`` calls and fans new ones out to live subscribers.

    ``container_of(pid)`` names the container a client process runs in (or None).
    """

    def __init__(self, container_of: Callable[[int], str | None] | None = None) -> None:
        self.calls: deque[ApiCall] = deque(maxlen=KEEP)
        self.seq = 0
        self.container_of = container_of
        self._subscribers: set[asyncio.Queue[ApiCall | None]] = set()

    def record(self, ex: Exchange) -> ApiCall:
        """Turn a served request into an ``ApiCall`` and publish it."""
        self.seq += 1
        req = ex.request
        client_container = None
        if req.peer.pid and self.container_of is not None:
            client_container = self.container_of(req.peer.pid)
        call = ApiCall(
            seq=self.seq,
            started_at=ex.started_at,
            method=req.method,
            path=req.target,
            status=ex.status,
            latency_ms=round(ex.latency_ms, 3),
            transport=req.peer.transport,
            client_pid=req.peer.pid,
            client_uid=req.peer.uid,
            client_container=client_container,
            request_preview=_preview(req.preview),
            response_preview=_preview(ex.response_preview),
            user_agent=req.user_agent,
        )
        self.calls.append(call)
        for q in self._subscribers:
            q.put_nowait(call)
        return call

    def close(self) -> None:
        """End every live stream (daemon shutdown)."""
        for q in self._subscribers:
            q.put_nowait(None)

    async def stream(self, backlog: bool = True) -> AsyncIterator[bytes]:
        """JSON lines: the kept calls (when ``backlog``), then each new one as it happens."""
        q: asyncio.Queue[ApiCall | None] = asyncio.Queue()
        self._subscribers.add(q)
        try:
            if backlog:
                for call in list(self.calls):
                    yield to_line(call)
            while True:
                item = await q.get()
                if item is None:
                    return
                yield to_line(item)
        finally:
            self._subscribers.discard(q)


def to_line(call: ApiCall) -> bytes:
    """One call as a JSON line (the dashboard rebuilds it with ``ApiCall(**json)``)."""
    return (json.dumps(dataclasses.asdict(call), separators=(",", ":")) + "\n").encode()
