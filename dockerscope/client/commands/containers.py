"""Commands that create, start or enter a container: create, run, start, attach, exec.

The others are in ``container_state`` (stop, rm, commit...) and ``container_info`` (ps, logs,
inspect...).
"""

from __future__ import annotations

import argparse
import contextlib
import time

from ..api import DockerClient, Waiter
from ..options import (
    container_config,
    full_ref,
    parse_env,
)
from ..transport import APIError
from .base import CommandFailed, Console, bool_flag, command, each
from .session import _check_tty, detach_keys_of, proxy_signals, stream_session


def _container_flags(p: argparse.ArgumentParser) -> None:
    """Flags shared by run and create."""
    p.add_argument(
        "-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached"
    )
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument(
        "--rm", action="store_true", help="Automatically remove the container when it exits"
    )
    p.add_argument("--name", help="Assign a name to the container")
    p.add_argument("-e", "--env", action="append", help="Set environment variables")
    p.add_argument("--env-file", action="append", help="Read in a file of environment variables")
    p.add_argument("-v", "--volume", action="append", help="Bind mount a volume")
    p.add_argument(
        "-p", "--publish", action="append", help="Publish a container's port(s) to the host"
    )
    p.add_argument(
        "-P", "--publish-all", action="store_true", help="Publish all exposed ports to random ports"
    )
    p.add_argument("--expose", action="append", help="Expose a port or a range of ports")
    p.add_argument("--network", "--net", dest="network", help="Connect a container to a network")
    p.add_argument("-m", "--memory", help="Memory limit")
    p.add_argument("--cpus", help="Number of CPUs")
    p.add_argument("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
    p.add_argument("--pids-limit", type=int, help="Tune container pids limit (-1 for unlimited)")
    p.add_argument("-h", "--hostname", help="Container host name")
    p.add_argument("-w", "--workdir", help="Working directory inside the container")
    p.add_argument("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
    p.add_argument("-l", "--label", action="append", help="Set meta data on a container")
    p.add_argument("--restart", help="Restart policy to apply when a container exits")
    p.add_argument(
        "--privileged", action="store_true", help="Give extended privileges to this container"
    )
    p.add_argument("--cap-add", action="append", help="Add Linux capabilities")
    p.add_argument("--cap-drop", action="append", help="Drop Linux capabilities")
    p.add_argument(
        "--read-only",
        action="store_true",
        help="Mount the container's root filesystem as read only",
    )
    p.add_argument("image", help="Image to run")
    p.add_argument("command", nargs=argparse.REMAINDER, help="Command and arguments")
    p.set_defaults(docker_run=True)


def _create(client: DockerClient, args: argparse.Namespace, console: Console, attach: bool) -> str:
    config = container_config(args, attach)
    try:
        answer = client.create_container(config, args.name)
    except APIError as exc:
        if exc.status != 404 or not exc.message.lower().startswith("no such image"):
            raise
        from .images import pull_image  # here: images registers after containers

        console.err(f"Unable to find image '{full_ref(args.image)}' locally\n")
        pull_image(client, args.image, console, to_stderr=True)
        answer = client.create_container(config, args.name)
    for warning in answer.get("Warnings") or []:
        console.err(f"WARNING: {warning}\n")
    return str(answer["Id"])


def _create_flags(p: argparse.ArgumentParser) -> None:
    _container_flags(p)


@command("create", "Create a new container", flags=_create_flags)
def cmd_create(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    try:
        ident = _create(client, args, console, attach=False)
    except APIError as exc:
        raise CommandFailed(f"Error response from daemon: {exc.message}", 1) from None
    console.out(ident + "\n")
    return 0


def _detach_keys_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--detach-keys", help="Override the key sequence for detaching (default ctrl-p,ctrl-q)"
    )


def _run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="Run container in background and print container ID",
    )
    p.add_argument(
        "--sig-proxy",
        type=bool_flag,
        default=True,
        metavar="true|false",
        help="Proxy received signals to the process (default true)",
    )
    _detach_keys_flag(p)
    _container_flags(p)


@command("run", "Run a command in a new container", flags=_run_flags)
def cmd_run(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    """create, attach, wait (next-exit or removed), start: the docker CLI's order."""
    try:
        if not args.detach:
            _check_tty(args, console)
        ident = _create(client, args, console, attach=not args.detach)
        if args.detach:
            # the docker CLI sets up a wait before starting even when detached, then leaves
            detached_wait = client.start_wait(ident, "removed" if args.rm else "next-exit")
            detached_wait.registered()
            try:
                client.start(ident)
            finally:
                detached_wait.abandon()
            console.out(ident + "\n")
            return 0
        conn = client.attach(ident, stdin=bool(args.interactive))
        try:
            waiter: Waiter = client.start_wait(ident, "removed" if args.rm else "next-exit")
            waiter.registered()
            client.start(ident)
        except BaseException:
            conn.close()
            raise
    except APIError as exc:
        raise CommandFailed(
            f"docker: Error response from daemon: {exc.message}.\nSee 'docker run --help'.", 125
        ) from None
    proxy = proxy_signals(client, ident) if args.sig_proxy and not args.tty else None
    keys = detach_keys_of(args)
    try:
        resize = (lambda h, w: client.resize(ident, h, w)) if args.tty else None
        with proxy or contextlib.nullcontext():
            detached = stream_session(
                console, conn, bool(args.tty), bool(args.interactive), resize, keys
            )
    finally:
        conn.close()
    if detached:  # the container goes on running; its exit code is not ours to wait for
        waiter.abandon()
        return 0
    return waiter.status()


def _start_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR")
    p.add_argument("-i", "--interactive", action="store_true", help="Attach container's STDIN")
    _detach_keys_flag(p)
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


@command("start", "Start one or more stopped containers", flags=_start_flags)
def cmd_start(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    if not (args.attach or args.interactive):
        return each(args.containers, console, client.start)
    ident = args.containers[0]
    keys = detach_keys_of(args)
    info = client.inspect_container(ident)
    tty = bool(info.get("Config", {}).get("Tty"))
    conn = client.attach(ident, stdin=bool(args.interactive))
    waiter = client.start_wait(ident, "next-exit")
    waiter.registered()
    try:
        client.start(ident)
        resize = (lambda h, w: client.resize(ident, h, w)) if tty else None
        with contextlib.nullcontext() if tty else proxy_signals(client, ident):
            detached = stream_session(console, conn, tty, bool(args.interactive), resize, keys)
    finally:
        conn.close()
    if detached:
        waiter.abandon()
        return 0
    return waiter.status()


def _attach_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    _detach_keys_flag(p)
    p.add_argument("container")


@command(
    "attach",
    "Attach local standard input, output, and error streams to a running container",
    flags=_attach_flags,
)
def cmd_attach(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    info = client.inspect_container(args.container)
    config = info.get("Config") or {}
    if not (info.get("State") or {}).get("Running"):
        raise CommandFailed("You cannot attach to a stopped container, start it first", 1)
    tty = bool(config.get("Tty"))
    stdin = bool(config.get("OpenStdin")) and not args.no_stdin
    keys = detach_keys_of(args)
    conn = client.attach(args.container, stdin=stdin)
    try:
        resize = (lambda h, w: client.resize(args.container, h, w)) if tty else None
        detached = stream_session(console, conn, tty, stdin, resize, keys)
    finally:
        conn.close()
    if detached:
        return 0
    state = client.inspect_container(args.container).get("State") or {}
    return int(state.get("ExitCode") or 0)


def _exec_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-d", "--detach", action="store_true", help="Detached mode: run command in the background"
    )
    p.add_argument(
        "-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached"
    )
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument("-e", "--env", action="append", help="Set environment variables")
    p.add_argument("-w", "--workdir", help="Working directory inside the container")
    p.add_argument("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument(
        "--privileged", action="store_true", help="Give extended privileges to the command"
    )
    _detach_keys_flag(p)
    p.add_argument("container")
    p.add_argument("command", nargs=argparse.REMAINDER)


@command("exec", "Run a command in a running container", flags=_exec_flags)
def cmd_exec(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    if not args.command:
        raise CommandFailed('"docker exec" requires at least 2 arguments.', 1)
    if not args.detach:
        _check_tty(args, console)
    attach = not args.detach
    config = {
        "User": args.user or "",
        "Privileged": bool(args.privileged),
        "Tty": bool(args.tty),
        "AttachStdin": bool(args.interactive) and attach,
        "AttachStderr": attach,
        "AttachStdout": attach,
        "Detach": bool(args.detach),
        "DetachKeys": "",
        "Env": parse_env(args.env or []),
        "WorkingDir": args.workdir or "",
        "Cmd": list(args.command),
    }
    keys = detach_keys_of(args)
    exec_id = client.exec_create(args.container, config)
    if args.detach:
        client.exec_start_detached(exec_id, bool(args.tty))
        return 0
    conn = client.exec_start(exec_id, bool(args.tty))
    try:
        resize = (lambda h, w: client.exec_resize(exec_id, h, w)) if args.tty else None
        detached = stream_session(
            console, conn, bool(args.tty), bool(args.interactive), resize, keys
        )
    finally:
        conn.close()
    if detached:
        return 0
    # the exit code is recorded a moment after the stream ends
    for _ in range(50):
        info = client.exec_inspect(exec_id)
        if not info.get("Running"):
            break
        time.sleep(0.02)
    return int(info.get("ExitCode") or 0)
