"""HTTP/1.1 over asyncio streams, parsed by h11.

A connection reads requests with h11 and hands each one to a handler, which answers with one of
three replies: a whole ``Response``, a ``StreamResponse`` (chunked, ended when the producer ends
or the client goes away) or a ``Hijack`` (the connection becomes a raw byte stream, as Docker's
attach and exec do). Keep-alive, HEAD and pipelining follow h11's state machine.

The request side lives in ``request.py``, the replies in ``replies.py``; this module serves them.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import h11

from dockerscope.engine.api.errors import ApiError
from dockerscope.engine.api.replies import (
    READ_SIZE,
    Exchange,
    Handler,
    Hijack,
    HijackedStream,
    Reply,
    Response,
    StreamResponse,
)
from dockerscope.engine.api.request import PREVIEW, Peer, Request
from dockerscope.engine.errors import InvalidArgument

# The message types stay importable from here: the container and network routes import them so.
__all__ = [
    "Exchange",
    "Handler",
    "Hijack",
    "HijackedStream",
    "HttpServer",
    "Peer",
    "Reply",
    "Request",
    "Response",
    "StreamResponse",
    "peer_of",
]


def peer_of(writer: asyncio.StreamWriter, transport: str) -> Peer:
    """Read the peer's credentials (unix) or address (tcp) from a connection."""
    sock = writer.get_extra_info("socket")
    if transport == "unix" and sock is not None:
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            pid, uid, _gid = struct.unpack("3i", raw)
            return Peer("unix", pid or None, uid)
        except OSError:
            return Peer("unix")
    addr = writer.get_extra_info("peername")
    return Peer(transport, address=f"{addr[0]}:{addr[1]}" if addr else "")


class HttpServer:
    """Serves a handler on asyncio stream connections.

    ``headers()`` gives the headers added to every response (Api-Version, Server...);
    ``on_exchange`` is told about every request once its response head is out.
    """

    def __init__(
        self,
        handler: Handler,
        headers: Callable[[], list[tuple[str, str]]],
        on_exchange: Callable[[Exchange], None] | None = None,
    ) -> None:
        self.handler = handler
        self.headers = headers
        self.on_exchange = on_exchange
        self.connections: set[asyncio.Task[Any]] = set()

    def unix_handler(
        self,
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        return lambda r, w: self.serve(r, w, "unix")

    def tcp_handler(
        self,
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        return lambda r, w: self.serve(r, w, "tcp")

    async def serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, transport: str
    ) -> None:
        """Serve one connection until the client closes it or a hijack ends."""
        task = asyncio.current_task()
        if task is not None:
            self.connections.add(task)
        try:
            await _Connection(self, reader, writer, peer_of(writer, transport)).run()
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        except asyncio.CancelledError:
            # Shutdown cancels open connections; end quietly (asyncio would log a cancelled
            # connection task as an error).
            pass
        finally:
            if task is not None:
                self.connections.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def close_connections(self) -> None:
        """Cancel every open connection (daemon shutdown)."""
        tasks = list(self.connections)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


class _ClientGone(ConnectionError):
    """The client closed the connection in the middle of a request."""


def _short(exc: Exception) -> str:
    """h11's reason for refusing bytes, in one short line."""
    text = str(exc).splitlines()[0] if str(exc) else "malformed"
    return text[:120]


class _Connection:
    def __init__(
        self,
        server: HttpServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: Peer,
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.conn = h11.Connection(h11.SERVER)

    async def _event(self) -> Any:
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                data = await self.reader.read(READ_SIZE)
                self.conn.receive_data(data)
                continue
            return event

    async def _body_chunk(self) -> bytes | None:
        if self.conn.their_state is h11.ERROR:
            return None  # the body was already refused; the connection closes after the answer
        try:
            event = await self._event()
        except h11.RemoteProtocolError as exc:
            # A broken body (bad chunk size, missing CRLF, a line too long...): the handler
            # answers 400 with this, and the connection is closed after it.
            raise InvalidArgument(f"bad HTTP request body: {_short(exc)}") from None
        if isinstance(event, h11.Data):
            return bytes(event.data)
        if isinstance(event, h11.EndOfMessage):
            return None
        raise _ClientGone()

    def _send(self, event: Any) -> None:
        data = self.conn.send(event)
        if data:
            self.writer.write(data)

    def _head(self, status: int, content_type: str | None, extra: list[tuple[str, str]]) -> list:
        headers = list(self.server.headers())
        if content_type:
            headers.append(("Content-Type", content_type))
        headers.extend(extra)
        return [(k.encode(), v.encode()) for k, v in headers]

    async def run(self) -> None:
        while True:
            try:
                event = await self._event()
            except h11.RemoteProtocolError as exc:
                await self._protocol_error(exc)
                return
            if not isinstance(event, h11.Request):
                return  # ConnectionClosed, or garbage after a close
            started = time.time()
            t0 = time.monotonic()
            request = Request(
                event.method.decode(),
                event.target.decode("latin-1"),
                list(event.headers),
                self.peer,
                self._body_chunk,
            )
            reply = await self.server.handler(request)
            if isinstance(reply, Hijack):
                await request.drain()
                await self._hijack(request, reply, started, t0)
                return
            if isinstance(reply, StreamResponse):
                await request.drain()
                if not await self._stream(request, reply, started, t0):
                    return
            else:
                await self._respond(request, reply, started, t0)
                await request.drain()
            if h11.MUST_CLOSE in (self.conn.our_state, self.conn.their_state) or (
                self.conn.their_state is h11.ERROR
            ):
                return
            try:
                self.conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _protocol_error(self, exc: h11.RemoteProtocolError) -> None:
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = ApiError(f"bad HTTP request: {_short(exc)}", 400).body()
        with contextlib.suppress(h11.LocalProtocolError):
            self._send(
                h11.Response(
                    status_code=exc.error_status_hint,
                    headers=self._head(
                        exc.error_status_hint,
                        "application/json",
                        [("Content-Length", str(len(body))), ("Connection", "close")],
                    ),
                )
            )
            self._send(h11.Data(data=body))
            self._send(h11.EndOfMessage())
            await self.writer.drain()

    def _report(self, request: Request, started: float, t0: float, status: int, preview: bytes):
        if self.server.on_exchange is not None:
            self.server.on_exchange(
                Exchange(request, started, status, (time.monotonic() - t0) * 1000, preview)
            )

    async def _respond(self, request: Request, reply: Response, started: float, t0: float):
        extra = list(reply.headers)
        body = reply.body
        if reply.status not in (204, 304):
            extra.append(("Content-Length", str(len(body))))
        else:
            body = b""
        self._send(
            h11.Response(
                status_code=reply.status,
                headers=self._head(reply.status, reply.content_type, extra),
                reason=_reason(reply.status),
            )
        )
        if body and request.method != "HEAD":
            self._send(h11.Data(data=body))
        self._send(h11.EndOfMessage())
        # Recorded before the drain: a client that closes at once was still served.
        self._report(request, started, t0, reply.status, body[:PREVIEW])
        await self.writer.drain()

    async def _stream(
        self, request: Request, reply: StreamResponse, started: float, t0: float
    ) -> bool:
        """Send a chunked body until the producer ends; False if the client went away."""
        self._send(
            h11.Response(
                status_code=reply.status,
                headers=self._head(reply.status, reply.content_type, list(reply.headers)),
                reason=_reason(reply.status),
            )
        )
        self._report(request, started, t0, reply.status, b"")
        await self.writer.drain()

        async def pump() -> None:
            async for chunk in reply.chunks:
                if chunk:
                    self._send(h11.Data(data=chunk))
                    await self.writer.drain()

        async def watch() -> None:
            # Data a client sends while it waits (a pipelined request) stays in h11's buffer.
            while True:
                data = await self.reader.read(READ_SIZE)
                if not data:
                    return
                self.conn.receive_data(data)

        pumping = asyncio.ensure_future(pump())
        watching = asyncio.ensure_future(watch())
        try:
            done, _ = await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (pumping, watching):
                if not t.done():
                    t.cancel()
                    with contextlib.suppress(BaseException):
                        await t
            aclose = getattr(reply.chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        if pumping not in done or pumping.exception() is not None:
            return False
        self._send(h11.EndOfMessage())
        await self.writer.drain()
        return True

    async def _hijack(self, request: Request, reply: Hijack, started: float, t0: float):
        if reply.upgrade:
            status, first = 101, "HTTP/1.1 101 UPGRADED"
            extra = [("Connection", "Upgrade"), ("Upgrade", "tcp")]
        else:
            status, first = 200, "HTTP/1.1 200 OK"
            extra = []
        lines = [first, f"Content-Type: {reply.content_type}"]
        lines += [f"{k}: {v}" for k, v in extra + list(self.server.headers())]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self._report(request, started, t0, status, b"")
        await self.writer.drain()
        pending, _closed = self.conn.trailing_data
        await reply.run(HijackedStream(self.reader, self.writer, bytes(pending)))
        with contextlib.suppress(Exception):
            await self.writer.drain()
