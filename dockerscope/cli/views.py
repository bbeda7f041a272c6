"""The commands that open something to watch: ``scope``, ``course``, ``record``, ``replay``,
and the default with no command (the live course as root on Linux, else the replay menu).

The observer, the Textual UI and the scenario runner are imported here only when a command
needs them, so ``dockerscope --help`` and the docker-like commands stay light.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from dockerscope import labctl
from dockerscope.cli import labs
from dockerscope.cli.common import CliError, is_root, lab_from, lab_host
from dockerscope.client import commands as docker_commands
from dockerscope.client.transport import DockerHost
from dockerscope.engine.paths import Lab

NOT_ROOT_REASON = "not root: replaying recorded lessons; run as root for a live lab"
NOT_LINUX_REASON = "not Linux: replaying recorded lessons; a live lab needs a Linux kernel"


def ui() -> Any:
    """The Textual app's entry points, imported only when a screen opens (the core never
    imports Textual)."""
    from dockerscope.screens import app

    return app


def observer() -> tuple[Any, Any]:
    """``(Scope, LiveSource)``: the live observer, imported only when a live view opens."""
    from dockerscope.feed.live import LiveSource
    from dockerscope.kernel.scope import Scope

    return Scope, LiveSource


def cmd_scope(args: argparse.Namespace) -> int:
    """``dockerscope scope``: the live dashboard on a lab, one netns or the whole host."""
    scope_of, live_source = observer()
    host: DockerHost | None
    if args.scope_host:
        # One Docker for both halves: the panels' hints and the command bar follow -H, then
        # DOCKER_HOST, then the default socket, as the docker CLI does.
        host = DockerHost.parse(getattr(args, "host", None) or os.environ.get("DOCKER_HOST"))
        socket_path = host.path if host.scheme == "unix" else None
        scope = scope_of.host(docker_socket=socket_path)
        title = "dockerscope: host"
    elif args.netns:
        scope = scope_of.netns(args.netns)
        host = None
        title = f"dockerscope: netns {args.netns}"
    else:
        lab = lab_from(args)
        scope = scope_of.lab(lab.name, run_root=str(lab.run_root.parent))
        host = lab_host(lab)
        title = f"dockerscope: lab {lab.name}"
    client = docker_commands.line_runner(host) if host is not None else None
    ui().run_scope(live_source(scope), client=client, title=title)
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    """``dockerscope record``: autoplay a scenario on a live lab and write its recording."""
    from dockerscope import scenario

    # no --lab: the recorder makes a temporary lab of its own and removes it afterwards
    result = scenario.record(
        args.scenario, args.output, lab=lab_from(args) if getattr(args, "lab", None) else None
    )
    ok = result.ok
    return 0 if ok else 1


def cmd_replay(path: str | None, reason: str | None = None) -> int:
    """``dockerscope replay``: play a recording, or open the replay menu."""
    ui().run_replay(path, reason=reason)
    return 0


def lab_source(lab: Lab) -> Any:
    """The live observer's frames for a lab."""
    scope_of, live_source = observer()
    return live_source(scope_of.lab(lab.name, run_root=str(lab.run_root.parent)))


def cmd_course(args: argparse.Namespace) -> int:
    """The live course: ensure the lab's daemon answers, then open the course menu."""
    lab = lab_from(args)
    if not is_root() and not labctl.answers(lab):
        raise CliError(
            f"lab {lab.name} is not running and starting it needs root "
            "(or use 'dockerscope replay' for the recorded lessons)"
        )
    labs.ensure_daemon(lab)
    runner = docker_commands.line_runner(lab_host(lab))
    ui().run_course(lab, source=lab_source(lab), client=runner)
    return 0


def default_action(args: argparse.Namespace) -> int:
    """No command: the live course as root on Linux, else the replay menu with the reason."""
    if not sys.platform.startswith("linux"):
        return cmd_replay(None, NOT_LINUX_REASON)
    if not is_root():
        return cmd_replay(None, NOT_ROOT_REASON)
    return cmd_course(args)
