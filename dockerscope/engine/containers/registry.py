"""The state every container operation shares: records, running processes, waiters.

One :class:`Registry` per lab, owned by the ``ContainerManager`` facade and handed to the
operation modules (creating, starting, exiting, stopping, removing, attaching, execs,
connecting, restoring). Everything runs on the daemon's event loop (one thread), so the
dicts need no lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from dockerscope.engine.containers.live import ExecInstance, Live
from dockerscope.engine.containers.model import Container
from dockerscope.engine.containers.networking import ContainerNetworking
from dockerscope.engine.containers.store import ContainerStore
from dockerscope.engine.containers.subscribers import OutputQueue
from dockerscope.engine.errors import Conflict, InvalidArgument, no_such_container
from dockerscope.engine.events import EventBus
from dockerscope.engine.images.model import Image
from dockerscope.engine.paths import Lab
from dockerscope.engine.runtime import Runtime

if TYPE_CHECKING:
    from dockerscope.engine.network.manager import NetworkManager


class Images(Protocol):
    """What containers need of the image store (``engine.images.ImageStore``)."""

    def get(self, ref: str) -> Image: ...

    def layer_dirs(self, image: Image | str) -> list[str]: ...


@dataclass
class EarlyStdin:
    """Stdin an attached client sent before the start (``docker run -i`` attaches first)."""

    data: bytearray = field(default_factory=bytearray)
    closed: bool = False


@dataclass
class Registry:
    """All containers of one lab: records, running processes, waiters and the seams."""

    lab: Lab
    images: Images
    runtime: Runtime
    events: EventBus
    net: ContainerNetworking
    store: ContainerStore
    max_containers: int | None = None  # the lab's cap on records, running or not
    containers: dict[str, Container] = field(default_factory=dict)
    live: dict[str, Live] = field(default_factory=dict)
    execs: dict[str, ExecInstance] = field(default_factory=dict)
    exit_futs: dict[str, asyncio.Future[int]] = field(default_factory=dict)
    removed_futs: dict[str, asyncio.Future[int]] = field(default_factory=dict)
    pidns_names: dict[int, str] = field(default_factory=dict)
    # the task recording an exit, from the reap until the cleanup is done
    finishing: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # attach subscribers by container id (an attach may come before the start)
    attached: dict[str, set[OutputQueue]] = field(default_factory=dict)
    early_stdin: dict[str, EarlyStdin] = field(default_factory=dict)

    @property
    def networks(self) -> NetworkManager | None:
        """The lab's network manager, or None when networking is not available."""
        networks: NetworkManager | None = self.net.networks
        return networks

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

    def running(self, c: Container) -> Live:
        """The live part of a running container; Conflict if it does not run."""
        live = self.live.get(c.id)
        if live is None:
            raise Conflict(f"Container {c.id} is not running")
        return live

    def save(self, c: Container) -> Container:
        """Keep ``c`` as the current record, in memory and on disk."""
        self.containers[c.id] = c
        self.store.save(c)
        return c

    def check_name_free(self, name: str, owner: str = "") -> None:
        """Conflict when another container than ``owner`` (an id) already has ``name``."""
        for other in self.containers.values():
            if other.name == name and other.id != owner:
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{other.id}". You have to remove (or rename) that container to be able '
                    "to reuse that name."
                )

    def attrs(self, c: Container, **extra: str) -> dict[str, str]:
        """An event's attributes for ``c``: its labels, image and name, then ``extra``."""
        return {**dict(c.config.labels), "image": c.config.image, "name": c.name, **extra}

    def emit(self, c: Container, action: str, **extra: str) -> None:
        """Publish a container event."""
        self.events.emit("container", action, c.id, self.attrs(c, **extra))

    def emit_endpoints(self, c: Container, action: str) -> None:
        """Publish a network ``connect``/``disconnect`` event per endpoint of ``c``."""
        for ep in c.endpoints:
            self.events.emit(
                "network",
                action,
                ep.network_id,
                {"container": c.id, "name": ep.network_name, "type": "bridge"},
            )

    def exit_future(self, cid: str) -> asyncio.Future[int]:
        """The future of the container's next exit code (a fresh one after each exit)."""
        fut = self.exit_futs.get(cid)
        if fut is None or fut.done():
            fut = asyncio.get_running_loop().create_future()
            self.exit_futs[cid] = fut
        return fut

    def removed_future(self, cid: str) -> asyncio.Future[int]:
        """The future resolved with the last exit code when the container is removed."""
        fut = self.removed_futs.get(cid)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self.removed_futs[cid] = fut
        return fut

    def end_output(self, cid: str) -> None:
        """Tell every attach subscriber of ``cid`` that the output is over, and drop them."""
        for q in self.attached.pop(cid, set()):
            q.put_nowait(None)


def execs_of(execs: Iterable[ExecInstance], cid: str) -> list[ExecInstance]:
    """The exec instances created in container ``cid``."""
    return [e for e in execs if e.container_id == cid]
