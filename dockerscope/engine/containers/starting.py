"""``docker start``: network, /etc files, the runtime launch, and the live process's stdio.

A started container's stdio are pipes (or a pty) whose host ends the event loop reads into
the json log and to live attach/log subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import replace
from pathlib import Path

from dockerscope.engine.containers import attaching
from dockerscope.engine.containers.exiting import watch_exit
from dockerscope.engine.containers.live import Live
from dockerscope.engine.containers.logs import JsonLogWriter
from dockerscope.engine.containers.model import Container, Endpoint, State
from dockerscope.engine.containers.networking import NetSetup
from dockerscope.engine.containers.process import OutputReader, Stdio
from dockerscope.engine.containers.registry import Registry
from dockerscope.engine.containers.removing import discard
from dockerscope.engine.containers.runspec import container_spec
from dockerscope.engine.errors import Conflict, InvalidArgument, NotFound, NotModified
from dockerscope.engine.network.etcfiles import (
    hosts_file_content,
    resolv_conf_content,
    write_etc_files,
)
from dockerscope.engine.procinfo import pidns_inode, proc_start_time
from dockerscope.engine.runtime.spec import ContainerSpec, Launched


async def start(reg: Registry, ref: str) -> Container:
    """Start a created or exited container; NotModified if it already runs."""
    c = reg.get(ref)
    if c.id in reg.finishing:  # its last exit is still being cleaned up: wait for that
        await asyncio.shield(reg.finishing[c.id])
        c = reg.get(c.id)
    if c.state.running:
        raise NotModified("container already started")
    if c.state.status == "removing":
        raise Conflict(f"container {c.id} is marked for removal and cannot be started")
    d = reg.store.dir(c.id)
    # upper is the container's root dir (its mode is /'s) and rootfs its mount point; work is
    # overlayfs's scratch space, root's alone.
    for sub, mode in (("upper", 0o755), ("work", 0o700), ("rootfs", 0o755)):
        (d / sub).mkdir(mode, exist_ok=True)
    stdio: Stdio | None = None
    spec: ContainerSpec | None = None
    try:
        c, etc = _prepare_network(reg, c, d)
        spec = container_spec(reg, c, c.sandbox_key, etc)
        stdio = Stdio.make(c.config.tty, c.config.open_stdin, c.host.console_size)
        launched = reg.runtime.launch(spec, *stdio.child)
        stdio.close_child_ends()
    except BaseException as exc:
        if stdio is not None:
            stdio.close_all()
        if spec is not None:
            with contextlib.suppress(Exception):
                reg.runtime.teardown(spec)
        reg.net.release(c)
        await _failed_start(reg, c, exc)
        raise
    _go_live(reg, c, spec, stdio, launched)
    c = reg.save(
        replace(
            c,
            state=State(
                status="running",
                pid=launched.pid,
                pid_start=proc_start_time(launched.pid),
                started_at=time.time(),
            ),
        )
    )
    reg.exit_future(c.id)
    reg.emit_endpoints(c, "connect")
    reg.emit(c, "start")
    return c


def _prepare_network(
    reg: Registry, c: Container, d: Path
) -> tuple[Container, tuple[tuple[str, str], ...]]:
    """Set up the container's network and write its /etc files; returns the container with
    its sandbox, endpoints and ports, and the (target, host file) pairs to bind-mount."""
    joined = _joined(reg, c)
    setup: NetSetup = reg.net.setup(c, joined)
    c = replace(c, sandbox_key=setup.netns_path, endpoints=setup.endpoints, ports=setup.ports)
    # A container sharing another's network sees that one's addresses in /etc/hosts.
    etc = _write_etc(d, c, joined.endpoints if joined else setup.endpoints)
    reg.net.keep_hosts(c, d / "hosts", _hosts(c, setup.endpoints))
    return c, etc


def _joined(reg: Registry, c: Container) -> Container | None:
    """For ``--network container:<id>``: the container whose network is joined, which must
    be running (Conflict as dockerd says otherwise); None for every other mode."""
    mode = c.host.network_mode
    if not mode.startswith("container:"):
        return None
    ref = mode.partition(":")[2]
    other = reg.containers.get(ref)
    if other is None:
        raise NotFound(f"No such container: {ref}")
    if not other.state.running:
        raise Conflict(f"cannot join network of a non running container: {other.id}")
    return other


def _hosts(c: Container, endpoints: tuple[Endpoint, ...]) -> str:
    """The container's /etc/hosts: its extra hosts and its own name on its first address."""
    ip = endpoints[0].ip_address if endpoints else None
    return hosts_file_content(
        c.config.hostname,
        ip or None,
        extra_hosts=c.host.extra_hosts,
        domainname=c.config.domainname,
    )


def _write_etc(
    d: Path, c: Container, endpoints: tuple[Endpoint, ...]
) -> tuple[tuple[str, str], ...]:
    """hostname, hosts and resolv.conf in the container's dir, as Docker writes them."""
    resolv = resolv_conf_content(
        dns=c.host.dns,
        dns_search=c.host.dns_search,
        dns_options=c.host.dns_options,
        # --network host keeps the host's (loopback) resolver usable: no fallback added
        fallback=c.host.network_mode != "host",
    )
    return write_etc_files(d, c.config.hostname, _hosts(c, endpoints), resolv)


async def _failed_start(reg: Registry, c: Container, exc: BaseException) -> None:
    """After a failed launch: keep a command error in the record (exited with 126/127/128,
    raised as InvalidArgument), and let ``--rm`` clean up, as dockerd does."""
    code = getattr(exc, "exit_code", None)
    if not isinstance(code, int):
        if c.host.auto_remove:
            await discard(reg, c)
        return
    state = State(
        status="exited" if c.state.started_at else "created",
        exit_code=code,
        error=str(exc),
        started_at=c.state.started_at,
        finished_at=c.state.finished_at,
    )
    c = reg.save(replace(c, state=state))
    if c.host.auto_remove:
        await discard(reg, c)  # as dockerd: --rm also cleans up a failed start
    raise InvalidArgument(f"failed to start container {c.id[:12]}: {exc}") from exc


def _go_live(
    reg: Registry, c: Container, spec: ContainerSpec, stdio: Stdio, launched: Launched
) -> Live:
    """Hold the started process: its pidfd, its output into the log and to subscribers,
    its stdin, and the reaper."""
    pid = launched.pid
    live = Live(
        spec=spec,
        pid=pid,
        pidfd=os.pidfd_open(pid),
        pidns=pidns_inode(pid),
        stdio=stdio,
        cgroup_paths=tuple(getattr(launched, "cgroup_paths", ())),
    )
    cid = c.id
    reg.live[cid] = live
    if live.pidns is not None:
        reg.pidns_names[live.pidns] = c.name
    logc = c.host.log_config
    if logc.keeps_log:
        live.log = JsonLogWriter(reg.store.log_path(cid), logc.max_size, logc.max_file)
    live.reader = OutputReader(
        stdio, lambda stream, data: attaching.deliver_output(reg, cid, stream, data)
    )
    if stdio.stdin_fd is not None:
        attaching.open_stdin(reg, cid, live, stdio.stdin_fd, stdio.stdin_fd != stdio.pty_master)
    watch_exit(reg, cid, live)
    return live
