"""``dockerscope``: the command line.

With no arguments it opens the course on a live lab (as root on Linux, starting the lab's daemon
when it is not running) or, without root, the replay menu. Subcommands run the daemon, point a
shell at a lab (``env``), enter a lab host (``ssh``), list and remove labs, open the dashboard,
record and replay scenarios, and every docker-like command of the stdlib client
(``dockerscope run -d -p 8080:8080 busybox ...``).

Heavy parts (the engine, the observer, the Textual UI, scenarios) are imported inside the
subcommand that needs them, so ``dockerscope --help`` and the docker-like commands stay light.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from dockerscope.client import commands as docker_commands
from dockerscope.client.transport import DockerHost, DockerHostError
from dockerscope.engine.paths import DATA_BASE, DEFAULT_LAB, RUN_BASE, BadLabName, Lab

NOT_ROOT_REASON = "not root: replaying recorded lessons; run as root for a live lab"
NOT_LINUX_REASON = "not Linux: replaying recorded lessons; a live lab needs a Linux kernel"


class CliError(Exception):
    """A clear, one-line failure of a dockerscope subcommand (exit code 1)."""


def version() -> str:
    """The installed package's version."""
    try:
        from importlib.metadata import version as _v

        return _v("dockerscope")
    except Exception:  # not installed (running from a source tree)
        return "0.1.0"


def is_root() -> bool:
    """True for uid 0 (False where there are no uids, e.g. Windows: replay still works)."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def unavailable(what: str, module: str) -> CliError:
    return CliError(f"{what} is not available yet in this build (no {module})")


def import_optional(module: str, what: str) -> Any:
    """Import a part of dockerscope owned elsewhere, or fail with a clear "not available yet"."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            raise unavailable(what, module) from None
        raise


# ------------------------------------------------------------------ parser


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
        help="serve a lab's Docker Engine API (run in the foreground; see 'daemon --help')",
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

    lab = sub.add_parser("lab", help="list labs, or take one down completely")
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

    sc = sub.add_parser("scope", help="open the live dashboard on a lab, a netns or the host")
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

    r = sub.add_parser("record", help="autoplay a scenario on a live lab and record it")
    r.add_argument("scenario", help="scenario name or file")
    r.add_argument("-o", "--output", required=True, help="recording to write (JSON Lines)")
    _lab_options(r, roots=False)

    rp = sub.add_parser("replay", help="play a recording (no root, no daemon needed)")
    rp.add_argument("file", nargs="?", help="recording file (default: the replay menu)")

    docker_commands.add_commands(sub)
    return parser


# ------------------------------------------------------------------ labs


def lab_from(args: argparse.Namespace, name: str | None = None) -> Lab:
    """The lab named on the command line (subcommand --lab, then global --lab, then default)."""
    name = name or getattr(args, "lab", None) or DEFAULT_LAB
    try:
        return Lab.named(
            name,
            data_root=getattr(args, "data_root", None),
            run_root=getattr(args, "run_root", None),
        )
    except BadLabName as exc:
        raise CliError(str(exc)) from None


def docker_host_for(args: argparse.Namespace, env: dict[str, str] | None = None) -> DockerHost:
    """-H, else --lab's socket, else DOCKER_HOST, else the default lab's socket."""
    env = dict(os.environ) if env is None else env
    try:
        if args.host:
            return DockerHost.from_env(env, override=args.host)
        if args.lab:
            return DockerHost(scheme="unix", path=str(lab_from(args).socket))
        if env.get("DOCKER_HOST"):
            return DockerHost.from_env(env)
    except DockerHostError as exc:
        raise CliError(str(exc)) from None
    return DockerHost(scheme="unix", path=str(Lab.named(DEFAULT_LAB).socket))


def cmd_env(args: argparse.Namespace) -> int:
    if args.unset:
        print("unset DOCKER_HOST")
    else:
        lab = lab_from(args)
        print(f"export DOCKER_HOST=unix://{lab.socket}")
    print("# Run this command to configure your shell:")
    lab_flag = f" --lab {args.lab}" if getattr(args, "lab", None) else ""
    print(f"# eval $(dockerscope env{lab_flag}{' --unset' if args.unset else ''})")
    return 0


def cmd_daemon(argv: list[str], lab: str | None) -> int:
    daemon = import_optional("dockerscope.engine.daemon", "the engine daemon")
    if lab and "--lab" not in argv and not any(a.startswith("--lab=") for a in argv):
        argv = ["--lab", lab, *argv]
    return int(daemon.main(argv) or 0)


def cmd_ssh(args: argparse.Namespace) -> int:
    lab = lab_from(args)
    if not is_root():
        raise CliError("dockerscope ssh needs root (it enters the lab's namespaces)")
    if not lab.netns_path.exists():
        raise CliError(
            f"lab {lab.name} is not up (no {lab.netns_path}): start it with "
            f"'dockerscope daemon --lab {lab.name}' or 'dockerscope'"
        )
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    argv = lab_shell_argv(lab, cmd)
    sys.stdout.flush()
    os.execvp(argv[0], argv)
    return 127  # not reached


def cmd_lab_ls(args: argparse.Namespace) -> int:
    print(lab_table(list_labs(args.run_base, args.data_base)), end="")
    return 0


def cmd_lab_down(args: argparse.Namespace) -> int:
    lab = lab_from(args, args.name)
    if not is_root():
        raise CliError("dockerscope lab down needs root (it removes kernel objects)")
    problems = lab_down(lab, keep_log=args.keep_log, say=lambda m: print(m, file=sys.stderr))
    if problems:
        for p in problems:
            print(f"dockerscope: {p}", file=sys.stderr)
        return 1
    print(f"lab {lab.name} removed")
    return 0


def _ui() -> Any:
    return import_optional("dockerscope.screens.app", "the terminal UI")


def cmd_scope(args: argparse.Namespace) -> int:
    observer = import_optional("dockerscope.feed.live", "the live observer")
    if args.scope_host:
        # One Docker for both halves: the panels' hints and the command bar follow -H, then
        # DOCKER_HOST, then the default socket, as the docker CLI does.
        host = DockerHost.parse(getattr(args, "host", None) or os.environ.get("DOCKER_HOST"))
        if host.scheme == "unix":
            scope = observer.Scope.host(docker_socket=host.path)
        else:
            scope = observer.Scope.host()
        title = "dockerscope: host"
    elif args.netns:
        scope = observer.Scope.netns(args.netns)
        host = None
        title = f"dockerscope: netns {args.netns}"
    else:
        lab = lab_from(args)
        scope = observer.Scope.lab(lab.name, run_root=str(lab.run_root.parent))
        host = DockerHost(scheme="unix", path=str(lab.socket))
        title = f"dockerscope: lab {lab.name}"
    client = docker_commands.line_runner(host) if host is not None else None
    _ui().run_scope(observer.LiveSource(scope), client=client, title=title)
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    import inspect

    scenario = import_optional("dockerscope.scenario", "scenario recording")
    record = getattr(scenario, "record", None)
    if record is None:
        raise unavailable("scenario recording", "dockerscope.scenario.record")
    kwargs: dict[str, Any] = {}
    if "lab" in inspect.signature(record).parameters:
        # no --lab: the recorder makes a temporary lab of its own and removes it afterwards
        kwargs["lab"] = lab_from(args) if getattr(args, "lab", None) else None
    result = record(args.scenario, args.output, **kwargs)
    ok = getattr(result, "ok", True)
    return 0 if ok else 1


def cmd_replay(path: str | None, reason: str | None = None) -> int:
    _ui().run_replay(path, reason=reason)
    return 0


def lab_source(lab: Lab) -> Any:
    """The live observer's frames for a lab, or None when the observer is not available."""
    try:
        observer = import_optional("dockerscope.feed.live", "the live observer")
    except CliError:
        return None
    return observer.LiveSource(observer.Scope.lab(lab.name, run_root=str(lab.run_root.parent)))


def cmd_course(args: argparse.Namespace) -> int:
    """The live course: ensure the lab's daemon answers, then open the course menu."""
    lab = lab_from(args)
    if not is_root() and not lab_answers(lab):
        raise CliError(
            f"lab {lab.name} is not running and starting it needs root "
            "(or use 'dockerscope replay' for the recorded lessons)"
        )
    ensure_daemon(lab, say=lambda m: print(m, file=sys.stderr))
    ui = _ui()
    host = DockerHost(scheme="unix", path=str(lab.socket))
    ui.run_course(lab, source=lab_source(lab), client=docker_commands.line_runner(host))
    return 0


def default_action(args: argparse.Namespace) -> int:
    """No command: the live course as root on Linux, else the replay menu with the reason."""
    if not sys.platform.startswith("linux"):
        return cmd_replay(None, NOT_LINUX_REASON)
    if not is_root():
        return cmd_replay(None, NOT_ROOT_REASON)
    return cmd_course(args)


# ------------------------------------------------------------------ lab host shell


LAB_SHELL_SCRIPT = r"""
lab=$1; netns_dir=$2; shift 2
umount -l /sys 2>/dev/null || true
mount -t sysfs sysfs /sys
mkdir -p /run/netns
if [ -d "$netns_dir" ]; then mount --rbind "$netns_dir" /run/netns; fi
hostname "$lab" 2>/dev/null || true
exec "$@"
"""


def lab_shell_argv(lab: Lab, cmd: list[str], shell: str | None = None) -> list[str]:
    """The command line of ``dockerscope ssh``: join the lab's netns (nsenter), then a new
    private mount and UTS namespace (unshare) where /sys shows the lab's links (brctl reads
    it), the containers' netns dir is mounted over /run/netns (so ``ip netns`` lists them by
    name) and the hostname is the lab's, then run ``cmd`` or the user's shell.
    """
    if not cmd:
        shell = shell or os.environ.get("SHELL") or ""
        if not shell or not os.path.exists(shell):
            shell = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
        cmd = [shell]
    return [
        "nsenter",
        f"--net={lab.netns_path}",
        "--",
        "unshare",
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        LAB_SHELL_SCRIPT,
        "dockerscope-ssh",
        lab.name,
        str(lab.container_netns_dir),
        *cmd,
    ]


# ------------------------------------------------------------------ labs: list, start, remove


def log_path(lab: Lab) -> Path:
    """Where a daemon started by ``dockerscope`` logs: /var/log when writable, else its run dir."""
    var_log = Path("/var/log")
    if os.access(var_log, os.W_OK):
        return var_log / f"dockerscope-{lab.name}.log"
    return lab.run_root / "daemon.log"


def read_pid(lab: Lab) -> int | None:
    try:
        return int(lab.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lab_answers(lab: Lab, timeout: float = 2.0) -> bool:
    """True when something answers ``HEAD /_ping`` on the lab's socket."""
    import socket

    if not lab.socket.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(lab.socket))
            s.sendall(b"HEAD /_ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def ensure_daemon(lab: Lab, say: Any = print, wait: float = 180.0) -> bool:
    """Reuse the lab's daemon if it answers, else start one in the background and wait for it.

    Returns True when a daemon was started. Its output goes to ``log_path(lab)``.
    """
    import subprocess
    import time

    if lab_answers(lab):
        return False
    log = log_path(lab)
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "dockerscope", "daemon", "--lab", lab.name]
    if lab.run_root != RUN_BASE / lab.name:
        cmd += ["--run-root", str(lab.run_root)]
    if lab.data_root != DATA_BASE / lab.name:
        cmd += ["--data-root", str(lab.data_root)]
    say(f"starting lab {lab.name} (daemon log: {log})")
    # The daemon outlives us: run it from "/" (so it keeps no directory busy) and make sure it
    # imports the same dockerscope as we do, installed or from a source tree.
    import dockerscope

    package_parent = str(Path(dockerscope.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    with open(log, "ab") as out:
        os.fchmod(out.fileno(), 0o600)  # the log holds containers' names, requests and errors
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd="/",
            env=env,
        )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if lab_answers(lab):
            return True
        if proc.poll() is not None:
            raise CliError(
                f"the daemon of lab {lab.name} exited with code {proc.returncode}; "
                f"last lines of {log}:\n" + _tail(log)
            )
        time.sleep(0.1)
    raise CliError(f"the daemon of lab {lab.name} did not answer within {wait:.0f} s; see {log}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def list_labs(run_base: Path = RUN_BASE, data_base: Path = DATA_BASE) -> list[dict[str, Any]]:
    """Every lab with a run dir or a state dir: name, daemon status and pid, containers."""
    names: set[str] = set()
    for base in (run_base, data_base):
        if base.is_dir():
            names |= {p.name for p in base.iterdir() if p.is_dir()}
    labs = []
    for name in sorted(names):
        try:
            lab = Lab.named(name, data_root=data_base / name, run_root=run_base / name)
        except BadLabName:
            continue
        pid = read_pid(lab)
        alive = pid is not None and pid_alive(pid)
        if lab_answers(lab, timeout=1.0):
            status = "running"
        elif alive:
            status = "not answering"
        else:
            status = "stopped"
        containers = 0
        if lab.containers_dir.is_dir():
            containers = sum(1 for p in lab.containers_dir.iterdir() if p.is_dir())
        labs.append(
            {
                "name": name,
                "status": status,
                "pid": pid if alive else None,
                "containers": containers,
                "socket": str(lab.socket),
            }
        )
    return labs


def lab_table(labs: list[dict[str, Any]]) -> str:
    """``dockerscope lab ls`` output, aligned like docker's tables."""
    from dockerscope.client.formatting import table

    rows = [["LAB", "DAEMON", "PID", "CONTAINERS", "SOCKET"]]
    for lab in labs:
        rows.append(
            [
                lab["name"],
                lab["status"],
                str(lab["pid"]) if lab["pid"] else "-",
                str(lab["containers"]),
                lab["socket"],
            ]
        )
    return table(rows)


def stop_daemon(lab: Lab, timeout: float = 20.0) -> str | None:
    """SIGTERM the lab's daemon (it stops its containers), SIGKILL after ``timeout``."""
    import signal
    import time

    from dockerscope.engine.teardown import process_gone

    pid = read_pid(lab)
    if pid is None or not pid_alive(pid) or not _is_daemon(pid, lab):
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid) or process_gone(pid):
            return None
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return f"daemon pid {pid} did not stop in {timeout:.0f} s: killed"


def _is_daemon(pid: int, lab: Lab) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"daemon" in cmd and any(b"dockerscope" in part for part in cmd)


def lab_down(lab: Lab, keep_log: bool = False, say: Any = print) -> list[str]:
    """Remove a lab completely and idempotently: its daemon, then everything else through
    ``dockerscope.engine.teardown.remove_lab``, then the daemon's log.

    Returns what could not be removed (empty when all went).
    """
    problems: list[str] = []
    try:
        note = stop_daemon(lab)
        if note:
            say(note)
    except Exception as exc:  # keep going: take down as much as possible
        problems.append(f"stopping the daemon: {exc}")
    teardown = import_optional("dockerscope.engine.teardown", "lab removal")
    problems += teardown.remove_lab(lab, say)
    if not keep_log:
        try:
            log_path(lab).unlink(missing_ok=True)
        except OSError as exc:
            problems.append(f"removing the log: {exc}")
    return problems


# ------------------------------------------------------------------ pull progress


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
        if self._progress is not None:
            for task in self._tasks.values():
                t = self._progress.tasks[task]
                if t.total:
                    self._progress.update(task, completed=t.total)
            self._progress.stop()


# ------------------------------------------------------------------ main


def _split_globals(argv: list[str]) -> tuple[list[str], list[str]]:
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


def dispatch(args: argparse.Namespace) -> int:
    sub = args.subcommand
    if sub is None:
        return default_action(args)
    if sub == "env":
        return cmd_env(args)
    if sub == "ssh":
        return cmd_ssh(args)
    if sub == "lab":
        return cmd_lab_ls(args) if args.lab_command == "ls" else cmd_lab_down(args)
    if sub == "scope":
        return cmd_scope(args)
    if sub == "record":
        return cmd_record(args)
    if sub == "replay":
        return cmd_replay(args.file)
    if sub == "course":
        return cmd_course(args)
    # a docker-like command
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``dockerscope``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    globals_, rest = _split_globals(argv)
    if rest and rest[0] == "daemon":
        gargs = build_parser().parse_args(globals_)
        try:
            return cmd_daemon(rest[1:], gargs.lab)
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
