"""What the observer holds for one network namespace: its sockets and its last reads."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass, field

from dockerscope.kernel import iptables
from dockerscope.kernel.links import RawLink, RtnlReader
from dockerscope.kernel.model import Flow, Route, Socket
from dockerscope.kernel.netlink import Conn
from dockerscope.kernel.netlink_constants import (
    NETLINK_NETFILTER,
    NETLINK_ROUTE,
    NFNLGRP_CONNTRACK_DESTROY,
    NFNLGRP_CONNTRACK_NEW,
    NFNLGRP_NFTABLES,
    RTNLGRP_IPV4_IFADDR,
    RTNLGRP_IPV4_ROUTE,
    RTNLGRP_LINK,
)
from dockerscope.kernel.netns import HOST, NsRef
from dockerscope.kernel.setns import open_netlink
from dockerscope.kernel.sockets import SocketReader, open_diag

#: Per-namespace collections, in the order they are read (routes name the links' devices).
PER_NAMESPACE = ("links", "routes", "rules", "flows", "sockets")


@dataclass
class NamespaceState:
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
    diag: SocketReader | None = None  # sock_diag dumps (None: not available)
    sockets: list[Socket] = field(default_factory=list)  # as dumped, no owners yet
    socket_packets: int | None = None  # rx+tx over all links at the last sockets read
    #: (TCP sockets in use, TIME-WAIT) counted in the netns just before a sockets read (set by
    #: a hop through the namespaces; None: not counted), and at the last read
    tcp_counts: tuple[int, int] | None = None
    socket_counts: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        """The namespace's label (``host``, a file name, ``pid:<n>``)."""
        return self.ref.label

    @property
    def path(self) -> str | None:
        """Where to setns() to reach it; None for the observer's own namespace."""
        return None if self.ref.label == HOST else self.ref.path

    def close(self) -> None:
        """Close its event sockets and dump connections."""
        for sock in (self.rtnl_sock, self.nf_sock):
            if sock is not None:
                sock.close()
        if self.nf_conn is not None:
            self.nf_conn.close()
        if self.reader is not None:
            self.reader.close()
        if self.diag is not None:
            self.diag.close()


@dataclass(frozen=True)
class NamespaceSockets:
    """The sockets opened inside one namespace (see ``open_namespace_sockets``)."""

    rtnl_dump: socket.socket
    rtnl_events: socket.socket
    nf_events: socket.socket | None  # None: netfilter netlink not available
    nf_dump: socket.socket | None
    diag: socket.socket | None = None  # sock_diag (None: not available)


def open_namespace_sockets() -> NamespaceSockets:
    """In the current thread's netns: rtnetlink dump and event sockets, nf_tables/conntrack
    event and dump sockets (None when netfilter netlink is not available), a sock_diag socket."""
    rtnl_dump = open_netlink(NETLINK_ROUTE)
    rtnl_events = open_netlink(
        NETLINK_ROUTE, (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE)
    )
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
    diag = None
    with contextlib.suppress(OSError):  # sock_diag (inet_diag) not built: no sockets listed
        diag = open_diag()
    return NamespaceSockets(rtnl_dump, rtnl_events, nf_events, nf_dump, diag)


def namespace_state(ref: NsRef, sockets: NamespaceSockets) -> NamespaceState:
    """A namespace's state around the sockets opened inside it."""
    state = NamespaceState(
        ref,
        reader=RtnlReader(ref, sockets.rtnl_dump),
        rtnl_sock=sockets.rtnl_events,
        nf_sock=sockets.nf_events,
    )
    state.nf_conn = Conn(sockets.nf_dump) if sockets.nf_dump is not None else None
    if sockets.diag is not None:
        state.diag = SocketReader(Conn(sockets.diag), ref.label)
    return state


def drain(sock: socket.socket | None) -> bool:
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
