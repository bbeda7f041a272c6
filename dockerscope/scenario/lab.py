"""A real lab for scenarios: the daemon, the observer, the traffic tap and a command executor.

``LabSession`` starts a daemon for a lab (or uses one already serving), and gives the runner
what it needs: an ``Executor`` (commands of each kind), a ``snapshot`` function (the observer,
never the engine's bookkeeping), a ``traffic`` function (API calls from the daemon's tap) and
the placeholder values (``{lab}``, ``{socket}``, ``{kernel}``). ``close`` takes down whatever the
session started. Linux and root only; replay never imports this module.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from dockerscope import labctl
from dockerscope.engine.paths import Lab
from dockerscope.feed.tap import TapFollower, TapUnavailable
from dockerscope.kernel.model import ApiCall, Snapshot
from dockerscope.scenario.model import Command, CommandResult


class LabError(RuntimeError):
    """The lab could not be started or reached."""


def _client_argv(socket_path: str) -> list[str]:
    return [sys.executable, "-m", "dockerscope.client", "-H", f"unix://{socket_path}"]


def _decode(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    """Stop a command and everything it started (it leads its own session)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class _Background:
    proc: subprocess.Popen[bytes]
    out: BinaryIO
    kind: str
    display: str
    started: float

    def finish(self) -> CommandResult:
        _kill_group(self.proc)
        self.out.seek(0)
        text = _decode(self.out.read())
        self.out.close()
        return CommandResult(
            self.kind,
            self.display,
            self.proc.returncode,
            stdout=text,
            duration=time.monotonic() - self.started,
            background=True,
        )


class LabExecutor:
    """Runs scenario commands against one lab.

    ``docker`` commands go through dockerscope's client to the lab's socket; ``lab`` commands
    run in a shell inside the lab host netns; ``container`` commands through ``docker exec``;
    ``host`` commands in a shell on the host. Shell commands find a ``docker`` on their PATH
    that talks to this lab, so scenario files can say ``docker inspect ...`` as the course does.
    """

    def __init__(self, lab: str, socket_path: str) -> None:
        self.lab = lab
        self.socket = socket_path
        self._bin = Path(tempfile.mkdtemp(prefix="dockerscope-bin-"))
        shim = self._bin / "docker"
        shim.write_text(
            "#!/bin/sh\nexec " + " ".join(map(shlex.quote, _client_argv(socket_path))) + ' "$@"\n'
        )
        shim.chmod(0o755)
        self.env = dict(os.environ)
        self.env["PATH"] = f"{self._bin}:{self.env.get('PATH', '/usr/bin:/bin')}"
        self.env["DOCKER_HOST"] = f"unix://{socket_path}"

    def argv(self, command: Command) -> list[str]:
        """The process to start for a command."""
        if command.kind == "docker":
            return _client_argv(self.socket) + shlex.split(command.run)
        if command.kind == "container":
            return _client_argv(self.socket) + [
                "exec",
                command.container,
                "sh",
                "-c",
                command.run,
            ]
        if command.kind == "lab":
            return ["ip", "netns", "exec", self.lab, "sh", "-c", command.run]
        return ["sh", "-c", command.run]

    def run(self, command: Command) -> CommandResult:
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                self.argv(command),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
                start_new_session=True,
            )
        except (OSError, ValueError) as e:
            return CommandResult(command.kind, command.display(), 127, stderr=f"{e}\n")
        try:
            out, err = proc.communicate(timeout=command.timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            err += f"\n(timed out after {command.timeout:g} s)\n".encode()
            code = 124
        return CommandResult(
            command.kind,
            command.display(),
            code,
            _decode(out),
            _decode(err),
            round(time.monotonic() - start, 4),
        )

    def start(self, command: Command) -> _Background:
        out = tempfile.TemporaryFile()  # noqa: SIM115 (closed by finish)
        proc = subprocess.Popen(
            self.argv(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        return _Background(proc, out, command.kind, command.display(), time.monotonic())

    def close(self) -> None:
        shutil.rmtree(self._bin, ignore_errors=True)


class LabSession:
    """One lab, started for a scenario run (or reused when its daemon already serves).

    ``run_base``/``data_base`` hold the lab's run and state dirs (``<base>/<lab>``); tests and
    recordings pass temporary ones. The session only takes down what it started.
    """

    def __init__(
        self,
        name: str,
        run_base: str | Path = "/run/dockerscope",
        data_base: str | Path = "/var/lib/dockerscope",
        startup_timeout: float = 60.0,
        log: str | Path | None = None,
    ) -> None:
        self.name = name
        self.run_base = Path(run_base)
        self.data_base = Path(data_base)
        self.run_root = self.run_base / name
        self.data_root = self.data_base / name
        self.lab = Lab.named(name, data_root=self.data_root, run_root=self.run_root)
        self.socket = str(self.lab.socket)
        self.startup_timeout = startup_timeout
        self.log_path = Path(log) if log else None
        self._daemon: subprocess.Popen[bytes] | None = None
        self._fresh = False  # this session created the lab, so it removes it again
        self._log: BinaryIO | None = None
        self.executor: LabExecutor | None = None
        self._observer: Any = None
        self._traffic: TapFollower | None = None

    # -- life cycle -------------------------------------------------------------------------

    def up(self, images: tuple[str, ...] = ()) -> LabSession:
        """Start (or reuse) the daemon, then the observer and the traffic feed; pull ``images``."""
        if os.geteuid() != 0:
            raise LabError("a live lab needs root (replay a recording instead)")
        if not labctl.answers(self.lab):
            # A lab that has state already is only started and stopped again, never removed.
            self._fresh = not self.data_root.exists()
            self._start_daemon()
        self.executor = LabExecutor(self.name, self.socket)
        for image in images:
            r = self.executor.run(Command("docker", f"pull {image}", timeout=600))
            if r.exit_code != 0:
                raise LabError(f"cannot get image {image}: {(r.stderr or r.stdout).strip()}")
        from dockerscope.kernel.observer import Observer, Scope

        scope = Scope.lab(self.name, run_root=str(self.run_base))
        # Verdicts read snapshot(reread_all=True), which walks upper dirs again too.
        self._observer = Observer(scope)
        try:
            self._traffic = TapFollower(self.socket)
        except TapUnavailable as exc:
            raise LabError(str(exc)) from exc
        return self

    def _start_daemon(self) -> None:
        self.run_root.mkdir(parents=True, exist_ok=True)
        # Kept open for the daemon's life, closed by close().
        if self.log_path:
            self._log = open(self.log_path, "ab+")  # noqa: SIM115
        else:
            self._log = tempfile.TemporaryFile()  # noqa: SIM115
        self._daemon = labctl.spawn_daemon(self.lab, self._log)
        try:
            labctl.wait_until_answering(self.lab, self._daemon, self.startup_timeout)
        except labctl.DaemonStartError as exc:
            if exc.returncode is not None:
                text = f"daemon exited with {exc.returncode}: {self.daemon_log()}"
            else:
                text = f"daemon did not answer within {self.startup_timeout:g} s"
            raise LabError(text) from exc

    def daemon_log(self, tail: int = 2000) -> str:
        """The end of the daemon's log (for error messages)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return _decode(self._log.read())[-tail:]

    def close(self) -> None:
        """Stop the feed and the observer; stop the daemon and take the lab down if we made it."""
        if self._traffic is not None:
            self._traffic.close()
            self._traffic = None
        if self._observer is not None:
            self._observer.close()
            self._observer = None
        if self.executor is not None:
            self.executor.close()
        if self._daemon is not None:
            daemon, self._daemon = self._daemon, None
            labctl.stop_daemon(self.lab, timeout=30, proc=daemon)
            if self._fresh:
                # The daemon has stopped: this removes what it left (netns, cgroups, state).
                problems = labctl.take_down(self.lab, keep_log=True, say=lambda _: None)
                if problems:
                    raise LabError(f"lab {self.name} not fully removed: " + "; ".join(problems))
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LabSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the runner needs --------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """A complete reading: verdicts must not depend on an event having arrived in time."""
        assert self._observer is not None, "call up() first"
        return self._observer.snapshot(reread_all=True)

    def traffic(self) -> list[ApiCall]:
        return self._traffic.drain() if self._traffic is not None else []

    def values(self) -> dict[str, str]:
        """Placeholder values for scenario files."""
        return {"lab": self.name, "socket": self.socket, "kernel": platform.release()}

    def runner(self, scenario: Any) -> Any:
        """A Runner for ``scenario`` on this lab."""
        from dockerscope.scenario.runner import Runner

        assert self.executor is not None, "call up() first"
        return Runner(scenario, self.executor, self.snapshot, self.traffic, self.values())
