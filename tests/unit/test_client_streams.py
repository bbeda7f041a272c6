"""Frame demultiplexing and the hijacked attach handshake."""

from __future__ import annotations

import io
import os
import socket
import struct
import threading

import pytest

from dockerscope.client.streams import (
    FrameDemuxer,
    HijackedStream,
    StreamSink,
    frame,
    hijack,
    parse_head,
    pump,
)
from dockerscope.client.transport import APIError, DockerHost
from tests.unit.test_client_fakeserver import Behaviour, FakeDocker, serving

fake_docker = pytest.fixture(serving)


def test_frame_header_layout() -> None:
    assert frame(2, b"oops") == bytes([2, 0, 0, 0]) + struct.pack(">I", 4) + b"oops"


def test_demux_in_any_chunk_sizes() -> None:
    data = frame(1, b"hello\n") + frame(2, b"err") + frame(1, b"") + frame(1, b"x" * 70000)
    for step in (1, 3, 7, 8, 9, 4096, len(data)):
        d = FrameDemuxer()
        got = []
        for i in range(0, len(data), step):
            got += d.feed(data[i : i + step])
        assert got == [(1, b"hello\n"), (2, b"err"), (1, b""), (1, b"x" * 70000)]
        assert d.pending == 0


def test_demux_keeps_an_incomplete_frame() -> None:
    d = FrameDemuxer()
    assert d.feed(frame(1, b"abcdef")[:10]) == []
    assert d.pending == 10


def test_parse_head() -> None:
    status, headers = parse_head(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp")
    assert status == 101
    assert headers["upgrade"] == "tcp"


def test_hijack_sends_upgrade_and_keeps_bytes_read_with_headers() -> None:
    ours, theirs = socket.socketpair()
    seen = {}

    def daemon() -> None:
        req = b""
        while b"\r\n\r\n" not in req:
            req += theirs.recv(4096)
        seen["request"] = req
        # headers and the first frame in one write: the client must not lose the frame
        theirs.sendall(
            b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
            b"Content-Type: application/vnd.docker.raw-stream\r\n\r\n" + frame(1, b"hi\n")
        )
        theirs.close()

    t = threading.Thread(target=daemon)
    t.start()
    conn = hijack(
        DockerHost.parse("unix:///unused"),
        "POST",
        "/v1.41/containers/x/attach?stream=1&stdout=1",
        sock=ours,
    )
    t.join()
    head = seen["request"].decode()
    assert head.startswith("POST /v1.41/containers/x/attach?stream=1&stdout=1 HTTP/1.1\r\n")
    assert "Connection: Upgrade\r\n" in head and "Upgrade: tcp\r\n" in head
    assert conn.status == 101
    out, err = io.BytesIO(), io.BytesIO()
    pump(conn, StreamSink(out, err), tty=False)
    assert out.getvalue() == b"hi\n"


def test_hijack_error_carries_docker_message(fake_docker: FakeDocker) -> None:
    host = DockerHost.parse("unix://" + fake_docker.socket_path)
    with pytest.raises(APIError) as err:
        hijack(host, "POST", "/v1.41/containers/nosuch/attach?stream=1")
    assert (err.value.status, err.value.message) == (404, "No such container: nosuch")


def test_attach_splits_stdout_and_stderr_and_half_closes_stdin(fake_docker: FakeDocker) -> None:
    fake_docker.behaviour = Behaviour(stdout=b"out\n", stderr=b"err\n", echo_stdin=True)
    host = DockerHost.parse("unix://" + fake_docker.socket_path)
    conn = hijack(host, "POST", "/v1.41/containers/web/attach?stdin=1&stream=1")
    r, w = os.pipe()
    os.write(w, b"typed\n")
    os.close(w)  # stdin ends: the client must shut down its write side, or this hangs
    out, err = io.BytesIO(), io.BytesIO()
    pump(conn, StreamSink(out, err), tty=False, stdin_fd=r)
    os.close(r)
    conn.close()
    assert out.getvalue() == b"out\ntyped\n"
    assert err.getvalue() == b"err\n"
    assert conn.write_closed


def test_tty_output_is_raw(fake_docker: FakeDocker) -> None:
    fake_docker.behaviour = Behaviour(stdout=b"\x1b[1mbold\r\n", tty=True)
    host = DockerHost.parse("unix://" + fake_docker.socket_path)
    conn = hijack(host, "POST", "/v1.41/containers/web/attach?stream=1")
    out, err = io.BytesIO(), io.BytesIO()
    pump(conn, StreamSink(out, err), tty=True)
    assert out.getvalue() == b"\x1b[1mbold\r\n"
    assert err.getvalue() == b""


def test_hijacked_stream_returns_leftover_first() -> None:
    a, b = socket.socketpair()
    b.sendall(b"later")
    b.close()
    s = HijackedStream(a, leftover=b"first")
    assert s.recv() == b"first"
    assert s.recv() == b"later"
    assert s.recv() == b""
    s.close()


def test_parse_detach_keys() -> None:
    from dockerscope.client.streams import parse_detach_keys

    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("ctrl-a,d") == b"\x01d"
    assert parse_detach_keys("ctrl-@,ctrl-[") == b"\x00\x1b"
    for bad in ("", "ctrl-", "ctrl-pp", "alt-x", "ab"):
        with pytest.raises(ValueError):
            parse_detach_keys(bad)


@pytest.mark.parametrize(
    ("chunks", "sent", "detached"),
    [
        ([b"ls\r"], b"ls\r", False),
        ([b"ab\x10\x11cd"], b"ab", True),
        ([b"ab\x10", b"\x11"], b"ab", True),  # the sequence split across reads
        ([b"\x10x"], b"\x10x", False),  # ctrl-p then another key: both go through
        ([b"\x10\x10\x11"], b"\x10", True),  # a repeated first key restarts the match
        ([b"\x10"], b"", False),  # held until the next key decides
    ],
)
def test_detach_filter(chunks, sent, detached) -> None:
    from dockerscope.client.streams import DetachFilter

    f = DetachFilter(b"\x10\x11")
    out = b""
    for chunk in chunks:
        out += f.feed(chunk)
        if f.detached:
            break
    assert (out, f.detached) == (sent, detached)


def test_pump_stops_on_the_detach_keys_and_leaves_the_stream_open() -> None:
    ours, theirs = socket.socketpair()
    r, w = os.pipe()
    os.write(w, b"echo hi\r\x10\x11more")
    conn = HijackedStream(ours)
    detached = pump(
        conn, StreamSink(io.BytesIO(), io.BytesIO()), tty=True, stdin_fd=r, detach_keys=b"\x10\x11"
    )
    assert detached is True
    theirs.settimeout(2)
    assert theirs.recv(100) == b"echo hi\r"  # the keys themselves never reach the container
    assert not conn.write_closed
    for fd in (r, w):
        os.close(fd)
    ours.close()
    theirs.close()
