"""Attached sessions: the terminal in raw mode, resize, and signals passed to the container."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from ..api import DockerClient
from ..streams import on_resize, pump, raw_terminal, terminal_size
from ..transport import APIError, DaemonUnreachable
from .base import CommandFailed, Console


def _check_tty(args: argparse.Namespace, console: Console) -> None:
    if args.tty and args.interactive and not console.stdin_is_tty():
        raise CommandFailed("the input device is not a TTY", 1)


def _resize_now(resize: Callable[[int, int], None], console: Console) -> None:
    size = terminal_size(console.stdin_fd) or terminal_size(1)
    if size:
        with contextlib.suppress(APIError, OSError):
            resize(*size)


def stream_session(
    console: Console,
    conn: Any,
    tty: bool,
    stdin: bool,
    resize: Callable[[int, int], None] | None,
) -> None:
    """Pump a hijacked stream to the console, in raw terminal mode with resize when ``tty``."""
    stdin_fd = console.stdin_fd if stdin else None
    if tty and stdin:
        with raw_terminal(console.stdin_fd):
            if resize is not None:
                _resize_now(resize, console)
                with on_resize(lambda: _resize_now(resize, console)):
                    pump(conn, console.sink(), True, stdin_fd)
            else:
                pump(conn, console.sink(), True, stdin_fd)
    else:
        if tty and resize is not None:
            _resize_now(resize, console)
        pump(conn, console.sink(), tty, stdin_fd)


FORWARDED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


@contextlib.contextmanager
def proxy_signals(client: DockerClient, ident: str) -> Iterator[None]:
    """While attached without a tty, pass our signals on to the container (docker's
    --sig-proxy): Ctrl-C stops the container's process, not just the client."""
    import signal

    def forward(signum: int, _frame: Any) -> None:
        with contextlib.suppress(APIError, DaemonUnreachable, OSError):
            client.kill(ident, signal.Signals(signum).name)

    previous: dict[int, Any] = {}
    try:
        for name in FORWARDED_SIGNALS:
            sig = getattr(signal, name, None)
            if sig is not None:
                previous[sig] = signal.signal(sig, forward)
    except ValueError:  # not the main thread: no proxying
        pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
