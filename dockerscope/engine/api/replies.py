"""What a handler answers: a whole ``Response``, a chunked ``StreamResponse`` or a ``Hijack``
of the connection; and the ``Exchange`` the server reports to the traffic tap afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from dockerscope.engine.api.request import Request

#: Bytes read from a connection at a time.
READ_SIZE = 65536


@dataclass
class Response:
    """A complete response."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status, (json.dumps(data, separators=(",", ":")) + "\n").encode())

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status, b"", None)


@dataclass
class StreamResponse:
    """A chunked response whose body an async iterator produces (logs -f, events, pulls)."""

    chunks: AsyncIterator[bytes]
    status: int = 200
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


class HijackedStream:
    """The raw connection after a hijack: bytes the client sends, and a way to answer."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pending: bytes
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._pending = pending

    async def read(self, n: int = READ_SIZE) -> bytes:
        """Up to ``n`` bytes from the client; b"" once it closed (or half-closed) its side."""
        if self._pending:
            data, self._pending = self._pending[:n], self._pending[n:]
            return data
        try:
            return await self._reader.read(n)
        except (ConnectionError, OSError):
            return b""

    async def write(self, data: bytes) -> bool:
        """Send bytes; False when the client is gone."""
        if self._writer.is_closing():
            return False
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError):
            return False
        return True

    def peer_closed(self) -> bool:
        """True once the peer closed both directions (POLLHUP; unix sockets report it, a
        half-close does not)."""
        sock = self._writer.get_extra_info("socket")
        if sock is None or self._writer.is_closing():
            return True
        p = select.poll()
        p.register(sock.fileno(), select.POLLHUP)
        return any(ev & (select.POLLHUP | select.POLLERR) for _, ev in p.poll(0))

    def abort(self) -> None:
        """Close the connection now, dropping what is still buffered for the client (one that
        does not read would hold a graceful close open forever)."""
        self._writer.transport.abort()

    def close_write(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, NotImplementedError):
            if self._writer.can_write_eof():
                self._writer.write_eof()


@dataclass
class Hijack:
    """Take the connection over: send Docker's raw-stream head, then run ``run`` on it."""

    run: Callable[[HijackedStream], Awaitable[None]]
    upgrade: bool
    content_type: str = "application/vnd.docker.raw-stream"


Reply = Response | StreamResponse | Hijack
Handler = Callable[[Request], Awaitable[Reply]]


@dataclass
class Exchange:
    """What the server reports about one finished (or hijacked) request to the traffic tap."""

    request: Request
    started_at: float
    status: int
    latency_ms: float
    response_preview: bytes
