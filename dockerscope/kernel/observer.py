"""The live observer: snapshots of a lab, a netns or the host, refreshed from kernel events.

``Observer(scope).snapshot()`` reads everything once. ``Observer.updates(stop)`` yields that
full snapshot, then an ``Update`` with the diff whenever something changed. Changes are found
through events (netlink per namespace, nf_tables and conntrack notifications, watchfiles on the
netns and cgroup dirs; watchers.py) and cheap polling of what the kernel does not announce
(rule counters, cgroup figures, upper dirs, processes). An event re-reads only the collection
and namespace it touched (nsreads.py); the snapshot is then composed from per-namespace caches.

All kernel reads happen on one worker thread: pyroute2 keeps per-thread socket state, and the
reads are short, so serialising them costs nothing and keeps them from overlapping.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import operator
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from dockerscope.kernel import netns as netns_mod
from dockerscope.kernel.attribution import Memo, attribute
from dockerscope.kernel.failures import Failures
from dockerscope.kernel.fullread import reread_namespaces
from dockerscope.kernel.hints import Hints
from dockerscope.kernel.links import RawLink, resolve_peers
from dockerscope.kernel.model import Diff, Snapshot, diff
from dockerscope.kernel.namespaces import Namespaces
from dockerscope.kernel.netns import NsRef
from dockerscope.kernel.nsreads import note_tcp_counts, poll_counters, read_collection
from dockerscope.kernel.nsstate import PER_NAMESPACE, drain
from dockerscope.kernel.scope import Scope, default_docker_socket
from dockerscope.kernel.scopewide import ScopeWide
from dockerscope.kernel.sockets import InodeOwners, with_owners
from dockerscope.kernel.watchers import (
    Dirty,
    NamespaceWatchers,
    dirs_to_watch,
    poll,
    watch_dirs,
)

__all__ = ["Observer", "Scope", "Update", "default_docker_socket"]

#: Polls (about a second each) between two dumps of a quiet namespace's connections.
WALK_EVERY = 30


@dataclass(frozen=True)
class Update:
    """One step of ``Observer.updates``: the snapshot and what changed since the last one."""

    at: float  # time.time() when the snapshot was taken
    snapshot: Snapshot
    diff: Diff = field(default_factory=Diff)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # refresh figures (what, ms, CPU ms)


class Observer:
    """Reads the kernel for one scope; see the module docstring."""

    def __init__(
        self,
        scope: Scope,
        hints: Hints | None = None,
        cgroup_root: str = "/sys/fs/cgroup",
        proc: str = "/proc",
        poll_interval: float = 0.5,
        slow_poll_every: int = 2,
        upper_cap: int = 200,
        upper_every: float = 3.0,
    ):
        self.scope = scope
        self.cgroup_root = cgroup_root
        self.poll_interval = poll_interval
        self.slow_poll_every = slow_poll_every
        self._failures = Failures()
        self._namespaces = Namespaces(scope, self._failures, proc)
        self._scopewide = ScopeWide(
            scope, self._failures, hints, cgroup_root, proc, upper_cap, upper_every
        )
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dockerscope-obs")
        self._last: Snapshot | None = None
        self._memo = Memo()
        self.last_refresh_cpu_ms = 0.0  # CPU the worker spent in the last refresh
        self._peered: dict[Any, Any] = {}
        #: the raw link lists, namespaces and resolved links of the last compose
        self._peers_of: tuple[tuple[list[RawLink], ...], dict[str, NsRef], Any] | None = None
        self._inode_owners = InodeOwners(proc)
        self._walk_at = 0  # where the round-robin of connection dumps is (``_walk_turn``)
        #: the socket lists of the last compose and the sockets with their holders
        self._held: tuple[tuple[list[Any], ...], tuple[Any, ...]] | None = None

    # -- public ---------------------------------------------------------------------------

    def snapshot(self, reread_all: bool = False) -> Snapshot:
        """Everything in scope, current as of now.

        A namespace read before is read again only where its event sockets hold news (or lost
        some): unread news means a change, silence means none. ``reread_all`` reads every
        namespace again regardless, its rules with ``iptables-save`` whatever the generation
        id says, and lists every upper dir again (see fullread.py). Not to be called while
        ``updates`` runs on this observer (its loop owns the event sockets then).
        """
        return self._pool.submit(self._full, reread_all).result()

    async def updates(self, stop: asyncio.Event) -> AsyncIterator[Update]:
        """The first full snapshot, then an Update with the diff each time something changed."""
        loop = asyncio.get_running_loop()
        snap = await loop.run_in_executor(self._pool, self._full, False)
        yield Update(at=snap.taken_at, snapshot=snap, note=f"observing {self.scope.label}")
        queue: asyncio.Queue[Dirty] = asyncio.Queue()
        inner_stop = asyncio.Event()
        watchers = NamespaceWatchers(self._namespaces, queue, inner_stop)
        self._namespaces.watched = True
        await watchers.sync()
        others = [
            asyncio.ensure_future(
                watch_dirs(lambda: dirs_to_watch(self.scope, self.cgroup_root), queue, inner_stop)
            ),
            asyncio.ensure_future(
                poll(self.poll_interval, self.slow_poll_every, queue, inner_stop)
            ),
        ]
        try:
            async with contextlib.aclosing(_dirty_batches(queue, stop)) as batches:
                async for dirty in batches:
                    started = time.perf_counter()
                    new = await loop.run_in_executor(self._pool, self._refresh, dirty)
                    if self._namespaces.changed:
                        self._namespaces.changed = False
                        await watchers.sync()
                    if new is snap:
                        continue  # re-read, and nothing had changed
                    changes = diff(snap, new)
                    if changes:
                        snap = new
                        yield Update(
                            at=new.taken_at,
                            snapshot=new,
                            diff=changes,
                            extra=self._refresh_figures(dirty, started),
                        )
        finally:
            inner_stop.set()
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            await watchers.cancel()
            self._namespaces.watched = False
            self._namespaces.close_retired()

    def close(self) -> None:
        """Release sockets and the worker thread."""
        with contextlib.suppress(RuntimeError):
            self._pool.submit(self._namespaces.close_all).result()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Observer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _refresh_figures(self, dirty: set[Dirty], started: float) -> dict[str, Any]:
        return {
            "refreshed": sorted(f"{w}:{n}" if n else w for w, n in dirty),
            "refresh_ms": round((time.perf_counter() - started) * 1000, 2),
            "refresh_cpu_ms": round(self.last_refresh_cpu_ms, 2),
        }

    # -- kernel reads (worker thread) -------------------------------------------------------

    def _read_scope_wide(self, relist_uppers: bool) -> None:
        wide = self._scopewide
        wide.read_hints(force=True)  # first: cgroups are found through the API's containers
        self._read_processes()
        wide.read_cgroups()
        wide.read_mounts(relist=relist_uppers)

    def _read_processes(self) -> None:
        inodes = {s.ref.inode for s in self._namespaces.states.values()}
        self._scopewide.read_processes(inodes, self._namespaces.pids_by_inode)

    def _full(self, reread_all: bool = True) -> Snapshot:
        new = set(self._namespaces.sync())
        states = self._namespaces.states
        if reread_all:
            reread_namespaces(
                list(states.values()), self._failures, lambda: self._read_scope_wide(True)
            )
            return self._compose()
        self._namespaces.check_legacy(list(states))
        note_tcp_counts(list(states.values()))
        for label, state in states.items():
            fresh = label in new
            rtnl_news = fresh or drain(state.rtnl_sock)
            nf_news = fresh or drain(state.nf_sock)
            for what in PER_NAMESPACE:
                if what in ("links", "routes") and not rtnl_news:
                    continue
                if what == "rules" and not nf_news:
                    if state.ruleset.rules:
                        poll_counters(state, self._failures)  # the rules stand; counters may not
                    continue
                read_collection(state, what, self._failures, check_legacy=False)
        self._read_scope_wide(False)
        return self._compose()

    def _state(self) -> tuple[Any, ...]:
        """Everything a snapshot is composed from, to tell whether a refresh changed anything."""
        states = self._namespaces.states
        wide = self._scopewide
        per_ns = tuple(
            (label, s.raw_links, s.routes, s.ruleset, s.flows, s.sockets)
            for label, s in states.items()
        )
        pids = self._namespaces.pids_by_inode
        return (
            per_ns,
            wide.processes,
            wide.cgroups,
            wide.mounts,
            wide.hints,
            self._failures.sorted_lines(),
            # pids of the namespaces in scope only: processes elsewhere come and go all the time
            tuple(tuple(pids.get(s.ref.inode, ())) for s in states.values()),
        )

    def _refresh(self, dirty: set[Dirty]) -> Snapshot:
        """Re-read what ``dirty`` names; the previous snapshot itself when nothing changed."""
        cpu = time.thread_time()
        before = self._state()
        compose = self._reread(dirty)
        snap = self._last if self._last is not None and self._state() == before else compose()
        self.last_refresh_cpu_ms = (time.thread_time() - cpu) * 1000
        return snap

    def _reread(self, dirty: set[Dirty]) -> Callable[[], Snapshot]:
        todo = set(dirty)
        states = self._namespaces.states
        if ("netns", "") in todo:
            fresh = self._namespaces.sync()
            for label in fresh:
                todo.update((what, label) for what in PER_NAMESPACE)
            todo.add(("processes", ""))
            if fresh:
                # A new namespace is usually a container starting: ask the API for its name
                # now rather than at the next slow poll.
                todo.add(("hints", ""))
        walk: set[str] = set()
        if ("sockets", "") in todo:  # the poll: sock_diag announces nothing
            todo.update(("sockets", label) for label in states)
            walk = self._walk_turn(list(states))
            note_tcp_counts(list(states.values()))
        if ("counters", "") in todo:
            # Only namespaces that hold rules (and whose rules are not re-read anyway).
            for label, state in states.items():
                if state.ruleset.rules and ("rules", label) not in todo:
                    poll_counters(state, self._failures)
        for what in PER_NAMESPACE:  # links before routes: routes name their devices
            for w, label in sorted(todo):
                if w == what and label in states:
                    read_collection(states[label], what, self._failures, walk=label in walk)
        self._reread_scope_wide(todo)
        return self._compose

    def _walk_turn(self, labels: list[str]) -> set[str]:
        """The few namespaces whose connections this poll dumps whatever their links say, in
        turn, so each is walked about every ``WALK_EVERY`` polls (a TIME-WAIT socket expires
        without a packet); spread out, as each walk costs a millisecond or two."""
        if not labels:
            return set()
        per_poll = -(-len(labels) // WALK_EVERY)
        start = self._walk_at % len(labels)
        self._walk_at = start + per_poll
        return set((labels + labels)[start : start + per_poll])

    def _reread_scope_wide(self, todo: set[Dirty]) -> None:
        wide = self._scopewide
        if ("legacy", "") in todo:
            self._namespaces.check_legacy(list(self._namespaces.states))
        if ("processes", "") in todo:
            self._read_processes()
        if ("cgroups", "") in todo or ("cgroup_figures", "") in todo:
            wide.read_cgroups()
        if ("mounts", "") in todo or ("processes", "") in todo:
            wide.read_mounts()
        if ("hints", "") in todo:
            wide.read_hints()

    def _links(self, refs: dict[str, NsRef]) -> Any:
        """Links with their veth peers resolved, reused while no namespace's links changed."""
        states = self._namespaces.states
        raw = {label: s.raw_links for label, s in states.items()}
        readers = {label: s.reader for label, s in states.items() if s.reader is not None}
        lists = tuple(raw.values())
        last = self._peers_of
        if (
            last is not None
            and len(last[0]) == len(lists)
            and all(map(operator.is_, last[0], lists))
            and last[1] == refs
        ):
            return last[2]  # the very same links in the same namespaces: same peers
        links = resolve_peers(raw, refs, readers, self._peered)
        self._peers_of = (lists, refs, links)
        return links

    def _sockets(self) -> tuple[Any, ...]:
        """Every namespace's sockets with the process holding each, looked up again only when
        some namespace's sockets changed (a holder is found once per socket: InodeOwners)."""
        states = self._namespaces.states
        lists = tuple(s.sockets for s in states.values())
        last = self._held
        if (
            last is not None
            and len(last[0]) == len(lists)
            and all(map(operator.is_, last[0], lists))
        ):
            return last[1]
        pids = self._namespaces.pids_by_inode
        live = {p for ps in pids.values() for p in ps}
        held = self._inode_owners.resolve(
            (((s.inode for s in st.sockets), pids.get(st.ref.inode, ())) for st in states.values()),
            live,
        )
        out = [s for st in states.values() for s in with_owners(st.sockets, held)]
        result = tuple(out)
        self._held = (lists, result)
        return result

    def _hints(self, refs: dict[str, NsRef]) -> Hints:
        """The API's hints plus what the scope itself says (lab, containers' netns, Docker)."""
        scope = self.scope
        wide = self._scopewide
        container_netns = tuple(
            label
            for label, r in refs.items()
            if r.dir is not None and r.dir in scope.netns_dirs and scope.kind == "lab"
        )
        return replace(
            wide.hints,
            lab=scope.name if scope.kind == "lab" else "",
            container_netns=container_netns,
            # Docker's chains speak for themselves even when its socket does not answer.
            docker=wide.hints.docker or scope.docker,
            docker_uppers=tuple(sorted(wide.docker_uppers.items())),
        )

    def _compose(self) -> Snapshot:
        states = self._namespaces.states
        wide = self._scopewide
        refs = {label: s.ref for label, s in states.items()}
        links = self._links(refs)
        label_of: dict[int, str] = {}
        for r in refs.values():
            label_of.setdefault(r.inode, r.label)
        netns = [
            replace(m, label=label_of[m.inode])
            for m in netns_mod.to_model(refs.values(), self._namespaces.pids_by_inode)
        ]
        snap = Snapshot(
            taken_at=time.time(),
            scope=self.scope.label,
            links=tuple(lk for label in states for lk in links.get(label, [])),
            routes=tuple(r for s in states.values() for r in s.routes),
            netns=tuple(netns),
            processes=tuple(wide.processes),
            chains=tuple(c for s in states.values() for c in s.ruleset.chains),
            rules=tuple(r for s in states.values() for r in s.ruleset.rules),
            cgroups=tuple(wide.cgroups),
            mounts=tuple(wide.mounts),
            flows=tuple(f for s in states.values() for f in s.flows),
            sockets=self._sockets(),
            errors=self._failures.sorted_lines(),
        )
        snap = attribute(snap, self._hints(refs), self._memo)
        self._last = snap
        return snap


async def _dirty_batches(
    queue: asyncio.Queue[Dirty], stop: asyncio.Event
) -> AsyncGenerator[set[Dirty], None]:
    """Sets of dirty marks until ``stop`` is set: each mark with whatever follows it at once."""
    stopper = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                return
            dirty = {getter.result()}
            # Coalesce a burst (a container start touches links, addresses, routes, rules).
            await asyncio.sleep(0.005)
            while not queue.empty():
                dirty.add(queue.get_nowait())
            yield dirty
    finally:
        stopper.cancel()
