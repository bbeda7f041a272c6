"""The docker-like commands (``dockerscope run -d -p 8080:8080 busybox ...``): the stdlib
client's commands against the host the command line names, with rich pull bars on a terminal."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dockerscope.cli.common import docker_host_for
from dockerscope.client import commands as docker_commands


def cmd_docker(args: argparse.Namespace) -> int:
    """Run one docker-like command; exit code as the docker CLI's."""
    from dockerscope.client.api import DockerClient
    from dockerscope.client.transport import DaemonUnreachable

    client = DockerClient(docker_host_for(args))
    console = docker_commands.Console()
    if sys.stderr.isatty():
        console.pull_display = RichPullDisplay()
    try:
        client.negotiate()
    except DaemonUnreachable as exc:
        console.err(f"{exc}\n")
        return 1
    return docker_commands.execute(args, client, console)


class RichPullDisplay:
    """Pull progress drawn as rich bars on stderr (one per layer or step), for terminals.

    The stdlib client prints plain lines; the ``dockerscope`` command line plugs this in when
    stderr is a terminal, so building the debian image shows a live bar.
    """

    def __init__(self) -> None:
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def _start(self) -> Any:
        from rich.console import Console as RichConsole
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=RichConsole(stderr=True),
            transient=False,
        )
        self._progress.start()
        return self._progress

    def update(self, msg: dict[str, Any]) -> None:
        """Show one progress message of ``POST /images/create``."""
        progress = self._progress or self._start()
        status = str(msg.get("status", ""))
        if status.startswith(("Status:", "Digest:")):
            return
        key = str(msg.get("id") or "pull")
        detail = msg.get("progressDetail") or {}
        total = detail.get("total") or None
        current = detail.get("current")
        text = f"{msg['id']}: {status}" if msg.get("id") else status
        task = self._tasks.get(key)
        if task is None:
            task = progress.add_task(text, total=total)
            self._tasks[key] = task
        fields: dict[str, Any] = {"description": text}
        if total:
            fields["total"] = total
        if current is not None:
            fields["completed"] = current
        progress.update(task, **fields)

    def close(self) -> None:
        """Fill every bar that knows its total, then stop drawing."""
        if self._progress is not None:
            for task in self._tasks.values():
                t = self._progress.tasks[task]
                if t.total:
                    self._progress.update(task, completed=t.total)
            self._progress.stop()
