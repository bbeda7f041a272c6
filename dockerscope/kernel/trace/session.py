"""A trace session in one network namespace: our table in, trace events read, table out.

``TraceSession(ns_path, label, filter)`` opens (inside the namespace, from a short-lived
thread, see setns.py) a socket subscribed to NFNLGRP_NFTRACE and a control socket, removes
tables left by dead tracers, and adds ``table inet dockerscope_trace_<pid>`` with the owner
flag on the control socket: if this process dies, even by SIGKILL, the kernel drops the table
with the socket. ``close()`` removes it otherwise. ``traces(...)`` yields one Trace per packet.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import select
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from dockerscope.kernel import conntrack, iptables, nftables, rtnetlink
from dockerscope.kernel.iproutes import routes_from_messages
from dockerscope.kernel.model import Route
from dockerscope.kernel.netlink import Conn
from dockerscope.kernel.netlink_constants import (
    NETLINK_ADD_MEMBERSHIP,
    NETLINK_NETFILTER,
    NETLINK_ROUTE,
    NFNLGRP_NFTRACE,
    RT_TABLE_MAIN,
    SOL_NETLINK,
)
from dockerscope.kernel.processes import pid_alive
from dockerscope.kernel.setns import in_netns
from dockerscope.kernel.trace import fdb, nftbuild, rules
from dockerscope.kernel.trace.assemble import assemble, flow_of
from dockerscope.kernel.trace.decode import decode_datagram
from dockerscope.kernel.trace.filters import Filter
from dockerscope.kernel.trace.model import Trace, TraceEvent

#: a packet's trace is complete once its id has been quiet this long (seconds): the kernel
#: sends a packet's events back to back while it crosses the hooks
QUIET = 0.05
T = TypeVar("T")
_OURS = re.compile(rf"^{nftbuild.PREFIX}_(\d+)$")


def _netlink(protocol: int) -> socket.socket:
    """A bound netlink socket in the calling thread's netns."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, protocol)
    sock.bind((0, 0))
    return sock


def _local_addresses() -> list[str]:
    """IPv4 addresses of the calling thread's netns (a packet to one is delivered here)."""
    sock = _netlink(NETLINK_ROUTE)
    try:
        msgs = rtnetlink.dump_addrs(Conn(sock))
    finally:
        sock.close()
    out = [
        str(m.get_attr("IFA_LOCAL") or m.get_attr("IFA_ADDRESS"))
        for m in msgs
        if m.get("family") == socket.AF_INET
    ]
    return out + ["127.0.0.1"]


class TraceError(RuntimeError):
    """Tracing cannot start here; the text says why and what to do."""


def _here(ns_path: str | None, fn: Callable[[], T]) -> T:
    return fn() if ns_path is None else in_netns(ns_path, fn)


def stale_tables(
    tables: list[tuple[int, str]], alive: Callable[[int], bool] = pid_alive
) -> list[str]:
    """Our tables whose tracer (the pid in the name) is gone."""
    out = []
    for _family, name in tables:
        m = _OURS.match(name)
        if m and not alive(int(m.group(1))):
            out.append(name)
    return out


def cleanup(ns_path: str | None) -> list[str]:
    """Remove tracing tables of dead tracers in that netns; returns their names."""

    def run() -> list[str]:
        sock = _netlink(NETLINK_NETFILTER)
        try:
            conn = Conn(sock)
            gone = stale_tables(nftables.nft_tables(conn))
            for name in gone:
                with contextlib.suppress(FileNotFoundError):
                    nftbuild.commit(sock, nftbuild.delete_table_messages(name))
            return gone
        finally:
            sock.close()

    return _here(ns_path, run)


def leftover_tables(ns_path: str | None) -> list[str]:
    """Every ``dockerscope_trace*`` table in that netns (what a leak check looks for)."""

    def run() -> list[str]:
        conn = Conn(_netlink(NETLINK_NETFILTER))
        try:
            return [n for _f, n in nftables.nft_tables(conn) if n.startswith(nftbuild.PREFIX)]
        finally:
            conn.close()

    return _here(ns_path, run)


@dataclass
class _Pending:
    events: list[TraceEvent] = field(default_factory=list)
    first: float = 0.0
    last: float = 0.0


class TraceSession:
    """One trace: our table added at start, removed by ``close`` (or by the kernel on death)."""

    def __init__(self, ns_path: str | None, label: str, flt: Filter, pid: int | None = None):
        self.ns_path = ns_path
        self.label = label
        self.filter = flt
        self.table = nftbuild.table_name(os.getpid() if pid is None else pid)
        self.book = rules.RuleBook()
        self.names: dict[int, str] = {}
        self.containers: dict[str, str] = {}
        self.local: set[str] = set()
        self.removed_stale: list[str] = []
        self._events: socket.socket | None = None
        self._control: socket.socket | None = None
        self._query: Conn | None = None
        self._route: Conn | None = None
        self._book_at = 0.0

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Check the backend, clear dead tracers' tables, subscribe, add our table."""
        self._check_backend()
        self.removed_stale = cleanup(self.ns_path)

        def sockets() -> tuple[socket.socket, socket.socket, socket.socket, socket.socket]:
            ev = _netlink(NETLINK_NETFILTER)
            ev.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            ev.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTRACE)
            return (
                ev,
                _netlink(NETLINK_NETFILTER),
                _netlink(NETLINK_NETFILTER),
                _netlink(NETLINK_ROUTE),
            )

        ev, ctl, q, rt = _here(self.ns_path, sockets)
        self._events, self._control = ev, ctl
        self._query, self._route = Conn(q), Conn(rt)
        try:
            self.refresh()
            nftbuild.commit(ctl, nftbuild.add_table_messages(self.table, self.filter))
        except OSError:
            self.close()
            raise

    def _check_backend(self) -> None:
        def look() -> tuple[list[tuple[int, str]], list[str]]:
            conn = Conn(_netlink(NETLINK_NETFILTER))
            try:
                return nftables.nft_tables(conn), iptables.legacy_tables_here()
            finally:
                conn.close()

        tables, legacy = _here(self.ns_path, look)
        ip_tables = [n for f, n in tables if f == 2 and n in iptables.TABLES]
        if not ip_tables and any(t in iptables.TABLES for t in legacy):
            raise TraceError(
                "this namespace's iptables rules are in the legacy (x_tables) backend "
                "(iptables-legacy-save shows them); tracing follows packets with nf_tables "
                "tracing, which only sees nf_tables rules: use the nf_tables backend "
                "(iptables-nft) to trace here"
            )

    def close(self) -> None:
        """Remove our table (if still there) and close the sockets; safe to call twice."""
        if self._control is not None:
            with contextlib.suppress(OSError):
                nftbuild.commit(self._control, nftbuild.delete_table_messages(self.table))
            self._control.close()
            self._control = None
        for s in (self._events,):
            if s is not None:
                s.close()
        self._events = None
        for c in (self._query, self._route):
            if c is not None:
                c.close()
        self._query = self._route = None

    def __enter__(self) -> TraceSession:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what names the hops ------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read rule handles, base chain hooks, iptables-save text and link names."""
        assert self._query is not None
        text = iptables.save_text(self.ns_path, "nf_tables")
        self.book = rules.book(self._query, text)
        self.local = set(_here(self.ns_path, _local_addresses))
        self.names = dict(_here(self.ns_path, lambda: {i: n for i, n in socket.if_nameindex()}))
        self._book_at = time.monotonic()

    def _routes(self) -> list[Route]:
        if self._route is None:
            return []
        msgs = rtnetlink.dump_routes(self._route, table=RT_TABLE_MAIN)
        return routes_from_messages(self.label, msgs, self.names)

    def bridge_port(self, oif: str, dst: str) -> str:
        """The bridge port (veth) towards ``dst`` when ``oif`` is a bridge; "" when unknown."""
        index = next((i for i, n in self.names.items() if n == oif), None)
        if index is None or self._route is None:
            return ""
        try:
            mac = fdb.mac_of(self._route, dst)
            port = fdb.port_for(self._route, index, mac) if mac else None
        except OSError:
            return ""
        if port is not None and port not in self.names:
            self.refresh()  # a veth made since we started
        return self.names.get(port, "") if port is not None else ""

    def build(self, trace_id: int, pending: _Pending) -> Trace:
        """Assemble one packet's events, reading conntrack and routes when they matter."""
        unknown = any(
            e.handle is not None
            and not e.table.startswith(nftbuild.PREFIX)
            and (e.family, e.table, e.handle) not in self.book.positions
            for e in pending.events
        )
        if unknown and time.monotonic() - self._book_at > 0.5:
            self.refresh()  # a rule added since we started (a new container's port)
        rule_text = " || ".join(self.filter.nft_rules())
        build = functools.partial(
            assemble,
            trace_id,
            self.label,
            pending.events,
            self.book,
            self.names,
            our_rule=rule_text,
            containers=self.containers,
            started=pending.first,
            local=self.local,
        )
        trace = build()
        # Only a connection's first packet crosses the nat chains; conntrack rewrites the
        # others without an event, so its entry is read for every packet (a lab has few).
        flow = None
        if trace.first is not None and self._query is not None:
            with contextlib.suppress(OSError):
                flow = flow_of(conntrack.read_netlink(self._query, self.label), trace.first)
        routes = self._routes() if trace.delivered_to is None else []
        if flow is not None or routes:
            trace = build(routes=routes, flow=flow, bridge_port=self.bridge_port)
        return trace

    def _starts_packet(self, e: TraceEvent) -> bool:
        """Our rule's event: a packet meets it once per pass, first of all chains."""
        return e.table == self.table and e.kind == "rule" and e.handle is not None

    # -- reading ------------------------------------------------------------------------------
    def traces(
        self,
        count: int | None = None,
        timeout: float | None = None,
        stop: Callable[[], bool] | None = None,
        raw: list[bytes] | None = None,
    ) -> Iterator[Trace]:
        """Yield each traced packet's Trace as soon as its events stop coming.

        Ends after ``count`` traces, ``timeout`` seconds, or when ``stop()`` says so. ``raw``
        collects every datagram read (the capture script records test data with it).
        """
        assert self._events is not None, "start() first"
        sock = self._events
        sock.setblocking(False)
        pending: dict[int, _Pending] = {}
        finished: list[tuple[int, _Pending]] = []
        deadline = None if timeout is None else time.monotonic() + timeout
        done = 0
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline and not pending:
                return
            if stop is not None and stop():
                return
            wait = 0.2
            if pending:  # wake when the oldest packet's quiet period ends, not later
                wait = max(0.0, min(p.last for p in pending.values()) + QUIET - now)
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - now))
            ready, _, _ = select.select([sock], [], [], wait)
            if ready:
                while True:
                    try:
                        data = sock.recv(1 << 16)
                    except BlockingIOError:
                        break
                    if raw is not None:
                        raw.append(data)
                    at = time.monotonic()
                    for e in decode_datagram(data):
                        p = pending.get(e.id)
                        if (
                            p is not None
                            and self._starts_packet(e)
                            and any(self._starts_packet(x) for x in p.events)
                        ):
                            # the kernel reused the id (same skb memory) for the next packet
                            finished.append((e.id, pending.pop(e.id)))
                            p = None
                        if p is None:
                            p = pending[e.id] = _Pending(first=at)
                        p.events.append(e)
                        p.last = at
            now = time.monotonic()
            finished += [
                (t, pending.pop(t)) for t, p in list(pending.items()) if now - p.last >= QUIET
            ]
            while finished:
                tid, p = finished.pop(0)
                if not any(e.table == self.table for e in p.events):
                    continue  # another tracer's packet
                yield self.build(tid, p)
                done += 1
                if count is not None and done >= count:
                    return
