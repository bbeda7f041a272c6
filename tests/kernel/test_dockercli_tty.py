"""The real docker CLI under a pseudo-terminal: `run -ti`, `attach`, `exec -ti`, resize, and
the daemon's detach keys (ctrl-p ctrl-q; the CLI leaves them to the server)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from dataclasses import dataclass, field

import pytest

from tests.kernel.test_dockercli_run import CLI_20, CLI_28, Cli, make_cli, needs_cli
from tests.kernel.test_engine_daemon import RunningDaemon, daemon  # noqa: F401 (fixture)

pytestmark = pytest.mark.kernel

CTRL_P_Q = b"\x10\x11"


@dataclass
class PtyClient:
    """A CLI process on the slave side of a pty; the test types into and reads the master."""

    proc: subprocess.Popen[bytes]
    master: int
    seen: bytearray = field(default_factory=bytearray)

    @classmethod
    def spawn(cls, cli: Cli, *args: str, rows: int = 24, cols: int = 80) -> PtyClient:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        proc = subprocess.Popen(
            [cli.binary, *args],
            env={**cli.env, "TERM": "xterm"},
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        return cls(proc, master)

    def expect(self, text: bytes, timeout: float = 10) -> None:
        """Read until ``text`` appears in the output seen so far (then forget up to it)."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} not seen in {bytes(self.seen)!r}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the slave side closed
                    chunk = b""
                if not chunk:
                    assert text in self.seen, f"EOF before {text!r}: {bytes(self.seen)!r}"
                if b"\x1b[6n" in chunk:
                    # busybox's line editor asks where the cursor is: answer as a terminal does
                    os.write(self.master, b"\x1b[1;5R")
                self.seen += chunk
        del self.seen[: self.seen.index(text) + len(text)]

    def type(self, data: bytes) -> None:
        """Write keys, after reading what is pending (so a cursor query is answered first)."""
        while select.select([self.master], [], [], 0.2)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            if b"\x1b[6n" in chunk:
                os.write(self.master, b"\x1b[1;5R")
            self.seen += chunk
        os.write(self.master, data)

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.killpg(self.proc.pid, signal.SIGWINCH)

    def wait(self, timeout: float = 10) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, f"client still running: {bytes(self.seen)!r}"
            if select.select([self.master], [], [], 0.1)[0]:
                with contextlib.suppress(OSError):
                    self.seen += os.read(self.master, 4096)
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def detached(s: PtyClient) -> bool:
    """The client ended on the detach keys: CLI 28 exits 0 from run and attach; 20.10's
    attach reports "read escape sequence" with exit 1 (the daemon side is the same)."""
    code = s.wait()
    return code == 0 or (code == 1 and b"read escape sequence" in s.seen)


def running(cli: Cli, name: str) -> bool:
    return cli.ok("inspect", "-f", "{{.State.Running}}", name).strip() == "true"


@needs_cli
@pytest.mark.parametrize("binary", [CLI_28, CLI_20])
def test_run_ti_attach_and_detach_keys(daemon: RunningDaemon, binary: str) -> None:  # noqa: F811
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no {binary}")
    cli = make_cli(binary, daemon)
    s = PtyClient.spawn(cli, "run", "-ti", "--name", "box", "busybox", "sh", rows=30, cols=100)
    try:
        s.expect(b"# ")
        s.type(b"echo $((6*7)); [ -t 0 ] && echo is-a-tty; stty size\r")
        s.expect(b"42\r\n")
        s.expect(b"is-a-tty\r\n")
        s.expect(b"30 100\r\n")
        s.resize(40, 120)
        time.sleep(0.3)  # the CLI sends the resize on SIGWINCH
        s.type(b"stty size\r")
        s.expect(b"40 120\r\n")
        # ctrl-p alone passes through; ctrl-p ctrl-q detaches and leaves the shell running
        s.type(CTRL_P_Q)
        assert detached(s)
    finally:
        s.close()
    assert running(cli, "box")
    s = PtyClient.spawn(cli, "attach", "box")
    try:
        s.type(b"echo back $((1+1))\r")
        s.expect(b"back 2\r\n")
        # a lone ctrl-p is held, then forwarded with what follows: busybox's line editor
        # takes it as "previous line" and runs `echo back $((1+1))echo held`
        s.type(b"\x10")
        s.type(b"echo held\r")
        s.expect(b"back 2echo held\r\n")
        s.type(CTRL_P_Q)
        assert detached(s)
    finally:
        s.close()
    assert running(cli, "box")
    # custom keys on attach
    s = PtyClient.spawn(cli, "attach", "--detach-keys", "ctrl-x,x", "box")
    try:
        s.type(b"echo custom\r")
        s.expect(b"custom\r\n")
        s.type(b"\x18x")
        assert detached(s)
    finally:
        s.close()
    assert running(cli, "box")
    # exec -ti: its own tty; exit ends only the exec
    s = PtyClient.spawn(cli, "exec", "-ti", "box", "sh", rows=20, cols=70)
    try:
        s.expect(b"# ")
        s.type(b"stty size\r")
        s.expect(b"20 70\r\n")
        s.resize(25, 90)
        time.sleep(0.3)
        s.type(b"stty size\r")
        s.expect(b"25 90\r\n")
        s.type(b"tty; exit 3\r")
        s.expect(b"/dev/pts/")
        assert s.wait() == 3
    finally:
        s.close()
    assert running(cli, "box")
    # the shell's exit ends an attached session with its code
    s = PtyClient.spawn(cli, "attach", "box")
    try:
        s.type(b"exit 5\r")
        assert s.wait() == 5
    finally:
        s.close()
    assert cli.ok("inspect", "-f", "{{.State.ExitCode}}", "box") == "5\n"


@needs_cli
def test_exec_ti_detach_keys_and_stdin_without_tty(daemon: RunningDaemon) -> None:  # noqa: F811
    cli = make_cli(CLI_28, daemon)
    cli.ok("run", "-d", "--name", "bg", "busybox", "sleep", "1000")
    s = PtyClient.spawn(cli, "exec", "-ti", "bg", "sh", "-c", "echo ready; sleep 1000")
    try:
        s.expect(b"ready")
        s.type(CTRL_P_Q)
        # the CLI reports an exec's detach as an error (exit 1), as it does with dockerd
        assert s.wait() == 1
        assert b"read escape sequence" in s.seen
    finally:
        s.close()
    # the exec's process stays (as under Docker): only the session ended
    top = cli.ok("top", "bg")
    assert top.count("sleep 1000") == 2
    # without a tty the bytes are data, as under Docker: they reach the process unchanged
    out = cli.ok("run", "--rm", "-i", "busybox", "od", "-An", "-tx1", stdin=b"a\x10\x11b")
    assert out.split() == ["61", "10", "11", "62"]
    # -i under a terminal (no -t): ctrl-d ends stdin, the output comes back framed
    s = PtyClient.spawn(cli, "run", "-i", "--rm", "busybox", "cat")
    try:
        s.type(b"line one\n")
        s.expect(b"line one\r\n")  # the local tty echoes, then cat's copy
        s.expect(b"line one\r\n")
        s.type(b"\x04")
        assert s.wait() == 0
    finally:
        s.close()
