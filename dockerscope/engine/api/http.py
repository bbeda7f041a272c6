"""HTTP/1.1 over asyncio streams, parsed by h11.

A connection reads requests with h11 and hands each one to a handler, which answers with one of
three replies: a whole ``Response``, a ``StreamResponse`` (chunked, ended when the producer ends
or the client goes away) or a ``Hijack`` (the connection becomes a raw byte stream, as Docker's
attach and exec do). Keep-alive, HEAD and pipelining follow h11's state machine.

The request side lives in ``request.py``, the replies in ``replies.py``; this module serves them.

Every wait on a client is bounded (``limits.py``): an idle keep-alive connection, a request head
that dribbles in, a body that stops flowing, an answer nobody reads. Connections are capped
below the fd limit; at the cap the connection idle the longest is closed to make room, and when
none is idle a newcomer is answered 503 at once rather than left waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from dockerscope.engine.api.connection import Connection
from dockerscope.engine.api.errors import ApiError
from dockerscope.engine.api.limits import Limits
from dockerscope.engine.api.replies import (
    Exchange,
    Handler,
)
from dockerscope.engine.api.request import Peer

log = logging.getLogger("dockerscope.http")



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
        self._open: dict[Connection, asyncio.Task[Any] | None] = {}
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
        conn = Connection(self, reader, writer, peer_of(writer, transport))
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
