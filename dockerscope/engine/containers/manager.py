"""Container lifecycle: the one object the daemon and the API routes talk to.

``ContainerManager`` owns the lab's shared container state (a :class:`Registry`) and hands it
to one module per concern: ``creating`` (create, rename), ``starting``, ``exiting`` (the
reaper), ``stopping`` (stop, kill, wait), ``removing``, ``attaching`` (attach, stdin, logs),
``execs``, ``connecting`` (networks) and ``restoring`` (after a daemon restart).

Everything runs on the daemon's event loop (one thread).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from dockerscope.engine.containers import (
    attaching,
    connecting,
    creating,
    execs,
    removing,
    restoring,
    starting,
    stopping,
)
from dockerscope.engine.containers.create_request import CreateRequest
from dockerscope.engine.containers.live import ExecInstance, Live
from dockerscope.engine.containers.logs import LogLine
from dockerscope.engine.containers.model import Container
from dockerscope.engine.containers.networking import ContainerNetworking
from dockerscope.engine.containers.process import FdWriter
from dockerscope.engine.containers.registry import (
    Images,
    OutputQueue,
    Registry,
    execs_of,
)
from dockerscope.engine.containers.store import ContainerStore
from dockerscope.engine.events import EventBus
from dockerscope.engine.paths import Lab
from dockerscope.engine.procinfo import pidns_inode, pids_in_pidns
from dockerscope.engine.runtime import Runtime

__all__ = ["ContainerManager", "ExecInstance", "Live"]


class ContainerManager:
    """All containers of one lab: records, running processes, waiters and events."""

    def __init__(
        self,
        lab: Lab,
        images: Images,
        runtime: Runtime,
        events: EventBus,
        networking: ContainerNetworking,
        max_containers: int | None = None,
    ) -> None:
        """``max_containers``: the lab's cap on records kept (None: no cap); a create past
        it is refused."""
        self.reg = Registry(
            lab=lab,
            images=images,
            runtime=runtime,
            events=events,
            net=networking,
            store=ContainerStore(lab.containers_dir),
            max_containers=max_containers,
        )

    # ---- state the routes read ------------------------------------------------------------

    @property
    def containers(self) -> dict[str, Container]:
        """Every container record by full id."""
        return self.reg.containers

    @property
    def store(self) -> ContainerStore:
        """Where records, logs and container dirs live on disk."""
        return self.reg.store

    @property
    def attached(self) -> dict[str, set[OutputQueue]]:
        """Attach subscribers by container id."""
        return self.reg.attached

    def get(self, ref: str) -> Container:
        """A container by full id, name (with or without "/") or unique id prefix."""
        return self.reg.get(ref)

    def is_running(self, cid: str) -> bool:
        """True while the container's PID 1 runs under this daemon."""
        return cid in self.reg.live

    def is_exiting(self, cid: str) -> bool:
        """True while a container's exit is being recorded and cleaned up."""
        return stopping.exiting(self.reg, cid)

    def exec_ids(self, cid: str) -> list[str]:
        """Ids of the exec instances created in the container."""
        return [e.id for e in execs_of(self.reg.execs.values(), cid)]

    def emit(self, c: Container, action: str, **extra: str) -> None:
        """Publish a container event (``attach`` comes from the routes)."""
        self.reg.emit(c, action, **extra)

    def container_of_pid(self, pid: int) -> str | None:
        """Name of the container whose pid namespace holds ``pid`` (traffic attribution)."""
        ino = pidns_inode(pid)
        return self.reg.pidns_names.get(ino) if ino is not None else None

    def pids(self, ref: str) -> list[int]:
        """Host pids of every process in a running container (its pid namespace)."""
        return pids_in_pidns(self.reg.running(self.get(ref)).pidns)

    # ---- lifecycle ------------------------------------------------------------------------

    def create(self, req: CreateRequest) -> Container:
        """Record a new container (nothing runs yet); NotFound for an unknown image."""
        return creating.create(self.reg, req)

    def rename(self, ref: str, new: str) -> Container:
        """``docker rename``."""
        return creating.rename(self.reg, ref, new)

    async def start(self, ref: str) -> Container:
        """Start a created or exited container; NotModified if it already runs."""
        return await starting.start(self.reg, ref)

    async def stop(self, ref: str, timeout: int | None = None) -> Container:
        """SIGTERM (or the StopSignal), then SIGKILL after ``timeout`` seconds."""
        return await stopping.stop(self.reg, ref, timeout)

    def kill(self, ref: str, sig_text: str | None = None) -> Container:
        """``docker kill``: a signal (SIGKILL by default) to a running container."""
        return stopping.kill(self.reg, ref, sig_text)

    async def restart(self, ref: str, timeout: int | None = None) -> Container:
        """Stop (if running), start, and say "restart"."""
        c = self.get(ref)
        if c.state.running:
            await self.stop(c.id, timeout)
        c = await self.start(c.id)
        self.reg.emit(c, "restart")
        return c

    async def wait(self, ref: str, condition: str = "not-running") -> int:
        """Docker's wait: the exit code once ``condition`` holds."""
        return await stopping.wait(self.reg, ref, condition)

    async def remove(self, ref: str, force: bool = False) -> None:
        """Remove a stopped container; ``force`` kills a running one first."""
        await removing.remove(self.reg, ref, force)

    # ---- attach / logs --------------------------------------------------------------------

    def attach(self, ref: str) -> tuple[Container, OutputQueue]:
        """Subscribe to a container's live output; ``None`` arrives when it exits."""
        return attaching.attach(self.reg, ref)

    def unsubscribe(self, cid: str, q: OutputQueue) -> None:
        """Forget an attach subscriber."""
        attaching.unsubscribe(self.reg, cid, q)

    def write_stdin(self, cid: str, data: bytes) -> None:
        """Bytes for the container's stdin (kept until the start if it does not run yet)."""
        attaching.write_stdin(self.reg, cid, data)

    def close_stdin(self, cid: str) -> None:
        """End the container's stdin."""
        attaching.close_stdin(self.reg, cid)

    def resize(self, ref: str, height: int, width: int) -> None:
        """Set the tty size of a running container."""
        attaching.resize(self.reg, ref, height, width)

    def logs(
        self,
        ref: str,
        stdout: bool,
        stderr: bool,
        follow: bool,
        tail: int | None,
        since: float | None,
        until: float | None,
    ) -> AsyncIterator[list[LogLine]]:
        """Batches of log lines from the json files (rotated ones first), then (``follow``)
        those written later until the container exits."""
        return attaching.logs(self.reg, ref, stdout, stderr, follow, tail, since, until)

    # ---- exec -----------------------------------------------------------------------------

    def exec_create(self, ref: str, body: dict[str, Any]) -> ExecInstance:
        """Record an exec in a running container."""
        return execs.exec_create(self.reg, ref, body)

    def exec_get(self, exec_id: str) -> ExecInstance:
        """An exec instance by id."""
        return execs.exec_get(self.reg, exec_id)

    def exec_start(
        self, exec_id: str, on_data: execs.OnData | None
    ) -> tuple[ExecInstance, FdWriter | None]:
        """Start an exec; its output goes to ``on_data``; returns (exec, its stdin writer)."""
        return execs.exec_start(self.reg, exec_id, on_data)

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        """Set the tty size of an exec."""
        execs.exec_resize(self.reg, exec_id, height, width)

    # ---- networks -------------------------------------------------------------------------

    async def connect(self, ref: str, network: str, aliases: tuple[str, ...] = ()) -> Container:
        """``docker network connect``: join now if running, and at every later start."""
        return connecting.connect(self.reg, ref, network, aliases)

    async def disconnect(self, ref: str, network: str, force: bool = False) -> Container:
        """``docker network disconnect``."""
        return connecting.disconnect(self.reg, ref, network)

    # ---- daemon start and stop ------------------------------------------------------------

    def restore(self) -> list[str]:
        """Load records after a (re)start; containers left running are killed and marked
        exited. Returns notes on what was cleaned."""
        return restoring.restore(self.reg)

    async def shutdown(self, timeout: int | None = None) -> None:
        """Stop every running container at once, as dockerd does on exit."""
        await stopping.stop_all(self.reg, timeout)
