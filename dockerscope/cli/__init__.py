"""``dockerscope``: the command line.

With no arguments it opens the course on a live lab (as root on Linux, starting the lab's daemon
when it is not running) or, without root, the replay menu. Subcommands run the daemon, point a
shell at a lab (``env``), enter a lab host (``ssh``), list and remove labs, open the dashboard,
record and replay scenarios, and every docker-like command of the stdlib client
(``dockerscope run -d -p 8080:8080 busybox ...``).

One module per command group: ``labs`` (daemon, env, ssh, lab ls|down), ``views`` (scope,
course, record, replay, the default), ``docker`` (the docker-like commands); ``parser`` is the
command line's shape and ``common`` what they share. Heavy parts (the engine, the observer, the
Textual UI, scenarios) are imported inside the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from dockerscope.cli import capture, docker, labs, trace, views
from dockerscope.cli.common import CliError
from dockerscope.cli.parser import build_parser, split_globals

__all__ = ["CliError", "build_parser", "dispatch", "main"]

#: Handler of each of dockerscope's own subcommands; anything else is a docker-like command.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "env": labs.cmd_env,
    "ssh": labs.cmd_ssh,
    "lab": labs.cmd_lab,
    "scope": views.cmd_scope,
    "record": views.cmd_record,
    "replay": lambda args: views.cmd_replay(args.file),
    "course": views.cmd_course,
    "capture": capture.cmd_capture,
    "trace": trace.cmd_trace,
}


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command line's subcommand; returns its exit code."""
    if args.subcommand is None:
        return views.default_action(args)
    handler = COMMANDS.get(args.subcommand, docker.cmd_docker)
    return handler(args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``dockerscope``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    globals_, rest = split_globals(argv)
    if rest and rest[0] == "daemon":
        # Everything after `daemon` is the engine's own command line (and its own ^C).
        gargs = build_parser().parse_args(globals_)
        try:
            return labs.cmd_daemon(rest[1:], gargs.lab)
        except CliError as exc:
            print(f"dockerscope: {exc}", file=sys.stderr)
            return 1
    args = build_parser().parse_args(argv)
    try:
        return dispatch(args)
    except CliError as exc:
        print(f"dockerscope: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
