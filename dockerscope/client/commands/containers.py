"""Container commands: run, create, start, attach, stop, rm, ps, logs, exec, inspect..."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from typing import Any

from .. import formatting as fmt
from ..api import DockerClient, Waiter
from ..options import (
    container_config,
    full_ref,
    parse_env,
    parse_filters,
    split_image_ref,
    timestamp_param,
)
from ..transport import APIError
from .base import CommandFailed, Console, bool_flag, command, current_time, each
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


def _stop_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--time", type=int, help="Seconds to wait for stop before killing it")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


@command("stop", "Stop one or more running containers", flags=_stop_flags)
def cmd_stop(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    return each(args.containers, console, lambda c: client.stop(c, args.time))


def _restart_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--time", type=int, help="Seconds to wait for stop before killing it")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


@command("restart", "Restart one or more containers", flags=_restart_flags)
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
    if args.format:
        for obj in found:
            console.out(fmt.render_template(args.format, obj) + "\n")
    else:
        console.out(fmt.inspect_json(found))
    for e in errors:
        console.err(e + "\n")
    return 1 if errors else 0


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


def _wait_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


@command(
    "wait",
    "Block until one or more containers stop, then print their exit codes",
    flags=_wait_flags,
)
def cmd_wait(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    failed = False
    for c in args.containers:
        try:
            code = client.wait(c, "not-running")
        except APIError as exc:
            console.err(f"Error response from daemon: {exc.message}\n")
            failed = True
        else:
            console.out(f"{code}\n")
    return 1 if failed else 0


def _rename_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("container")
    p.add_argument("new_name")


@command("rename", "Rename a container", flags=_rename_flags)
def cmd_rename(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    client.rename(args.container, args.new_name)
    return 0
