"""docker-like commands (``run``, ``ps``, ``network create``...) over ``DockerClient``, stdlib only.

``add_commands(subparsers)`` registers every command on an argparse parser, so both the tiny
``python3 -m dockerscope.client`` program and the ``dockerscope`` command line offer them;
``execute(args, client, console)`` runs the chosen one and returns its exit code, printing
errors the way the docker CLI does ("Error response from daemon: ...", exit code 1).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from . import formatting as fmt
from .api import DockerClient, Waiter
from .options import (
    UsageError,
    container_config,
    full_ref,
    network_config,
    parse_env,
    parse_filters,
    split_image_ref,
)
from .streams import StreamSink, on_resize, pump, raw_terminal, terminal_size
from .transport import API_VERSION, APIError, DaemonUnreachable

CLIENT_VERSION = "20.10.24-dockerscope"


@dataclass
class Console:
    """Where a command reads and writes: binary stdout/stderr and the stdin descriptor."""

    stdout: BinaryIO = field(default_factory=lambda: sys.stdout.buffer)
    stderr: BinaryIO = field(default_factory=lambda: sys.stderr.buffer)
    stdin_fd: int = 0
    stdin: BinaryIO | None = None  # for import/load from "-"
    # Optional live display of pull progress (the dockerscope CLI draws a bar with rich):
    # an object with update(message: dict) and close(); None prints plain lines.
    pull_display: Any = None

    def out(self, text: str) -> None:
        self.stdout.write(text.encode("utf-8", "replace"))
        self.stdout.flush()

    def err(self, text: str) -> None:
        self.stderr.write(text.encode("utf-8", "replace"))
        self.stderr.flush()

    def sink(self) -> StreamSink:
        return StreamSink(self.stdout, self.stderr)

    def stdin_is_tty(self) -> bool:
        try:
            return os.isatty(self.stdin_fd)
        except OSError:
            return False

    def stdout_is_tty(self) -> bool:
        try:
            return os.isatty(self.stdout.fileno())
        except (OSError, ValueError, io.UnsupportedOperation):
            return False

    def stdin_stream(self) -> BinaryIO:
        if self.stdin is not None:
            return self.stdin
        return os.fdopen(os.dup(self.stdin_fd), "rb")


class CommandFailed(Exception):
    """A command's own error text and exit code (already worded like docker's)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


Handler = Callable[[DockerClient, argparse.Namespace, Console], int]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    handler: Handler
    aliases: tuple[str, ...] = ()


COMMANDS: list[Command] = []


def command(
    name: str,
    help: str,
    aliases: tuple[str, ...] = (),
    *,
    flags: Callable[[argparse.ArgumentParser], None],
) -> Callable[[Handler], Handler]:
    """Register the decorated handler as command ``name``; ``flags`` adds its arguments."""

    def take(handler: Handler) -> Handler:
        COMMANDS.append(Command(name, help, flags, handler, aliases))
        return handler

    return take


def new_parser(sub: Any, name: str, help: str, aliases: tuple[str, ...] = ()) -> Any:
    """A subcommand parser with docker's --help (so -h stays free for --hostname)."""
    p = sub.add_parser(name, help=help, description=help, add_help=False, aliases=list(aliases))
    p.add_argument("--help", action="help", help="Print usage")
    return p


def add_commands(sub: Any) -> None:
    """Register every docker-like command on an argparse subparsers object."""
    for cmd in COMMANDS:
        p = new_parser(sub, cmd.name, cmd.help, cmd.aliases)
        cmd.configure(p)
        if not p.get_default("docker_handler"):
            p.set_defaults(docker_handler=cmd.handler)


def docker_command_names() -> list[str]:
    names: list[str] = []
    for cmd in COMMANDS:
        names.append(cmd.name)
        names.extend(cmd.aliases)
    return names


def execute(args: argparse.Namespace, client: DockerClient, console: Console) -> int:
    """Run the handler chosen by argparse, mapping errors to docker's words and exit codes."""
    handler: Handler = args.docker_handler
    try:
        return handler(client, args, console)
    except CommandFailed as exc:
        if str(exc):
            console.err(str(exc) + "\n")
        return exc.code
    except UsageError as exc:
        if getattr(args, "docker_run", False):
            name = getattr(args, "command_name", None) or getattr(args, "subcommand", "run")
            console.err(f"{exc}\nSee 'docker {name} --help'.\n")
            return 125
        console.err(f"{exc}\n")
        return 1
    except APIError as exc:
        console.err(f"Error response from daemon: {exc.message}\n")
        return 1
    except DaemonUnreachable as exc:
        console.err(f"{exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except (http.client.HTTPException, ConnectionError) as exc:
        # the daemon went away in the middle of an answer or a stream
        console.err(f"error during connect: {exc or type(exc).__name__}\n")
        return 1


def _each(
    items: list[str], console: Console, action: Callable[[str], Any], echo: bool = True
) -> int:
    """Apply ``action`` to each name, printing it on success and docker's error otherwise."""
    failed = False
    for item in items:
        try:
            action(item)
        except APIError as exc:
            console.err(f"Error response from daemon: {exc.message}\n")
            failed = True
        else:
            if echo:
                console.out(item + "\n")
    return 1 if failed else 0


def _now() -> float:
    return time.time()


# ---------------------------------------------------------------- system


def _version_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="Format output using a Go template")


@command("version", "Show the Docker version information", flags=_version_flags)
def cmd_version(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    server = client.version()
    if args.format:
        data = {
            "Client": {"Version": CLIENT_VERSION, "ApiVersion": client.api.version},
            "Server": server,
        }
        console.out(fmt.render_template(args.format, data) + "\n")
        return 0
    lines = [
        "Client:",
        f" Version:           {CLIENT_VERSION}",
        f" API version:       {client.api.version}",
        f" Python version:    {sys.version.split()[0]}",
        f" OS/Arch:           {sys.platform}/{os.uname().machine}",
        " Context:           default",
        "",
        "Server:",
        " Engine:",
        f"  Version:          {server.get('Version', '')}",
        f"  API version:      {server.get('ApiVersion', '')}"
        f" (minimum version {server.get('MinAPIVersion', '')})",
        f"  Go version:       {server.get('GoVersion', '')}",
        f"  Git commit:       {server.get('GitCommit', '')}",
        f"  Built:            {server.get('BuildTime', '')}",
        f"  OS/Arch:          {server.get('Os', '')}/{server.get('Arch', '')}",
        f"  Experimental:     {str(server.get('Experimental', False)).lower()}",
    ]
    for comp in server.get("Components") or []:
        if comp.get("Name") == "Engine":
            continue
        lines.append(f" {comp.get('Name', '')}:")
        lines.append(f"  Version:          {comp.get('Version', '')}")
        commit = (comp.get("Details") or {}).get("GitCommit")
        if commit is not None:
            lines.append(f"  GitCommit:        {commit}")
    console.out("\n".join(lines) + "\n")
    return 0


def _info_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="Format output using a Go template")


@command("info", "Display system-wide information", flags=_info_flags)
def cmd_info(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    info = client.info()
    if args.format:
        console.out(fmt.render_template(args.format, info) + "\n")
        return 0
    get = info.get
    lines = [
        "Client:",
        " Context:    default",
        " Debug Mode: false",
        "",
        "Server:",
        f" Containers: {get('Containers', 0)}",
        f"  Running: {get('ContainersRunning', 0)}",
        f"  Paused: {get('ContainersPaused', 0)}",
        f"  Stopped: {get('ContainersStopped', 0)}",
        f" Images: {get('Images', 0)}",
        f" Server Version: {get('ServerVersion', '')}",
        f" Storage Driver: {get('Driver', '')}",
    ]
    for key, value in get("DriverStatus") or []:
        lines.append(f"  {key}: {value}")
    lines += [
        f" Logging Driver: {get('LoggingDriver', '')}",
        f" Cgroup Driver: {get('CgroupDriver', '')}",
        f" Cgroup Version: {get('CgroupVersion', '')}",
        f" Kernel Version: {get('KernelVersion', '')}",
        f" Operating System: {get('OperatingSystem', '')}",
        f" OSType: {get('OSType', '')}",
        f" Architecture: {get('Architecture', '')}",
        f" CPUs: {get('NCPU', 0)}",
        f" Total Memory: {fmt.bytes_size(float(get('MemTotal') or 0))}",
        f" Name: {get('Name', '')}",
        f" ID: {get('ID', '')}",
        f" Docker Root Dir: {get('DockerRootDir', '')}",
        f" Debug Mode: {str(bool(get('Debug'))).lower()}",
    ]
    console.out("\n".join(lines) + "\n")
    for warning in get("Warnings") or []:
        console.err(f"{warning}\n")
    return 0


def _events_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", help="Show all events created since timestamp")
    p.add_argument("--until", help="Stream events until this timestamp")
    p.add_argument("-f", "--filter", action="append", help="Filter output based on conditions")
    p.add_argument("--format", help="Format the output using the given Go template")


@command("events", "Get real time events from the server", flags=_events_flags)
def cmd_events(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    for event in client.events(args.since, args.until, parse_filters(args.filter)):
        if args.format:
            console.out(fmt.render_template(args.format, event) + "\n")
        else:
            console.out(fmt.event_line(event) + "\n")
    return 0


# ---------------------------------------------------------------- containers


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


def pull_image(client: DockerClient, ref: str, console: Console, to_stderr: bool = False) -> None:
    """Pull ``ref`` printing docker-like progress lines (plain text, one per change)."""
    repo, tag = split_image_ref(ref)
    write = console.err if to_stderr else console.out
    last: dict[str, str] = {}
    final = ""
    display = console.pull_display
    try:
        for msg in client.pull(repo, tag):
            status = str(msg.get("status", ""))
            ident = str(msg.get("id", ""))
            progress = str(msg.get("progress", ""))
            if status.startswith(("Status:", "Digest:")):
                final = status
            if display is not None:
                display.update(msg)
                continue
            line = f"{ident}: {status}" if ident else status
            key = ident or status
            # progress updates of one layer repeat with only the bar changing: show the first
            # line of each status, not every tick
            if progress and last.get(key) == status:
                continue
            last[key] = status
            if line:
                write(line + "\n")
    finally:
        if display is not None:
            display.close()
    if display is not None and final:
        write(final + "\n")
    if not final:
        write(f"Status: Downloaded newer image for {repo}:{tag}\n")
    if not to_stderr:
        write(f"{repo}:{tag}\n")


def _create(client: DockerClient, args: argparse.Namespace, console: Console, attach: bool) -> str:
    config = container_config(args, attach)
    try:
        answer = client.create_container(config, args.name)
    except APIError as exc:
        if exc.status != 404 or not exc.message.lower().startswith("no such image"):
            raise
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


def _check_tty(args: argparse.Namespace, console: Console) -> None:
    if args.tty and args.interactive and not console.stdin_is_tty():
        raise CommandFailed("the input device is not a TTY", 1)


def _resize_now(resize: Callable[[int, int], None], console: Console) -> None:
    size = terminal_size(console.stdin_fd) or terminal_size(1)
    if size:
        with contextlib.suppress(APIError, OSError):
            resize(*size)


def stream_session(
    console: Console,
    conn: Any,
    tty: bool,
    stdin: bool,
    resize: Callable[[int, int], None] | None,
) -> None:
    """Pump a hijacked stream to the console, in raw terminal mode with resize when ``tty``."""
    stdin_fd = console.stdin_fd if stdin else None
    if tty and stdin:
        with raw_terminal(console.stdin_fd):
            if resize is not None:
                _resize_now(resize, console)
                with on_resize(lambda: _resize_now(resize, console)):
                    pump(conn, console.sink(), True, stdin_fd)
            else:
                pump(conn, console.sink(), True, stdin_fd)
    else:
        if tty and resize is not None:
            _resize_now(resize, console)
        pump(conn, console.sink(), tty, stdin_fd)


def _bool_flag(text: str) -> bool:
    if text.lower() in ("1", "t", "true", "yes"):
        return True
    if text.lower() in ("0", "f", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value: {text!r}")


def _run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="Run container in background and print container ID",
    )
    p.add_argument(
        "--sig-proxy",
        type=_bool_flag,
        default=True,
        metavar="true|false",
        help="Proxy received signals to the process (default true)",
    )
    _container_flags(p)


FORWARDED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


@contextlib.contextmanager
def proxy_signals(client: DockerClient, ident: str) -> Iterator[None]:
    """While attached without a tty, pass our signals on to the container (docker's
    --sig-proxy): Ctrl-C stops the container's process, not just the client."""
    import signal

    def forward(signum: int, _frame: Any) -> None:
        with contextlib.suppress(APIError, DaemonUnreachable, OSError):
            client.kill(ident, signal.Signals(signum).name)

    previous: dict[int, Any] = {}
    try:
        for name in FORWARDED_SIGNALS:
            sig = getattr(signal, name, None)
            if sig is not None:
                previous[sig] = signal.signal(sig, forward)
    except ValueError:  # not the main thread: no proxying
        pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
    try:
        resize = (lambda h, w: client.resize(ident, h, w)) if args.tty else None
        with proxy or contextlib.nullcontext():
            stream_session(console, conn, bool(args.tty), bool(args.interactive), resize)
    finally:
        conn.close()
    return waiter.status()


def _start_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR")
    p.add_argument("-i", "--interactive", action="store_true", help="Attach container's STDIN")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


@command("start", "Start one or more stopped containers", flags=_start_flags)
def cmd_start(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    if not (args.attach or args.interactive):
        return _each(args.containers, console, client.start)
    ident = args.containers[0]
    info = client.inspect_container(ident)
    tty = bool(info.get("Config", {}).get("Tty"))
    conn = client.attach(ident, stdin=bool(args.interactive))
    waiter = client.start_wait(ident, "next-exit")
    waiter.registered()
    try:
        client.start(ident)
        resize = (lambda h, w: client.resize(ident, h, w)) if tty else None
        with contextlib.nullcontext() if tty else proxy_signals(client, ident):
            stream_session(console, conn, tty, bool(args.interactive), resize)
    finally:
        conn.close()
    return waiter.status()


def _attach_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
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
    conn = client.attach(args.container, stdin=stdin)
    try:
        resize = (lambda h, w: client.resize(args.container, h, w)) if tty else None
        stream_session(console, conn, tty, stdin, resize)
    finally:
        conn.close()
    state = client.inspect_container(args.container).get("State") or {}
    return int(state.get("ExitCode") or 0)


def _stop_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--time", type=int, help="Seconds to wait for stop before killing it")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


@command("stop", "Stop one or more running containers", flags=_stop_flags)
def cmd_stop(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    return _each(args.containers, console, lambda c: client.stop(c, args.time))


def _restart_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--time", type=int, help="Seconds to wait for stop before killing it")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


@command("restart", "Restart one or more containers", flags=_restart_flags)
def cmd_restart(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    return _each(args.containers, console, lambda c: client.restart(c, args.time))


def _kill_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--signal", help="Signal to send to the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


@command("kill", "Kill one or more running containers", flags=_kill_flags)
def cmd_kill(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    return _each(args.containers, console, lambda c: client.kill(c, args.signal))


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
    return _each(
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
        now = _now()
        rows = [fmt.ps_fields(c, now, args.no_trunc) for c in containers]
        console.out(fmt.render_rows(args.format, rows, fmt.PS_HEADERS))
        return 0
    console.out(fmt.ps_table(containers, _now(), no_trunc=args.no_trunc))
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
        since=args.since,
    )
    sink = console.sink()
    if tty:
        for chunk in chunks:
            sink.write(1, chunk)
    else:
        from .streams import demux

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
    exec_id = client.exec_create(args.container, config)
    if args.detach:
        client.exec_start_detached(exec_id, bool(args.tty))
        return 0
    conn = client.exec_start(exec_id, bool(args.tty))
    try:
        resize = (lambda h, w: client.exec_resize(exec_id, h, w)) if args.tty else None
        stream_session(console, conn, bool(args.tty), bool(args.interactive), resize)
    finally:
        conn.close()
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


# ---------------------------------------------------------------- images


def _images_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("repository", nargs="?")
    p.add_argument("-a", "--all", action="store_true", help="Show all images")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("-f", "--filter", action="append", help="Filter output based on conditions")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("--format", help="Pretty-print images using a Go template")


@command("images", "List images", flags=_images_flags)
def cmd_images(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    filters = parse_filters(args.filter)
    if args.repository:
        filters.setdefault("reference", []).append(args.repository)
    images = client.images(all=args.all, filters=filters)
    if args.quiet:
        # one line per row of the table, as docker prints it (an id repeats for each tag)
        lines = []
        for img in images:
            ident = str(img.get("Id", ""))
            shown = ident if args.no_trunc else fmt.short_id(ident)
            lines += [shown] * max(1, len(img.get("RepoTags") or []))
        console.out("".join(line + "\n" for line in lines))
        return 0
    if args.format:
        now = _now()
        rows = [row for img in images for row in fmt.image_fields(img, now, args.no_trunc)]
        console.out(fmt.render_rows(args.format, rows, fmt.IMAGE_HEADERS))
        return 0
    console.out(fmt.images_table(images, _now(), no_trunc=args.no_trunc))
    return 0


def _rmi_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    p.add_argument("images", nargs="+", metavar="IMAGE")


@command("rmi", "Remove one or more images", flags=_rmi_flags)
def cmd_rmi(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    failed = False
    for name in args.images:
        try:
            answer = client.remove_image(name, args.force)
        except APIError as exc:
            console.err(f"Error response from daemon: {exc.message}\n")
            failed = True
            continue
        for item in answer:
            for key in ("Untagged", "Deleted"):
                if item.get(key):
                    console.out(f"{key}: {item[key]}\n")
    return 1 if failed else 0


def _tag_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("source")
    p.add_argument("target")


@command("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", flags=_tag_flags)
def cmd_tag(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    repo, tag = split_image_ref(args.target)
    client.tag(args.source, repo, tag)
    return 0


def _pull_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    p.add_argument("image")


@command(
    "pull", "Pull an image (dockerscope builds its built-in images offline)", flags=_pull_flags
)
def cmd_pull(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    if ":" not in args.image.rsplit("/", 1)[-1] and "@" not in args.image:
        console.out("Using default tag: latest\n")
    if args.quiet:
        quiet = Console(io.BytesIO(), io.BytesIO(), console.stdin_fd)
        pull_image(client, args.image, quiet)
        console.out(full_ref(args.image) + "\n")
        return 0
    pull_image(client, args.image, console)
    return 0


def _history_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("image")


@command("history", "Show the history of an image", flags=_history_flags)
def cmd_history(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    console.out(fmt.history_table(client.history(args.image), _now()))
    return 0


def _print_stream_messages(messages: Iterator[dict[str, Any]], console: Console) -> None:
    for msg in messages:
        if msg.get("error") or msg.get("errorDetail"):
            detail = msg.get("errorDetail") or {}
            raise APIError(500, str(msg.get("error") or detail.get("message", "")))
        if msg.get("stream"):
            console.out(str(msg["stream"]))
        elif msg.get("status"):
            ident = msg.get("id")
            console.out((f"{ident}: " if ident else "") + str(msg["status"]) + "\n")


def _import_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--message", help="Set commit message for imported image")
    p.add_argument("file", metavar="file|-")
    p.add_argument("repository", nargs="?")


@command(
    "import", "Import the contents from a tarball to create a filesystem image", flags=_import_flags
)
def cmd_import(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    repo = tag = None
    if args.repository:
        repo, tag = split_image_ref(args.repository)
    if args.file != "-" and "://" in args.file:
        raise CommandFailed("dockerscope: import from a URL is not supported offline", 1)
    with _open_input(args.file, console) as src:
        _print_stream_messages(client.import_image(src, repo, tag, args.message), console)
    return 0


@contextlib.contextmanager
def _open_input(path: str | None, console: Console) -> Iterator[BinaryIO]:
    if not path or path == "-":
        yield console.stdin_stream()
        return
    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise CommandFailed(
            f"open {path}: {exc.strerror.lower() if exc.strerror else exc}", 1
        ) from None
    with fh:
        yield fh


def _load_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", help="Read from tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")


@command("load", "Load an image from a tar archive or STDIN", flags=_load_flags)
def cmd_load(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    if not args.input and console.stdin_is_tty():
        raise CommandFailed("requested load from stdin, but stdin is empty", 1)
    with _open_input(args.input, console) as src:
        _print_stream_messages(client.load(src, args.quiet), console)
    return 0


def _save_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.add_argument("images", nargs="+", metavar="IMAGE")


@command(
    "save",
    "Save one or more images to a tar archive (streamed to STDOUT by default)",
    flags=_save_flags,
)
def cmd_save(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    if not args.output and console.stdout_is_tty():
        raise CommandFailed(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect", 1
        )
    chunks = client.save(args.images)
    if args.output:
        tmp = args.output + ".tmp"
        try:
            with open(tmp, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
            os.replace(tmp, args.output)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    else:
        for chunk in chunks:
            console.stdout.write(chunk)
        console.stdout.flush()
    return 0


# ---------------------------------------------------------------- networks


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
    if args.format:
        for obj in found:
            console.out(fmt.render_template(args.format, obj) + "\n")
    else:
        console.out(fmt.inspect_json(found))
    for e in errors:
        console.err(e + "\n")
    return 1 if errors else 0


def cmd_network_rm(client: DockerClient, args: argparse.Namespace, console: Console) -> int:
    def remove(name: str) -> None:
        # the CLI looks the network up first (to warn about ingress networks), then deletes it
        # by the name given; the DELETE's answer is the one reported
        with contextlib.suppress(APIError):
            client.inspect_network(name)
        client.remove_network(name)

    return _each(args.networks, console, remove)


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


# ---------------------------------------------------------------- the program


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
    from .transport import DockerHostError

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

    from .transport import DockerHost

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
