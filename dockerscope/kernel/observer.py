"""The live observer: snapshots of a lab, a netns or the host, refreshed from kernel events.

``Observer(scope).snapshot()`` reads everything once. ``Observer.frames(stop)`` yields that full
snapshot, then a Frame with the diff whenever something changed. Changes are found through
events (netlink per namespace, nf_tables and conntrack notifications, watchfiles on the netns
and cgroup dirs) and cheap polling of what the kernel does not announce (rule counters, cgroup
figures, upper dirs, processes). An event re-reads only the collection and namespace it
touched; the snapshot is then composed from per-namespace caches.

All kernel reads happen on one worker thread: pyroute2 keeps per-thread socket state, and the
reads are short, so serialising them costs nothing and keeps them from overlapping.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import operator
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from dockerscope.feed import Frame
from dockerscope.kernel import cgroups as cgroups_mod
from dockerscope.kernel import conntrack, iptables, mounts, netlink, processes
from dockerscope.kernel import netns as netns_mod
from dockerscope.kernel.attribution import Hints, Memo, attribute, hints_from_socket
from dockerscope.kernel.events import (
    NETLINK_NETFILTER,
    NFNL_SUBSYS_CTNETLINK,
    NFNL_SUBSYS_NFTABLES,
    NFNLGRP_CONNTRACK_DESTROY,
    NFNLGRP_CONNTRACK_NEW,
    NFNLGRP_NFTABLES,
    OVERRUN,
    RTNLGRP_IPV4_IFADDR,
    RTNLGRP_IPV4_ROUTE,
    RTNLGRP_LINK,
    dir_events,
    netlink_events,
    ticks,
)
from dockerscope.kernel.links import RawLink, RtnlReader, resolve_peers
from dockerscope.kernel.model import (
    Flow,
    OverlayMount,
    ProcessNs,
    Route,
    Snapshot,
    UpperEntry,
    diff,
)
from dockerscope.kernel.netlink import Conn
from dockerscope.kernel.netns import HOST, NsRef
from dockerscope.kernel.routes import read_routes
from dockerscope.kernel.setns import in_each_netns, open_netlink

T = TypeVar("T")

#: A dirty mark: (what, netns label or "" for scope-wide collections)
Dirty = tuple[str, str]
PER_NS = ("links", "routes", "rules", "flows")


@dataclass(frozen=True)
class Scope:
    """What one observer looks at."""

    label: str  # "lab:<name>", "netns:<name>", "host"
    kind: str  # "lab" | "netns" | "host"
    name: str = ""
    netns_files: tuple[str, ...] = ()  # single named namespaces (/run/netns/<lab>)
    netns_dirs: tuple[str, ...] = ()  # every namespace in these dirs
    include_host: bool = False
    cgroup_parent: str | None = None  # "dockerscope/<lab>", "docker"
    api_socket: str | None = None  # where hints come from, if it exists
    docker: bool = False  # the socket is a real Docker's

    @classmethod
    def lab(
        cls, name: str, run_root: str = "/run/dockerscope", netns_root: str = "/run/netns"
    ) -> Scope:
        """A dockerscope lab: its host netns, its containers' netns dir, its cgroups."""
        base = os.path.join(run_root, name)
        return cls(
            label=f"lab:{name}",
            kind="lab",
            name=name,
            netns_files=(os.path.join(netns_root, name),),
            netns_dirs=(os.path.join(base, "netns"),),
            cgroup_parent=f"dockerscope/{name}",
            api_socket=os.path.join(base, "docker.sock"),
        )

    @classmethod
    def netns(cls, name: str, netns_root: str = "/run/netns") -> Scope:
        """One named network namespace (no cgroups, no hints)."""
        path = name if os.path.isabs(name) else os.path.join(netns_root, name)
        return cls(
            label=f"netns:{os.path.basename(path)}", kind="netns", name=name, netns_files=(path,)
        )

    @classmethod
    def host(
        cls,
        netns_root: str = "/run/netns",
        docker_socket: str | None = None,
        cgroup_parent: str = "docker",
    ) -> Scope:
        """The machine: its own netns, /run/netns, containers' unnamed netns, Docker's cgroups.

        ``docker_socket`` defaults to ``DOCKER_HOST`` when that names a unix socket, else
        ``/var/run/docker.sock``, as the docker CLI chooses. Containers' cgroups are looked for
        under ``cgroup_parent`` and wherever the API's containers' processes live (a daemon
        started with ``--cgroup-parent``, or the systemd driver's ``docker-<id>.scope``).
        """
        return cls(
            label="host",
            kind="host",
            netns_dirs=(netns_root,),
            include_host=True,
            cgroup_parent=cgroup_parent,
            api_socket=docker_socket or default_docker_socket(),
            docker=True,
        )

    def watch_dirs(self) -> list[str]:
        """Directories whose entries announce namespaces coming and going."""
        dirs = {os.path.dirname(f) for f in self.netns_files} | set(self.netns_dirs)
        return sorted(dirs)


def default_docker_socket(env: dict[str, str] | None = None) -> str:
    """Docker's socket as the docker CLI finds it: ``DOCKER_HOST=unix://...``, else the default."""
    value = (os.environ if env is None else env).get("DOCKER_HOST", "")
    if value.startswith("unix://") and value[len("unix://") :].startswith("/"):
        return value[len("unix://") :]
    return "/var/run/docker.sock"


@dataclass
class _Ns:
    """What the observer holds for one namespace."""

    ref: NsRef
    reader: RtnlReader | None = None
    raw_links: list[RawLink] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    ruleset: iptables.Ruleset = field(default_factory=iptables.Ruleset)
    flows: list[Flow] = field(default_factory=list)
    rtnl_sock: socket.socket | None = None
    nf_sock: socket.socket | None = None
    nf_conn: Conn | None = None  # nf_tables dumps: tables, generation id, rule counters
    genid: int | None = None  # ruleset generation when the rules were last read
    has_legacy: bool = False
    link_packets: int | None = None  # rx+tx over all links at the last counters read
    polls: int = 0
    parsed: iptables.ParseMemo = field(default_factory=dict)  # nf_tables rule lines parsed

    def close(self) -> None:
        for s in (self.rtnl_sock, self.nf_sock):
            if s is not None:
                s.close()
        if self.nf_conn is not None:
            self.nf_conn.close()
        if self.reader is not None:
            self.reader.close()


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
        self.proc = proc
        self.poll_interval = poll_interval
        self.slow_poll_every = slow_poll_every
        self.upper_cap = upper_cap
        self.upper_every = upper_every
        self._uppers: dict[str, tuple[float, tuple[UpperEntry, ...]]] = {}
        self._given_hints = hints
        self._hints = hints or Hints()
        self._hints_at = 0.0
        self._upperdirs: dict[str, str] = {}  # container id -> upper dir, asked once each
        self._docker_uppers: dict[str, str] = {}  # upper dir -> container id, Docker's layerdb
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dockerscope-obs")
        self._ns: dict[str, _Ns] = {}
        self._netns_by_inode: dict[int, list[int]] = {}
        self._processes: list[ProcessNs] = []
        self._cgroups: list[Any] = []
        self._mounts: list[OverlayMount] = []
        self._errors: dict[str, str] = {}
        self._host_inode = os.stat(f"{proc}/{os.getpid()}/ns/net").st_ino
        self._ns_changed = False
        self._last: Snapshot | None = None
        self._memo = Memo()
        self._frames_running = False
        self._retired: list[_Ns] = []
        self.last_refresh_cpu_ms = 0.0  # CPU the worker spent in the last refresh
        self._peered: dict[Any, Any] = {}
        #: the raw link lists, namespaces and resolved links of the last compose
        self._peers_of: tuple[tuple[list[RawLink], ...], dict[str, NsRef], Any] | None = None

    # -- public ---------------------------------------------------------------------------

    def snapshot(self, reread_all: bool = False) -> Snapshot:
        """Everything in scope, current as of now.

        A namespace read before is read again only where its event sockets hold news (or lost
        some): unread news means a change, silence means none. ``reread_all`` reads every
        namespace again regardless, its rules with ``iptables-save`` whatever the generation
        id says, and lists every upper dir again (see ``_reread_namespaces``). Not to be called
        while ``frames`` runs on this observer (the frames loop owns the event sockets then).
        """
        return self._call(lambda: self._full(reread_all))

    async def frames(self, stop: asyncio.Event) -> AsyncIterator[Frame]:
        """The first full snapshot, then a Frame with the diff each time something changed."""
        loop = asyncio.get_running_loop()
        snap = await loop.run_in_executor(self._pool, self._full, False)
        yield Frame(at=snap.taken_at, snapshot=snap, note=f"observing {self.scope.label}")
        queue: asyncio.Queue[Dirty] = asyncio.Queue()
        tasks: dict[str, asyncio.Task[None]] = {}
        inner_stop = asyncio.Event()

        async def sync_ns_tasks() -> None:
            # Namespaces gone: stop their watchers first, then close their sockets, so the
            # loop never watches a descriptor number that a new socket may reuse.
            ending = []
            for label in list(tasks):
                if label.startswith("ns:") and (
                    label[3:] not in self._ns or tasks[label].get_name() != self._ns_key(label)
                ):
                    task = tasks.pop(label)
                    task.cancel()
                    ending.append(task)
            await asyncio.gather(*ending, return_exceptions=True)
            while self._retired:
                self._retired.pop().close()
            for label, st in self._ns.items():
                if f"ns:{label}" not in tasks:
                    tasks[f"ns:{label}"] = asyncio.ensure_future(
                        self._watch_ns(label, st, queue, inner_stop)
                    )
                    tasks[f"ns:{label}"].set_name(self._ns_key(label))

        self._frames_running = True
        await sync_ns_tasks()
        tasks["dirs"] = asyncio.ensure_future(self._watch_dirs(queue, inner_stop))
        tasks["poll"] = asyncio.ensure_future(self._poll(queue, inner_stop))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                dirty = {getter.result()}
                # Coalesce a burst (a container start touches links, addresses, routes, rules).
                await asyncio.sleep(0.005)
                while not queue.empty():
                    dirty.add(queue.get_nowait())
                started = time.perf_counter()
                new = await loop.run_in_executor(self._pool, self._refresh, dirty)
                if self._ns_changed:
                    self._ns_changed = False
                    await sync_ns_tasks()
                if new is snap:
                    continue  # re-read, and nothing had changed
                d = diff(snap, new)
                if d:
                    snap = new
                    yield Frame(
                        at=new.taken_at,
                        snapshot=new,
                        diff=d,
                        extra={
                            "refreshed": sorted(f"{w}:{n}" if n else w for w, n in dirty),
                            "refresh_ms": round((time.perf_counter() - started) * 1000, 2),
                            "refresh_cpu_ms": round(self.last_refresh_cpu_ms, 2),
                        },
                    )
        finally:
            inner_stop.set()
            stopper.cancel()
            for t in tasks.values():
                t.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            self._frames_running = False
            while self._retired:
                self._retired.pop().close()

    def close(self) -> None:
        """Release sockets and the worker thread."""
        with contextlib.suppress(RuntimeError):
            self._pool.submit(self._close_all).result()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Observer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- event plumbing (event loop side) --------------------------------------------------

    async def _watch_ns(
        self, label: str, st: _Ns, queue: asyncio.Queue[Dirty], stop: asyncio.Event
    ) -> None:
        async def rtnl() -> None:
            if st.rtnl_sock is None:
                return
            async for _types in netlink_events(st.rtnl_sock, stop):
                queue.put_nowait(("links", label))
                queue.put_nowait(("routes", label))

        async def nf() -> None:
            if st.nf_sock is None:
                return
            async for types in netlink_events(st.nf_sock, stop):
                subsystems = {t >> 8 for t in types if t >= 0}
                if OVERRUN in types or NFNL_SUBSYS_NFTABLES in subsystems:
                    queue.put_nowait(("rules", label))
                if OVERRUN in types or NFNL_SUBSYS_CTNETLINK in subsystems:
                    queue.put_nowait(("flows", label))

        await asyncio.gather(rtnl(), nf())

    async def _watch_dirs(self, queue: asyncio.Queue[Dirty], stop: asyncio.Event) -> None:
        """Restart the directory watch whenever the set of existing directories changes."""
        while not stop.is_set():
            dirs = self._dirs_to_watch()
            existing = tuple(d for d in dirs if os.path.isdir(d))
            local_stop = asyncio.Event()

            async def watch(paths: tuple[str, ...] = existing, ls: asyncio.Event = local_stop):
                async for changed in dir_events(paths, ls):
                    cg = [p for p in changed if "cgroup" in p]
                    if len(cg) != len(changed):
                        queue.put_nowait(("netns", ""))
                    if cg:
                        queue.put_nowait(("cgroups", ""))
                        queue.put_nowait(("processes", ""))
                    queue.put_nowait(("hints", ""))

            task = asyncio.ensure_future(watch())
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

    def _dirs_to_watch(self) -> list[str]:
        dirs = self.scope.watch_dirs()
        if self.scope.cgroup_parent:
            dirs += [
                str(p) for p in cgroups_mod.cgroup_dirs(self.scope.cgroup_parent, self.cgroup_root)
            ]
        return dirs

    async def _poll(self, queue: asyncio.Queue[Dirty], stop: asyncio.Event) -> None:
        n = 0
        async for _ in ticks(self.poll_interval, stop):
            n += 1
            queue.put_nowait(("counters", ""))
            queue.put_nowait(("cgroup_figures", ""))
            if n % self.slow_poll_every == 0:
                queue.put_nowait(("netns", ""))  # unnamed namespaces announce nothing
                queue.put_nowait(("processes", ""))
                queue.put_nowait(("mounts", ""))
            if n % (self.slow_poll_every * 5) == 0:
                queue.put_nowait(("hints", ""))
                queue.put_nowait(("legacy", ""))  # x_tables send no events

    # -- kernel reads (worker thread) -------------------------------------------------------

    def _ns_key(self, label: str) -> str:
        """Task name for a namespace's watcher: label and inode (a name can be reused)."""
        st = self._ns.get(label)
        return f"{label}@{st.ref.inode if st else 0}"

    def _call(self, fn: Callable[[], T]) -> T:
        return self._pool.submit(fn).result()

    def _close_all(self) -> None:
        for st in self._ns.values():
            st.close()
        self._ns.clear()

    def _try(self, key: str, fn: Callable[[], T], default: T) -> T:
        try:
            value = fn()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a visible error line
            self._errors[key] = f"{key}: {exc}"
            return default
        self._errors.pop(key, None)
        return value

    def _discover(self) -> list[NsRef]:
        """The namespaces in scope right now."""
        self._netns_by_inode = netns_mod.pids_by_netns(self.proc)
        refs: list[NsRef] = []
        if self.scope.include_host:
            refs.append(netns_mod.host_ref(self.proc))
        files = [f for f in self.scope.netns_files if os.path.exists(f)]
        for f in files:
            refs.extend(r for r in netns_mod.named([os.path.dirname(f)]) if r.path == f)
        # The observer's own namespace may also have a name (``ip netns exec foo`` or nsenter
        # into /run/netns/foo): list it once, as the host.
        host_inodes = {r.inode for r in refs if r.label == HOST}
        refs.extend(r for r in netns_mod.named(self.scope.netns_dirs) if r.inode not in host_inodes)
        known = {r.inode for r in refs}
        if self.scope.kind == "host":
            refs.extend(netns_mod.unnamed(known, self._netns_by_inode, self.proc))
        elif self.scope.kind == "lab":
            marker = f"/{self.scope.cgroup_parent}/"
            lab_pids = {
                ino: pids
                for ino, pids in self._netns_by_inode.items()
                if ino not in known
                and ino != self._host_inode
                and any(marker in self._cgroup_of(p) for p in pids[:3])
            }
            refs.extend(netns_mod.unnamed(known, lab_pids, self.proc))
        # Labels must be unique: a second namespace with the same label gets its inode.
        seen: set[str] = set()
        out = []
        for r in refs:
            if r.label in seen:
                r = replace(r, label=f"ino:{r.inode}")
            seen.add(r.label)
            out.append(r)
        return out

    def _cgroup_of(self, pid: int) -> str:
        try:
            with open(f"{self.proc}/{pid}/cgroup") as f:
                return f.read()
        except OSError:
            return ""

    def _sync_namespaces(self) -> list[str]:
        """Open new namespaces, drop gone ones; returns the labels that are new."""
        refs = {r.label: r for r in self._discover()}
        new = []
        for label in list(self._ns):
            r = refs.get(label)
            if r is None or r.inode != self._ns[label].ref.inode:
                gone = self._ns.pop(label)
                if self._frames_running:
                    self._retired.append(gone)  # closed by the frames loop, after its watcher
                else:
                    gone.close()
                self._ns_changed = True
        fresh = [(label, r) for label, r in refs.items() if label not in self._ns]
        # One thread hops through the new namespaces and opens their sockets there.
        opened = in_each_netns(
            [(None if label == HOST else r.path, _open_ns_sockets) for label, r in fresh]
        )
        for (label, r), socks in zip(fresh, opened, strict=True):
            if isinstance(socks, BaseException):
                self._errors[f"netns {label}"] = f"netns {label}: {socks}"
                continue
            self._errors.pop(f"netns {label}", None)
            rtnl_dump, rtnl_events, nf_events, nf_dump = socks
            st = _Ns(r, reader=RtnlReader(r, rtnl_dump), rtnl_sock=rtnl_events, nf_sock=nf_events)
            st.nf_conn = Conn(nf_dump) if nf_dump is not None else None
            self._ns[label] = st
            self._ns_changed = True
            new.append(label)
        if new:
            self._check_legacy(new)
        return new

    def _check_legacy(self, labels: list[str]) -> None:
        """Which namespaces hold legacy (x_tables) tables, read in one hop through them all."""
        sts = [self._ns[lb] for lb in labels if lb in self._ns]
        found = in_each_netns(
            [
                (None if st.ref.label == HOST else st.ref.path, iptables.legacy_tables_here)
                for st in sts
            ]
        )
        for st, tables in zip(sts, found, strict=True):
            if not isinstance(tables, BaseException):
                was = st.has_legacy
                st.has_legacy = any(t in iptables.TABLES for t in tables)
                if st.has_legacy != was:
                    st.genid = None  # make the next rules read a full one

    def _read_ns(self, label: str, what: str, check_legacy: bool = True) -> None:
        st = self._ns.get(label)
        if st is None:
            return
        if what == "links" and st.reader is not None:
            st.raw_links = self._try(f"links {label}", st.reader.links, st.raw_links)
        elif what == "routes" and st.reader is not None:
            names = {r.link.index: r.link.name for r in st.raw_links}
            reader = st.reader
            st.routes = self._try(f"routes {label}", lambda: read_routes(reader, names), st.routes)
        elif what == "rules":
            st.ruleset = self._try(
                f"iptables {label}", lambda: self._read_rules(st, check_legacy), st.ruleset
            )
        elif what == "flows":
            if st.ruleset.rules or st.ruleset.chains:
                st.flows = self._try(f"conntrack {label}", lambda: self._read_flows(st), st.flows)
            else:
                st.flows = []  # no NAT/filter tables: conntrack is not hooked in here

    def _read_flows(self, st: _Ns) -> list[Flow]:
        if st.nf_conn is not None:
            try:
                return conntrack.read_netlink(st.nf_conn, st.ref.label)
            except OSError:
                pass  # ctnetlink refused (module missing?): the CLI may still work
        return conntrack.read(None if st.ref.label == HOST else st.ref.path, st.ref.label)

    def _read_rules(self, st: _Ns, check_legacy: bool = True) -> iptables.Ruleset:
        """Both backends, as cheaply as the kernel allows.

        iptables-save is skipped where nf_tables has no ip nat/filter table, and where the
        ruleset generation id is the one the rules were read at (then only counters moved).
        """
        path = None if st.ref.label == HOST else st.ref.path
        label = st.ref.label
        nft: iptables.Ruleset | None = None
        if st.nf_conn is not None:
            gen = netlink.nft_genid(st.nf_conn)
            if gen is not None and gen == st.genid:
                mine = iptables.Ruleset(
                    tuple(c for c in st.ruleset.chains if c.backend == "nf_tables"),
                    tuple(r for r in st.ruleset.rules if r.backend == "nf_tables"),
                )
                if mine.rules:
                    nft = iptables.apply_counters(mine, netlink.nft_rule_counters(st.nf_conn))
                else:
                    nft = mine
            if nft is None:
                st.genid = gen
                tables = netlink.nft_tables(st.nf_conn)
                if not any(
                    fam == netlink.NFPROTO_IPV4 and name in iptables.TABLES for fam, name in tables
                ):
                    nft = iptables.Ruleset()
        if nft is None:
            nft = iptables.read_nft(path, label, reuse=st.parsed)
        if check_legacy:
            st.has_legacy = iptables.legacy_has_rules(path)
        legacy = iptables.read_legacy(path, label) if st.has_legacy else iptables.Ruleset()
        return iptables.Ruleset(nft.chains + legacy.chains, nft.rules + legacy.rules)

    def _poll_counters(self, label: str) -> None:
        """Fresh rule counters without re-reading the rules, unless the ruleset changed."""
        st = self._ns.get(label)
        if st is None:
            return
        if st.nf_conn is None or st.has_legacy:
            self._read_ns(label, "rules")  # libiptc gives counters with the rules anyway
            return

        def poll() -> iptables.Ruleset:
            assert st.nf_conn is not None
            if netlink.nft_genid(st.nf_conn) != st.genid:
                return self._read_rules(st, check_legacy=False)
            # Nothing crossed the links: no counter can have moved (see link_packets), so skip
            # the rule dump, but still count in full now and then.
            packets = netlink.link_packets(st.reader.conn) if st.reader is not None else None
            st.polls += 1
            if packets is not None and packets == st.link_packets and st.polls % 10:
                return st.ruleset
            st.link_packets = packets
            counters = netlink.nft_rule_counters(st.nf_conn)
            fresh = iptables.apply_counters(st.ruleset, counters)
            return fresh if fresh is not None else self._read_rules(st, check_legacy=False)

        st.ruleset = self._try(f"iptables {label}", poll, st.ruleset)

    def _read_processes(self) -> None:
        inodes = {st.ref.inode for st in self._ns.values()}
        candidates: list[int] | None = None
        if self.scope.kind != "host":
            candidates = [p for ino in inodes for p in self._netns_by_inode.get(ino, [])]
        host_ns = dict(processes.namespaces_of(1, self.proc)) if self.scope.kind == "host" else {}
        marker = f"/{self.scope.cgroup_parent}/" if self.scope.cgroup_parent else None

        def keep(p: ProcessNs) -> bool:
            if self.scope.kind == "host":
                return p.pid == 1 or dict(p.namespaces) != host_ns
            return p.ns("net") in inodes or (marker is not None and marker in p.cgroup + "/")

        if self.scope.kind == "lab" and self.scope.cgroup_parent:
            # Processes of the lab's cgroups may live outside its namespaces (--net=host).
            dirs = cgroups_mod.cgroup_dirs(self.scope.cgroup_parent, self.cgroup_root)
            extra = [int(x) for x in _procs_under(dirs[0])] if dirs else []
            candidates = (candidates or []) + extra
        self._processes = self._try(
            "processes",
            lambda: processes.read_processes(keep, candidates, self.proc),
            self._processes,
        )

    def _read_cgroups(self) -> None:
        parent = self.scope.cgroup_parent
        if not parent:
            self._cgroups = []
            return

        def read() -> list[Any]:
            found = cgroups_mod.read_cgroups(parent, self.cgroup_root)
            have = {c.path.strip("/") for c in found}
            for rel in self._docker_cgroups():
                if rel not in have:
                    have.add(rel)
                    found.extend(cgroups_mod.read_cgroups_at([rel], self.cgroup_root))
            return found

        self._cgroups = self._try("cgroups", read, self._cgroups)

    def _docker_cgroups(self) -> list[str]:
        """Cgroups of the API's containers found through their processes, wherever they are.

        A real Docker puts a container in ``<cgroup parent>/<id>`` (``docker`` unless the
        daemon was started with ``--cgroup-parent``) or, with the systemd driver, in
        ``system.slice/docker-<id>.scope``: the process's own cgroup says which.
        """
        if not self.scope.docker or not self._hints.containers:
            return []
        ids = {c.id for c in self._hints.containers if c.id}
        out = []
        for p in self._processes:
            rel = p.cgroup.strip("/")
            last = rel.rsplit("/", 1)[-1].removeprefix("docker-").removesuffix(".scope")
            if last in ids:
                out.append(rel)
        return sorted(set(out))

    def _read_mounts(self, relist: bool = False) -> None:
        """Overlay mounts in scope; ``relist``: walk every upper dir now (a full re-read)."""

        def read() -> list[OverlayMount]:
            found: dict[tuple[int, str], OverlayMount] = {}
            host_mnt = os.stat(f"{self.proc}/{os.getpid()}/ns/mnt").st_ino
            sources: list[tuple[str, str, int]] = []
            seen_mnt = {host_mnt}
            for p in self._processes:
                mnt = p.ns("mnt")
                if mnt is None or mnt in seen_mnt:
                    continue
                seen_mnt.add(mnt)
                sources.append((f"pid:{p.pid}", f"{self.proc}/{p.pid}/mountinfo", mnt))
            sources.append((HOST, f"{self.proc}/{os.getpid()}/mountinfo", host_mnt))
            sources.reverse()  # the host's own first: an overlay it shows is listed as its
            uppers: set[str] = set()
            now = time.monotonic()
            for seen_from, path, mnt in sources:
                try:
                    text = Path(path).read_text()
                except OSError:
                    continue
                for e in mounts.parse_mountinfo(text):
                    if seen_from == HOST and not self._host_mount_in_scope(e.upperdir):
                        continue
                    if e.upperdir in uppers:  # inherited by a child mount namespace
                        continue
                    uppers.add(e.upperdir)
                    target = e.target if mnt == host_mnt else f"{e.target} (mnt:{mnt})"
                    found[(mnt, e.target)] = OverlayMount(
                        target=target,
                        lowerdirs=e.lowerdirs,
                        upperdir=e.upperdir,
                        workdir=e.workdir,
                        upper_entries=self._upper_entries(e.upperdir, now, relist),
                        seen_from=seen_from,
                    )
            self._uppers = {k: v for k, v in self._uppers.items() if k in uppers}
            if self.scope.docker:
                self._docker_layers(uppers)
            return sorted(found.values(), key=lambda m: m.target)

        self._mounts = self._try("mounts", read, self._mounts)

    def _docker_layers(self, uppers: set[str]) -> None:
        """Which container each Docker overlay2 upper dir is, from Docker's layer store.

        Read only for upper dirs not known yet: a container's layer never changes.
        """
        known = {u: c for u, c in self._docker_uppers.items() if u in uppers}
        new = [u for u in uppers if u not in known and "/overlay2/" in u]
        if new:
            known.update(mounts.docker_layer_owners(new))
        self._docker_uppers = known

    def _upper_entries(
        self, upperdir: str, now: float, relist: bool = False
    ) -> tuple[UpperEntry, ...]:
        """An upper dir's listing, walked again at most every ``upper_every`` seconds.

        Walking a hundred container upper dirs every second would be the observer's largest
        idle cost; a file written in a container shows within a few seconds instead. A full
        re-read (``relist``) walks it regardless.
        """
        cached = self._uppers.get(upperdir)
        if not relist and cached is not None and now - cached[0] < self.upper_every:
            return cached[1]
        entries = mounts.upper_entries(upperdir, self.upper_cap)
        self._uppers[upperdir] = (now, entries)
        return entries

    def _host_mount_in_scope(self, upperdir: str) -> bool:
        if self.scope.kind == "host":
            return True
        if self.scope.kind == "lab":
            return f"/{self.scope.name}/" in upperdir
        return False

    def _read_hints(self, force: bool = False) -> None:
        sock = self.scope.api_socket
        if self._given_hints is not None or not sock:
            return
        now = time.monotonic()
        if not force and now - self._hints_at < 1.0:
            return
        self._hints_at = now
        if not os.path.exists(sock):
            self._hints = Hints()
            return
        self._hints = self._try(
            "hints",
            lambda: hints_from_socket(sock, docker=self.scope.docker, upperdirs=self._upperdirs),
            self._hints,
        )

    def _full(self, reread_all: bool = True) -> Snapshot:
        new = set(self._sync_namespaces())

        def scope_wide() -> None:
            self._read_hints(force=True)  # first: cgroups are found through the API's containers
            self._read_processes()
            self._read_cgroups()
            self._read_mounts(relist=reread_all)

        if reread_all:
            self._reread_namespaces(meanwhile=scope_wide)
        else:
            self._check_legacy(list(self._ns))
            for label, st in self._ns.items():
                fresh = label in new
                rtnl_news = fresh or _drain(st.rtnl_sock)
                nf_news = fresh or _drain(st.nf_sock)
                for what in PER_NS:
                    if what in ("links", "routes") and not rtnl_news:
                        continue
                    if what == "rules" and not nf_news:
                        if st.ruleset.rules:
                            self._poll_counters(label)  # the rules stand; counters may not
                        continue
                    self._read_ns(label, what, check_legacy=False)
            scope_wide()
        return self._compose()

    def _reread_namespaces(self, meanwhile: Callable[[], None] = lambda: None) -> None:
        """Every namespace read again from the kernel: links, addresses, routes, rules, flows.

        All of it is asked of the kernel again, rules included (no generation id shortcut).
        First a thread hops through the namespaces: it reads their legacy tables and
        conntrack count, and starts ``iptables-save`` in each one whose nf_tables holds an
        ip nat/filter table (those first), which then runs on the other core while this
        thread reads links and routes. A namespace whose conntrack count is 0 needs no
        conntrack dump (a dump walks the whole, machine-wide, connection table). Decoding is
        skipped only for messages and rule lines equal to ones decoded before (links.py,
        iptables.py).

        ``meanwhile`` (reads that need no rules) runs before the first ``iptables-save``
        output is waited for.
        """
        sts = list(self._ns.values())
        wants = [
            self._try(f"iptables {st.ref.label}", functools.partial(self._nft_in_use, st), True)
            for st in sts
        ]
        # Namespaces with tables first: their iptables-save starts first thing. The hop is
        # waited for: run beside the link reads it gained nothing measurable (both threads
        # need the GIL, and the iptables-save child already wants the other core).
        order = sorted(range(len(sts)), key=lambda i: not wants[i])
        hops: list[Any] = [None] * len(sts)
        found = in_each_netns(
            [
                (
                    None if sts[i].ref.label == HOST else sts[i].ref.path,
                    functools.partial(_look_inside, wants[i]),
                )
                for i in order
            ]
        )
        for i, hop in zip(order, found, strict=True):
            hops[i] = hop
        try:
            for st in sts:
                self._read_ns(st.ref.label, "links")
                self._read_ns(st.ref.label, "routes")
            meanwhile()
            for st, hop in zip(sts, hops, strict=True):
                label = st.ref.label
                if not isinstance(hop, _Hop):
                    self._errors[f"iptables {label}"] = f"iptables {label}: {hop}"
                    self._read_ns(label, "flows")
                    continue
                st.has_legacy = any(t in iptables.TABLES for t in hop.legacy_tables)
                st.ruleset = self._try(
                    f"iptables {label}",
                    functools.partial(self._rules_from_save, st, hop.nft_save),
                    st.ruleset,
                )
                if hop.conntrack_count == 0:
                    st.flows = []  # the kernel tracks nothing here: no table to walk
                    self._errors.pop(f"conntrack {label}", None)
                else:
                    self._read_ns(label, "flows")
        finally:
            for hop in hops:
                proc = hop.nft_save if isinstance(hop, _Hop) else None
                if proc is not None and proc.returncode is None:
                    proc.kill()  # not collected: an error cut the read short
                    proc.communicate()

    def _nft_in_use(self, st: _Ns) -> bool:
        """Whether nf_tables holds an ip nat or filter table in ``st`` (True: can't tell).

        The generation id is noted before ``iptables-save`` runs: a change made meanwhile
        then shows as a newer generation at the next poll.
        """
        if st.nf_conn is None:
            return True
        st.genid = None
        tables = netlink.nft_tables(st.nf_conn)
        if not any(fam == netlink.NFPROTO_IPV4 and name in iptables.TABLES for fam, name in tables):
            return False  # (no generation noted: the next rules read looks at the tables again)
        st.genid = netlink.nft_genid(st.nf_conn)
        return True

    def _rules_from_save(self, st: _Ns, proc: subprocess.Popen[str] | None) -> iptables.Ruleset:
        label = st.ref.label
        nft = iptables.Ruleset()
        if proc is not None:
            text = iptables.finish_save(proc)
            nft = iptables.parse_save(text, label, "nf_tables", reuse=st.parsed)
        legacy = iptables.Ruleset()
        if st.has_legacy:
            legacy = iptables.read_legacy(None if label == HOST else st.ref.path, label)
        return iptables.Ruleset(nft.chains + legacy.chains, nft.rules + legacy.rules)

    def _state(self) -> tuple[Any, ...]:
        """Everything a snapshot is composed from, to tell whether a refresh changed anything."""
        per_ns = tuple(
            (label, st.raw_links, st.routes, st.ruleset, st.flows) for label, st in self._ns.items()
        )
        return (
            per_ns,
            self._processes,
            self._cgroups,
            self._mounts,
            self._hints,
            tuple(sorted(self._errors.values())),
            # pids of the namespaces in scope only: processes elsewhere come and go all the time
            tuple(tuple(self._netns_by_inode.get(st.ref.inode, ())) for st in self._ns.values()),
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
        if ("netns", "") in todo:
            fresh = self._sync_namespaces()
            for label in fresh:
                todo.update((what, label) for what in PER_NS)
            todo.add(("processes", ""))
            if fresh:
                # A new namespace is usually a container starting: ask the API for its name
                # now rather than at the next slow poll.
                todo.add(("hints", ""))
        if ("counters", "") in todo:
            # Only namespaces that hold rules (and whose rules are not re-read anyway).
            for lb, st in self._ns.items():
                if st.ruleset.rules and ("rules", lb) not in todo:
                    self._poll_counters(lb)
        for what in PER_NS:  # links before routes: routes name their devices
            for w, label in sorted(todo):
                if w == what and label:
                    self._read_ns(label, what)
        if ("legacy", "") in todo:
            self._check_legacy(list(self._ns))
        if ("processes", "") in todo:
            self._read_processes()
        if ("cgroups", "") in todo or ("cgroup_figures", "") in todo:
            self._read_cgroups()
        if ("mounts", "") in todo or ("processes", "") in todo:
            self._read_mounts()
        if ("hints", "") in todo:
            self._read_hints()
        return self._compose

    def _compose(self) -> Snapshot:
        raw = {label: st.raw_links for label, st in self._ns.items()}
        refs = {label: st.ref for label, st in self._ns.items()}
        readers = {label: st.reader for label, st in self._ns.items() if st.reader is not None}
        lists = tuple(raw.values())
        last = self._peers_of
        if (
            last is not None
            and len(last[0]) == len(lists)
            and all(map(operator.is_, last[0], lists))
            and last[1] == refs
        ):
            links = last[2]  # the very same links in the same namespaces: same peers
        else:
            links = resolve_peers(raw, refs, readers, self._peered)
            self._peers_of = (lists, refs, links)
        label_of: dict[int, str] = {}
        for r in refs.values():
            label_of.setdefault(r.inode, r.label)
        netns = [
            replace(m, label=label_of[m.inode])
            for m in netns_mod.to_model(refs.values(), self._netns_by_inode)
        ]
        container_netns = tuple(
            lb
            for lb, r in refs.items()
            if r.dir is not None and r.dir in self.scope.netns_dirs and self.scope.kind == "lab"
        )
        hints = replace(
            self._hints,
            lab=self.scope.name if self.scope.kind == "lab" else "",
            container_netns=container_netns,
            # Docker's chains speak for themselves even when its socket does not answer.
            docker=self._hints.docker or self.scope.docker,
            docker_uppers=tuple(sorted(self._docker_uppers.items())),
        )
        snap = Snapshot(
            taken_at=time.time(),
            scope=self.scope.label,
            links=tuple(lk for lb in self._ns for lk in links.get(lb, [])),
            routes=tuple(r for st in self._ns.values() for r in st.routes),
            netns=tuple(netns),
            processes=tuple(self._processes),
            chains=tuple(c for st in self._ns.values() for c in st.ruleset.chains),
            rules=tuple(r for st in self._ns.values() for r in st.ruleset.rules),
            cgroups=tuple(self._cgroups),
            mounts=tuple(self._mounts),
            flows=tuple(f for st in self._ns.values() for f in st.flows),
            errors=tuple(sorted(self._errors.values())),
        )
        snap = attribute(snap, hints, self._memo)
        self._last = snap
        return snap


def _open_ns_sockets() -> tuple[
    socket.socket, socket.socket, socket.socket | None, socket.socket | None
]:
    """In the current thread's netns: rtnetlink dump and event sockets, nf_tables/conntrack
    event and dump sockets (None when netfilter netlink is not available)."""
    rtnl_dump = open_netlink(0)
    rtnl_events = open_netlink(0, (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE))
    nf_events = nf_dump = None
    # Without netfilter netlink: no rule events (polling still sees changes), and
    # iptables-save / conntrack -L alone.
    with contextlib.suppress(OSError):
        nf_events = open_netlink(
            NETLINK_NETFILTER,
            (NFNLGRP_NFTABLES, NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_DESTROY),
        )
    with contextlib.suppress(OSError):
        nf_dump = open_netlink(NETLINK_NETFILTER)
    return rtnl_dump, rtnl_events, nf_events, nf_dump


@dataclass(frozen=True)
class _Hop:
    """What a full re-read learns inside one namespace (see ``_look_inside``)."""

    legacy_tables: list[str]
    conntrack_count: int | None  # None: not read (no tables here) or not readable
    nft_save: subprocess.Popen[str] | None


def _look_inside(start_nft_save: bool) -> _Hop:
    """In the calling thread's netns: its legacy tables and, where it has tables, how many
    connections it tracks and a started ``iptables-save`` (when asked)."""
    legacy = iptables.legacy_tables_here()
    count: int | None = None
    if start_nft_save or legacy:  # conntrack is only hooked in where a table uses it
        # /proc/sys/net follows the opening thread's netns; the count is per namespace.
        with (
            contextlib.suppress(OSError, ValueError),
            open("/proc/sys/net/netfilter/nf_conntrack_count") as f,
        ):
            count = int(f.read())
    save = iptables.start_save() if start_nft_save else None
    return _Hop(legacy, count, save)


def _drain(sock: socket.socket | None) -> bool:
    """Empty an event socket without waiting; True when it held anything (or overflowed).

    No socket means no way to know: treat as news.
    """
    if sock is None:
        return True
    news = False
    while True:
        try:
            data = sock.recv(1 << 16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return news
        except OSError:
            return True  # ENOBUFS: events were lost
        if not data:
            return news
        news = True


def _procs_under(path: Path) -> list[str]:
    """Pids in ``path`` and its child cgroups (cgroup.procs files)."""
    out: list[str] = []
    if not path.is_dir():
        return out
    for dirpath, _dirs, files in os.walk(path):
        if "cgroup.procs" in files:
            with contextlib.suppress(OSError):
                out.extend(Path(dirpath, "cgroup.procs").read_text().split())
    return out


class LiveSource:
    """A ``dockerscope.feed.Source`` backed by an Observer (what the dashboard uses live)."""

    def __init__(self, scope: Scope, hints: Hints | None = None, **observer_args: Any):
        self.scope = scope.label
        self.observer = Observer(scope, hints=hints, **observer_args)
        self._stop: asyncio.Event | None = None

    async def frames(self) -> AsyncIterator[Frame]:
        """Frames until ``stop`` is awaited."""
        self._stop = self._stop or asyncio.Event()
        try:
            async for frame in self.observer.frames(self._stop):
                yield frame
        finally:
            await asyncio.get_running_loop().run_in_executor(None, self.observer.close)

    async def stop(self) -> None:
        """Ask ``frames`` to finish."""
        self._stop = self._stop or asyncio.Event()
        self._stop.set()
