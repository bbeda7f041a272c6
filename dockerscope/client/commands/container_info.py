"""Commands that show containers: ps, logs, inspect, top, diff, port."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from .. import formatting as fmt
from ..api import DockerClient
from ..options import (
    parse_filters,
    timestamp_param,
)
from ..transport import APIError
from .base import CommandFailed, Console, command, current_time, print_inspected


def _ps_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Show all containers")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
    p.add_argument("-f", "--filter", action="append", help="Filter output based on conditions")
    p.add_argument("-n", "--last", type=int, default=0, help="Show n last created containers")
    p.add_argument("-l", "--latest", action="store_true", help="Show the latest created container")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("--format", help="Pretty-print containers using a Go template")


@command("ps", "List containers", flags=_ps_flags)
def cmd_ps(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    limit = 1 if args.latest else args.last
    containers = client.containers(
        all=args.all or bool(limit), filters=parse_filters(args.filter), limit=limit
    )
    if args.quiet:
        for c in containers:
            ident = str(c.get("Id", ""))
            console.out((ident if args.no_trunc else fmt.short_id(ident)) + "\n")
        return 0
    if args.format:
        now = current_time()
        rows = [fmt.ps_fields(c, now, args.no_trunc) for c in containers]
        console.out(fmt.render_rows(args.format, rows, fmt.PS_HEADERS))
        return 0
    console.out(fmt.ps_table(containers, current_time(), no_trunc=args.no_trunc))
    return 0


def _logs_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument(
        "-n",
        "--tail",
        default="all",
        help='Number of lines to show from the end of the logs (default "all")',
    )
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("--since", help="Show logs since timestamp")
    p.add_argument("container")


@command("logs", "Fetch the logs of a container", flags=_logs_flags)
def cmd_logs(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    info = client.inspect_container(args.container)
    tty = bool((info.get("Config") or {}).get("Tty"))
    chunks = client.logs(
        args.container,
        follow=args.follow,
        tail=args.tail,
        timestamps=args.timestamps,
        since=timestamp_param(args.since, current_time()),
    )
    sink = console.sink()
    if tty:
        for chunk in chunks:
            sink.write(1, chunk)
    else:
        from ..streams import demux

        for stream, payload in demux(chunks):
            sink.write(stream, payload)
    return 0


def _inspect_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="Format the output using the given Go template")
    p.add_argument(
        "--type", choices=["container", "image", "network"], help="Return JSON for specified type"
    )
    p.add_argument("names", nargs="+", metavar="NAME|ID")


def _inspect_any(client: DockerClient, name: str, kind: str | None) -> Any:
    getters: list[tuple[str, Callable[[str], Any]]] = [
        ("container", client.inspect_container),
        ("image", client.inspect_image),
        ("network", client.inspect_network),
    ]
    for what, getter in getters:
        if kind and kind != what:
            continue
        try:
            return getter(name)
        except APIError as exc:
            if exc.status != 404:
                raise
    raise CommandFailed(f"Error: No such {kind or 'object'}: {name}", 1)


@command("inspect", "Return low-level information on Docker objects", flags=_inspect_flags)
def cmd_inspect(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    found: list[Any] = []
    errors: list[str] = []
    for name in args.names:
        try:
            found.append(_inspect_any(client, name, args.type))
        except CommandFailed as exc:
            errors.append(str(exc))
    return print_inspected(console, found, errors, args.format)


def _top_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("container")
    p.add_argument("ps_args", nargs=argparse.REMAINDER)


@command("top", "Display the running processes of a container", flags=_top_flags)
def cmd_top(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    answer = client.top(args.container, " ".join(args.ps_args) or None)
    console.out(fmt.top_table(answer))
    return 0


def _diff_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("container")


@command(
    "diff", "Inspect changes to files or directories on a container's filesystem", flags=_diff_flags
)
def cmd_diff(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    console.out(fmt.diff_lines(client.changes(args.container)))
    return 0


def _port_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("container")
    p.add_argument("private_port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")


@command("port", "List port mappings or a specific mapping for the container", flags=_port_flags)
def cmd_port(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    info = client.inspect_container(args.container)
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    text = fmt.port_lines(ports, args.private_port)
    if args.private_port and not text:
        raise CommandFailed(
            f"Error: No public port '{args.private_port}' published for {args.container}", 1
        )
    console.out(text)
    return 0
