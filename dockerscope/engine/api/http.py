"""HTTP/1.1 over asyncio streams, parsed by h11.

A connection reads requests with h11 and hands each one to a handler, which answers with one of
three replies: a whole ``Response``, a ``StreamResponse`` (chunked, ended when the producer ends
or the client goes away) or a ``Hijack`` (the connection becomes a raw byte stream, as Docker's
attach and exec do). Keep-alive, HEAD and pipelining follow h11's state machine.

Every wait on a client is bounded (``limits.py``): an idle keep-alive connection, a request head
that dribbles in, a body that stops flowing, an answer nobody reads. Connections are capped
below the fd limit; at the cap the connection idle the longest is closed to make room, and when
none is idle a newcomer is answered 503 at once rather than left waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
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

from dockerscope.engine.api.errors import ApiError
from dockerscope.engine.api.limits import BodyTimeout, BodyTooLarge, Limits
from dockerscope.engine.errors import EngineError, InvalidArgument

log = logging.getLogger("dockerscope.http")

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
        #: Set once the body was refused for its size: the connection answers and closes
        #: without reading the rest.
        self.refused_for_size = False

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

    def declared_length(self) -> int | None:
        """The Content-Length the client announced (None for chunked or none)."""
        try:
            return int(self.headers["content-length"])
        except (KeyError, ValueError):
            return None

    def too_large(self, limit: int, what: str = "request body") -> BodyTooLarge:
        """The 413 for a body past ``limit``; the connection closes after answering it."""
        self.refused_for_size = True
        return BodyTooLarge(limit, what)

    async def chunks(
        self, limit: int | None = None, what: str = "request body"
    ) -> AsyncIterator[bytes]:
        """The body, chunk by chunk (for tar uploads that should not sit in memory); past
        ``limit`` bytes a 413 (an announced Content-Length past it is refused unread)."""
        declared = self.declared_length()
        if limit is not None and declared is not None and declared > limit:
            raise self.too_large(limit, what)
        size = 0
        while not self._body_done:
            data = await self._next_chunk()
            if data is None:
                self._body_done = True
                return
            size += len(data)
            if limit is not None and size > limit:
                raise self.too_large(limit, what)
            if len(self.preview) < PREVIEW:
                self.preview += data[: PREVIEW - len(self.preview)]
            yield data

    async def body(self, limit: int = MAX_JSON_BODY) -> bytes:
        """The whole body (413 past ``limit`` bytes)."""
        return b"".join([chunk async for chunk in self.chunks(limit)])

    async def json(self, required: bool = False) -> Any:
        """The body decoded as JSON; empty is None (or a 400 when ``required``)."""
        raw = await self.body()
        if not raw.strip():
            if required:
                raise InvalidArgument("request body is empty: a JSON object was expected")
            return None
        return decode_json(raw)

    async def drain(self, limit: int = MAX_JSON_BODY) -> None:
        """Read and drop a body the endpoint does not use (413 past ``limit`` bytes)."""
        async for _ in self.chunks(limit):
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
        return json.loads(raw)
    except RecursionError:
        raise InvalidArgument(
            f"malformed JSON in request body: nested deeper than {MAX_JSON_DEPTH}"
        ) from None
    except ValueError as exc:
        raise InvalidArgument(f"malformed JSON in request body: {exc}") from None


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
    ``on_exchange`` is told about every request once its response head is out; ``limits``
    bounds waits and sizes, and the connection cap is fixed when the server is made (from
    RLIMIT_NOFILE unless ``limits`` gives it).
    """

    def __init__(
        self,
        handler: Handler,
        headers: Callable[[], list[tuple[str, str]]],
        on_exchange: Callable[[Exchange], None] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.handler = handler
        self.headers = headers
        self.on_exchange = on_exchange
        self.limits = limits or Limits()
        self.max_connections = self.limits.connections()
        self.connections: set[asyncio.Task[Any]] = set()
        # Open connections, each with its task (eviction cancels the task).
        self._open: dict[_Connection, asyncio.Task[Any] | None] = {}
        self.evicted = 0  # idle connections closed to make room
        self.refused = 0  # newcomers answered 503 (nothing idle to close)
        self._warned_at = -1e9
        self.tap_failed = False

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
        if len(self._open) >= self.max_connections and not self._evict_idle():
            await self._refuse_busy(writer)
            return
        if task is not None:
            self.connections.add(task)
        conn = _Connection(self, reader, writer, peer_of(writer, transport))
        self._open[conn] = task
        try:
            await conn.run()
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass  # OSError includes TimeoutError: a bounded wait ran out
        except asyncio.CancelledError:
            # Shutdown and eviction cancel connections; end quietly (asyncio would log a
            # cancelled connection task as an error).
            pass
        finally:
            self._open.pop(conn, None)
            if task is not None:
                self.connections.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    def _evict_idle(self) -> bool:
        """Close the connection that has waited longest for a request (idle keep-alive or a
        head still dribbling in); False when every connection is busy with a request."""
        idle = [c for c in self._open if c.waiting_since is not None]
        if not idle:
            return False
        victim = min(idle, key=lambda c: c.waiting_since or 0.0)
        task = self._open.pop(victim)
        victim.waiting_since = None
        if task is not None:
            task.cancel()
        else:
            victim.writer.close()
        self.evicted += 1
        self._warn_at_cap()
        return True

    def _warn_at_cap(self) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 60:  # once a minute at most: the log must not flood
            self._warned_at = now
            log.warning(
                "%d connections open (the cap, from the fd limit): closing idle ones to make "
                "room (%d so far), refusing newcomers when none is idle (%d so far)",
                len(self._open),
                self.evicted,
                self.refused,
            )

    async def _refuse_busy(self, writer: asyncio.StreamWriter) -> None:
        """Answer a connection over the cap 503 at once and close it (never leave it hanging);
        its request is not read."""
        self.refused += 1
        self._warn_at_cap()
        body = ApiError(
            f"the daemon is serving {len(self._open)} connections, its cap; try again", 503
        ).body()
        head = ["HTTP/1.1 503 Service Unavailable", "Content-Type: application/json"]
        head += [f"{k}: {v}" for k, v in self.server_headers()]
        head += [f"Content-Length: {len(body)}", "Connection: close"]
        with contextlib.suppress(Exception):
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            async with asyncio.timeout(1):
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()

    def server_headers(self) -> list[tuple[str, str]]:
        """The headers of every response (a failing callback must not break a refusal)."""
        try:
            return list(self.headers())
        except Exception:
            return []

    @property
    def open_connections(self) -> int:
        """Connections being served now."""
        return len(self._open)

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


class _ClientGone(ApiError):
    """The client closed the connection in the middle of a request body (nobody reads the
    answer; a 400, not a 500: nothing failed inside the daemon)."""

    def __init__(self) -> None:
        super().__init__("the client closed the connection during the request body", 400)


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
