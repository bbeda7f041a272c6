"""Userland port proxies, the engine's docker-proxy: TCP and UDP forwarders on asyncio.

A proxy listens on a socket made beforehand (possibly inside another netns, see
:func:`listen_socket`) and opens each upstream connection from ``connect_netns``, so one
process can join the host's loopback, the lab and the containers.
:class:`ProxyLoop` is the event loop thread the network manager runs them in.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from dockerscope.engine.network.namespaces import netns_socket

T = TypeVar("T")
UDP_IDLE_SECONDS = 90.0  # docker-proxy forgets a UDP "connection" after 90 s of silence
CONNECT_TIMEOUT = 10.0


def listen_socket(netns: Path | None, proto: str, ip: str, port: int) -> socket.socket:
    """A bound (and for TCP listening) non-blocking socket inside ``netns``.

    Raises OSError (EADDRINUSE when the port is taken).
    """
    v6 = ":" in ip
    family = socket.AF_INET6 if v6 else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = netns_socket(netns, family, kind)
    try:
        if v6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if proto == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip or "0.0.0.0", port))
        if proto == "tcp":
            sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


class PortProxy:
    """Forwards what arrives on ``listen`` to ``target``, connecting from ``connect_netns``."""

    def __init__(
        self,
        proto: str,
        listen: socket.socket,
        target: tuple[str, int],
        connect_netns: Path | None = None,
    ) -> None:
        self.proto = proto
        self.listen = listen
        self.target = target
        self.connect_netns = connect_netns
        self._server: asyncio.base_events.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._flows: dict[Any, _UdpFlow] = {}

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.listen.getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        """Start serving on the listening socket."""
        loop = asyncio.get_running_loop()
        if self.proto == "tcp":
            self._server = await asyncio.start_server(self._handle, sock=self.listen)
        else:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpFront(self), sock=self.listen
            )
            self._udp = transport

    async def stop(self) -> None:
        """Stop listening and cut every relayed connection."""
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
        if self._udp is not None:
            for flow in list(self._flows.values()):
                flow.close()
            self._udp.close()
            self._udp = None
        self.listen.close()

    async def _upstream(self, kind: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.target[0] else socket.AF_INET
        sock = netns_socket(self.connect_netns, family, kind)
        sock.setblocking(False)
        return sock

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        up_writer: asyncio.StreamWriter | None = None
        try:
            sock = await self._upstream(socket.SOCK_STREAM)
            try:
                await asyncio.wait_for(
                    asyncio.get_running_loop().sock_connect(sock, self.target), CONNECT_TIMEOUT
                )
            except BaseException:
                sock.close()
                raise
            up_reader, up_writer = await asyncio.open_connection(sock=sock)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (TimeoutError, OSError):
            pass
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    w.close()
                    with contextlib.suppress(Exception):
                        await w.wait_closed()
            self._tasks.discard(task)  # type: ignore[arg-type]


class _UdpFront(asyncio.DatagramProtocol):
    def __init__(self, proxy: PortProxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        flow = self.proxy._flows.get(addr)
        if flow is None:
            flow = _UdpFlow(self.proxy, self, addr)
            self.proxy._flows[addr] = flow
            asyncio.get_running_loop().create_task(flow.open())
        flow.send(data)


class _UdpFlow(asyncio.DatagramProtocol):
    """One client's UDP exchange with the target, dropped after a quiet spell."""

    def __init__(self, proxy: PortProxy, front: _UdpFront, client: Any) -> None:
        self.proxy, self.front, self.client = proxy, front, client
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []
        self.timer: asyncio.TimerHandle | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            sock = await self.proxy._upstream(socket.SOCK_DGRAM)
            sock.connect(self.proxy.target)
            transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=sock)
        except OSError:
            self.close()
            return
        self.transport = transport  # type: ignore[assignment]
        for data in self.pending:
            transport.sendto(data)
        self.pending.clear()
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(UDP_IDLE_SECONDS, self.close)

    def send(self, data: bytes) -> None:
        if self.transport is None:
            self.pending.append(data)
        else:
            self.transport.sendto(data)
            self._arm()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.front.transport is not None:
            self.front.transport.sendto(data, self.client)
        self._arm()

    def error_received(self, exc: Exception) -> None:
        if getattr(exc, "errno", None) != errno.ECONNREFUSED:
            self.close()

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.transport is not None:
            self.transport.close()
        self.proxy._flows.pop(self.client, None)


class ProxyLoop:
    """An event loop on its own thread, so proxies run whatever thread calls the manager."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="dockerscope-proxies", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the proxy loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure()).result()

    def close(self) -> None:
        """Stop the loop thread (proxies must have been stopped)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()
