"""network create, ls, inspect, rm, connect, disconnect, prune."""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import Any

from .. import formatting as fmt
from ..api import DockerClient
from ..options import (
    network_config,
    parse_filters,
)
from ..transport import APIError
from .base import CommandFailed, Console, command, each, new_parser, print_inspected


def _network_configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="network_command", metavar="COMMAND", required=True)

    c = new_parser(sub, "create", "Create a network")
    c.add_argument("-d", "--driver", default="bridge", help="Driver to manage the Network")
    c.add_argument("--subnet", action="append", help="Subnet in CIDR format")
    c.add_argument("--gateway", action="append", help="IPv4 or IPv6 Gateway for the subnet")
    c.add_argument("--ip-range", action="append", help="Allocate container ip from a sub-range")
    c.add_argument("--internal", action="store_true", help="Restrict external access")
    c.add_argument("--attachable", action="store_true", help="Enable manual attachment")
    c.add_argument("--ipv6", action="store_true", help="Enable IPv6 networking")
    c.add_argument("-o", "--opt", action="append", help="Set driver specific options")
    c.add_argument("--label", action="append", help="Set metadata on a network")
    c.add_argument("name")
    c.set_defaults(docker_handler=cmd_network_create)

    ls = new_parser(sub, "ls", "List networks", aliases=("list",))
    ls.add_argument("-q", "--quiet", action="store_true", help="Only display network IDs")
    ls.add_argument("-f", "--filter", action="append", help="Provide filter values")
    ls.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    ls.add_argument("--format", help="Pretty-print networks using a Go template")
    ls.set_defaults(docker_handler=cmd_network_ls)

    ins = new_parser(sub, "inspect", "Display detailed information on one or more networks")
    ins.add_argument("-f", "--format", help="Format the output using the given Go template")
    ins.add_argument("networks", nargs="+", metavar="NETWORK")
    ins.set_defaults(docker_handler=cmd_network_inspect)

    rm = new_parser(sub, "rm", "Remove one or more networks", aliases=("remove",))
    rm.add_argument("networks", nargs="+", metavar="NETWORK")
    rm.set_defaults(docker_handler=cmd_network_rm)

    con = new_parser(sub, "connect", "Connect a container to a network")
    con.add_argument("--ip", help="IPv4 address")
    con.add_argument("--alias", action="append", help="Add network-scoped alias")
    con.add_argument("network")
    con.add_argument("container")
    con.set_defaults(docker_handler=cmd_network_connect)

    dis = new_parser(sub, "disconnect", "Disconnect a container from a network")
    dis.add_argument("-f", "--force", action="store_true", help="Force the disconnection")
    dis.add_argument("network")
    dis.add_argument("container")
    dis.set_defaults(docker_handler=cmd_network_disconnect)

    pr = new_parser(sub, "prune", "Remove all unused networks")
    pr.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    pr.add_argument("--filter", action="append", help="Provide filter values")
    pr.set_defaults(docker_handler=cmd_network_prune)


def cmd_network_create(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    answer = client.create_network(network_config(args))
    for warning in [answer.get("Warning")] if answer.get("Warning") else []:
        console.err(f"WARNING: {warning}\n")
    console.out(str(answer.get("Id", "")) + "\n")
    return 0


def cmd_network_ls(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    networks = client.networks(parse_filters(args.filter))
    if args.quiet:
        for n in sorted(networks, key=lambda n: str(n.get("Name", ""))):
            ident = str(n.get("Id", ""))
            console.out((ident if args.no_trunc else ident[:12]) + "\n")
        return 0
    if args.format:
        ordered = sorted(networks, key=lambda n: str(n.get("Name", "")))
        rows = [fmt.network_fields(n, args.no_trunc) for n in ordered]
        console.out(fmt.render_rows(args.format, rows, fmt.NETWORK_HEADERS))
        return 0
    console.out(fmt.networks_table(networks, args.no_trunc))
    return 0


def cmd_network_inspect(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    found = []
    errors = []
    for name in args.networks:
        try:
            found.append(client.inspect_network(name))
        except APIError as exc:
            if exc.status != 404:
                raise
            errors.append(f"Error response from daemon: {exc.message}")
    return print_inspected(console, found, errors, args.format)


def cmd_network_rm(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    def remove(name: str) -> None:
        # the CLI looks the network up first (to warn about ingress networks), then deletes it
        # by the name given; the DELETE's answer is the one reported
        with contextlib.suppress(APIError):
            client.inspect_network(name)
        client.remove_network(name)

    return each(args.networks, console, remove)


def cmd_network_connect(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    endpoint: dict[str, Any] = {}
    if args.ip:
        endpoint["IPAMConfig"] = {"IPv4Address": args.ip}
    if args.alias:
        endpoint["Aliases"] = list(args.alias)
    client.connect_network(args.network, args.container, endpoint)
    return 0


def cmd_network_disconnect(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    client.disconnect_network(args.network, args.container, args.force)
    return 0


def cmd_network_prune(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    if not args.force:
        console.out(
            "WARNING! This will remove all custom networks not used by at least one container.\n"
            "Are you sure you want to continue? [y/N] "
        )
        try:
            answer = os.read(console.stdin_fd, 1024).decode().strip().lower()
        except OSError:
            answer = ""
        if answer not in ("y", "yes"):
            return 0
    result = client.prune_networks(parse_filters(args.filter))
    deleted = result.get("NetworksDeleted") or []
    if deleted:
        console.out("Deleted Networks:\n" + "".join(f"{n}\n" for n in deleted) + "\n")
    return 0


def _network_flags(p: argparse.ArgumentParser) -> None:
    _network_configure(p)


@command("network", "Manage networks", flags=_network_flags)
def cmd_network(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    raise CommandFailed("usage: network COMMAND", 1)  # argparse requires a subcommand
