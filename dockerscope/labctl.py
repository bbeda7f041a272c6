"""Lab control: start a lab's daemon, wait for its ping, stop it, take the lab down, list labs.

One place for what the command line (``dockerscope``, ``dockerscope lab down``), the scenario
runner (``scenario.lab.LabSession``) and the tests do to a lab's daemon. The engine is imported
only where a lab is removed (``take_down``), so the command line's light paths stay light.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dockerscope.client.transport import answers_ping, unix_transport
from dockerscope.engine.labcaps import LabCaps
from dockerscope.engine.paths import DATA_BASE, RUN_BASE, BadLabName, Lab
from dockerscope.engine.procinfo import pid_alive

Say = Callable[[str], None]


class DaemonStartError(RuntimeError):
    """A daemon that was started did not come to answer its ping.

    ``returncode`` is its exit code when it exited, None when it was still silent after
    ``waited`` seconds; ``log`` names its log file when it has one.
    """

    def __init__(self, lab: str, returncode: int | None, waited: float, log: Path | None) -> None:
        self.lab = lab
        self.returncode = returncode
        self.waited = waited
        self.log = log
        super().__init__(self._text())

    def _text(self) -> str:
        if self.returncode is not None:
            text = f"the daemon of lab {self.lab} exited with code {self.returncode}"
            if self.log is not None:
                text += f"; last lines of {self.log}:\n" + tail(self.log)
            return text
        text = f"the daemon of lab {self.lab} did not answer within {self.waited:.0f} s"
        return text + (f"; see {self.log}" if self.log is not None else "")


# ------------------------------------------------------------------ what a lab's daemon is doing


def log_path(lab: Lab) -> Path:
    """Where a daemon started by ``dockerscope`` logs: /var/log when writable, else its run dir."""
    var_log = Path("/var/log")
    if os.access(var_log, os.W_OK):
        return var_log / f"dockerscope-{lab.name}.log"
    return lab.run_root / "daemon.log"


def read_pid(lab: Lab) -> int | None:
    """The daemon's pid from the lab's pidfile (None when there is none)."""
    try:
        return int(lab.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def answers(lab: Lab, timeout: float = 2.0) -> bool:
    """True when something answers ``HEAD /_ping`` on the lab's socket."""
    if not lab.socket.exists():
        return False
    return answers_ping(unix_transport(str(lab.socket), timeout=timeout))


def is_daemon(pid: int) -> bool:
    """True when ``pid`` runs a dockerscope daemon (``dockerscope daemon`` or the engine's
    module), so a stale pidfile never makes us signal an unrelated process."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if any(part.endswith(b"dockerscope.engine.daemon") for part in cmd):
        return True
    return b"daemon" in cmd and any(b"dockerscope" in part for part in cmd)


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file ("" when it cannot be read)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# ------------------------------------------------------------------ start


def daemon_argv(lab: Lab, caps: LabCaps | None = None) -> list[str]:
    """The daemon's command line for ``lab``, its run and state dirs spelled out, and its
    ``caps`` when given (else the daemon's defaults: 200 containers, half the RAM, 8192 pids)."""
    return [
        sys.executable,
        "-m",
        "dockerscope.engine.daemon",
        "--lab",
        lab.name,
        "--data-root",
        str(lab.data_root),
        "--run-root",
        str(lab.run_root),
        *(caps.argv() if caps is not None else []),
    ]


def spawn_daemon(
    lab: Lab, log: IO[bytes], caps: LabCaps | None = None, nofile: int | None = None
) -> subprocess.Popen[bytes]:
    """Start the lab's daemon in the background, its output going to ``log``, with ``caps``
    (None: the daemon's defaults).

    It leads a session of its own (so a stop can reach its whole group), runs from "/" (so it
    keeps no directory busy when it outlives us) and imports the same dockerscope as we do,
    installed or from a source tree. ``nofile`` sets its RLIMIT_NOFILE before it starts (the
    daemon sizes its connection cap from it): a bench's low-limit run.
    """
    import dockerscope

    package_parent = str(Path(dockerscope.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(
        daemon_argv(lab, caps),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        close_fds=True,
        cwd="/",
        env=env,
        preexec_fn=None if nofile is None else (lambda: _limit_nofile(nofile)),
    )


def _limit_nofile(n: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


def wait_until_answering(
    lab: Lab, proc: subprocess.Popen[bytes], wait: float, log: Path | None = None
) -> None:
    """Return once the lab's socket answers its ping; raise ``DaemonStartError`` when the
    daemon exits first or ``wait`` seconds pass."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if answers(lab):
            return
        if proc.poll() is not None:
            raise DaemonStartError(lab.name, proc.returncode, wait, log)
        time.sleep(0.1)
    raise DaemonStartError(lab.name, None, wait, log)


def start_daemon(
    lab: Lab,
    log: IO[bytes],
    wait: float = 60.0,
    log_name: Path | None = None,
    caps: LabCaps | None = None,
    nofile: int | None = None,
) -> subprocess.Popen[bytes]:
    """Spawn the lab's daemon (with ``caps``, None: its defaults) and wait for its ping
    (``DaemonStartError`` if it never comes; the process is left for the caller to stop
    either way). ``nofile``: see spawn_daemon."""
    proc = spawn_daemon(lab, log, caps, nofile)
    wait_until_answering(lab, proc, wait, log_name)
    return proc


def ensure_daemon(
    lab: Lab, say: Say = print, wait: float = 180.0, caps: LabCaps | None = None
) -> bool:
    """Reuse the lab's daemon if it answers, else start one (with ``caps``, None: the
    daemon's defaults) that outlives us and wait for it.

    Returns True when a daemon was started. Its output goes to ``log_path(lab)`` (mode 0600:
    it holds containers' names, requests and errors).
    """
    if answers(lab):
        return False
    log = log_path(lab)
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"starting lab {lab.name} (daemon log: {log})")
    with open(log, "ab") as out:
        os.fchmod(out.fileno(), 0o600)
        start_daemon(lab, out, wait, log, caps)
    return True


# ------------------------------------------------------------------ stop, take down


def stop_daemon(
    lab: Lab, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None
) -> str | None:
    """SIGTERM the lab's daemon (it stops its containers), SIGKILL after ``timeout``.

    ``proc``: a daemon we started ourselves (it is reaped); otherwise the one in the lab's
    pidfile. Returns a note when it had to be killed.
    """
    if proc is not None:
        return stop_process(proc, timeout)
    from dockerscope.engine.teardown import process_gone

    pid = read_pid(lab)
    if pid is None or not pid_alive(pid) or not is_daemon(pid):
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid) or process_gone(pid):
            return None
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return f"daemon pid {pid} did not stop in {timeout:.0f} s: killed"


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> str | None:
    """Stop a daemon we spawned: SIGTERM, then SIGKILL to its group after ``timeout``; it is
    reaped either way. Returns a note when it had to be killed."""
    if proc.poll() is not None:
        return None
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
        return None
    except subprocess.TimeoutExpired:
        pass
    # It leads its own session (spawn_daemon): take whatever it started with it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return f"daemon pid {proc.pid} did not stop in {timeout:.0f} s: killed"


def take_down(lab: Lab, keep_log: bool = False, say: Say = print) -> list[str]:
    """Remove a lab completely and idempotently: its daemon, then everything else through
    ``dockerscope.engine.teardown.remove_lab``, then the daemon's log.

    Returns what could not be removed (empty when all went).
    """
    from dockerscope.engine.teardown import remove_lab

    problems: list[str] = []
    try:
        note = stop_daemon(lab)
        if note:
            say(note)
    except Exception as exc:  # keep going: take down as much as possible
        problems.append(f"stopping the daemon: {exc}")
    problems += remove_lab(lab, say)
    if not keep_log:
        try:
            log_path(lab).unlink(missing_ok=True)
        except OSError as exc:
            problems.append(f"removing the log: {exc}")
    return problems


# ------------------------------------------------------------------ list


@dataclass(frozen=True)
class LabStatus:
    """One lab as ``dockerscope lab ls`` shows it."""

    name: str
    status: str  # "running", "not answering" or "stopped"
    pid: int | None  # the daemon's, while it lives
    containers: int
    socket: str


def list_labs(run_base: Path = RUN_BASE, data_base: Path = DATA_BASE) -> list[LabStatus]:
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
        labs.append(lab_status(lab))
    return labs


def lab_status(lab: Lab) -> LabStatus:
    """What one lab's daemon is doing and how many containers it keeps."""
    pid = read_pid(lab)
    alive = pid is not None and pid_alive(pid)
    if answers(lab, timeout=1.0):
        status = "running"
    elif alive:
        status = "not answering"
    else:
        status = "stopped"
    containers = 0
    if lab.containers_dir.is_dir():
        containers = sum(1 for p in lab.containers_dir.iterdir() if p.is_dir())
    return LabStatus(lab.name, status, pid if alive else None, containers, str(lab.socket))
