"""Attached sessions: the terminal in raw mode, resize, and signals passed to the container."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from ..api import DockerClient
from ..streams import (
    DEFAULT_DETACH_KEYS,
    on_resize,
    parse_detach_keys,
    pump,
    raw_terminal,
    terminal_size,
)
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


def detach_keys_of(args: argparse.Namespace) -> bytes:
    """The --detach-keys of a command as bytes (docker's default ctrl-p,ctrl-q)."""
    spec = getattr(args, "detach_keys", None) or DEFAULT_DETACH_KEYS
    try:
        return parse_detach_keys(spec)
    except ValueError as exc:
        raise CommandFailed(f"Invalid detach keys ({spec}) provided: {exc}", 1) from None


def stream_session(
    console: Console,
    conn: Any,
    tty: bool,
    stdin: bool,
    resize: Callable[[int, int], None] | None,
    detach_keys: bytes | None = None,
) -> bool:
    """Pump a hijacked stream to the console, in raw terminal mode with resize when ``tty``.

    Returns True when the user typed the detach keys (only watched for on a terminal's stdin:
    piped input passes untouched), False when the container's output ended.
    """
    stdin_fd = console.stdin_fd if stdin else None
    keys = detach_keys if stdin and console.stdin_is_tty() else None
    if tty and stdin:
        with raw_terminal(console.stdin_fd):
            if resize is not None:
                _resize_now(resize, console)
                with on_resize(lambda: _resize_now(resize, console)):
                    return pump(conn, console.sink(), True, stdin_fd, detach_keys=keys)
            return pump(conn, console.sink(), True, stdin_fd, detach_keys=keys)
    if tty and resize is not None:
        _resize_now(resize, console)
    return pump(conn, console.sink(), tty, stdin_fd, detach_keys=keys)


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
