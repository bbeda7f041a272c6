"""Container lifecycle: create, start, stop, kill, wait, remove, logs, exec, and the reaper.

Everything runs on the daemon's event loop (one thread). A container's PID 1 is a child of the
daemon (a child subreaper): its exit is noticed with ``pidfd_open`` + ``loop.add_reader`` and
collected with ``waitpid(WNOHANG)``. Its stdio are pipes (or a pty) whose host ends the loop
reads into the json log and to live attach/log subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dockerscope.engine.containers import etcfiles
from dockerscope.engine.containers.create_request import (
    CreateRequest,
    check_name,
    console_size,
    merge_env,
)
from dockerscope.engine.containers.detach import parse_keys
from dockerscope.engine.containers.logs import JsonLogWriter, LogLine
from dockerscope.engine.containers.model import Container, ContainerConfig, State
from dockerscope.engine.containers.names import random_name
from dockerscope.engine.containers.networking import ContainerNetworking, NetSetup
from dockerscope.engine.containers.process import FdWriter, OutputReader, Stdio, set_winsize
from dockerscope.engine.containers.store import ContainerStore
from dockerscope.engine.errors import (
    Conflict,
    Forbidden,
    Internal,
    InvalidArgument,
    NotFound,
    NotModified,
    no_such_container,
)
from dockerscope.engine.events import EventBus
from dockerscope.engine.paths import Lab

log = logging.getLogger(__name__)

DRAIN_AFTER_EXIT = 2.0  # seconds to wait for a dead container's last output


def proc_start_time(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks); 0 if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(raw.rsplit(")", 1)[1].split()[19])


def pidns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return None


@dataclass
class Live:
    """What the daemon holds for a running container (not persisted)."""

    spec: Any  # runtime.ContainerSpec
    pid: int
    pidfd: int
    pidns: int | None
    stdio: Stdio
    reader: OutputReader | None = None
    stdin: FdWriter | None = None
    log: JsonLogWriter | None = None
    followers: set[asyncio.Queue[LogLine | None]] = field(default_factory=set)
    cgroup_paths: tuple[str, ...] = ()


@dataclass
class ExecInstance:
    """One ``docker exec``: created, then started once."""

    id: str
    container_id: str
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: str
    tty: bool
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    console_size: tuple[int, int] = (0, 0)
    # ``docker exec --detach-keys`` (or the default): they end a tty session, not the process
    detach_keys: str = ""
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    pty_master: int | None = None
    done: asyncio.Future[int] | None = None

    def to_docker(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": self.tty,
                "entrypoint": self.args[0] if self.args else "",
                "arguments": list(self.args[1:]),
                "privileged": False,
                "user": self.user,
            },
            "OpenStdin": self.attach_stdin,
            "OpenStderr": self.attach_stderr,
            "OpenStdout": self.attach_stdout,
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": self.detach_keys,
            "Pid": self.pid,
        }


class ContainerManager:
    """All containers of one lab: records, running processes, waiters and events."""

    def __init__(
        self,
        lab: Lab,
        images: Any,
        runtime: Any,
        events: EventBus,
        networking: ContainerNetworking,
    ) -> None:
        self.lab = lab
        self.images = images
        self.runtime = runtime
        self.events = events
        self.net = networking
        self.store = ContainerStore(lab.containers_dir)
        self.containers: dict[str, Container] = {}
        self.live: dict[str, Live] = {}
        self.execs: dict[str, ExecInstance] = {}
        self._exit_futs: dict[str, asyncio.Future[int]] = {}
        self._removed_futs: dict[str, asyncio.Future[int]] = {}
        self._pidns_names: dict[int, str] = {}
        self._finishing: dict[str, asyncio.Task[None]] = {}
        # attach subscribers by container id (an attach may come before the start)
        self.attached: dict[str, set[asyncio.Queue[tuple[str, bytes] | None]]] = {}
        # stdin an attached client sent before the start (docker run -i attaches first)
        self._early_stdin: dict[str, tuple[bytearray, list[bool]]] = {}

    # ---- lookup -------------------------------------------------------------------------

    def get(self, ref: str) -> Container:
        """A container by full id, name (with or without "/") or unique id prefix."""
        if ref in self.containers:
            return self.containers[ref]
        name = ref.lstrip("/")
        for c in self.containers.values():
            if c.name == name:
                return c
        if ref:
            matches = [c for c in self.containers.values() if c.id.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise no_such_container(ref)

    def container_of_pid(self, pid: int) -> str | None:
        """Name of the container whose pid namespace holds ``pid`` (traffic attribution)."""
        ino = pidns_inode(pid)
        return self._pidns_names.get(ino) if ino is not None else None

    def _save(self, c: Container) -> Container:
        self.containers[c.id] = c
        self.store.save(c)
        return c

    def _attrs(self, c: Container, **extra: str) -> dict[str, str]:
        return {**dict(c.config.labels), "image": c.config.image, "name": c.name, **extra}

    def _exit_future(self, cid: str) -> asyncio.Future[int]:
        fut = self._exit_futs.get(cid)
        if fut is None or fut.done():
            fut = asyncio.get_running_loop().create_future()
            self._exit_futs[cid] = fut
        return fut

    def _removed_future(self, cid: str) -> asyncio.Future[int]:
        fut = self._removed_futs.get(cid)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._removed_futs[cid] = fut
        return fut

    # ---- create ---------------------------------------------------------------------------

    def create(self, req: CreateRequest) -> Container:
        """Record a new container (nothing runs yet); 404 for an unknown image."""
        image = self.images.get(req.config.image)
        name = req.name or self._free_name()
        for other in self.containers.values():
            if other.name == name:
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{other.id}". You have to remove (or rename) that container to be able '
                    "to reuse that name."
                )
        net = req.host.network_mode
        joined: Container | None = None
        if net.startswith("container:"):
            # Docker resolves the container now (404 if unknown), keeps its full id, and gives
            # the newcomer that container's hostname: they share one network identity.
            joined = self.get(net.partition(":")[2])
            if req.config.hostname:
                raise InvalidArgument("conflicting options: hostname and the network mode")
            req = replace(req, host=replace(req.host, network_mode=f"container:{joined.id}"))
        elif net not in ("default", "bridge", "host", "none") and self.net.networks is not None:
            self.net.networks.get(net)  # 404 "network x not found" before anything is written
        cid = secrets.token_hex(32)
        while cid in self.containers or cid[:12].isdigit():
            cid = secrets.token_hex(32)
        ic = image.config
        cfg = req.config
        use_image_cmd = cfg.cmd is None and cfg.entrypoint is None
        merged = replace(
            cfg,
            # --net=host takes the (lab) host's name, as Docker does; else the short id.
            hostname=cfg.hostname
            or (joined.config.hostname if joined is not None else "")
            or (os.uname().nodename if req.host.network_mode == "host" else cid[:12]),
            env=merge_env(tuple(ic.env), cfg.env),
            cmd=tuple(ic.cmd) if use_image_cmd and ic.cmd is not None else cfg.cmd,
            entrypoint=cfg.entrypoint
            if cfg.entrypoint is not None
            else (tuple(ic.entrypoint) if ic.entrypoint is not None else None),
            working_dir=cfg.working_dir or ic.working_dir,
            user=cfg.user or ic.user,
            exposed_ports=tuple(sorted(set(cfg.exposed_ports) | set(ic.exposed_ports))),
            labels=tuple(sorted({**dict(ic.labels), **dict(cfg.labels)}.items())),
        )
        if cfg.entrypoint == ("",):  # --entrypoint "" clears the image's entrypoint
            merged = replace(merged, entrypoint=None)
        if not merged.argv:
            raise InvalidArgument("No command specified")
        c = Container(
            id=cid,
            name=name,
            created=time.time(),
            image_id=image.id,
            config=merged,
            host=req.host,
        )
        try:
            self._save(c)
            self.store.log_path(cid).touch()
        except OSError as exc:
            self.containers.pop(cid, None)
            self.store.delete(cid)
            raise Internal(f"cannot write the container's state: {exc}") from exc
        self._exit_future(cid)
        self._removed_future(cid)
        self.events.emit("container", "create", cid, self._attrs(c))
        return c

    def _joined(self, c: Container) -> Container | None:
        """For ``--network container:<id>``: the container whose network is joined, which must
        be running (409 as dockerd says otherwise); None for every other mode."""
        mode = c.host.network_mode
        if not mode.startswith("container:"):
            return None
        ref = mode.partition(":")[2]
        other = self.containers.get(ref)
        if other is None:
            raise NotFound(f"No such container: {ref}")
        if not other.state.running:
            raise Conflict(f"cannot join network of a non running container: {other.id}")
        return other

    def _free_name(self) -> str:
        used = {c.name for c in self.containers.values()}
        for _ in range(100):
            name = random_name()
            if name not in used:
                return name
        return "container_" + secrets.token_hex(4)

    # ---- start ----------------------------------------------------------------------------

    def _spec(
        self,
        c: Container,
        netns_path: str,
        etc: tuple[tuple[str, str], ...],
        lowerdirs: tuple[str, ...] | None = None,
    ) -> Any:
        rt = self.runtime
        d = self.store.dir(c.id)
        if lowerdirs is None:
            image_layers = tuple(self.images.layer_dirs(self.images.get(c.image_id)))
            # Docker's "<id>-init" layer: mount points, /etc files and /.dockerenv live in a
            # read-only layer of their own, so starting writes nothing to the container's upper
            # dir and neither `docker diff` nor `docker commit` ever sees them.
            lowerdirs = (rt.make_init_layer(d / "init", image_layers), *image_layers)
        binds = []
        for b in c.host.binds:
            parts = b.split(":")
            ro = len(parts) == 3 and "ro" in parts[2].split(",")
            binds.append(rt.Bind(parts[0], parts[1], ro))
        h = c.host
        return rt.ContainerSpec(
            id=c.id,
            hostname=c.config.hostname,
            lowerdirs=lowerdirs,
            upperdir=str(d / "upper"),
            workdir=str(d / "work"),
            rootfs=str(d / "rootfs"),
            args=c.config.argv,
            env=c.config.env,
            cwd=c.config.working_dir or "/",
            user=c.config.user,
            tty=c.config.tty,
            netns_path=netns_path,
            etc_files=etc,
            binds=tuple(binds),
            resources=rt.Resources(
                memory=h.memory or None,
                nano_cpus=h.nano_cpus or None,
                cpu_shares=h.cpu_shares or None,
                pids_limit=h.pids_limit,
            ),
            cgroup_parent=self.lab.cgroup_parent,
            seccomp=h.seccomp,
        )

    async def start(self, ref: str) -> Container:
        """Start a created or exited container; 304 if it already runs."""
        c = self.get(ref)
        if c.id in self._finishing:
            await asyncio.shield(self._finishing[c.id])
            c = self.get(c.id)
        if c.state.running:
            raise NotModified("container already started")
        if c.state.status == "removing":
            raise Conflict(f"container {c.id} is marked for removal and cannot be started")
        d = self.store.dir(c.id)
        for sub in ("upper", "work", "rootfs"):
            (d / sub).mkdir(exist_ok=True)
        stdio: Stdio | None = None
        spec = None
        try:
            joined = self._joined(c)
            setup: NetSetup = self.net.setup(c, joined)
            c = replace(
                c, sandbox_key=setup.netns_path, endpoints=setup.endpoints, ports=setup.ports
            )
            # A container sharing another's network sees that one's addresses in /etc/hosts.
            etc = etcfiles.write(d, c, joined.endpoints if joined else setup.endpoints)
            self.net.keep_hosts(c, d / "hosts", etcfiles.hosts_text(c, setup.endpoints))
            spec = self._spec(c, setup.netns_path, etc)
            stdio = Stdio.make(c.config.tty, c.config.open_stdin, c.host.console_size)
            launched = self.runtime.launch(spec, *stdio.child)
            stdio.close_child_ends()
        except BaseException as exc:
            if stdio is not None:
                stdio.close_all()
            if spec is not None:
                with contextlib.suppress(Exception):
                    self.runtime.teardown(spec)
            self.net.release(c)
            code = getattr(exc, "exit_code", None)
            if isinstance(code, int):
                # Docker keeps the failed start in the record: exited with 126/127/128.
                c = replace(
                    c,
                    state=State(
                        status="exited" if c.state.started_at else "created",
                        exit_code=code,
                        error=str(exc),
                        started_at=c.state.started_at,
                        finished_at=c.state.finished_at,
                    ),
                )
                self._save(c)
                if c.host.auto_remove:
                    await self._remove(c)  # as dockerd: --rm also cleans up a failed start
                raise InvalidArgument(f"failed to start container {c.id[:12]}: {exc}") from exc
            if c.host.auto_remove:
                await self._remove(c)
            raise
        pid = launched.pid
        pidfd = os.pidfd_open(pid)
        live = Live(
            spec=spec,
            pid=pid,
            pidfd=pidfd,
            pidns=pidns_inode(pid),
            stdio=stdio,
            cgroup_paths=tuple(getattr(launched, "cgroup_paths", ())),
        )
        self.live[c.id] = live
        if live.pidns is not None:
            self._pidns_names[live.pidns] = c.name
        live.log = JsonLogWriter(self.store.log_path(c.id), lambda line: self._follow(c.id, line))
        live.reader = OutputReader(stdio, lambda stream, data: self._output(c.id, stream, data))
        if stdio.stdin_fd is not None:
            live.stdin = FdWriter(stdio.stdin_fd, owns_fd=stdio.stdin_fd != stdio.pty_master)
            early = self._early_stdin.pop(c.id, None)
            if early is not None:
                live.stdin.write(bytes(early[0]))
                if early[1][0]:
                    live.stdin.close()
                    live.stdin = None
        asyncio.get_running_loop().add_reader(pidfd, self._reap, c.id)
        c = replace(
            c,
            state=State(
                status="running",
                pid=pid,
                pid_start=proc_start_time(pid),
                started_at=time.time(),
            ),
        )
        self._save(c)
        self._exit_future(c.id)
        for ep in c.endpoints:
            self.events.emit(
                "network",
                "connect",
                ep.network_id,
                {"container": c.id, "name": ep.network, "type": "bridge"},
            )
        self.events.emit("container", "start", c.id, self._attrs(c))
        return c

    def _output(self, cid: str, stream: str, data: bytes) -> None:
        live = self.live.get(cid)
        if live is None:
            return
        if live.log is not None:
            live.log.write(stream, data)
        for q in self.attached.get(cid, ()):
            q.put_nowait((stream, data))

    def _follow(self, cid: str, line: LogLine) -> None:
        live = self.live.get(cid)
        if live is not None:
            for q in live.followers:
                q.put_nowait(line)

    # ---- exit -----------------------------------------------------------------------------

    def _reap(self, cid: str) -> None:
        live = self.live.get(cid)
        if live is None:
            return
        try:
            pid, status = os.waitpid(live.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = live.pid, 255 << 8  # not our child (should not happen): unknown code
        if pid == 0:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(live.pidfd)
        os.close(live.pidfd)
        code = self.runtime.exit_code(status)
        self._finishing[cid] = loop.create_task(self._finish(cid, live, code))

    async def _finish(self, cid: str, live: Live, code: int) -> None:
        try:
            if live.reader is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(live.reader.done), DRAIN_AFTER_EXIT)
                except TimeoutError:
                    live.reader.stop()
            if live.log is not None:
                live.log.close()
            if live.stdin is not None:
                live.stdin.close()
            if live.stdio.pty_master is not None:
                with contextlib.suppress(OSError):
                    os.close(live.stdio.pty_master)
            oom = False
            with contextlib.suppress(Exception):
                oom = bool(self.runtime.oom_killed(live.spec))  # before the cgroup goes
            c = self.containers.get(cid)
            self.live.pop(cid, None)
            if live.pidns is not None:
                self._pidns_names.pop(live.pidns, None)
            for q in self.attached.pop(cid, set()):
                q.put_nowait(None)
            for f in live.followers:
                f.put_nowait(None)
            if c is None:
                self._cleanup(cid, live, None)
                return
            c = replace(
                c,
                sandbox_key="",
                ports=(),
                state=replace(
                    c.state,
                    status="exited",
                    pid=0,
                    exit_code=code,
                    oom_killed=oom,
                    finished_at=time.time(),
                ),
            )
            self._save(c)
            self.events.emit("container", "die", cid, self._attrs(c, exitCode=str(code)))
            fut = self._exit_futs.get(cid)
            if fut is not None and not fut.done():
                fut.set_result(code)
            # Waiters have their answer; the cleanup still happens before this task ends,
            # and start/remove of this container wait for the task.
            await asyncio.sleep(0)
            self._cleanup(cid, live, c)
            if c.host.auto_remove:
                await self._remove(c)
        finally:
            self._finishing.pop(cid, None)

    def _cleanup(self, cid: str, live: Live, c: Container | None) -> None:
        """Cgroups and network of a container whose PID 1 is gone."""
        try:
            self.runtime.teardown(live.spec)
        except Exception as exc:
            log.warning("teardown of %s failed: %s", cid[:12], exc)
        if c is not None:
            self.net.release(c)
            for ep in c.endpoints:
                self.events.emit(
                    "network",
                    "disconnect",
                    ep.network_id,
                    {"container": c.id, "name": ep.network, "type": "bridge"},
                )

    # ---- stop / kill / wait / remove ------------------------------------------------------

    def _signal(self, cid: str, sig: int) -> None:
        live = self.live.get(cid)
        if live is None:
            return
        with contextlib.suppress(ProcessLookupError, OSError):
            signal.pidfd_send_signal(live.pidfd, sig)

    async def _await_exit(self, cid: str, timeout: float | None = None) -> None:
        if cid not in self.live and cid not in self._finishing:
            return
        fut = self._exit_future(cid)
        await asyncio.wait_for(asyncio.shield(fut), timeout)
        task = self._finishing.get(cid)
        if task is not None:
            await asyncio.shield(task)

    async def stop(self, ref: str, timeout: int | None = None) -> Container:
        """SIGTERM (or the StopSignal), then SIGKILL after ``timeout`` seconds."""
        c = self.get(ref)
        if not c.state.running:
            raise NotModified("container already stopped")
        if timeout is None:
            timeout = c.config.stop_timeout if c.config.stop_timeout is not None else 10
        sig = self.runtime.parse_signal(c.config.stop_signal or "SIGTERM")
        fut = self._exit_future(c.id)
        if timeout != 0:
            self._signal(c.id, sig)
        try:
            if timeout < 0:
                await asyncio.shield(fut)
            else:
                await asyncio.wait_for(asyncio.shield(fut), max(timeout, 0))
        except TimeoutError:
            self._signal(c.id, signal.SIGKILL)
        await self._await_exit(c.id)
        return self.containers.get(c.id, c)

    def kill(self, ref: str, sig_text: str | None = None) -> Container:
        c = self.get(ref)
        try:
            sig = self.runtime.parse_signal(sig_text or "SIGKILL")
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        if not c.state.running or c.id not in self.live:
            raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
        self._signal(c.id, sig)
        return c

    async def restart(self, ref: str, timeout: int | None = None) -> Container:
        c = self.get(ref)
        if c.state.running:
            await self.stop(c.id, timeout)
        c = await self.start(c.id)
        self.events.emit("container", "restart", c.id, self._attrs(c))
        return c

    async def wait(self, ref: str, condition: str = "not-running") -> int:
        """Docker's wait: the exit code once ``condition`` holds."""
        c = self.get(ref)
        if condition in ("", "not-running"):
            if not c.state.running and c.id not in self._finishing:
                return c.state.exit_code
            return await asyncio.shield(self._exit_future(c.id))
        if condition == "next-exit":
            return await asyncio.shield(self._exit_future(c.id))
        if condition == "removed":
            return await asyncio.shield(self._removed_future(c.id))
        raise InvalidArgument(f"invalid condition: {condition!r}")

    async def remove(self, ref: str, force: bool = False) -> None:
        c = self.get(ref)
        if c.state.running or c.id in self._finishing:
            if not force:
                raise Conflict(
                    f"You cannot remove a running container {c.id}. Stop the container "
                    "before attempting removal or force remove"
                )
            self._signal(c.id, signal.SIGKILL)
            await self._await_exit(c.id)
            if c.id not in self.containers:
                return  # AutoRemove took it
            c = self.containers[c.id]
        await self._remove(c)

    async def _remove(self, c: Container) -> None:
        if c.id not in self.containers:
            return
        c = replace(c, state=replace(c.state, status="removing"))
        self.containers[c.id] = c
        self.net.release(c)
        for e in [e for e in self.execs.values() if e.container_id == c.id]:
            self.execs.pop(e.id, None)
        d = self.store.dir(c.id)
        await asyncio.to_thread(shutil.rmtree, d, True)
        self.containers.pop(c.id, None)
        self._early_stdin.pop(c.id, None)
        for q in self.attached.pop(c.id, set()):
            q.put_nowait(None)
        self.events.emit("container", "destroy", c.id, self._attrs(c))
        code = c.state.exit_code
        for futs in (self._exit_futs, self._removed_futs):
            fut = futs.pop(c.id, None)
            if fut is not None and not fut.done():
                fut.set_result(code)

    def rename(self, ref: str, new: str) -> Container:
        c = self.get(ref)
        name = check_name(new)
        for other in self.containers.values():
            if other.name == name and other.id != c.id:
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{other.id}". You have to remove (or rename) that container to be able '
                    "to reuse that name."
                )
        if c.state.running and c.host.network_mode != "host" and self.net.networks is None:
            # The bare netns file is named after the container: move it with the name.
            old = self.net.netns_file(c)
            if old.exists():
                os.rename(old, self.lab.container_netns_dir / name)
        c = self._save(replace(c, name=name))
        live = self.live.get(c.id)
        if live is not None and live.pidns is not None:
            self._pidns_names[live.pidns] = name
        self.events.emit("container", "rename", c.id, self._attrs(c))
        return c

    def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        live = self.live.get(c.id)
        if live is None:
            raise Conflict(f"Container {c.id} is not running")
        if live.stdio.pty_master is not None:
            set_winsize(live.stdio.pty_master, height, width)

    # ---- attach / logs --------------------------------------------------------------------

    def attach(self, ref: str) -> tuple[Container, asyncio.Queue[tuple[str, bytes] | None]]:
        """Subscribe to a container's live output; ``None`` arrives when it exits."""
        c = self.get(ref)
        q: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        self.attached.setdefault(c.id, set()).add(q)
        return c, q

    def unsubscribe(self, cid: str, q: asyncio.Queue[Any]) -> None:
        subs = self.attached.get(cid)
        if subs is not None:
            subs.discard(q)

    def write_stdin(self, cid: str, data: bytes) -> None:
        live = self.live.get(cid)
        if live is not None:
            if live.stdin is not None:
                live.stdin.write(data)
        elif cid in self.containers:
            self._early_stdin.setdefault(cid, (bytearray(), [False]))[0].extend(data)

    def close_stdin(self, cid: str) -> None:
        live = self.live.get(cid)
        if live is not None:
            if live.stdin is not None:
                live.stdin.close()
                live.stdin = None
        elif cid in self.containers:
            self._early_stdin.setdefault(cid, (bytearray(), [False]))[1][0] = True

    async def logs(
        self,
        ref: str,
        stdout: bool,
        stderr: bool,
        follow: bool,
        tail: int | None,
        since: float | None,
        until: float | None,
    ) -> AsyncIterator[LogLine]:
        """Log lines from the json file, then (``follow``) live ones until the container exits."""
        from dockerscope.engine.containers.logs import read_log

        c = self.get(ref)
        live = self.live.get(c.id)
        q: asyncio.Queue[LogLine | None] | None = None
        if follow and live is not None:
            q = asyncio.Queue()
            live.followers.add(q)
            if live.log is not None:
                live.log._file.flush()
        # The file is read up to its size at the moment of subscribing (no await in between):
        # lines written later come from the queue, so none is lost or doubled. The read runs in
        # a thread: a large log never holds the daemon's event loop.
        path = self.store.log_path(c.id)
        try:
            end = path.stat().st_size
        except OSError:
            end = 0
        lines = await asyncio.to_thread(read_log, path, stdout, stderr, since, until, tail, end)
        try:
            for line in lines:
                yield line
            if q is None:
                return
            wanted = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}
            while True:
                item = await q.get()
                if item is None:
                    return
                if until is not None and item.time > until:
                    return
                if item.stream in wanted:
                    yield item
        finally:
            if q is not None and live is not None:
                live.followers.discard(q)

    # ---- exec -----------------------------------------------------------------------------

    def exec_create(self, ref: str, body: dict[str, Any]) -> ExecInstance:
        c = self.get(ref)
        if c.id not in self.live:
            raise Conflict(f"Container {c.id} is not running")
        cmd = body.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd or not isinstance(cmd, list) or not all(isinstance(a, str) for a in cmd):
            raise InvalidArgument("No exec command specified")
        if body.get("Privileged"):
            raise InvalidArgument("not supported by dockerscope: exec --privileged")
        env = body.get("Env") or []
        if not isinstance(env, list) or not all(isinstance(e, str) for e in env):
            raise InvalidArgument("Env must be a list of strings")
        for key in ("User", "WorkingDir", "DetachKeys"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise InvalidArgument(f"{key} must be a string")
        size = console_size(body.get("ConsoleSize"))
        detach_keys = body.get("DetachKeys") or ""
        try:
            parse_keys(detach_keys)
        except (ValueError, AttributeError):
            raise InvalidArgument(f"Invalid detach keys ({detach_keys}) provided") from None
        e = ExecInstance(
            id=secrets.token_hex(32),
            container_id=c.id,
            args=tuple(cmd),
            env=merge_env(c.config.env, tuple(env)),
            cwd=body.get("WorkingDir") or c.config.working_dir or "/",
            user=body.get("User") or c.config.user,
            tty=bool(body.get("Tty")),
            attach_stdin=bool(body.get("AttachStdin")),
            attach_stdout=bool(body.get("AttachStdout")),
            attach_stderr=bool(body.get("AttachStderr")),
            console_size=size,
            detach_keys=detach_keys,
        )
        self.execs[e.id] = e
        self.events.emit(
            "container", f"exec_create: {' '.join(e.args)}", c.id, self._attrs(c, execID=e.id)
        )
        return e

    def exec_get(self, exec_id: str) -> ExecInstance:
        e = self.execs.get(exec_id)
        if e is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return e

    def exec_start(
        self, exec_id: str, on_data: Callable[[str, bytes], None] | None
    ) -> tuple[ExecInstance, FdWriter | None]:
        """Start an exec; its output goes to ``on_data``; returns (exec, its stdin writer)."""
        e = self.exec_get(exec_id)
        if e.started:
            raise Conflict(f"Error: Exec command {exec_id} has already run")
        live = self.live.get(e.container_id)
        if live is None:
            raise Conflict(f"Container {e.container_id} is not running")
        devpts = f"/proc/{live.pid}/root/dev/pts"
        try:
            stdio = Stdio.make(e.tty, e.attach_stdin, e.console_size, devpts if e.tty else None)
        except OSError:
            # No usable devpts in the container: a host pty still works, without a name inside.
            stdio = Stdio.make(e.tty, e.attach_stdin, e.console_size)
        try:
            pid = self.runtime.exec_in(live.pid, e.args, e.env, e.cwd, e.user, e.tty, *stdio.child,
                                       seccomp=live.spec.seccomp)  # fmt: skip
        except BaseException:
            stdio.close_all()
            raise
        stdio.close_child_ends()
        e.started = e.running = True
        e.pid = pid
        e.pty_master = stdio.pty_master
        loop = asyncio.get_running_loop()
        e.done = loop.create_future()
        reader = OutputReader(stdio, on_data or (lambda s, d: None))
        writer = None
        if stdio.stdin_fd is not None:
            writer = FdWriter(stdio.stdin_fd, owns_fd=stdio.stdin_fd != stdio.pty_master)
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            pidfd = None

        async def finish(code: int) -> None:
            try:
                await asyncio.wait_for(asyncio.shield(reader.done), DRAIN_AFTER_EXIT)
            except TimeoutError:
                reader.stop()
            if writer is not None:
                writer.close()
            if stdio.pty_master is not None:
                with contextlib.suppress(OSError):
                    os.close(stdio.pty_master)
            e.running = False
            e.exit_code = code
            e.pty_master = None
            c = self.containers.get(e.container_id)
            if c is not None:
                self.events.emit(
                    "container", "exec_die", c.id, self._attrs(c, execID=e.id, exitCode=str(code))
                )
            assert e.done is not None
            if not e.done.done():
                e.done.set_result(code)

        def reaped() -> None:
            try:
                wpid, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                wpid, status = pid, 0
            if wpid == 0:
                return
            if pidfd is not None:
                loop.remove_reader(pidfd)
                os.close(pidfd)
            loop.create_task(finish(self.runtime.exit_code(status)))

        if pidfd is None:
            loop.create_task(finish(0))
        else:
            loop.add_reader(pidfd, reaped)
        c = self.get(e.container_id)
        self.events.emit(
            "container", f"exec_start: {' '.join(e.args)}", c.id, self._attrs(c, execID=e.id)
        )
        return e, writer

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        e = self.exec_get(exec_id)
        if e.pty_master is not None:
            set_winsize(e.pty_master, height, width)

    # ---- networks -------------------------------------------------------------------------

    async def connect(self, ref: str, network: str, aliases: tuple[str, ...] = ()) -> Container:
        """``docker network connect``: join now if running, and at every later start."""
        c = self.get(ref)
        joined = {n for n, _ in c.host.endpoints} | {c.host.network_mode}
        if network in joined or (network == "bridge" and c.host.network_mode == "default"):
            raise Forbidden(f"endpoint with name {c.name} already exists in network {network}")
        if c.host.network_mode in ("host", "none"):
            raise InvalidArgument(
                f"container sharing network namespace with another container or host cannot "
                f"be connected to any other network ({c.host.network_mode})"
            )
        nm = self.net.networks
        if nm is None:
            raise NotFound(f"network {network} not found")
        endpoints = c.endpoints
        if c.state.running:
            from dockerscope.engine.containers.networking import _endpoint

            ep = nm.attach(c, network, aliases=aliases)
            endpoints = endpoints + (_endpoint(network, ep),)
        host = replace(c.host, endpoints=c.host.endpoints + ((network, aliases),))
        return self._save(replace(c, host=host, endpoints=endpoints))

    async def disconnect(self, ref: str, network: str, force: bool = False) -> Container:
        c = self.get(ref)
        names = [n for n, _ in c.host.endpoints]
        primary = "bridge" if c.host.network_mode == "default" else c.host.network_mode
        if network not in names and network != primary:
            raise Forbidden(f"container {c.id} is not connected to network {network}")
        nm = self.net.networks
        if c.state.running and nm is not None:
            nm.detach(c, network)
        host = replace(
            c.host,
            endpoints=tuple((n, a) for n, a in c.host.endpoints if n != network),
            network_mode="none" if network == primary else c.host.network_mode,
        )
        endpoints = tuple(e for e in c.endpoints if e.network != network)
        return self._save(replace(c, host=host, endpoints=endpoints))

    # ---- processes ------------------------------------------------------------------------

    def pids(self, ref: str) -> list[int]:
        """Host pids of every process in a running container (its pid namespace)."""
        c = self.get(ref)
        live = self.live.get(c.id)
        if live is None:
            raise Conflict(f"Container {c.id} is not running")
        out = []
        for p in Path("/proc").iterdir():
            if p.name.isdigit() and pidns_inode(int(p.name)) == live.pidns:
                out.append(int(p.name))
        return sorted(out)

    # ---- daemon start and stop --------------------------------------------------------------

    def restore(self) -> list[str]:
        """Load records after a (re)start; containers left running are killed and marked exited.

        Their stdio pipes died with the old daemon, so they cannot be adopted usefully (like
        dockerd without live-restore). Returns notes on what was cleaned.
        """
        notes = []
        for c in self.store.load_all():
            self.containers[c.id] = c
            self._removed_future(c.id)
            if c.state.status not in ("running", "paused", "restarting", "removing"):
                continue
            pid, alive = c.state.pid, False
            if pid and c.state.pid_start and proc_start_time(pid) == c.state.pid_start:
                alive = True
                with contextlib.suppress(OSError):
                    fd = os.pidfd_open(pid)
                    try:
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
                        _wait_pidfd(fd, 5.0)
                    finally:
                        os.close(fd)
            # Teardown needs only the id, the cgroup parent and the rootfs: no image lookup
            # (the image may be gone).
            spec = self._spec(c, c.sandbox_key or "", (), lowerdirs=())
            try:
                self.runtime.teardown(spec)
            except Exception as exc:
                log.warning("cleaning %s after a restart failed: %s", c.name, exc)
            self.net.release(c)
            code = 137 if alive else 255
            c = replace(
                c,
                sandbox_key="",
                ports=(),
                state=replace(
                    c.state,
                    status="exited",
                    pid=0,
                    exit_code=code,
                    error="" if alive else "the container ended while the daemon was down",
                    finished_at=time.time(),
                ),
            )
            self._save(c)
            notes.append(f"{c.name}: {'killed' if alive else 'found dead'} after a daemon restart")
            if c.host.auto_remove:
                self.containers.pop(c.id, None)
                self.store.delete(c.id)
        return notes

    async def shutdown(self, timeout: int | None = None) -> None:
        """Stop every running container (StopSignal, then SIGKILL after each one's stop
        timeout, or ``timeout``), all at once, as dockerd does on exit."""
        running = [cid for cid in self.live]
        await asyncio.gather(*(self.stop(cid, timeout) for cid in running), return_exceptions=True)
        for task in list(self._finishing.values()):
            with contextlib.suppress(BaseException):
                await task


def _wait_pidfd(fd: int, timeout: float) -> None:
    import select

    p = select.poll()
    p.register(fd, select.POLLIN)
    p.poll(int(timeout * 1000))


def docker_config(c: Container) -> ContainerConfig:
    return c.config
