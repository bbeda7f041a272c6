"""TCP and UDP sockets of a network namespace over sock_diag netlink, like ``ss -tuanp``.

The kernel answers a ``SOCK_DIAG_BY_FAMILY`` dump (``struct inet_diag_req_v2``) per family and
protocol with one ``struct inet_diag_msg`` per socket: state, both ends, queues, uid and the
socket's inode. /proc/net/tcp says the same as text, but is slower to read and parse, and
the netlink socket, once opened inside a namespace, answers for it from any thread.

Who holds a socket is not in the answer: the inode is, and a process's fds that link to
``socket:[<inode>]`` say whose it is (``InodeOwners``, cached by inode). ``owner_of`` answers
"which program listens on this port" for one namespace, without an observer.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from dockerscope.kernel.model import Socket
from dockerscope.kernel.netlink import NLMSGHDR, Conn, Replay, content, index_attributes
from dockerscope.kernel.netlink_constants import (
    INET_DIAG_SKV6ONLY,
    IPPROTO_TCP,
    IPPROTO_UDP,
    NETLINK_SOCK_DIAG,
    SOCK_DIAG_BY_FAMILY,
    TCP_CLOSE,
    TCP_CLOSE_WAIT,
    TCP_CLOSING,
    TCP_ESTABLISHED,
    TCP_FIN_WAIT1,
    TCP_FIN_WAIT2,
    TCP_LAST_ACK,
    TCP_LISTEN,
    TCP_NEW_SYN_RECV,
    TCP_SYN_RECV,
    TCP_SYN_SENT,
    TCP_TIME_WAIT,
)
from dockerscope.kernel.setns import in_netns, open_netlink

#: struct inet_diag_req_v2 without its socket id: family, protocol, extensions, pad, states
_REQ = struct.Struct("=BBBxI")
#: struct inet_diag_sockid: ports (big-endian), addresses (16 bytes each), interface, cookie
_SOCKID_SIZE = 48
#: struct inet_diag_msg: family, state, timer, retrans, id, expires, rqueue, wqueue, uid, inode
_MSG = struct.Struct("=BBBB2s2s16s16s12xIIIII")
_PORT = struct.Struct(">H")

#: Every state (bit n = state n): listeners, connections, TIME-WAIT, UDP's two.
ALL_STATES = 0xFFFFFFFF

#: The kernel's states in ss's words. UDP uses CLOSE for an unconnected socket (ss: UNCONN).
STATE_NAMES = {
    TCP_ESTABLISHED: "ESTAB",
    TCP_SYN_SENT: "SYN-SENT",
    TCP_SYN_RECV: "SYN-RECV",
    TCP_FIN_WAIT1: "FIN-WAIT-1",
    TCP_FIN_WAIT2: "FIN-WAIT-2",
    TCP_TIME_WAIT: "TIME-WAIT",
    TCP_CLOSE: "UNCONN",
    TCP_CLOSE_WAIT: "CLOSE-WAIT",
    TCP_LAST_ACK: "LAST-ACK",
    TCP_LISTEN: "LISTEN",
    TCP_CLOSING: "CLOSING",
    TCP_NEW_SYN_RECV: "SYN-RECV",
}

#: The four dumps of a namespace, in ``ss`` order: (proto name, protocol, family).
DUMPS = (
    ("tcp", IPPROTO_TCP, socket.AF_INET),
    ("tcp", IPPROTO_TCP, socket.AF_INET6),
    ("udp", IPPROTO_UDP, socket.AF_INET),
    ("udp", IPPROTO_UDP, socket.AF_INET6),
)


def diag_request(protocol: int, family: int, states: int = ALL_STATES) -> bytes:
    """A ``struct inet_diag_req_v2`` asking for every socket of ``protocol`` and ``family``
    in ``states`` (the socket id is zero: a dump filters by states only)."""
    return _REQ.pack(family, protocol, 0, states) + bytes(_SOCKID_SIZE)


def decode_socket(data: bytes, off: int, proto: str, netns: str) -> Socket:
    """One ``inet_diag_msg`` (and its attributes) at ``off``, as a ``Socket``."""
    end = off + NLMSGHDR.unpack_from(data, off)[0]
    body = off + NLMSGHDR.size
    (family, state, _timer, _retrans, sport, dport, src, dst, _expires, rq, wq, uid, inode) = (
        _MSG.unpack_from(data, body)
    )
    if family == socket.AF_INET:
        local, remote, fam = socket.inet_ntop(family, src[:4]), socket.inet_ntop(family, dst[:4]), 4
    else:
        local, remote, fam = socket.inet_ntop(family, src), socket.inet_ntop(family, dst), 6
    v6only = False
    if fam == 6:
        attrs = index_attributes(data, body + _MSG.size, end)
        where = attrs.get(INET_DIAG_SKV6ONLY)
        v6only = where is not None and data[where[0]] != 0
    return Socket(
        netns=netns,
        proto=proto,
        family=fam,
        state=STATE_NAMES.get(state, str(state)),
        local=local,
        local_port=_PORT.unpack(sport)[0],
        remote=remote,
        remote_port=_PORT.unpack(dport)[0],
        inode=inode,
        uid=uid,
        rx_queue=rq,
        tx_queue=wq,
        v6only=v6only,
    )


def dump_replies(
    conn: Conn | Replay, states: int = ALL_STATES, protos: Iterable[str] = ("tcp", "udp")
) -> list[tuple[str, list[tuple[int, int, bytes, int]]]]:
    """The raw answers of each of the namespace's dumps, with the protocol name each is of."""
    wanted = set(protos)
    return [
        (name, conn.dump(SOCK_DIAG_BY_FAMILY, diag_request(number, family, states)))
        for name, number, family in DUMPS
        if name in wanted
    ]


def decode_replies(
    answers: list[tuple[str, list[tuple[int, int, bytes, int]]]], netns: str
) -> list[Socket]:
    """The sockets of ``dump_replies``'s answers."""
    return [
        decode_socket(d, o, name, netns)
        for name, replies in answers
        for t, _f, d, o in replies
        if t == SOCK_DIAG_BY_FAMILY
    ]


def dump_sockets(conn: Conn | Replay, netns: str, states: int = ALL_STATES) -> list[Socket]:
    """Every TCP and UDP socket (IPv4 and IPv6) of the namespace ``conn`` was opened in."""
    return decode_replies(dump_replies(conn, states), netns)


#: TCP states other than LISTEN: asking for any of them makes the kernel walk the whole
#: established hash table, machine-wide (about 1.3 ms per dump here, even for an empty
#: namespace); listeners and UDP sockets sit in small tables and cost microseconds.
CONNECTED_STATES = ALL_STATES & ~(1 << TCP_LISTEN)
LISTENING_STATES = 1 << TCP_LISTEN


class SocketReader:
    """One namespace's sock_diag connection; decodes again only when the answer changed.

    Listeners and UDP sockets are dumped at every read. The other TCP sockets (connections,
    TIME-WAIT) only when ``connected`` says so (see ``nsreads.read_sockets``: when a packet
    crossed the namespace's links since the last such dump): their dump walks the kernel's
    whole connection table. An idle namespace answers with the same bytes every time
    (queues included); then the sockets decoded last time come back, the very same list.
    """

    def __init__(self, conn: Conn | Replay, netns: str) -> None:
        self.conn = conn
        self.netns = netns
        self.walked = False  #: the connected TCP sockets were dumped at least once
        self._connected: list[tuple[str, list[tuple[int, int, bytes, int]]]] = []
        self._content: bytes | None = None
        self._sockets: list[Socket] = []

    def read(self, connected: bool | Callable[[int], bool | None] = True) -> list[Socket]:
        """The namespace's sockets now (the last list itself when nothing changed).

        ``connected``: dump the non-listening TCP sockets too (True), keep the last ones
        (False), or a function of how many TCP listeners were just found answering True,
        False, or None: there are none (then no dump is needed). The first read dumps them
        unless told there are none.
        """
        conn = self.conn
        listening = [
            (
                "tcp",
                conn.dump(SOCK_DIAG_BY_FAMILY, diag_request(IPPROTO_TCP, fam, LISTENING_STATES)),
            )
            for fam in (socket.AF_INET, socket.AF_INET6)
        ]
        choice: bool | None
        if not callable(connected):
            choice = connected
        else:
            tcp_listeners = sum(t == SOCK_DIAG_BY_FAMILY for _n, r in listening for t, *_ in r)
            choice = connected(tcp_listeners)
        if choice is None:
            self._connected = []
            self.walked = True
        elif choice or not self.walked:
            self._connected = [
                (
                    "tcp",
                    conn.dump(
                        SOCK_DIAG_BY_FAMILY, diag_request(IPPROTO_TCP, fam, CONNECTED_STATES)
                    ),
                )
                for fam in (socket.AF_INET, socket.AF_INET6)
            ]
            self.walked = True
        answers = listening + dump_replies(conn, protos=("udp",)) + self._connected
        blob = b"".join(content(replies) for _name, replies in answers)
        if blob != self._content:
            self._sockets = decode_replies(answers, self.netns)
            self._content = blob
        return self._sockets

    def close(self) -> None:
        """Close the netlink socket."""
        if isinstance(self.conn, Conn):
            self.conn.close()


def tcp_in_use_here() -> tuple[int, int] | None:
    """(TCP sockets in use, TIME-WAIT sockets) of the calling thread's netns, IPv4 and IPv6:
    the kernel's per-namespace counts (``/proc/net/sockstat``, ``sockstat6``), read only to
    know whether any connection exists, so that the costly dump can be skipped when none
    does; the sockets themselves always come from sock_diag. None: not readable."""
    inuse = tw = 0
    try:
        for name in ("sockstat", "sockstat6"):
            with open(f"/proc/thread-self/net/{name}") as f:
                for line in f:
                    words = line.split()
                    if words and words[0] in ("TCP:", "TCP6:"):
                        fields = dict(zip(words[1::2], words[2::2], strict=False))
                        inuse += int(fields.get("inuse", 0))
                        tw += int(fields.get("tw", 0))
    except (OSError, ValueError):
        return None
    return inuse, tw


def open_diag() -> socket.socket:
    """A NETLINK_SOCK_DIAG socket in the calling thread's network namespace."""
    return open_netlink(NETLINK_SOCK_DIAG)


# ---------------------------------------------------------------------------------------------
# Who holds a socket: /proc/<pid>/fd


def socket_inodes_of(pid: int, proc: str = "/proc") -> list[int]:
    """Inodes of the sockets ``pid`` holds open (its fds linking to ``socket:[<inode>]``)."""
    base = f"{proc}/{pid}/fd"
    try:
        names = os.listdir(base)
    except OSError:
        return []  # gone, or a kernel thread
    out = []
    for name in names:
        try:
            target = os.readlink(f"{base}/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.append(int(target[8:-1]))
    return out


def comm_of(pid: int, proc: str = "/proc") -> str:
    """A process's command name ("" when it is gone)."""
    try:
        with open(f"{proc}/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


class InodeOwners:
    """Socket inode -> (pid, comm), found by walking processes' fds and kept by inode.

    A socket keeps its inode for life, so one walk per new socket is enough; the walk looks
    at the likely processes first (those in the socket's namespace) and at every process
    only when those do not hold it, at most every ``rescan_every`` refreshes for inodes no
    process was found to hold (a socket of a process in another namespace, e.g. a daemon's
    proxy opened inside a lab's namespace).
    """

    def __init__(self, proc: str = "/proc", rescan_every: int = 5) -> None:
        self.proc = proc
        self.rescan_every = rescan_every
        self.known: dict[int, tuple[int, str]] = {}
        self._unheld: dict[int, int] = {}  # inode -> refreshes since last looked for in vain
        self.walks = 0  # processes whose fds were walked (for tests and figures)

    def _walk(self, pids: Iterable[int], wanted: set[int]) -> None:
        for pid in sorted(set(pids)):
            if not wanted:
                return
            self.walks += 1
            held = wanted.intersection(socket_inodes_of(pid, self.proc))
            if held:
                comm = comm_of(pid, self.proc)
                for inode in held:
                    self.known[inode] = (pid, comm)
                wanted -= held

    def resolve(
        self,
        groups: Iterable[tuple[Iterable[int], Iterable[int]]],
        live: set[int] | None = None,
    ) -> dict[int, tuple[int, str]]:
        """(pid, comm) of each socket inode held by a process. ``groups``: (inodes, pids to
        look at first for them), e.g. one per namespace; ``live``: every pid alive now (a
        cached holder not in it is looked for again)."""
        near_of: dict[int, tuple[int, ...]] = {}
        for inodes, near in groups:
            pids = tuple(near)
            near_of.update((i, pids) for i in inodes if i)
        if live is not None:
            self.known = {i: v for i, v in self.known.items() if v[0] in live}
        # Forget what no longer exists, so the caches follow the sockets.
        self.known = {i: v for i, v in self.known.items() if i in near_of}
        self._unheld = {i: n for i, n in self._unheld.items() if i in near_of}
        missing = {i for i in near_of if i not in self.known}
        if missing:
            fresh = {i for i in missing if i not in self._unheld}
            by_near: dict[tuple[int, ...], set[int]] = {}
            for i in fresh:
                by_near.setdefault(near_of[i], set()).add(i)
            for pids, inodes in by_near.items():
                self._walk(pids, inodes)
            due = fresh | {i for i in missing - fresh if self._unheld[i] >= self.rescan_every}
            due -= self.known.keys()
            if due:
                self._walk(_all_pids(self.proc), due)
            for inode in missing - self.known.keys():
                n = self._unheld.get(inode, -1) + 1
                self._unheld[inode] = 0 if n > self.rescan_every else n
        return {i: self.known[i] for i in near_of if i in self.known}


def _all_pids(proc: str) -> list[int]:
    return [int(n) for n in os.listdir(proc) if n.isdigit()]


def with_owners(sockets: list[Socket], owners: dict[int, tuple[int, str]]) -> list[Socket]:
    """``sockets`` with ``pid`` and ``command`` set from ``owners`` (by inode)."""
    out = []
    for s in sockets:
        found = owners.get(s.inode)
        pid, comm = found if found is not None else (None, "")
        out.append(s if (s.pid, s.command) == (pid, comm) else replace(s, pid=pid, command=comm))
    return out


# ---------------------------------------------------------------------------------------------
# Which program listens on a port


@dataclass(frozen=True)
class SocketOwner:
    """The program holding a listening socket (``owner_of``)."""

    pid: int
    command: str
    container: str | None = None  # the container's name (or short id), when known
    socket: Socket | None = None  # the matching listener

    def label(self) -> str:
        """``httpd (pid 1234) in container web``."""
        where = f" in container {self.container}" if self.container else ""
        return f"{self.command} (pid {self.pid}){where}"


_WILDCARDS = ("0.0.0.0", "::")


def listener_matches(s: Socket, proto: str, ip: str, port: int) -> bool:
    """Whether ``s`` is a listener that takes ``proto`` traffic for ``ip``:``port``.

    A wildcard address takes every address of its family; an IPv6 wildcard not marked
    v6-only takes IPv4 too (as ``::ffff:a.b.c.d``).
    """
    if s.proto != proto or s.local_port != port or not s.listening:
        return False
    if s.proto == "udp" and s.remote_port:
        return False  # a connected udp socket takes datagrams from its peer only
    v4 = ":" not in ip or ip.startswith("::ffff:") and "." in ip
    bare = ip.removeprefix("::ffff:") if v4 else ip
    if s.local == ip or (v4 and s.local in (bare, f"::ffff:{bare}")):
        return True
    if s.local == "0.0.0.0":
        return v4 or not ip
    if s.local == "::":
        return not v4 or not s.v6only
    return not ip


def owner_of(
    netns_path: str | None,
    proto: str,
    ip: str,
    port: int,
    proc: str = "/proc",
    containers: dict[int, str] | None = None,
) -> SocketOwner | None:
    """The program listening for ``proto`` (``tcp``/``udp``) on ``ip``:``port`` in the netns
    at ``netns_path`` (None: ours): a listener on that address or on a wildcard. ``ip`` ""
    matches any address. ``containers`` (netns inode -> container name, from an observer's
    attribution) names the container; without it a container's cgroup id is used.
    Exact address matches win over wildcards, as in the kernel's own lookup.
    """

    def dump() -> list[Socket]:
        conn = Conn(open_diag())
        try:
            states = (1 << TCP_LISTEN) if proto == "tcp" else (1 << TCP_CLOSE)
            return decode_replies(dump_replies(conn, states, (proto,)), "")
        finally:
            conn.close()

    found = dump() if netns_path is None else in_netns(netns_path, dump)
    matches = [s for s in found if listener_matches(s, proto, ip, port)]
    matches.sort(key=lambda s: s.local in _WILDCARDS)
    if not matches:
        return None
    inode_of_ns = _netns_inode(netns_path, proc)
    near = _pids_in_netns(inode_of_ns, proc)
    owners = InodeOwners(proc).resolve([([s.inode for s in matches], near)])
    for s in matches:
        held = owners.get(s.inode)
        if held is None:
            continue
        pid, comm = held
        container = (containers or {}).get(inode_of_ns) if inode_of_ns else None
        if container is None:
            container = _container_of_netns_path(netns_path)
        if container is None:
            container = _container_of_pid(pid, proc)
        return SocketOwner(pid, comm, container, replace(s, pid=pid, command=comm))
    return None


def _netns_inode(path: str | None, proc: str) -> int:
    try:
        return os.stat(path if path is not None else f"{proc}/self/ns/net").st_ino
    except OSError:
        return 0


def _pids_in_netns(inode: int, proc: str) -> list[int]:
    out = []
    for pid in _all_pids(proc):
        try:
            if os.readlink(f"{proc}/{pid}/ns/net") == f"net:[{inode}]":
                out.append(pid)
        except OSError:
            continue
    return out


def _container_of_netns_path(path: str | None) -> str | None:
    """A lab names a container's netns after it, in its ``netns`` dir (see ARCHITECTURE.md)."""
    if path is None:
        return None
    parent, name = os.path.split(path)
    named_by_lab = os.path.basename(parent) == "netns" and parent != "/run/netns"
    return name if named_by_lab else None


def _container_of_pid(pid: int, proc: str) -> str | None:
    """A container id (short) in the process's cgroup path, as Docker and our engine name
    a container's cgroup (``.../<64 hex>``, ``docker-<64 hex>.scope``)."""
    try:
        with open(f"{proc}/{pid}/cgroup") as f:
            text = f.read()
    except OSError:
        return None
    for line in text.splitlines():
        for part in reversed(line.split(":", 2)[-1].split("/")):
            part = part.removeprefix("docker-").removesuffix(".scope")
            if len(part) == 64 and all(c in "0123456789abcdef" for c in part):
                return part[:12]
    return None
