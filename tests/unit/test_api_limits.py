"""The server's bounds: timeouts, the connection cap, body sizes (short limits, no sleeps of
seconds; the server runs in the test's own event loop)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockerscope.engine.api import limits
from dockerscope.engine.api.http import HttpServer
from dockerscope.engine.api.limits import Limits, connection_cap
from dockerscope.engine.daemon import Daemon
from dockerscope.engine.paths import Lab
from tests.unit.test_api_server import FakeImages

PING = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
SHORT = Limits(
    idle_timeout=0.3,
    header_timeout=0.3,
    body_timeout=0.3,
    write_timeout=1.0,
    max_connections=4,
)


@pytest.fixture
async def daemon(tmp_path: Path, lab_name: str) -> AsyncIterator[Daemon]:
    lab = Lab.named(lab_name, tmp_path / "data", tmp_path / "run")
    lab.run_root.mkdir(parents=True)
    d = Daemon(lab, images=FakeImages(), runtime=object(), use_network=False)
    d.http = HttpServer(d.handle, d.common_headers, d._on_exchange, SHORT)
    server = await asyncio.start_unix_server(d.http.unix_handler(), path=str(lab.socket))
    try:
        yield d
    finally:
        server.close()
        d.events.close()
        d.tap.close()
        await d.http.close_connections()
        await server.wait_closed()


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(d: Daemon) -> Conn:
    return await asyncio.open_unix_connection(str(d.lab.socket))


async def until_closed(conn: Conn, within: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (fails after ``within``)."""
    reader, _ = conn
    out = b""
    async with asyncio.timeout(within):
        while True:
            try:
                data = await reader.read(65536)
            except ConnectionResetError:
                return out  # closed with our unread bytes in its buffer: still a close
            if not data:
                return out
            out += data


async def response(conn: Conn, within: float = 5.0) -> tuple[int, bytes]:
    """One response head (status, raw head) read from ``conn``."""
    reader, _ = conn
    async with asyncio.timeout(within):
        head = await reader.readuntil(b"\r\n\r\n")
    return int(head.split()[1]), head


async def ping(conn: Conn) -> int:
    reader, writer = conn
    writer.write(PING)
    status, _ = await response(conn)
    async with asyncio.timeout(5):
        assert await reader.readexactly(2) == b"OK"
    return status


async def wait_open(d: Daemon, n: int) -> None:
    async with asyncio.timeout(5):
        while d.http.open_connections != n:
            await asyncio.sleep(0.01)


def test_connection_cap_follows_the_fd_limit() -> None:
    assert connection_cap(300) == 86  # (300 - 128) / 2: half of what the daemon can spare
    assert connection_cap(1024) == 448
    assert connection_cap(20000) == limits.MAX_CONNECTIONS
    assert connection_cap(64) == limits.MIN_CONNECTIONS


async def test_idle_keep_alive_connection_is_closed_after_the_timeout(daemon: Daemon) -> None:
    conn = await connect(daemon)
    assert await ping(conn) == 200  # served, then kept alive...
    t0 = time.monotonic()
    assert await until_closed(conn) == b""  # ...until idle too long, closed without a word
    waited = time.monotonic() - t0
    assert SHORT.idle_timeout * 0.8 <= waited < SHORT.idle_timeout + 2


async def test_slowloris_head_is_closed_although_bytes_keep_coming(daemon: Daemon) -> None:
    conn = await connect(daemon)
    _, writer = conn
    writer.write(b"GET /_ping HTTP/1.1\r\n")
    t0 = time.monotonic()

    async def dribble() -> None:
        # A header byte every 50 ms: each read is well inside the idle timeout.
        with pytest.raises((ConnectionError, OSError)):
            for _ in range(200):
                writer.write(b"X")
                await writer.drain()
                await asyncio.sleep(0.05)

    dribbling = asyncio.ensure_future(dribble())
    try:
        assert await until_closed(conn) == b""
    finally:
        dribbling.cancel()
    waited = time.monotonic() - t0
    assert SHORT.header_timeout * 0.8 <= waited < SHORT.header_timeout + 2


async def test_stalled_body_is_408_and_closed(daemon: Daemon) -> None:
    conn = await connect(daemon)
    _, writer = conn
    writer.write(
        b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"Image":'
    )
    status, head = await response(conn)
    assert status == 408 and b"connection: close" in head.lower()
    assert b"stalled" in await until_closed(conn)


async def test_too_large_create_body_is_refused_unread_and_closed(daemon: Daemon) -> None:
    conn = await connect(daemon)
    _, writer = conn
    size = 17 * 1024 * 1024
    writer.write(
        b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {size}\r\n\r\n".encode()
        + b"{" * 65536
    )
    # Only 64 KiB of the 17 MB were sent: the answer and the close come without the rest.
    status, head = await response(conn)
    assert status == 413 and b"connection: close" in head.lower()
    assert b"larger than 16777216 bytes" in await until_closed(conn)
    assert daemon.containers.containers == {}


async def test_too_large_chunked_body_stops_being_read(daemon: Daemon) -> None:
    def flood() -> tuple[int, bytes]:
        # A plain socket: asyncio's reader would drop the answer once a write failed.
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(daemon.lab.socket))
            s.sendall(
                b"POST /containers/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"%x\r\n" % 65536 + b" " * 65536 + b"\r\n"
            sent = 0
            with contextlib.suppress(OSError):
                for _ in range(1024):  # 64 MiB if the server never stopped reading
                    s.sendall(chunk)
                    sent += 65536
            answer = b""
            with contextlib.suppress(OSError):
                while data := s.recv(65536):
                    answer += data
            return sent, answer

    sent, answer = await asyncio.get_running_loop().run_in_executor(None, flood)
    assert sent < 20 * 1024 * 1024  # refused past 16 MiB, not read to the end
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"larger than 16777216 bytes" in answer


async def test_expect_100_continue_body_refused_before_it_is_sent(daemon: Daemon) -> None:
    conn = await connect(daemon)
    _, writer = conn
    writer.write(
        b"POST /containers/create HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        b"Content-Length: 20000000\r\n\r\n"
    )
    status, _ = await response(conn)
    assert status == 413  # not 100: the client never sends its 20 MB


async def test_unread_body_is_drained_a_little_then_the_connection_closes(
    daemon: Daemon,
) -> None:
    conn = await connect(daemon)
    reader, writer = conn
    small = b"x" * 1000
    writer.write(b"POST /nosuch HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + small)
    status, head = await response(conn)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    await reader.readexactly(length)
    assert status == 404
    assert await ping(conn) == 200  # a small unread body is dropped; keep-alive goes on

    big = 1024 * 1024
    writer.write(f"POST /nosuch HTTP/1.1\r\nHost: x\r\nContent-Length: {big}\r\n\r\n".encode())
    writer.write(b"x" * big)
    status, _ = await response(conn)
    assert status == 404
    await until_closed(conn)  # past the drain limit: closed rather than read


async def test_at_the_cap_the_oldest_idle_connection_makes_room(daemon: Daemon) -> None:
    idle = [await connect(daemon) for _ in range(SHORT.max_connections)]
    await wait_open(daemon, SHORT.max_connections)
    newcomer = await connect(daemon)
    assert await ping(newcomer) == 200
    assert await until_closed(idle[0], within=1) == b""  # the oldest went
    assert daemon.http.evicted == 1
    for conn in idle[1:]:
        assert not conn[0].at_eof()


async def test_at_the_cap_with_nothing_idle_a_newcomer_gets_503_at_once(daemon: Daemon) -> None:
    busy = []
    for _ in range(SHORT.max_connections):
        conn = await connect(daemon)
        conn[1].write(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")  # a stream: never idle
        assert (await response(conn))[0] == 200
        busy.append(conn)
    newcomer = await connect(daemon)
    t0 = time.monotonic()
    status, head = await response(newcomer, within=2)
    assert status == 503 and b"Connection: close" in head and b"Api-Version: 1.41" in head
    assert time.monotonic() - t0 < 1
    assert b"cap" in await until_closed(newcomer)
    assert daemon.http.refused == 1
    for _, writer in busy:
        writer.close()
    await wait_open(daemon, 0)
    assert await ping(await connect(daemon)) == 200  # room again


def _deleted_files() -> int:
    out = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        out += target.endswith("(deleted)")
    return out


@pytest.mark.parametrize("chunked", [False, True])
async def test_image_upload_past_the_spool_cap_is_413_and_the_spool_removed(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch, chunked: bool
) -> None:
    monkeypatch.setattr(limits, "MAX_IMAGE_UPLOAD", 100_000)
    before = _deleted_files()
    for path in (b"/images/load", b"/images/create?fromSrc=-&repo=x"):
        conn = await connect(daemon)
        _, writer = conn
        if chunked:
            writer.write(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n")
            writer.write(b"Transfer-Encoding: chunked\r\n")
            writer.write(b"\r\n" + (b"%x\r\n" % 65536 + b"\0" * 65536 + b"\r\n") * 3)
        else:
            writer.write(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n")
            writer.write(b"\r\n" + b"\0" * 1000)
        status, _ = await response(conn)
        assert status == 413
        assert b"image tar larger than 100000 bytes" in await until_closed(conn)
    assert _deleted_files() == before  # no spool file left open (they are unlinked at birth)


async def test_aborted_image_upload_leaves_no_spool_file(daemon: Daemon) -> None:
    before = _deleted_files()
    conn = await connect(daemon)
    _, writer = conn
    writer.write(b"POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
    writer.write(b"\0" * 300_000)
    await writer.drain()
    async with asyncio.timeout(5):
        while _deleted_files() == before:  # the spool file is open...
            await asyncio.sleep(0.01)
    writer.close()  # ...until the client goes away mid-body
    async with asyncio.timeout(5):
        while _deleted_files() != before:
            await asyncio.sleep(0.01)
    await wait_open(daemon, 0)
    assert daemon.http.open_connections == 0


async def test_bytes_flooded_during_a_stream_close_it(daemon: Daemon) -> None:
    conn = await connect(daemon)
    _, writer = conn
    writer.write(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await response(conn))[0] == 200
    writer.write(PING * 10)  # a few pipelined requests wait for the stream's end...
    await asyncio.sleep(0.05)
    assert daemon.http.open_connections == 1
    writer.write(b"x" * (SHORT.pipeline_limit + 1))  # ...a flood does not
    await until_closed(conn)
