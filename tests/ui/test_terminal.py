"""The terminal pane drives a real /bin/sh on a pty: keys in, screen out, resize, detach."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator

import pytest
from dockerscope.screens.terminal import DETACH_KEY, LEAVE_KEY, TerminalPane, key_bytes
from textual.app import App, ComposeResult


class Shell:
    """/bin/sh on a fresh pty; killed at the end of the test."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        env = {"PATH": "/usr/bin:/bin", "PS1": "$ ", "TERM": "xterm", "HOME": "/tmp"}
        self.proc = subprocess.Popen(
            ["/bin/sh", "-i"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)

    def winsize(self) -> tuple[int, int]:
        rows, cols, _, _ = struct.unpack(
            "HHHH", fcntl.ioctl(self.master, termios.TIOCGWINSZ, b"\0" * 8)
        )
        return rows, cols

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def shell() -> Iterator[Shell]:
    sh = Shell()
    try:
        yield sh
    finally:
        sh.close()


class TermApp(App[None]):
    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        self.detached = 0

    def compose(self) -> ComposeResult:
        yield TerminalPane(self.fd, title="sh", on_detach=self._detached)

    def _detached(self) -> None:
        self.detached += 1


async def wait_for(pilot, condition, tries: int = 200) -> None:
    """Pump the app until ``condition()`` holds (a deadline, not a timing assertion)."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not met")


async def test_typing_echo_hello_shows_hello(shell: Shell) -> None:
    app = TermApp(shell.master)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TerminalPane)
        pane.focus()
        await wait_for(pilot, lambda: any(line.startswith("$") for line in pane.display_lines()))
        for ch in "echo hello":
            await pilot.press(ch if ch != " " else "space")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: any(line.rstrip() == "hello" for line in pane.display_lines())
        )
        lines = [line.rstrip() for line in pane.display_lines()]
        assert any("echo hello" in line for line in lines)
        # what pyte holds is what the widget draws
        drawn = [pane.render_line(y).text.rstrip() for y in range(pane.size.height)]
        assert "hello" in drawn


async def test_pane_resizes_the_pty(shell: Shell) -> None:
    app = TermApp(shell.master)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(TerminalPane)
        await pilot.pause()
        rows, cols = shell.winsize()
        assert (rows, cols) == (pane.size.height, pane.size.width)
        assert (pane.vt.lines, pane.vt.columns) == (rows, cols)


async def test_colours_reach_the_screen(shell: Shell) -> None:
    app = TermApp(shell.master)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TerminalPane)
        pane.focus()
        await wait_for(pilot, lambda: any(line.startswith("$") for line in pane.display_lines()))
        await pilot.press(*"printf", "space", *"'\\033[31mRED\\033[0m\\n'", "enter")
        await wait_for(pilot, lambda: any(line.rstrip() == "RED" for line in pane.display_lines()))
        y = next(i for i, line in enumerate(pane.display_lines()) if line.rstrip() == "RED")
        assert pane.vt.buffer[y][0].fg == "red"
        segments = list(pane.render_line(y))
        assert segments[0].text.startswith("RED")
        assert segments[0].style is not None and segments[0].style.color is not None
        assert segments[0].style.color.name == "red"


async def test_closing_detaches_without_killing(shell: Shell) -> None:
    app = TermApp(shell.master)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TerminalPane)
        pane.focus()
        await pilot.pause()
        await pilot.press(DETACH_KEY)
        await pilot.pause()
        assert app.detached == 1
        assert not app.query(TerminalPane)
    assert shell.proc.poll() is None  # still running: closing the pane only detached


def test_key_bytes() -> None:
    assert key_bytes("enter", "\r") == b"\r"
    assert key_bytes("ctrl+c", None) == b"\x03"
    assert key_bytes("up", None) == b"\x1b[A"
    assert key_bytes("a", "a") == b"a"
    assert key_bytes("f24", None) is None


async def test_dashboard_opens_a_terminal_beside_the_panels(shell: Shell) -> None:
    from tests.ui.helpers import frames, make_app

    app, _ = make_app()
    detached: list[bool] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await frames(pilot, app, 1)
        pane = app.open_terminal(
            shell.master, title="web: sh", on_detach=lambda: detached.append(True)
        )
        await pilot.pause()
        box = app.dashboard.query_one("#terminals")
        assert box.has_class("-open") and pane.parent is box
        assert app.focused is pane
        await wait_for(pilot, lambda: any(line.startswith("$") for line in pane.display_lines()))
        await pilot.press(*"echo", "space", *"hi-from-pane", "enter")
        await wait_for(
            pilot, lambda: any(line.rstrip() == "hi-from-pane" for line in pane.display_lines())
        )
        # keys typed in the pane go to the shell, not to the dashboard's bindings
        assert app.dashboard.active == "bridges"
        await pilot.press(DETACH_KEY)
        await pilot.pause()
        assert detached == [True]
        assert not box.has_class("-open")
    assert shell.proc.poll() is None


async def test_small_screen_stacks_the_pane_and_f12_gives_keys_back(shell: Shell) -> None:
    from tests.ui.helpers import frames, make_app

    app, _ = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await frames(pilot, app, 1)
        pane = app.open_terminal(shell.master, title="sh")
        await pilot.pause()
        panels = app.dashboard.query_one("#panels")
        assert pane.region.y >= panels.region.bottom  # below the panels, full width
        assert pane.region.width > 70
        await pilot.press(LEAVE_KEY)
        await pilot.pause()
        assert app.focused is not pane
        await pilot.press("2")
        await pilot.pause()
        assert app.dashboard.active == "nat"
        assert pane.parent is not None  # still open


class QueueConn:
    """A connection without a file descriptor (like an attach stream): read blocks on a queue."""

    def __init__(self) -> None:
        import queue

        self.incoming: queue.Queue[bytes] = queue.Queue()
        self.written = b""
        self.sizes: list[tuple[int, int]] = []

    def read(self, size: int) -> bytes:
        return self.incoming.get()

    def write(self, data: bytes) -> None:
        self.written += data

    def resize(self, rows: int, cols: int) -> None:
        self.sizes.append((rows, cols))


async def test_a_connection_without_fd_is_read_in_a_thread() -> None:
    conn = QueueConn()
    app = TermApp(0)
    app.compose = lambda: iter([TerminalPane(conn, title="attach")])  # type: ignore[method-assign]
    async with app.run_test(size=(60, 20)) as pilot:
        pane = app.query_one(TerminalPane)
        pane.focus()
        conn.incoming.put(b"\x1b[1;32mgreen\x1b[0m text\r\n")
        await wait_for(pilot, lambda: pane.display_lines()[0].startswith("green text"))
        assert pane.vt.buffer[0][0].fg == "green" and pane.vt.buffer[0][0].bold
        await pilot.press("x", "enter")
        await wait_for(pilot, lambda: conn.written == b"x\r")
        assert conn.sizes and conn.sizes[-1] == (pane.size.height, pane.size.width)
        conn.incoming.put(b"")  # the stream ends
        await wait_for(pilot, lambda: pane.ended)
        assert "process ended" in str(pane.border_subtitle)


def test_a_stream_that_never_ends_does_not_keep_python_alive() -> None:
    code = (
        "import asyncio\n"
        "from textual.app import App\n"
        "from dockerscope.screens.terminal import TerminalPane\n"
        "class Never:\n"
        "    def read(self, n):\n"
        "        import threading; threading.Event().wait()\n"
        "    def write(self, data): pass\n"
        "    def resize(self, rows, cols): pass\n"
        "class A(App):\n"
        "    def compose(self):\n"
        "        yield TerminalPane(Never())\n"
        "async def main():\n"
        "    async with A().run_test() as pilot:\n"
        "        await pilot.pause()\n"
        "asyncio.run(main())\n"
        "print('done')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"
