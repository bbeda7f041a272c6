"""The host side of a running container's stdio: pipes or a pty, read and written with asyncio.

The daemon keeps one end of each pipe (or the pty master). Output is read with
``loop.add_reader`` and handed to a callback; input is buffered and written with
``loop.add_writer``, so a slow container never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import struct
import termios
from collections.abc import Callable
from dataclasses import dataclass, field

READ_SIZE = 65536
#: Bytes read from one output per event-loop turn before the output is handed on: a pty gives
#: at most a few KiB per read, and each hand-off (the log write, attach relays) has a fixed
#: cost; a bound keeps one flooding container from holding the loop long (128 KiB of `yes` is
#: ~15 ms of encoding and writing 4.8 MB of json; 64 KiB measured no better: the turns add up).
READ_BUDGET = 128 * 1024


def set_winsize(fd: int, height: int, width: int) -> None:
    """Set a pty's window size (``docker resize``, ``ConsoleSize``)."""
    if height > 0 and width > 0:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


def open_pty(devpts: str) -> tuple[int, int]:
    """A pty pair from the devpts instance mounted at ``devpts`` (master, slave)."""
    master = os.open(os.path.join(devpts, "ptmx"), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, struct.pack("I", 0)))[0]
        slave = os.open(os.path.join(devpts, str(n)), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except BaseException:
        os.close(master)
        raise
    return master, slave


class FdWriter:
    """Buffered non-blocking writes to a pipe or pty master; ``close()`` after the buffer drains."""

    def __init__(self, fd: int, owns_fd: bool = True) -> None:
        self.fd = fd
        self.owns_fd = owns_fd
        os.set_blocking(fd, False)
        self._buf = bytearray()
        self._closing = False
        self._closed = False
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        if self._closing or self._closed or not data:
            return
        if not self._buf:
            try:
                n = os.write(self.fd, data)
            except BlockingIOError:
                n = 0
            except OSError:
                self._finish()
                return
            data = data[n:]
            if not data:
                return
            self._loop.add_writer(self.fd, self._flush)
        self._buf += data

    def _flush(self) -> None:
        try:
            n = os.write(self.fd, self._buf)
        except BlockingIOError:
            return
        except OSError:
            self._finish()
            return
        del self._buf[:n]
        if not self._buf:
            self._loop.remove_writer(self.fd)
            if self._closing:
                self._finish()

    def close(self) -> None:
        """Close once everything written so far has gone out (stdin EOF for the container)."""
        self._closing = True
        if not self._buf:
            self._finish()

    def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._loop.remove_writer(self.fd)
        self._buf.clear()
        if self.owns_fd:
            with contextlib.suppress(OSError):
                os.close(self.fd)


@dataclass
class Stdio:
    """The daemon's ends of one process's stdio, and the child's ends to hand to the runtime."""

    child: tuple[int, int, int]  # stdin, stdout, stderr for the process
    outputs: dict[int, str] = field(default_factory=dict)  # our read fd -> "stdout"/"stderr"
    stdin_fd: int | None = None  # our write end (or the pty master)
    pty_master: int | None = None

    @classmethod
    def make(
        cls,
        tty: bool,
        open_stdin: bool,
        size: tuple[int, int] = (0, 0),
        devpts: str | None = None,
    ) -> Stdio:
        """Pipes (or one pty) for a new process; stdin is /dev/null unless ``open_stdin``.

        ``devpts``: take the pty from this devpts mount (a running container's, for exec), so
        that inside the container the terminal is its own /dev/pts/N, as with runc.
        """
        if tty:
            master, slave = open_pty(devpts) if devpts else os.openpty()
            with contextlib.suppress(OSError):
                set_winsize(slave, size[0], size[1])
            os.set_blocking(master, False)
            return cls(
                child=(slave, slave, slave),
                outputs={master: "stdout"},
                stdin_fd=master if open_stdin else None,
                pty_master=master,
            )
        if open_stdin:
            in_r, in_w = os.pipe()
        else:
            in_r, in_w = os.open(os.devnull, os.O_RDONLY), None
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        for fd in (out_r, err_r):
            os.set_blocking(fd, False)
        return cls(
            child=(in_r, out_w, err_w),
            outputs={out_r: "stdout", err_r: "stderr"},
            stdin_fd=in_w,
        )

    def close_child_ends(self) -> None:
        for fd in set(self.child):
            with contextlib.suppress(OSError):
                os.close(fd)

    def close_all(self) -> None:
        """Close everything (a launch that failed)."""
        self.close_child_ends()
        for fd in {*self.outputs, self.stdin_fd, self.pty_master} - {None}:
            with contextlib.suppress(OSError):
                os.close(fd)  # type: ignore[arg-type]


class OutputReader:
    """Reads a process's outputs until EOF on all of them, then resolves ``done``."""

    def __init__(self, stdio: Stdio, on_data: Callable[[str, bytes], None]) -> None:
        self.stdio = stdio
        self.on_data = on_data
        self.loop = asyncio.get_running_loop()
        self.open = set(stdio.outputs)
        self.done: asyncio.Future[None] = self.loop.create_future()
        for fd in list(self.open):
            self.loop.add_reader(fd, self._ready, fd)
        if not self.open:
            self.done.set_result(None)

    def _ready(self, fd: int) -> None:
        chunks: list[bytes] = []
        got = 0
        eof = False
        while got < READ_BUDGET:
            try:
                data = os.read(fd, READ_SIZE)
            except BlockingIOError:
                break
            except OSError:
                # EIO: every slave side of a pty closed, its way of saying EOF.
                data = b""
            if not data:
                eof = True
                break
            chunks.append(data)
            got += len(data)
        if chunks:
            self.on_data(
                self.stdio.outputs[fd], chunks[0] if len(chunks) == 1 else b"".join(chunks)
            )
        if eof:
            self._eof(fd)

    def _eof(self, fd: int) -> None:
        if fd not in self.open:
            return
        self.open.discard(fd)
        self.loop.remove_reader(fd)
        if fd != self.stdio.pty_master:  # the pty master is also stdin: closed by its owner
            with contextlib.suppress(OSError):
                os.close(fd)
        if not self.open and not self.done.done():
            self.done.set_result(None)

    def stop(self) -> None:
        """Stop reading now (outputs still open after the process died: a stray child)."""
        for fd in list(self.open):
            self._eof(fd)
