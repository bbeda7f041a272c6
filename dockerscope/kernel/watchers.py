"""The observer's event plumbing (event loop side): what tells it to re-read what.

Watchers put dirty marks on a queue: ``(what, netns label)`` for a per-namespace collection,
``(what, "")`` for a scope-wide one. Netlink events mark a namespace's links, routes, rules or
flows; directory events mark namespaces and cgroups; a steady poll marks what the kernel does
not announce (counters, cgroup figures, processes, mounts, hints, legacy tables).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

from dockerscope.kernel import cgroups as cgroups_mod
from dockerscope.kernel.events import OVERRUN, dir_events, netlink_events, ticks
from dockerscope.kernel.namespaces import Namespaces
from dockerscope.kernel.netlink_constants import NFNL_SUBSYS_CTNETLINK, NFNL_SUBSYS_NFTABLES
from dockerscope.kernel.nsstate import NamespaceState
from dockerscope.kernel.scope import Scope

#: A dirty mark: (what, netns label or "" for scope-wide collections)
Dirty = tuple[str, str]
DirtyQueue = asyncio.Queue[Dirty]


async def watch_namespace(
    label: str, state: NamespaceState, queue: DirtyQueue, stop: asyncio.Event
) -> None:
    """Mark a namespace's collections dirty as its netlink event sockets announce changes."""

    async def rtnl() -> None:
        if state.rtnl_sock is None:
            return
        async for _types in netlink_events(state.rtnl_sock, stop):
            queue.put_nowait(("links", label))
            queue.put_nowait(("routes", label))

    async def netfilter() -> None:
        if state.nf_sock is None:
            return
        async for types in netlink_events(state.nf_sock, stop):
            subsystems = {t >> 8 for t in types if t >= 0}
            if OVERRUN in types or NFNL_SUBSYS_NFTABLES in subsystems:
                queue.put_nowait(("rules", label))
            if OVERRUN in types or NFNL_SUBSYS_CTNETLINK in subsystems:
                queue.put_nowait(("flows", label))

    await asyncio.gather(rtnl(), netfilter())


def dirs_to_watch(scope: Scope, cgroup_root: str) -> list[str]:
    """The netns dirs of the scope and the cgroup dirs of its cgroup parent."""
    dirs = scope.watch_dirs()
    if scope.cgroup_parent:
        dirs += [str(p) for p in cgroups_mod.cgroup_dirs(scope.cgroup_parent, cgroup_root)]
    return dirs


async def watch_dirs(
    which: Callable[[], list[str]], queue: DirtyQueue, stop: asyncio.Event
) -> None:
    """Mark namespaces, cgroups and processes dirty as entries come and go in ``which()``.

    The watch restarts whenever the set of existing directories changes.
    """
    while not stop.is_set():
        dirs = which()
        existing = tuple(d for d in dirs if os.path.isdir(d))
        local_stop = asyncio.Event()
        task = asyncio.ensure_future(_mark_dir_changes(existing, queue, local_stop))
        # Check once a second whether a watched dir appeared or vanished.
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if tuple(d for d in dirs if os.path.isdir(d)) != existing:
                queue.put_nowait(("netns", ""))
                queue.put_nowait(("cgroups", ""))
                break
        local_stop.set()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def _mark_dir_changes(paths: tuple[str, ...], queue: DirtyQueue, stop: asyncio.Event) -> None:
    async for changed in dir_events(paths, stop):
        in_cgroups = [p for p in changed if "cgroup" in p]
        if len(in_cgroups) != len(changed):
            queue.put_nowait(("netns", ""))
        if in_cgroups:
            queue.put_nowait(("cgroups", ""))
            queue.put_nowait(("processes", ""))
        queue.put_nowait(("hints", ""))


async def poll(interval: float, slow_every: int, queue: DirtyQueue, stop: asyncio.Event) -> None:
    """Mark what the kernel does not announce: counters and cgroup figures every tick,
    namespaces, processes, mounts and sockets every ``slow_every`` ticks, hints and legacy tables
    five times less often."""
    n = 0
    async for _ in ticks(interval, stop):
        n += 1
        queue.put_nowait(("counters", ""))
        queue.put_nowait(("cgroup_figures", ""))
        if n % slow_every == 0:
            queue.put_nowait(("netns", ""))  # unnamed namespaces announce nothing
            queue.put_nowait(("processes", ""))
            queue.put_nowait(("mounts", ""))
            queue.put_nowait(("sockets", ""))  # sock_diag sends no events
        if n % (slow_every * 5) == 0:
            queue.put_nowait(("hints", ""))
            queue.put_nowait(("legacy", ""))  # x_tables send no events


class NamespaceWatchers:
    """One ``watch_namespace`` task per namespace in scope, kept in step with ``Namespaces``."""

    def __init__(self, namespaces: Namespaces, queue: DirtyQueue, stop: asyncio.Event) -> None:
        self.namespaces = namespaces
        self.queue = queue
        self.stop = stop
        self.tasks: dict[str, asyncio.Task[None]] = {}

    async def sync(self) -> None:
        """Stop the watchers of gone namespaces, then close those; start the new ones'."""
        # Stop watchers first, then close their sockets, so the loop never watches a
        # descriptor number that a new socket may reuse.
        states = self.namespaces.states
        ending = []
        for label in list(self.tasks):
            if label not in states or self.tasks[label].get_name() != self._key(label):
                task = self.tasks.pop(label)
                task.cancel()
                ending.append(task)
        await asyncio.gather(*ending, return_exceptions=True)
        self.namespaces.close_retired()
        for label, state in states.items():
            if label not in self.tasks:
                task = asyncio.ensure_future(watch_namespace(label, state, self.queue, self.stop))
                task.set_name(self._key(label))
                self.tasks[label] = task

    def _key(self, label: str) -> str:
        return self.namespaces.watcher_key(label)

    async def cancel(self) -> None:
        """Stop every watcher."""
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
