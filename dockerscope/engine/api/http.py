"""HTTP/1.1 over asyncio streams, parsed by h11.

A connection reads requests with h11 and hands each one to a handler, which answers with one of
three replies: a whole ``Response``, a ``StreamResponse`` (chunked, ended when the producer ends
or the client goes away) or a ``Hijack`` (the connection becomes a raw byte stream, as Docker's
attach and exec do). Keep-alive, HEAD and pipelining follow h11's state machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import re
import select
import socket
import struct
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import h11

from dockerscope.engine.api import gojson
from dockerscope.engine.api.errors import ApiError
from dockerscope.engine.errors import InvalidArgument

READ_SIZE = 65536
MAX_JSON_BODY = 16 * 1024 * 1024
#: Deepest JSON nesting taken in a body or query. The API's own shapes nest under ten levels;
#: Python's decoder would hit its recursion limit near a thousand (Go's stops at 10,000).
MAX_JSON_DEPTH = 100
PREVIEW = 200


@dataclass(frozen=True)
class Peer:
    """Who is on the other end: transport, and for unix sockets the SO_PEERCRED pid/uid."""

    transport: str  # "unix" | "tcp"
    pid: int | None = None
    uid: int | None = None
    address: str = ""


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


class Request:
    """One request: method, path, query and headers, with a body read on demand."""

    def __init__(
        self,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        peer: Peer,
        body_source: Callable[[], Awaitable[bytes | None]],
    ) -> None:
        self.method = method
        self.target = target
        split = urllib.parse.urlsplit(target)
        self.path = urllib.parse.unquote(split.path)
        self.query: dict[str, list[str]] = urllib.parse.parse_qs(
            split.query, keep_blank_values=True
        )
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
        self.peer = peer
        self.version: str | None = None  # API version from the /v1.xx prefix, set by the router
        self._next_chunk = body_source
        self._body_done = False
        self.preview = b""
        self._decoded: tuple[bool, Any] | None = None  # (empty, value) as the router checked it

    def q(self, name: str, default: str | None = None) -> str | None:
        """The last value of query parameter ``name``."""
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query parameter as Docker reads them ("1", "true", "True")."""
        value = self.q(name)
        if value is None or value == "":
            return default
        return value.lower() not in ("0", "false", "no")

    def int_q(self, name: str, default: int | None = None) -> int | None:
        """An integer query parameter; a non-number is a 400."""
        value = self.q(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise InvalidArgument(f"invalid value for {name}: {value!r}") from None

    def json_q(self, name: str) -> Any:
        """A JSON-encoded query parameter (``filters``), or None."""
        value = self.q(name)
        if not value:
            return None
        try:
            return decode_json(value.encode())
        except InvalidArgument:
            raise InvalidArgument(f"invalid {name} parameter: not JSON: {value[:200]!r}") from None

    @property
    def upgrade(self) -> bool:
        """The client asked for a protocol upgrade (docker CLI/docker-py attach and exec)."""
        return self.headers.get("upgrade", "").lower() == "tcp" or (
            "upgrade" in self.headers.get("connection", "").lower() and "upgrade" in self.headers
        )

    @property
    def user_agent(self) -> str:
        return self.headers.get("user-agent", "")

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk (for tar uploads that should not sit in memory)."""
        while not self._body_done:
            data = await self._next_chunk()
            if data is None:
                self._body_done = True
                return
            if len(self.preview) < PREVIEW:
                self.preview += data[: PREVIEW - len(self.preview)]
            yield data

    async def body(self, limit: int = MAX_JSON_BODY) -> bytes:
        """The whole body (refused past ``limit`` bytes)."""
        parts = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                raise InvalidArgument(f"request body larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    async def json(self, required: bool = False) -> Any:
        """The body decoded as JSON; empty is None (or a 400 when ``required``)."""
        if self._decoded is not None:
            empty, value = self._decoded
        else:
            raw = await self.body()
            empty = not raw.strip()
            value = None if empty else decode_json(raw)
        if empty and required:
            raise InvalidArgument("request body is empty: a JSON object was expected")
        return value

    def set_json(self, empty: bool, value: Any) -> None:
        """What ``json()`` answers from now on (the router's checked, normalised body)."""
        self._decoded = (empty, value)

    async def drain(self) -> None:
        async for _ in self.chunks():
            pass


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in ``raw`` (strings skipped), without decoding it."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot be too deep: not worth a scan
    depth = deepest = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub(b"", raw)):
        if m.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def decode_json(raw: bytes) -> Any:
    """A request's JSON, or a 400 that says what is wrong with it (never a decoder's crash)."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise InvalidArgument(
            f"malformed JSON in request body: nested deeper than {MAX_JSON_DEPTH}"
        )
    try:
        # As Go reads it: invalid UTF-8 as U+FFFD, no NaN, huge integers as numbers.
        value = json.loads(
            raw.decode("utf-8", "replace"),
            parse_int=gojson.parse_int,
            parse_constant=gojson.refuse_constant,
        )
    except RecursionError:
        raise InvalidArgument(
            f"malformed JSON in request body: nested deeper than {MAX_JSON_DEPTH}"
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidArgument(
            f"malformed JSON in request body: {exc.msg} (line {exc.lineno} column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise InvalidArgument(f"malformed JSON in request body: {exc}") from None
    return gojson.replace_surrogates(value) if gojson.may_hold_surrogates(raw) else value


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
