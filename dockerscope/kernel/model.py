"""What the observer sees: frozen dataclasses describing kernel state.

These types are the contract between the observer (which fills them from the kernel), the
UI (which renders them), the scenario runner (which checks expectations against them) and the
recorder (which writes them as JSON). Every object carries a stable ``key`` so two snapshots can
be diffed, and an ``owner`` filled in by attribution ("container web", "network bridge", ...).

All fields are plain data (str, int, tuples, None) so ``to_json``/``from_json`` round-trip
without custom encoders.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Owner:
    """Who caused a kernel object: a container, a network, a published port, the lab itself."""

    kind: str  # "container" | "network" | "port" | "lab" | "docker" (a real Docker) | ""
    name: str
    id: str = ""

    def label(self) -> str:
        """Short human text, e.g. ``container web``."""
        return f"{self.kind} {self.name}".strip()


@dataclass(frozen=True)
class Address:
    """One IP address on a link (``ip addr``)."""

    family: int  # 4 or 6
    address: str  # "172.17.0.1"
    prefixlen: int
    scope: str = "global"

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefixlen}"


@dataclass(frozen=True)
class Link:
    """A network interface in one network namespace (``ip link``)."""

    KIND: ClassVar[str] = "link"
    netns: str  # namespace label: "host", a netns name, or "pid:<pid>" / "ino:<inode>"
    index: int
    name: str
    kind: str  # "bridge", "veth", "loopback", "device", ...
    mac: str
    state: str  # "UP", "DOWN", "UNKNOWN"
    mtu: int
    master: str | None = None  # bridge name this link is enslaved to
    peer_index: int | None = None  # veth: ifindex of the peer (in peer_netns)
    peer_netns: str | None = None  # veth: namespace label of the peer, when known
    addresses: tuple[Address, ...] = ()
    bridge_id: str | None = None  # bridges: "8000.024297f17b4f"
    stp: bool | None = None
    owner: Owner | None = None

    @property
    def key(self) -> str:
        return f"{self.netns}/{self.name}"


@dataclass(frozen=True)
class Route:
    """One routing table entry (``ip route``)."""

    KIND: ClassVar[str] = "route"
    netns: str
    dst: str  # "default" or "172.17.0.0/16"
    dev: str
    gateway: str | None = None
    src: str | None = None
    scope: str = "universe"
    owner: Owner | None = None

    @property
    def key(self) -> str:
        return f"{self.netns}/{self.dst}/{self.dev}"


@dataclass(frozen=True)
class NetNs:
    """A network namespace, named (``ip netns``) or only reachable through a process."""

    KIND: ClassVar[str] = "netns"
    inode: int
    name: str | None  # name under /run/netns (or a lab's netns dir), if any
    pids: tuple[int, ...] = ()  # processes living in it
    owner: Owner | None = None
    label: str = ""  # the label used in Link.netns etc.: "host", a name, or "pid:<pid>"

    @property
    def key(self) -> str:
        return str(self.inode)


@dataclass(frozen=True)
class ProcessNs:
    """One process and the inode of each of its eight namespaces (``lsns``)."""

    KIND: ClassVar[str] = "process"
    pid: int
    comm: str
    # namespace type -> inode, for cgroup, ipc, mnt, net, pid, time, user, uts
    namespaces: tuple[tuple[str, int], ...]
    cgroup: str = ""  # the process's cgroup path (v2 path, or v1 memory controller path)
    owner: Owner | None = None
    # From /proc/<pid>/status: ``Seccomp:`` (0 none, 1 strict, 2 filter) and ``CapEff:`` (the
    # effective capability mask). None when the kernel did not say (or a recording predates it).
    seccomp: int | None = None
    cap_eff: int | None = None

    @property
    def key(self) -> str:
        return str(self.pid)

    def ns(self, kind: str) -> int | None:
        """Inode of namespace ``kind`` ("net", "pid", ...), or None."""
        for k, v in self.namespaces:
            if k == kind:
                return v
        return None


@dataclass(frozen=True)
class Rule:
    """One iptables rule, in ``iptables-save`` syntax, with its counters."""

    KIND: ClassVar[str] = "rule"
    netns: str
    backend: str  # "nf_tables" or "legacy"
    table: str  # "nat", "filter"
    chain: str
    position: int  # 1-based position within the chain
    spec: str  # "-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE" (without "-A CHAIN")
    packets: int = 0
    bytes: int = 0
    owner: Owner | None = None

    @property
    def key(self) -> str:
        # Position is left out on purpose: inserting a rule must not make the rules below it
        # look new. Two identical specs in one chain are told apart by occurrence in ``Chain``.
        return f"{self.netns}/{self.backend}/{self.table}/{self.chain}/{self.spec}"


@dataclass(frozen=True)
class Chain:
    """A chain header: policy and counters (``:FORWARD DROP [0:0]``)."""

    KIND: ClassVar[str] = "chain"
    netns: str
    backend: str
    table: str
    name: str
    policy: str | None  # None for user chains ("-")
    packets: int = 0
    bytes: int = 0

    @property
    def key(self) -> str:
        return f"{self.netns}/{self.backend}/{self.table}/{self.name}"


@dataclass(frozen=True)
class Cgroup:
    """A control group with the figures the course talks about."""

    KIND: ClassVar[str] = "cgroup"
    path: str  # path relative to the hierarchy root, e.g. "/dockerscope/lab/<id>"
    version: int  # 1 or 2
    memory_usage: int | None = None  # bytes
    memory_limit: int | None = None  # bytes; None when unlimited
    cpu_usage_ns: int | None = None
    cpu_shares: int | None = None  # v1 cpu.shares, or v2 cpu.weight mapped back
    cpu_quota_us: int | None = None  # None when unlimited
    cpu_period_us: int | None = None
    pids_current: int | None = None
    pids_limit: int | None = None  # None when unlimited ("max")
    oom_kills: int = 0
    owner: Owner | None = None

    @property
    def key(self) -> str:
        return self.path


@dataclass(frozen=True)
class OverlayMount:
    """An overlay mount: a container root with its layers."""

    KIND: ClassVar[str] = "mount"
    target: str
    lowerdirs: tuple[str, ...]  # top-most first, as in the mount options
    upperdir: str
    workdir: str
    upper_entries: tuple[UpperEntry, ...] = ()
    owner: Owner | None = None
    seen_from: str = ""  # whose mountinfo showed it: "host" or "pid:<pid>" (a container's mnt ns)

    @property
    def key(self) -> str:
        return self.target


@dataclass(frozen=True)
class UpperEntry:
    """One file in an overlay upper dir; whiteouts mark deletions of lower files."""

    path: str  # relative to the upper dir, e.g. "etc/hostname"
    kind: str  # "file", "dir", "symlink", "whiteout", "opaque"
    size: int = 0


@dataclass(frozen=True)
class Flow:
    """A conntrack entry: the original tuple and the reply tuple.

    When NAT rewrote a packet the reply tuple is not the mirror of the original: for
    MASQUERADE the reply's destination is the host's address, for DNAT the reply's source is
    the container's address.
    """

    KIND: ClassVar[str] = "flow"
    netns: str
    proto: str  # "tcp", "udp", "icmp"
    state: str  # "ESTABLISHED", "TIME_WAIT", "" for udp/icmp
    orig_src: str
    orig_dst: str
    orig_sport: int
    orig_dport: int
    reply_src: str
    reply_dst: str
    reply_sport: int
    reply_dport: int
    packets: int = 0
    bytes: int = 0
    owner: Owner | None = None

    @property
    def key(self) -> str:
        return (
            f"{self.netns}/{self.proto}/{self.orig_src}:{self.orig_sport}"
            f">{self.orig_dst}:{self.orig_dport}"
        )

    @property
    def snat(self) -> bool:
        """Source rewritten on the way out (MASQUERADE/SNAT)."""
        return self.reply_dst != self.orig_src

    @property
    def dnat(self) -> bool:
        """Destination rewritten on the way in (DNAT)."""
        return self.reply_src != self.orig_dst


@dataclass(frozen=True)
class Socket:
    """A TCP or UDP socket of one netns (``ss -tuanp``) and the process holding it, if any."""

    KIND: ClassVar[str] = "socket"
    netns: str
    proto: str  # "tcp" | "udp"
    family: int  # 4 or 6
    state: str  # ss's words: "LISTEN", "ESTAB", "UNCONN" (an unconnected udp socket), ...
    local: str  # "0.0.0.0", "::", "172.17.0.2"
    local_port: int
    remote: str  # "0.0.0.0" / "::" when not connected
    remote_port: int
    inode: int = 0  # 0 for a socket no file holds (TIME-WAIT, a half-open connection)
    uid: int = 0
    rx_queue: int = 0  # listening: connections waiting for accept(); else unread bytes
    tx_queue: int = 0  # listening: the backlog; else bytes not yet acknowledged
    v6only: bool = False  # an IPv6 socket that does not take IPv4 connections
    pid: int | None = None  # the process holding it (the lowest pid when several do)
    command: str = ""  # that process's comm
    owner: Owner | None = None

    @property
    def key(self) -> str:
        ends = f"{self.local}:{self.local_port}>{self.remote}:{self.remote_port}"
        return f"{self.netns}/{self.proto}{self.family}/{ends}"

    @property
    def listening(self) -> bool:
        """A TCP listener, or a UDP socket taking datagrams from anyone (not connected)."""
        return self.state in ("LISTEN", "UNCONN")

    @property
    def program(self) -> str:
        """``httpd (pid 1234)``, or "" when no process is known to hold it."""
        return f"{self.command} (pid {self.pid})" if self.pid is not None else ""


@dataclass(frozen=True)
class Snapshot:
    """Everything the observer knows at one instant, for one scope (a lab, a netns, the host)."""

    taken_at: float  # time.time()
    scope: str  # "lab:dockerscope", "netns:foo", "host"
    links: tuple[Link, ...] = ()
    routes: tuple[Route, ...] = ()
    netns: tuple[NetNs, ...] = ()
    processes: tuple[ProcessNs, ...] = ()
    chains: tuple[Chain, ...] = ()
    rules: tuple[Rule, ...] = ()
    cgroups: tuple[Cgroup, ...] = ()
    mounts: tuple[OverlayMount, ...] = ()
    flows: tuple[Flow, ...] = ()
    sockets: tuple[Socket, ...] = ()  # (recordings of format version 1 have none)
    errors: tuple[str, ...] = ()  # what could not be read, and why

    def to_json(self) -> dict[str, Any]:
        """Plain dict for JSON (recordings)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        """Inverse of ``to_json``."""
        return _decode(cls, data)


#: The collections of a snapshot that are diffed, with their element type.
COLLECTIONS: dict[str, type] = {
    "links": Link,
    "routes": Route,
    "netns": NetNs,
    "processes": ProcessNs,
    "chains": Chain,
    "rules": Rule,
    "cgroups": Cgroup,
    "mounts": OverlayMount,
    "flows": Flow,
    "sockets": Socket,
}


@dataclass(frozen=True)
class Change:
    """One difference between two snapshots."""

    collection: str  # a key of COLLECTIONS
    action: str  # "added" | "removed" | "changed"
    key: str
    before: Any = None  # the old object (removed, changed)
    after: Any = None  # the new object (added, changed)

    def to_json(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "action": self.action,
            "key": self.key,
            "before": None if self.before is None else dataclasses.asdict(self.before),
            "after": None if self.after is None else dataclasses.asdict(self.after),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        typ = COLLECTIONS[data["collection"]]
        return cls(
            collection=data["collection"],
            action=data["action"],
            key=data["key"],
            before=None if data.get("before") is None else _decode(typ, data["before"]),
            after=None if data.get("after") is None else _decode(typ, data["after"]),
        )


@dataclass(frozen=True)
class Diff:
    """The changes from one snapshot to the next."""

    changes: tuple[Change, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def of(self, collection: str, action: str | None = None) -> list[Change]:
        """Changes in one collection, optionally of one action."""
        return [
            c
            for c in self.changes
            if c.collection == collection and (action is None or c.action == action)
        ]


def diff(old: Snapshot, new: Snapshot) -> Diff:
    """Compute what changed between two snapshots, collection by collection."""
    changes: list[Change] = []
    for name in COLLECTIONS:
        before = _index(getattr(old, name))
        after = _index(getattr(new, name))
        for key, obj in after.items():
            prev = before.get(key)
            if prev is None:
                changes.append(Change(name, "added", key, None, obj))
            elif prev != obj:
                changes.append(Change(name, "changed", key, prev, obj))
        for key, obj in before.items():
            if key not in after:
                changes.append(Change(name, "removed", key, obj, None))
    return Diff(tuple(changes))


def _index(items: tuple[Any, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for obj in items:
        key = obj.key
        n = 2
        while key in out:  # identical rules in one chain: keep them apart by occurrence
            key = f"{obj.key}#{n}"
            n += 1
        out[key] = obj
    return out


def _decode(typ: Any, data: Any) -> Any:
    """Rebuild a dataclass (recursively) from ``dataclasses.asdict`` output."""
    if data is None or not dataclasses.is_dataclass(typ):
        return data
    hints = _field_types(typ)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(typ):
        if f.name not in data:
            continue
        value = data[f.name]
        kwargs[f.name] = _decode_value(hints[f.name], value)
    factory: Any = typ  # is_dataclass() narrowed typ to an instance type; it is a class here
    return factory(**kwargs)


#: The dataclasses a snapshot nests, by the name their fields' type hints use.
_NESTED: dict[str, type] = {}  # filled below, once every class exists


def _field_types(typ: Any) -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(typ)}


def _decode_value(hint: str, value: Any) -> Any:
    if value is None:
        return None
    for name, cls in _NESTED.items():
        if f"tuple[{name}" in hint:
            return tuple(_decode(cls, v) for v in value)
        if hint.startswith(name):
            return _decode(cls, value)
    if isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value


_NESTED.update({c.__name__: c for c in (Owner, Address, UpperEntry, *COLLECTIONS.values())})


@dataclass(frozen=True)
class ApiCall:
    """One request that crossed the control socket, as the daemon's traffic tap saw it."""

    seq: int
    started_at: float  # time.time() when the request line arrived
    method: str
    path: str  # with query string, e.g. "/v1.41/containers/json?all=1"
    status: int = 0  # 0 while still being served (or hijacked)
    latency_ms: float = 0.0
    transport: str = "unix"  # "unix" or "tcp"
    client_pid: int | None = None  # SO_PEERCRED (unix sockets)
    client_uid: int | None = None
    client_container: str | None = None  # name of the container the client runs in, if any
    request_preview: str = ""  # first bytes of the body
    response_preview: str = ""
    user_agent: str = ""

    @property
    def key(self) -> str:
        return str(self.seq)
