"""The command registry, the console commands write to, and docker-style error handling."""

from __future__ import annotations

import argparse
import http.client
import io
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .. import formatting as fmt
from ..api import DockerClient
from ..options import (
    UsageError,
)
from ..streams import StreamSink
from ..transport import APIError, DaemonUnreachable

CLIENT_VERSION = "20.10.24-dockerscope"


@dataclass
class Console:
    """Where a command reads and writes: binary stdout/stderr and the stdin descriptor."""

    stdout: BinaryIO = field(default_factory=lambda: sys.stdout.buffer)
    stderr: BinaryIO = field(default_factory=lambda: sys.stderr.buffer)
    stdin_fd: int = 0
    stdin: BinaryIO | None = None  # for import/load from "-"
    # Optional live display of pull progress (the dockerscope CLI draws a bar with rich):
    # an object with update(message: dict) and close(); None prints plain lines.
    pull_display: Any = None

    def out(self, text: str) -> None:
        self.stdout.write(text.encode("utf-8", "replace"))
        self.stdout.flush()

    def err(self, text: str) -> None:
        self.stderr.write(text.encode("utf-8", "replace"))
        self.stderr.flush()

    def sink(self) -> StreamSink:
        return StreamSink(self.stdout, self.stderr)

    def stdin_is_tty(self) -> bool:
        try:
            return os.isatty(self.stdin_fd)
        except OSError:
            return False

    def stdout_is_tty(self) -> bool:
        return self.is_tty(self.stdout)

    @staticmethod
    def is_tty(stream: BinaryIO) -> bool:
        """True when ``stream`` is a terminal (False for buffers and closed files)."""
        try:
            return os.isatty(stream.fileno())
        except (OSError, ValueError, io.UnsupportedOperation):
            return False

    def stdin_stream(self) -> BinaryIO:
        if self.stdin is not None:
            return self.stdin
        return os.fdopen(os.dup(self.stdin_fd), "rb")


class CommandFailed(Exception):
    """A command's own error text and exit code (already worded like docker's)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


Handler = Callable[[DockerClient, argparse.Namespace, Console], int]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    handler: Handler
    aliases: tuple[str, ...] = ()


COMMANDS: list[Command] = []


def command(
    name: str,
    help: str,
    aliases: tuple[str, ...] = (),
    *,
    flags: Callable[[argparse.ArgumentParser], None],
) -> Callable[[Handler], Handler]:
    """Register the decorated handler as command ``name``; ``flags`` adds its arguments."""

    def take(handler: Handler) -> Handler:
        COMMANDS.append(Command(name, help, flags, handler, aliases))
        return handler

    return take


def new_parser(sub: Any, name: str, help: str, aliases: tuple[str, ...] = ()) -> Any:
    """A subcommand parser with docker's --help (so -h stays free for --hostname)."""
    p = sub.add_parser(name, help=help, description=help, add_help=False, aliases=list(aliases))
    p.add_argument("--help", action="help", help="Print usage")
    return p


def add_commands(sub: Any) -> None:
    """Register every docker-like command on an argparse subparsers object."""
    for cmd in sorted(COMMANDS, key=lambda c: c.name):  # alphabetical, as docker --help lists
        p = new_parser(sub, cmd.name, cmd.help, cmd.aliases)
        cmd.configure(p)
        if not p.get_default("docker_handler"):
            p.set_defaults(docker_handler=cmd.handler)


def docker_command_names() -> list[str]:
    names: list[str] = []
    for cmd in COMMANDS:
        names.append(cmd.name)
        names.extend(cmd.aliases)
    return names


def execute(args: argparse.Namespace, client: DockerClient, console: Console) -> int:
    """Run the handler chosen by argparse, mapping errors to docker's words and exit codes."""
    handler: Handler = args.docker_handler
    try:
        return handler(client, args, console)
    except CommandFailed as exc:
        if str(exc):
            console.err(str(exc) + "\n")
        return exc.code
    except UsageError as exc:
        if getattr(args, "docker_run", False):
            name = getattr(args, "command_name", None) or getattr(args, "subcommand", "run")
            console.err(f"{exc}\nSee 'docker {name} --help'.\n")
            return 125
        console.err(f"{exc}\n")
        return 1
    except APIError as exc:
        console.err(f"Error response from daemon: {exc.message}\n")
        return 1
    except DaemonUnreachable as exc:
        console.err(f"{exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except (http.client.HTTPException, ConnectionError) as exc:
        # the daemon went away in the middle of an answer or a stream
        console.err(f"error during connect: {exc or type(exc).__name__}\n")
        return 1


def each(
    items: list[str], console: Console, action: Callable[[str], Any], echo: bool = True
) -> int:
    """Apply ``action`` to each name, printing it on success and docker's error otherwise."""
    failed = False
    for item in items:
        try:
            action(item)
        except APIError as exc:
            console.err(f"Error response from daemon: {exc.message}\n")
            failed = True
        else:
            if echo:
                console.out(item + "\n")
    return 1 if failed else 0


def print_inspected(
    console: Console, found: list[Any], errors: list[str], template: str | None
) -> int:
    """Print what an ``inspect`` found (a JSON array, or ``template`` once per object), then
    its errors; the exit code is 1 if any name was not found."""
    if template:
        for obj in found:
            console.out(fmt.render_template(template, obj) + "\n")
    else:
        console.out(fmt.inspect_json(found))
    for e in errors:
        console.err(e + "\n")
    return 1 if errors else 0


def current_time() -> float:
    return time.time()


def bool_flag(text: str) -> bool:
    if text.lower() in ("1", "t", "true", "yes"):
        return True
    if text.lower() in ("0", "f", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value: {text!r}")
