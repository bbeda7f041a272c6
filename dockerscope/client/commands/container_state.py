"""Commands that change a container or make an image of it: stop, restart, kill, rm, wait,
rename, commit."""

from __future__ import annotations

import argparse

from ..api import DockerClient
from ..options import (
    split_image_ref,
)
from .base import Console, command, each


def _stop_flags(p: argparse.ArgumentParser) -> None:
    """Flags of stop and restart."""
    p.add_argument("-t", "--time", type=int, help="Seconds to wait for stop before killing it")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


@command("stop", "Stop one or more running containers", flags=_stop_flags)
def cmd_stop(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    return each(args.containers, console, lambda c: client.stop(c, args.time))


@command("restart", "Restart one or more containers", flags=_stop_flags)
def cmd_restart(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    return each(args.containers, console, lambda c: client.restart(c, args.time))


def _kill_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--signal", help="Signal to send to the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


@command("kill", "Kill one or more running containers", flags=_kill_flags)
def cmd_kill(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    return each(args.containers, console, lambda c: client.kill(c, args.signal))


def _rm_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="Force the removal of a running container (uses SIGKILL)",
    )
    p.add_argument(
        "-v",
        "--volumes",
        action="store_true",
        help="Remove anonymous volumes associated with the container",
    )
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


@command("rm", "Remove one or more containers", flags=_rm_flags)
def cmd_rm(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    return each(
        args.containers, console, lambda c: client.remove(c, force=args.force, volumes=args.volumes)
    )


def _commit_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--message", help="Commit message")
    p.add_argument("-a", "--author", help="Author")
    p.add_argument(
        "-p",
        "--pause",
        action="store_true",
        default=True,
        help="Pause container during commit (default true)",
    )
    p.add_argument("container")
    p.add_argument("repository", nargs="?")


@command("commit", "Create a new image from a container's changes", flags=_commit_flags)
def cmd_commit(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    repo = tag = None
    if args.repository:
        repo, tag = split_image_ref(args.repository)
    answer = client.commit(args.container, repo, tag, args.message, args.author, args.pause)
    console.out(str(answer.get("Id", "")) + "\n")
    return 0


def _wait_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


@command(
    "wait",
    "Block until one or more containers stop, then print their exit codes",
    flags=_wait_flags,
)
def cmd_wait(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    return each(
        args.containers,
        console,
        lambda c: console.out(f"{client.wait(c, 'not-running')}\n"),
        echo=False,
    )


def _rename_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("container")
    p.add_argument("new_name")


@command("rename", "Rename a container", flags=_rename_flags)
def cmd_rename(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    client.rename(args.container, args.new_name)
    return 0
