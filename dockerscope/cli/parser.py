"""The shape of the ``dockerscope`` command line: its own subcommands, in the order ``--help``
lists them, then every docker-like command of the stdlib client."""

from __future__ import annotations

import argparse
from pathlib import Path

from dockerscope.cli import capture, trace
from dockerscope.cli.common import version
from dockerscope.client import commands as docker_commands
from dockerscope.engine.paths import DATA_BASE, DEFAULT_LAB, RUN_BASE


def _lab_options(p: argparse.ArgumentParser, roots: bool = True) -> None:
    p.add_argument("--lab", default=argparse.SUPPRESS, help=f"lab name (default: {DEFAULT_LAB})")
    if roots:
        p.add_argument("--run-root", type=Path, help=argparse.SUPPRESS)
        p.add_argument("--data-root", type=Path, help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    """The ``dockerscope`` parser: its own subcommands and every docker-like command."""
    parser = argparse.ArgumentParser(
        prog="dockerscope",
        description="Run real containers through a small Docker-compatible engine and watch, "
        "live, what it does to the Linux kernel. With no command: open the course (root) or "
        "the replay menu.",
        epilog="Docker-like commands use the lab's socket (--lab), -H, or DOCKER_HOST.",
    )
    parser.add_argument("--version", action="version", version=f"dockerscope {version()}")
    parser.add_argument("--lab", default=None, help=f"lab to use (default: {DEFAULT_LAB})")
    parser.add_argument("-H", "--host", help="daemon socket for docker-like commands")
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND", title="commands")

    d = sub.add_parser(
        "daemon",
        help="serve a lab's Docker Engine API (run in the foreground); its caps on the lab: "
        "--max-containers N, --max-memory SIZE, --max-pids N (see 'daemon --help')",
        add_help=False,
    )
    d.add_argument("daemon_args", nargs=argparse.REMAINDER)

    c = sub.add_parser("course", help="open the course menu on a live lab (the default as root)")
    _lab_options(c)

    e = sub.add_parser("env", help="print the shell line pointing docker clients at a lab")
    _lab_options(e)
    e.add_argument("--unset", action="store_true", help="print the line that undoes it")

    s = sub.add_parser(
        "ssh", help="open a shell in the lab host (its netns; `ip netns` lists containers)"
    )
    _lab_options(s)
    s.add_argument("cmd", nargs=argparse.REMAINDER, help="command to run instead of a shell")

    _add_lab_group(sub.add_parser("lab", help="list labs, or take one down completely"))
    _add_scope(
        sub.add_parser("scope", help="open the live dashboard on a lab, a netns or the host")
    )

    r = sub.add_parser("record", help="autoplay a scenario on a live lab and record it")
    r.add_argument("scenario", help="scenario name or file")
    r.add_argument("-o", "--output", required=True, help="recording to write (JSON Lines)")
    _lab_options(r, roots=False)

    capture.add_parser(sub)

    rp = sub.add_parser("replay", help="play a recording (no root, no daemon needed)")
    rp.add_argument("file", nargs="?", help="recording file (default: the replay menu)")

    trace.add_parser(sub)
    docker_commands.add_commands(sub)
    return parser


def _add_lab_group(lab: argparse.ArgumentParser) -> None:
    lsub = lab.add_subparsers(dest="lab_command", metavar="COMMAND", required=True)
    ls = lsub.add_parser("ls", help="list labs with their daemon and containers")
    ls.add_argument("--run-base", type=Path, default=RUN_BASE, help=argparse.SUPPRESS)
    ls.add_argument("--data-base", type=Path, default=DATA_BASE, help=argparse.SUPPRESS)
    down = lsub.add_parser(
        "down", help="stop a lab's daemon and remove its netns, cgroups, mounts and state"
    )
    down.add_argument("name", help="lab name")
    down.add_argument("--run-root", type=Path, help=argparse.SUPPRESS)
    down.add_argument("--data-root", type=Path, help=argparse.SUPPRESS)
    down.add_argument("--keep-log", action="store_true", help="keep the daemon's log file")


def _add_scope(sc: argparse.ArgumentParser) -> None:
    where = sc.add_mutually_exclusive_group()
    where.add_argument("--lab", default=argparse.SUPPRESS, help="a dockerscope lab")
    where.add_argument("--netns", help="one named network namespace")
    where.add_argument(
        "--host",
        dest="scope_host",
        action="store_true",
        help="the whole machine (shows a real Docker too)",
    )
    sc.add_argument("--run-root", type=Path, help=argparse.SUPPRESS)


def split_globals(argv: list[str]) -> tuple[list[str], list[str]]:
    """Global options before the subcommand, and the rest (for `daemon` pass-through)."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--lab", "-H", "--host"):
            i += 2
        elif a.startswith(("--lab=", "--host=")) or (a.startswith("-H") and len(a) > 2):
            i += 1
        else:
            break
    return argv[:i], argv[i:]
