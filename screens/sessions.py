"""Interactive sessions in terminal panes: ``docker run -ti``, ``exec -ti``, ``attach``, the lab
shell. Each runs as a real process on its own pty; the pane shows it.

Closing a pane detaches: a docker client gets Docker's detach keys (ctrl-p ctrl-q) and exits
on its own while the container keeps running; a shell keeps running. The pty is closed only
when its process has exited (closing it earlier would hang the process up), or when the app
ends.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence

from dockerscope.screens.terminal import PtyConnection

#: Docker's default detach sequence: ctrl-p ctrl-q.
DETACH_KEYS = b"\x10\x11"

#: Maps a typed command line to the argv that runs it in a terminal (None: can't here).
TerminalArgv = Callable[[str], list[str] | None]


#: Flags of run/exec that take a separate value.
_VALUE_FLAGS = frozenset({
    "-p", "-e", "-v", "-w", "-u", "-m", "-h", "-l", "--name", "--network", "--net",
    "--entrypoint", "--cpus", "--pids-limit", "--env", "--volume", "--workdir", "--user",
    "--memory", "--publish", "--label", "--hostname", "--detach-keys", "--cpu-shares",
    "--restart", "--mount", "--add-host", "--dns", "--env-file", "--expose", "--ip",
})


def interactive(line: str) -> bool:
    """True for docker commands that want a terminal: run/exec with -t or -i (not -d),
    ``start -a``, ``attach``."""
    try:
        words = shlex.split(line)
    except ValueError:
        return False
    if words and words[0] == "docker":
        words = words[1:]
    if words[:1] == ["container"]:
        words = words[1:]
    if not words:
        return False
    if words[0] == "attach":
        return True
    if words[0] not in ("run", "exec", "start"):
        return False
    skip = tty = detached = False
    for word in words[1:]:
        if skip:
            skip = False
            continue
        if not word.startswith("-"):
            break  # the image or container: flags after it belong to the command
        if word in _VALUE_FLAGS:
            skip = True  # "-p 8080:80": the value is not the image
            continue
        short = word[1:] if not word.startswith("--") else ""
        tty = tty or word in ("--tty", "--interactive") or "t" in short or "i" in short
        detached = detached or word == "--detach" or "d" in short
        if words[0] == "start" and (word == "--attach" or "a" in short):
            tty = True
    return tty and not detached


def dockerscope_argv(lab: str | None = None, host: str | None = None) -> TerminalArgv:
    """Run typed docker commands with dockerscope's own client against a lab (or -H host)."""
    base = [sys.executable, "-m", "dockerscope"]
    if host:
        base += ["-H", host]
    elif lab:
        base += ["--lab", lab]

    def argv(line: str) -> list[str] | None:
        try:
            words = shlex.split(line)
        except ValueError:
            return None
        if words and words[0] == "docker":
            words = words[1:]
        return [*base, *words] if words else None

    return argv


class PtyProcess(PtyConnection):
    """A process on a fresh pty: the terminal pane's connection to it."""

    def __init__(self, argv: Sequence[str], *, rows: int = 24, cols: int = 80,
                 env: dict[str, str] | None = None, docker: bool = True) -> None:
        master, slave = os.openpty()
        try:
            self.proc = subprocess.Popen(
                list(argv), stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                start_new_session=True, env={**os.environ, "TERM": "xterm-256color", **(env or {})},
            )
        except OSError:
            os.close(master)
            raise
        finally:
            os.close(slave)
        super().__init__(master)
        self.resize(rows, cols)
        self.docker = docker  #: a docker client (detach with ctrl-p ctrl-q) or a plain program
        self._closed = False
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def detach(self) -> None:
        """Leave the process running; a docker client is asked to detach and exits by itself.

        The pty is closed once the process has exited (a background thread waits for it).
        """
        if self.docker and self.running:
            self.write(DETACH_KEYS)
        threading.Thread(target=self._close_after_exit, daemon=True,
                         name=f"pty-{self.proc.pid}").start()

    def _close_after_exit(self) -> None:
        self.proc.wait()
        self.close()

    def close(self) -> None:
        """Close the pty (the process, if still running, gets a hang-up)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self.fd)

    def end(self, timeout: float = 2.0) -> None:
        """At app exit: hang up and reap."""
        self.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
