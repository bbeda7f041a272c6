"""One client connection: h11 reads its requests, a handler answers each, every wait bounded.

The server (``http.py``) accepts connections and caps their number; this module runs one:
keep-alive, pipelining, bodies read on demand, streamed and hijacked answers, and the limits of
``limits.py`` on every wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import time
from typing import TYPE_CHECKING, Any

import h11

from dockerscope.engine.api.errors import ApiError
from dockerscope.engine.api.limits import BodyTimeout
from dockerscope.engine.api.replies import (
    READ_SIZE,
    Exchange,
    Hijack,
    HijackedStream,
    Response,
    StreamResponse,
)
from dockerscope.engine.api.request import PREVIEW, Peer, Request
from dockerscope.engine.errors import EngineError, InvalidArgument

log = logging.getLogger("dockerscope.http")

# The message types stay importable from here: the container and network routes import them so.

if TYPE_CHECKING:
    from dockerscope.engine.api.http import HttpServer


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


class _ClientGone(ApiError):
    """The client closed the connection in the middle of a request body (nobody reads the
    answer; a 400, not a 500: nothing failed inside the daemon)."""

    def __init__(self) -> None:
        super().__init__("the client closed the connection during the request body", 400)


def _short(exc: Exception) -> str:
    """h11's reason for refusing bytes, in one short line."""
    text = str(exc).splitlines()[0] if str(exc) else "malformed"
    return text[:120]


class Connection:
    """Serves the requests of one client until it leaves or a limit closes it."""

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
        self.limits = server.limits
        #: Loop time since which the connection waits for a request (None while one is being
        #: served): the server closes the longest-waiting one when it is at its cap.
        self.waiting_since: float | None = None
        #: The answer must close the connection (a body that stalled or was refused).
        self.close_after = False
        #: The client went away in the middle of a body: nothing is answered.
        self.peer_gone = False

    async def _read(self, timeout: float) -> bytes:
        """Bytes from the client, or TimeoutError after ``timeout`` seconds of silence."""
        async with asyncio.timeout(max(timeout, 0.0)):
            return await self.reader.read(READ_SIZE)

    async def _next_request(self) -> Any:
        """The next request's head (or ConnectionClosed). Silence for the idle timeout, or a
        head not complete within the header timeout of its first byte, is a TimeoutError."""
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            if deadline is None:
                data = await self._read(self.limits.idle_timeout)
                # The clock of a slowloris client starts at its first byte, and no byte it
                # sends later moves it.
                deadline = loop.time() + self.limits.header_timeout
            else:
                data = await self._read(deadline - loop.time())
            self.conn.receive_data(data)

    async def _body_event(self) -> Any:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await self._read(self.limits.body_timeout)
            except TimeoutError:
                self.close_after = True
                raise BodyTimeout(self.limits.body_timeout) from None
            if not data:
                self.peer_gone = True
                raise _ClientGone()
            self.conn.receive_data(data)

    async def _body_chunk(self) -> bytes | None:
        if self.conn.their_state is h11.ERROR or self.close_after or self.peer_gone:
            return None  # the body was already refused; the connection closes after the answer
        if self.conn.they_are_waiting_for_100_continue:
            # curl and others wait for this before sending a large body.
            self._send(h11.InformationalResponse(status_code=100, headers=[]))
        try:
            event = await self._body_event()
        except h11.RemoteProtocolError as exc:
            # A broken body (bad chunk size, missing CRLF, a line too long...): the handler
            # answers 400 with this, and the connection is closed after it.
            raise InvalidArgument(f"bad HTTP request body: {_short(exc)}") from None
        if isinstance(event, h11.Data):
            return bytes(event.data)
        if isinstance(event, h11.EndOfMessage):
            return None
        self.peer_gone = True
        raise _ClientGone()

    async def _drain_rest(self, request: Request, limit: int | None) -> bool:
        """Read and drop what is left of the body, up to ``limit`` bytes; False when the
        connection must close instead (too much left, a stall, a broken body)."""
        if request.refused_for_size or self.close_after or self.peer_gone:
            return False
        left = limit
        try:
            async for chunk in request.chunks():
                if left is not None:
                    left -= len(chunk)
                    if left < 0:
                        return False
        except (ApiError, EngineError):
            return False
        return True

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
        loop = asyncio.get_running_loop()
        while True:
            self.waiting_since = loop.time()
            try:
                event = await self._next_request()
            except h11.RemoteProtocolError as exc:
                self.waiting_since = None
                await self._protocol_error(exc)
                return
            except TimeoutError:
                return  # idle too long, or a head too slow: close without a word
            self.waiting_since = None
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
            if self.peer_gone:
                return  # nobody to answer
            if isinstance(reply, Hijack):
                if not await self._drain_rest(request, None):
                    return
                await self._hijack(request, reply, started, t0)
                return
            if isinstance(reply, StreamResponse):
                if not await self._drain_rest(request, None):
                    return
                if not await self._stream(request, reply, started, t0):
                    return
            else:
                # A body refused for its size is not read any further: answer and close.
                close = request.refused_for_size or self.close_after or reply.status == 413
                await self._respond(request, reply, started, t0, close)
                if close or not await self._drain_rest(request, self.limits.drain_limit):
                    return
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
        if self.server.on_exchange is None:
            return
        try:
            self.server.on_exchange(
                Exchange(request, started, status, (time.monotonic() - t0) * 1000, preview)
            )
        except Exception:
            # The tap is an observer: its failure must not cut the client's answer short. Said
            # once per server, so a flood of such requests cannot flood the log.
            if not self.server.tap_failed:
                self.server.tap_failed = True
                log.exception("the traffic tap failed on %s %s", request.method, request.path)

    async def _respond(
        self, request: Request, reply: Response, started: float, t0: float, close: bool = False
    ):
        extra = list(reply.headers)
        if close:
            extra.append(("Connection", "close"))
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
        async with asyncio.timeout(self.limits.write_timeout):
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
            # Data a client sends while it waits (a pipelined request) stays in h11's buffer,
            # up to a bound: past it the client is not waiting, it is flooding.
            held = 0
            while True:
                data = await self.reader.read(READ_SIZE)
                held += len(data)
                if not data or held > self.limits.pipeline_limit:
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
            # The client left, or the producer failed (a logs -f that fell behind is dropped):
            # close now, not after a flush a client that does not read would never allow.
            self.writer.transport.abort()
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
