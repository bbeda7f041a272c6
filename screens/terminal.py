"""A terminal pane: a real VT emulation (pyte) bound to a pty, inside the app.

Issue 6 opens ``-ti`` sessions (run, exec, attach) here, beside the live panels, so a class
watches the shell and the kernel at once. The pane reads the pty without blocking the UI
(``loop.add_reader`` for anything with a file descriptor, a thread worker otherwise), feeds
pyte on the message loop, draws pyte's screen with colours and the cursor, forwards keys and
pastes, and resizes the pty with the widget. Closing the pane (ctrl+]) detaches: it calls
``on_detach`` and leaves the process running.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
import struct
import termios
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import pyte
from rich.segment import Segment
from rich.style import Style
from textual import events, on
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

#: The key that closes (detaches) the pane, as Textual names it; ctrl+] like telnet.
DETACH_KEY = "ctrl+right_square_bracket"
#: The key that leaves the pane open and gives the keyboard back to the panels.
LEAVE_KEY = "f12"


@runtime_checkable
class Connection(Protocol):
    """What the pane talks to: a pty master, an attach stream, a test double."""

    def read(self, size: int) -> bytes: ...
    def write(self, data: bytes) -> None: ...
    def resize(self, rows: int, cols: int) -> None: ...


class PtyConnection:
    """A pty master file descriptor as a ``Connection``. The pane never closes it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def read(self, size: int) -> bytes:
        """Bytes the program wrote; b"" once the other side is gone (EIO on Linux)."""
        try:
            return os.read(self.fd, size)
        except BlockingIOError:
            return _AGAIN
        except OSError:
            return b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                select.select([], [self.fd], [], 0.1)  # the pty is full: wait until it drains
            except OSError:
                return

    def resize(self, rows: int, cols: int) -> None:
        """TIOCSWINSZ: the kernel sends SIGWINCH to the program's foreground group."""
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


_AGAIN = b"\x00__again__"  # sentinel: nothing to read right now (never reaches pyte)

# pyte names the ANSI colours after the original VT palette ("brown" is yellow).
_COLOURS = {
    "black": "black", "red": "red", "green": "green", "brown": "yellow", "blue": "blue",
    "magenta": "magenta", "cyan": "cyan", "white": "white",
}


def _colour(name: str) -> str | None:
    """pyte colour -> Rich colour (None = the widget's default)."""
    if name == "default":
        return None
    if name.startswith("bright"):
        base = _COLOURS.get(name[6:])
        return f"bright_{base}" if base else None
    if name in _COLOURS:
        return _COLOURS[name]
    if len(name) == 6:
        return f"#{name}"
    return None


def char_style(char: pyte.screens.Char, cursor: bool = False) -> Style:
    """The Rich style of one pyte cell."""
    reverse = char.reverse != cursor  # the cursor shows as an inverted cell
    return Style(
        color=_colour(char.fg), bgcolor=_colour(char.bg), bold=char.bold or None,
        italic=char.italics or None, underline=char.underscore or None,
        strike=char.strikethrough or None, reverse=reverse or None,
    )


_KEYS: dict[str, bytes] = {
    "enter": b"\r", "tab": b"\t", "shift+tab": b"\x1b[Z", "backspace": b"\x7f",
    "escape": b"\x1b", "up": b"\x1b[A", "down": b"\x1b[B", "right": b"\x1b[C",
    "left": b"\x1b[D", "home": b"\x1b[H", "end": b"\x1b[F", "pageup": b"\x1b[5~",
    "pagedown": b"\x1b[6~", "insert": b"\x1b[2~", "delete": b"\x1b[3~",
    "f1": b"\x1bOP", "f2": b"\x1bOQ", "f3": b"\x1bOR", "f4": b"\x1bOS",
    "ctrl+at": b"\x00", "ctrl+space": b"\x00", "ctrl+backslash": b"\x1c",
    "ctrl+underscore": b"\x1f",
}


def key_bytes(key: str, character: str | None) -> bytes | None:
    """What a terminal sends for a key press, or None for keys it has no bytes for."""
    if key in _KEYS:
        return _KEYS[key]
    if key.startswith("ctrl+") and len(key) == 6 and key[5].isalpha():
        return bytes([ord(key[5].lower()) - ord("a") + 1])
    if character:
        return character.encode()
    return None


class _Screen(pyte.Screen):
    """pyte screen that sends its answers (cursor position, device attributes) to the pty."""

    def __init__(self, columns: int, lines: int, reply: Callable[[bytes], None]) -> None:
        super().__init__(columns, lines)
        self._reply = reply

    def write_process_input(self, data: str) -> None:
        self._reply(data.encode())

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        """Like xterm, drop empty rows below the cursor first (pyte drops from the top)."""
        lines = lines or self.lines
        if lines < self.lines and self.cursor.y < lines:
            for y in range(lines, self.lines):
                self.buffer.pop(y, None)
            self.dirty.update(range(lines))
            self.lines = lines
            self.set_margins()
        super().resize(lines, columns)


class TerminalPane(Widget, can_focus=True):
    """A VT100/xterm-ish terminal bound to a pty fd or any ``Connection``."""

    DEFAULT_CSS = """
    TerminalPane {
        border: round $accent;
        border-title-style: bold;
        height: 1fr;
        width: 1fr;
        background: $background;
    }
    """

    @dataclass
    class DataReady(Message):
        """Output is queued. Carries nothing so a burst collapses into one."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, TerminalPane.DataReady)

    @dataclass
    class Ended(Message):
        """The program's side closed (it exited, or the stream ended)."""

    @dataclass
    class Left(Message):
        """The user wants the keyboard back for the rest of the screen (pane stays open)."""

        pane: TerminalPane

    @dataclass
    class Detached(Message):
        """The pane was closed by the user; the process keeps running."""

        pane: TerminalPane

    def __init__(self, conn: Connection | int, *, title: str = "terminal",
                 on_detach: Callable[[], None] | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.conn: Connection = PtyConnection(conn) if isinstance(conn, int) else conn
        self.on_detach = on_detach
        self.border_title = f"{title} (ctrl+] detaches, F12 leaves)"
        self.vt = _Screen(80, 24, self.conn.write)
        self.stream = pyte.ByteStream(self.vt)
        self.ended = False  #: the program side has closed
        self._chunks: deque[bytes] = deque()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._stop = threading.Event()

    # -- reading ----------------------------------------------------------------------------

    def on_mount(self) -> None:
        fileno = getattr(self.conn, "fileno", None)
        if callable(fileno):
            self._fd = fileno()
            os.set_blocking(self._fd, False)
            asyncio.get_running_loop().add_reader(self._fd, self._readable)
        else:
            self._read_thread()

    def _readable(self) -> None:
        data = self.conn.read(65536)
        if data == _AGAIN:
            return
        self._queue(data)

    def _read_thread(self) -> None:
        # A daemon thread, not a Textual worker: a stream that never ends (an attach nobody
        # closed) must not keep the interpreter alive after the app has gone.
        threading.Thread(target=self._read_loop, name="terminal-reader", daemon=True).start()

    def _read_loop(self) -> None:
        # Blocking reads; only queues and posts, never touches the widget.
        while not self._stop.is_set():
            data = self.conn.read(65536)
            if self._stop.is_set():
                return
            self._queue(data)
            if not data:
                return

    def _queue(self, data: bytes) -> None:
        if not data:
            self._stop_reading()
            self.post_message(self.Ended())
            return
        with self._lock:
            self._chunks.append(data)
        self.post_message(self.DataReady())

    def _stop_reading(self) -> None:
        self._stop.set()
        if self._fd is not None:
            # Only the add_reader path sets _fd, and it runs on the loop's thread.
            asyncio.get_running_loop().remove_reader(self._fd)
            self._fd = None

    @on(DataReady)
    def _data_ready(self) -> None:
        with self._lock:
            data = b"".join(self._chunks)
            self._chunks.clear()
        if data:
            self.stream.feed(data)
            self.refresh()

    @on(Ended)
    def _ended(self) -> None:
        self.ended = True
        self.border_subtitle = "process ended (ctrl+] closes)"
        self.refresh()

    # -- drawing ----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y >= self.vt.lines:
            return Strip.blank(width)
        row = self.vt.buffer[y]
        cursor_x = self.vt.cursor.x if (y == self.vt.cursor.y and not self.vt.cursor.hidden
                                          and self.has_focus and not self.ended) else -1
        segments: list[Segment] = []
        text = ""
        style: Style | None = None
        for x in range(min(width, self.vt.columns)):
            char = row[x]
            st = char_style(char, cursor=x == cursor_x)
            if st != style and text:
                segments.append(Segment(text, style))
                text = ""
            style = st
            text += char.data or " "
        if text:
            segments.append(Segment(text, style))
        return Strip(segments).adjust_cell_length(width)

    def display_lines(self) -> list[str]:
        """The screen's text, one string per row (for tests and copying)."""
        return list(self.vt.display)

    # -- input ------------------------------------------------------------------------------

    async def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        if event.key == DETACH_KEY:
            self.detach()
            return
        if event.key == LEAVE_KEY:
            self.post_message(self.Left(self))
            return
        data = key_bytes(event.key, event.character)
        if data is not None and not self.ended:
            self.conn.write(data)

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        if not self.ended:
            self.conn.write(event.text.encode())

    def on_resize(self, event: events.Resize) -> None:
        cols, rows = max(1, self.size.width), max(1, self.size.height)
        if (cols, rows) == (self.vt.columns, self.vt.lines):
            return
        self.vt.resize(rows, cols)
        if not self.ended:
            with contextlib.suppress(OSError):
                self.conn.resize(rows, cols)
        self.refresh()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- closing ----------------------------------------------------------------------------

    def detach(self) -> None:
        """Close the pane and leave the process running (it owns the pty, not us)."""
        self._stop_reading()
        self.post_message(self.Detached(self))
        self.remove()
        if self.on_detach is not None:
            self.on_detach()

    def on_unmount(self) -> None:
        self._stop_reading()
