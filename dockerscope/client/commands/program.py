"""The tiny docker-compatible program, and a line runner for command bars."""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Callable
from typing import Any

from ..api import DockerClient
from ..transport import API_VERSION, DaemonUnreachable
from .base import CLIENT_VERSION, Console, add_commands, execute


def build_parser(prog: str = "docker") -> argparse.ArgumentParser:
    """The tiny docker-compatible program's parser (``python3 -m dockerscope.client``)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="A self-sufficient docker client (standard library only) for a Docker "
        "Engine API socket.",
    )
    parser.add_argument(
        "-H",
        "--host",
        help="Daemon socket to connect to (default: DOCKER_HOST or unix:///var/run/docker.sock)",
    )
    parser.add_argument(
        "-v",
        "--version",
        action="version",
        version=f"Docker version {CLIENT_VERSION}, API {API_VERSION} (dockerscope)",
    )
    sub = parser.add_subparsers(dest="command_name", metavar="COMMAND", required=True)
    add_commands(sub)
    return parser


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    """Run one docker-like command; returns its exit code."""
    from ..transport import DockerHostError

    parser = build_parser()
    args = parser.parse_args(argv)
    console = console or Console()
    try:
        client = DockerClient(args.host)
    except DockerHostError as exc:
        console.err(f"{exc}\n")
        return 1
    try:
        client.negotiate()
    except DaemonUnreachable as exc:
        console.err(f"{exc}\n")
        return 1
    return execute(args, client, console)


class _CapturingParser(argparse.ArgumentParser):
    """An argparse parser that raises instead of printing and exiting (for ``line_runner``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.printed: list[str] = []

    def _print_message(self, message: str, file: Any = None) -> None:
        if message:
            raise _ParserStop(message)

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        raise _ParserStop(message or "", status)

    def error(self, message: str) -> Any:
        raise _ParserStop(f"{self.prog}: {message}\n", 2)


class _ParserStop(Exception):
    def __init__(self, text: str, code: int = 0) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


def line_runner(host: Any = None) -> Callable[[str], str]:
    """A function running one docker command line ("docker ps -a") and returning its output
    (stdout then stderr), for command bars; interactive sessions are refused as without a tty."""
    import shlex

    from ..transport import DockerHost

    target = host if isinstance(host, DockerHost) else DockerHost.from_env(override=host)

    def run(line: str) -> str:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return f"{exc}\n"
        if words and words[0] == "docker":
            words = words[1:]
        if not words:
            return ""
        parser = _CapturingParser(prog="docker", add_help=False)
        sub = parser.add_subparsers(dest="command_name", metavar="COMMAND", required=True)
        add_commands(sub)
        try:
            args = parser.parse_args(words)
        except _ParserStop as stop:
            return stop.text
        out, err = io.BytesIO(), io.BytesIO()
        client = DockerClient(target)
        try:
            client.negotiate()  # HEAD /_ping first, as the docker CLI does
        except DaemonUnreachable as exc:
            return f"{exc}\n"
        devnull = os.open(os.devnull, os.O_RDONLY)
        try:
            code = execute(args, client, Console(out, err, devnull))
        finally:
            os.close(devnull)
        text = (out.getvalue() + err.getvalue()).decode("utf-8", "replace")
        if code and not err.getvalue():
            text += f"(exit code {code})\n"
        return text

    return run
