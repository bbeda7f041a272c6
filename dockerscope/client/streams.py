"""Hijacked connections, multiplexed frames and the raw terminal, stdlib only.

Attach and exec-start ask the daemon to turn the HTTP connection into a raw, two-way byte
stream (``Connection: Upgrade`` / ``Upgrade: tcp``, answered by ``101 UPGRADED``). Without a tty
the daemon's output arrives in frames with an 8-byte header: stream type (1 stdout, 2 stderr,
3 system error), three zero bytes, and the payload length as a big-endian uint32.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import ssl
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .transport import USER_AGENT, APIError, DockerHost, connect_socket, error_message

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3
HEADER = struct.Struct(">BxxxL")
MAX_HEADER_BYTES = 65536


def frame(stream: int, payload: bytes) -> bytes:
    """One multiplexed frame (what the daemon writes; tests and fakes use it too)."""
    return HEADER.pack(stream, len(payload)) + payload


@dataclass
class FrameDemuxer:
    """Splits a multiplexed byte stream into (stream, payload) pieces, fed in any chunk sizes."""

    buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add bytes; return every complete frame now available, in order."""
        self.buf += data
        out: list[tuple[int, bytes]] = []
        while len(self.buf) >= HEADER.size:
            stream, size = HEADER.unpack_from(self.buf)
            if len(self.buf) < HEADER.size + size:
                break
            out.append((stream, bytes(self.buf[HEADER.size : HEADER.size + size])))
            del self.buf[: HEADER.size + size]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still waiting for the rest."""
        return len(self.buf)


def demux(chunks: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
    """(stream, payload) for each frame in a chunked multiplexed stream (e.g. logs)."""
    d = FrameDemuxer()
    for chunk in chunks:
        yield from d.feed(chunk)


class HijackedStream:
    """A raw two-way connection to the daemon after ``101 UPGRADED``."""

    def __init__(self, sock: socket.socket, leftover: bytes = b"", status: int = 101) -> None:
        self.sock = sock
        self.leftover = leftover  # bytes that arrived with the response headers
        self.status = status
        self.write_closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self, size: int = 65536) -> bytes:
        """Next bytes from the daemon (b"" at the end of the stream)."""
        if self.leftover:
            data, self.leftover = self.leftover, b""
            return data
        try:
            return self.sock.recv(size)
        except ConnectionResetError:
            return b""

    def has_buffered(self) -> bool:
        """True when bytes are waiting that select() would not report (leftover, TLS buffer)."""
        if self.leftover:
            return True
        return isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        """Half-close: tell the container its stdin ended, keep reading its output."""
        if self.write_closed:
            return
        self.write_closed = True
        if isinstance(self.sock, ssl.SSLSocket):
            return  # TLS has no half-close that keeps reading; the process sees no EOF
        with suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with suppress(OSError):
            self.sock.close()


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """Read up to the blank line ending the response headers; return (head, leftover)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise APIError(502, "the daemon closed the connection before answering")
        buf += chunk
        if len(buf) > MAX_HEADER_BYTES:
            raise APIError(502, "response headers too long")
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of an HTTP response head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise APIError(502, f"bad response from the daemon: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


def _read_error_body(sock: socket.socket, headers: dict[str, str], rest: bytes) -> bytes:
    length = headers.get("content-length")
    body = rest
    if length is not None and length.isdigit():
        want = int(length)
        while len(body) < want:
            chunk = sock.recv(want - len(body))
            if not chunk:
                break
            body += chunk
        return body[:want]
    if "chunked" in headers.get("transfer-encoding", ""):
        return _dechunk(sock, body)
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return body
        body += chunk


def _dechunk(sock: socket.socket, buf: bytes) -> bytes:
    out = b""
    while True:
        while b"\r\n" not in buf:
            more = sock.recv(4096)
            if not more:
                return out
            buf += more
        size_line, _, buf = buf.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            return out
        while len(buf) < size + 2:
            more = sock.recv(4096)
            if not more:
                return out + buf
            buf += more
        out += buf[:size]
        buf = buf[size + 2 :]


def hijack(
    host: DockerHost, method: str, path: str, body: Any = None, sock: socket.socket | None = None
) -> HijackedStream:
    """Send ``method path`` asking to upgrade the connection, and return the raw stream.

    ``path`` is the full request path (with version prefix and query). The daemon answers
    ``101 UPGRADED`` (older daemons: 200 and then the raw stream). Any 4xx/5xx becomes an
    APIError with Docker's message.
    """
    data = b"" if body is None else json.dumps(body).encode()
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: localhost",
        f"User-Agent: {USER_AGENT}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
        "Connection: Upgrade",
        "Upgrade: tcp",
    ]
    sock = sock or connect_socket(host)
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
        head, rest = _read_head(sock)
        status, headers = parse_head(head)
        if status >= 400:
            raise APIError(status, error_message(status, _read_error_body(sock, headers, rest)))
    except BaseException:
        sock.close()
        raise
    return HijackedStream(sock, rest, status)


@dataclass
class StreamSink:
    """Where a container's output goes: byte writers for stdout and stderr."""

    stdout: BinaryIO
    stderr: BinaryIO

    def write(self, stream: int, data: bytes) -> None:
        target = self.stderr if stream in (STDERR, SYSTEMERR) else self.stdout
        target.write(data)
        target.flush()


DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
_CTRL_SPECIAL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(spec: str) -> bytes:
    """docker's --detach-keys ("ctrl-p,ctrl-q", "ctrl-a,d") as the bytes a terminal sends."""
    out = bytearray()
    for part in spec.split(","):
        key = part.strip()
        if len(key) == 6 and key.lower().startswith("ctrl-"):
            c = key[5].lower()
            if "a" <= c <= "z":
                out.append(ord(c) - ord("a") + 1)
                continue
            if c in _CTRL_SPECIAL:
                out.append(_CTRL_SPECIAL[c])
                continue
        elif len(key) == 1:
            out.append(ord(key))
            continue
        raise ValueError(f"Unknown character: '{key}'")
    if not out:
        raise ValueError("no detach keys given")
    return bytes(out)


class DetachFilter:
    """Passes keystrokes on, holding back what may be the start of the detach sequence;
    ``detached`` turns True once the whole sequence was typed (it is never sent)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""
        self.detached = False

    def feed(self, data: bytes) -> bytes:
        """The bytes to send for ``data`` (a partial sequence stays held until decided)."""
        out = bytearray()
        for value in data:
            self.held += bytes([value])
            if self.keys.startswith(self.held):
                if self.held == self.keys:
                    self.detached = True
                    self.held = b""
                    return bytes(out)
                continue
            # not the sequence after all: send what was held, except a last byte that may
            # start the sequence again
            if self.keys.startswith(self.held[-1:]):
                out += self.held[:-1]
                self.held = self.held[-1:]
            else:
                out += self.held
                self.held = b""
        return bytes(out)


def pump(
    conn: HijackedStream,
    sink: StreamSink,
    tty: bool,
    stdin_fd: int | None = None,
    close_stdin: bool = True,
    detach_keys: bytes | None = None,
) -> bool:
    """Copy stdin to the container and its output to ``sink`` until the output ends.

    With a tty the output is raw bytes; without, 8-byte frames split into stdout and stderr.
    When stdin ends, half-close the connection so the container's stdin sees EOF. With
    ``detach_keys``, typing them stops the session and leaves the container running: returns
    True then, False when the output ended.
    """
    demuxer = FrameDemuxer()
    escape = DetachFilter(detach_keys) if detach_keys and stdin_fd is not None else None

    def emit(data: bytes) -> None:
        if tty:
            sink.write(STDOUT, data)
        else:
            for stream, payload in demuxer.feed(data):
                sink.write(stream, payload)

    # select() rather than epoll: stdin may be a regular file, which epoll refuses.
    sel = selectors.SelectSelector()
    sel.register(conn.fileno(), selectors.EVENT_READ, "sock")
    if stdin_fd is not None:
        sel.register(stdin_fd, selectors.EVENT_READ, "stdin")
    try:
        while True:
            if conn.has_buffered():
                events = [("sock", None)]
            else:
                events = [(key.data, None) for key, _ in sel.select()]
            for what, _ in events:
                if what == "sock":
                    data = conn.recv()
                    if not data:
                        return False
                    emit(data)
                elif stdin_fd is not None:
                    try:
                        data = os.read(stdin_fd, 65536)
                    except OSError:
                        data = b""
                    if data:
                        send = data
                        if escape is not None:
                            send = escape.feed(data)
                            if escape.detached:
                                if send:
                                    conn.send(send)
                                return True
                        try:
                            if send:
                                conn.send(send)
                        except OSError:
                            data = b""
                    if not data:
                        sel.unregister(stdin_fd)
                        stdin_fd = None
                        if close_stdin:
                            conn.close_write()
    finally:
        sel.close()


def terminal_size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of the terminal on ``fd``, or None when it is not a terminal."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


@contextmanager
def raw_terminal(fd: int) -> Iterator[bool]:
    """Put the terminal on ``fd`` in raw mode for the block (keys go straight to the
    container, which runs its own line discipline); yields False when fd is no terminal."""
    if not os.isatty(fd):
        yield False
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextmanager
def on_resize(callback: Callable[[], None]) -> Iterator[None]:
    """Call ``callback`` on SIGWINCH during the block (main thread only; else a no-op)."""
    try:
        previous = signal.signal(signal.SIGWINCH, lambda _sig, _frame: callback())
    except (ValueError, AttributeError):  # not the main thread, or no SIGWINCH here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)
