"""Who caused each kernel object: fill ``owner`` by matching kernel facts, never engine state.

The facts: a netns named after a container, a veth whose peer is in such a netns, a bridge
called ``docker0`` or ``br-<network id[:12]>``, a cgroup or upper dir path holding a container
id, an iptables rule naming a bridge, a subnet, a container address or a published port.
Optional ``Hints`` (container names, ids, addresses, ports; network names, bridges, subnets)
come from a Docker-compatible API socket, ours or a real Docker's (``hints_from_socket``).
"""

from __future__ import annotations

import ipaddress
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from dockerscope.kernel.hints import Hints
from dockerscope.kernel.model import Link, Owner, Rule, Snapshot


@dataclass
class _Index:
    """Lookups built once per snapshot."""

    containers: dict[str, Owner] = field(default_factory=dict)  # name, id, id[:12] -> owner
    ids: list[tuple[str, Owner]] = field(default_factory=list)  # (id, owner) for path search
    ip_owner: dict[str, Owner] = field(default_factory=dict)  # container ip -> owner
    #: (netns label, ip) -> the container with that address whose veth peer is in that netns:
    #: on a host with many labs 172.17.0.2 is many containers, one per bridge's namespace
    ip_near: dict[tuple[str, str], Owner] = field(default_factory=dict)
    bridges: dict[str, Owner] = field(default_factory=dict)  # bridge name -> network owner
    subnets: list[tuple[Any, Owner]] = field(default_factory=list)
    ports: dict[tuple[int, str], tuple[int, Owner]] = field(default_factory=dict)
    netns: dict[str, Owner] = field(default_factory=dict)  # netns label -> owner
    uppers: dict[str, Owner] = field(default_factory=dict)  # container upper dir -> owner
    lab: Owner | None = None
    docker: Owner | None = None  # a real Docker's own plumbing (DOCKER-USER, jumps, ...)

    def ip_in(self, netns: str, ip: str) -> Owner | None:
        """The container with address ``ip`` as seen from ``netns``: one wired to it first."""
        return self.ip_near.get((netns, ip)) or self.ip_owner.get(ip)

    def fingerprint(self) -> int:
        """Equal for two indexes that attribute every object the same way."""
        return hash(
            (
                frozenset(self.containers.items()),
                tuple(self.ids),
                frozenset(self.ip_owner.items()),
                frozenset(self.ip_near.items()),
                frozenset(self.bridges.items()),
                tuple(self.subnets),
                frozenset(self.ports.items()),
                frozenset(self.netns.items()),
                frozenset(self.uppers.items()),
                self.lab,
                self.docker,
            )
        )


def _build_index(snap: Snapshot, hints: Hints) -> _Index:
    """Every lookup attribution needs, from the hints first, then from the kernel's naming."""
    index = _Index()
    if hints.lab:
        index.lab = Owner("lab", hints.lab)
    if hints.docker:
        index.docker = DOCKERD
    _index_hinted(index, hints)
    _index_bridges(index, snap)
    _index_netns(index, snap, hints)
    _index_container_addresses(index, snap)
    for c in hints.containers:
        owner_of_ports = index.containers.get(c.id) or index.containers.get(c.name)
        for host_port, proto, cport in c.ports:
            if owner_of_ports is not None:
                index.ports[(host_port, proto)] = (cport, owner_of_ports)
    return index


def _index_hinted(index: _Index, hints: Hints) -> None:
    """Containers (names, ids, addresses, upper dirs) and networks the API named."""
    for c in hints.containers:
        owner = Owner("container", c.name, c.id)
        if c.upperdir:
            index.uppers[c.upperdir] = owner
        for k in (c.name, c.id, c.id[:12]):
            if k:
                index.containers[k] = owner
        if c.id:
            index.ids.append((c.id, owner))
        for ip in c.ips:
            index.ip_owner[ip] = owner
    for upper, layer_of in hints.docker_uppers:
        if upper not in index.uppers:
            index.uppers[upper] = index.containers.get(layer_of) or Owner(
                "container", layer_of[:12], layer_of
            )
    for n in hints.networks:
        owner = Owner("network", n.name, n.id)
        if n.bridge:
            index.bridges[n.bridge] = owner
        for s in n.subnets:
            try:
                index.subnets.append((ipaddress.ip_network(s, strict=False), owner))
            except ValueError:
                continue


def _index_bridges(index: _Index, snap: Snapshot) -> None:
    """Bridges the hints did not name (Docker's naming says which network they are), and each
    bridge's subnet from its own address (172.17.0.1/16 on docker0 -> 172.17.0.0/16)."""
    for link in snap.links:
        if link.kind != "bridge" or link.name in index.bridges:
            continue
        if link.name == "docker0":
            index.bridges[link.name] = Owner("network", "bridge")
        elif link.name.startswith("br-"):
            index.bridges[link.name] = Owner("network", link.name[3:], link.name[3:])
    for link in snap.links:
        if link.name in index.bridges:
            for a in link.addresses:
                if a.family == 4:
                    net = ipaddress.ip_network(a.cidr, strict=False)
                    index.subnets.append((net, index.bridges[link.name]))


def _index_netns(index: _Index, snap: Snapshot, hints: Hints) -> None:
    """Namespaces: named after a container, or used by a process in a container's cgroup."""
    procs = {p.pid: p for p in snap.processes}
    for ns in snap.netns:
        label = ns.label or ns.name or ""
        owner = _container_for_name(index, ns.name) if ns.name else None
        if owner is None and label in hints.container_netns:
            owner = Owner("container", ns.name or label)
        if owner is None:
            for pid in ns.pids:
                p = procs.get(pid)
                owner = _container_in_path(index, p.cgroup) if p else None
                cid = _id_component(p.cgroup) if p and owner is None else None
                if cid is not None:
                    owner = Owner("container", cid[:12], cid)
                if owner is not None:
                    break
        if owner is None and ns.name and hints.lab and ns.name == hints.lab:
            owner = index.lab
        if owner is not None and label:
            index.netns[label] = owner


def _index_container_addresses(index: _Index, snap: Snapshot) -> None:
    """Container addresses seen in their own namespaces. A bridge there (Docker in a container,
    a nested lab) holds that inner network's gateway, often 172.17.0.1 again: not the
    container's own address, and taking it would name the outer docker0's traffic after it."""
    for link in snap.links:
        ns_owner = index.netns.get(link.netns)
        if (
            ns_owner is not None
            and ns_owner.kind == "container"
            and link.kind not in ("loopback", "bridge")
        ):
            for a in link.addresses:
                if a.family == 4:
                    index.ip_owner.setdefault(a.address, ns_owner)
                    if link.kind == "veth" and link.peer_netns:
                        index.ip_near.setdefault((link.peer_netns, a.address), ns_owner)


#: Owner of what a real Docker sets up for itself rather than for one container or network.
DOCKERD = Owner("docker", "dockerd")


def _container_for_name(index: _Index, name: str | None) -> Owner | None:
    if not name:
        return None
    return index.containers.get(name)


def _container_in_path(index: _Index, path: str) -> Owner | None:
    """A container whose id appears in ``path`` (cgroup, upper dir); else an id-looking part."""
    for cid, owner in index.ids:
        if cid and (cid in path or (len(cid) >= 12 and cid[:12] in path.split("/"))):
            return owner
    return None


def _id_component(path: str) -> str | None:
    """A 64-hex (or 12-hex) path component: a container id without a hint to name it."""
    for part in reversed([p for p in path.replace(".scope", "").split("/") if p]):
        part = part.removeprefix("docker-")
        if len(part) in (12, 64) and all(ch in "0123456789abcdef" for ch in part):
            return part
    return None


def _link_owner(index: _Index, link: Link) -> Owner | None:
    if link.name in index.bridges:
        return index.bridges[link.name]
    own = index.netns.get(link.netns)
    if own is not None and own.kind == "container":
        return own
    if link.kind == "veth" and link.peer_netns:
        peer = index.netns.get(link.peer_netns)
        if peer is not None and peer.kind == "container":
            return peer
    if link.master and link.master in index.bridges and link.kind != "veth":
        return index.bridges[link.master]
    return own


def _ip_of(value: str) -> str:
    return value.split("/")[0] if value.endswith("/32") or "/" not in value else value


def _port(host_port: int, proto: str, container: Owner, container_port: int | str) -> Owner:
    """``port 8080/tcp -> web``; the container's port is named when it differs (8081 -> web:80)."""
    name = f"{host_port}/{proto} -> {container.name}"
    if str(container_port) != str(host_port):
        name += f":{container_port}"
    return Owner("port", name, container.id)


def rule_owner(index: _Index, rule: Rule) -> Owner | None:
    """Owner of a rule: a published port first, then a container, then a network."""
    tokens = rule.spec.split()
    opts: dict[str, str] = {}
    for i, tok in enumerate(tokens[:-1]):
        if tok.startswith("-"):
            opts.setdefault(tok, tokens[i + 1])
    container: Owner | None = None
    for key in ("--to-destination", "-d", "-s", "--to-source"):
        val = opts.get(key)
        if not val:
            continue
        ip = _ip_of(val.split(":")[0] if key.startswith("--to") else val)
        container = index.ip_in(rule.netns, ip)
        if container is not None:
            break
    dport = opts.get("--dport")
    proto = opts.get("-p", "tcp")
    if dport and dport.isdigit():
        host_port = int(dport)
        hinted = index.ports.get((host_port, proto))
        if container is not None and "--to-destination" in opts:
            to_port = opts["--to-destination"].rsplit(":", 1)[-1]
            return _port(host_port, proto, container, to_port)
        if container is not None:
            # A rule for the container's side (filter ACCEPT, hairpin MASQUERADE) names its
            # port; the published port it serves is the one to show when the API told it.
            for (hport, hproto), (cport, owner) in index.ports.items():
                if owner == container and hproto == proto and cport == host_port:
                    return _port(hport, proto, container, cport)
            return Owner("port", f"{host_port}/{proto} -> {container.name}", container.id)
        if hinted is not None:
            cport, owner = hinted
            return _port(host_port, proto, owner, cport)
    if container is not None:
        return container
    for key in ("-i", "-o"):
        val = opts.get(key)
        if val and val in index.bridges:
            return index.bridges[val]
    for key in ("-s", "-d"):
        val = opts.get(key)
        if val and "/" in val and not val.endswith("/32"):
            try:
                net = ipaddress.ip_network(val, strict=False)
            except ValueError:
                continue
            for sub, owner in index.subnets:
                if sub == net:
                    return owner
    if index.docker is not None and _docker_plumbing(rule, opts):
        return index.docker
    return None


def socket_owner(index: _Index, s: Any) -> Owner | None:
    """A socket belongs to its namespace's container; a listener outside any container on a
    published port (the daemon's proxy in the lab) to that port."""
    owner = index.netns.get(s.netns)
    if owner is not None and owner.kind == "container":
        return owner
    if s.listening:
        published = index.ports.get((s.local_port, s.proto))
        if published is not None:
            return _port(s.local_port, s.proto, published[1], published[0])
    return owner


def _docker_plumbing(rule: Rule, opts: dict[str, str]) -> bool:
    """A rule in one of Docker's own chains, or a jump into one (DOCKER, DOCKER-USER, ...),
    in the host's namespace: a lab's namespace has such chains too, made by our engine."""
    if rule.netns != "host":
        return False
    return rule.chain.startswith("DOCKER") or opts.get("-j", "").startswith("DOCKER")


class Memo:
    """Attributed objects kept between snapshots, valid while the facts they used are the same.

    A live observer composes a snapshot many times a second while most objects stay equal;
    with a memo only new or changed objects are attributed again.
    """

    def __init__(self, limit: int = 100_000):
        self.limit = limit
        self.fingerprint: int | None = None
        self.done: dict[Any, Any] = {}
        #: collection name -> (the objects given last time, what they became)
        self.last: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}

    def start(self, fingerprint: int) -> None:
        if fingerprint != self.fingerprint or len(self.done) > self.limit:
            self.fingerprint = fingerprint
            self.done = {}
            self.last = {}


def attribute(snap: Snapshot, hints: Hints | None = None, memo: Memo | None = None) -> Snapshot:
    """A copy of ``snap`` with ``owner`` filled wherever a kernel fact names one.

    With a ``memo``, objects equal to ones attributed before (under the same links, namespaces,
    processes and hints) are reused as they are.
    """
    hints = hints or Hints()
    index = _build_index(snap, hints)
    if memo is not None:
        memo.start(index.fingerprint())
    owned = _Owned(memo)
    links = owned.collection(
        snap.links, lambda link: _link_owner(index, link), memoize=True, name="links"
    )
    owners = _Owners(snap, index, {(lk.netns, lk.name): lk.owner for lk in links})
    return replace(
        snap,
        links=links,
        routes=owned.collection(snap.routes, owners.route),
        netns=owned.collection(snap.netns, owners.netns),
        processes=owned.collection(snap.processes, owners.process),
        rules=owned.collection(
            snap.rules, lambda r: rule_owner(index, r), memoize=True, name="rules"
        ),
        cgroups=owned.collection(
            snap.cgroups, lambda c: owners.path(c.path), memoize=True, name="cgroups"
        ),
        mounts=owned.collection(snap.mounts, owners.mount),
        flows=owned.collection(snap.flows, owners.flow, memoize=True, name="flows"),
        sockets=owned.collection(
            snap.sockets, lambda s: socket_owner(index, s), memoize=True, name="sockets"
        ),
    )


class _Owned:
    """Copies of objects with their owner, reusing what a ``Memo`` kept."""

    def __init__(self, memo: Memo | None) -> None:
        self.memo = memo
        self.done = memo.done if memo is not None else None

    def collection(
        self, items: Iterable[Any], owner_of: Any, memoize: bool = False, name: str = ""
    ) -> tuple[Any, ...]:
        """Objects with their owner. ``memoize`` only where ``owner_of`` looks at the object and
        the index alone (links, rules, flows, cgroups), never at other objects of the snapshot;
        elsewhere the memo still keeps the copy made for an (object, owner) pair. A memoized
        collection made of the very objects given last time comes back as it was then."""
        memo, done = self.memo, self.done
        cache = done if memoize else None
        items = tuple(items)
        if cache is not None and memo is not None and name:
            last = memo.last.get(name)
            same = last is not None and len(last[0]) == len(items)
            if last is not None and same and all(map(operator.is_, last[0], items)):
                return last[1]
        out = []
        for obj in items:
            got = cache.get(obj) if cache is not None else None
            if got is None:
                got = self._with_owner(obj, owner_of(obj))
                if cache is not None:
                    cache[obj] = got
            out.append(got)
        result = tuple(out)
        if cache is not None and memo is not None and name:
            memo.last[name] = (items, result)
        return result

    def _with_owner(self, obj: Any, owner: Owner | None) -> Any:
        if owner == obj.owner:
            return obj
        if self.done is None:
            return replace(obj, owner=owner)
        got = self.done.get((obj, owner))
        if got is None:
            got = self.done[(obj, owner)] = replace(obj, owner=owner)
        return got


class _Owners:
    """Owners of the objects that are named through other objects of the same snapshot."""

    def __init__(
        self, snap: Snapshot, index: _Index, link_owner: dict[tuple[str, str], Owner | None]
    ) -> None:
        self.snap = snap
        self.index = index
        self.link_owner = link_owner
        self.procs = {p.pid: p for p in snap.processes}

    def route(self, r: Any) -> Owner | None:
        return self.link_owner.get((r.netns, r.dev)) or self.index.netns.get(r.netns)

    def netns(self, ns: Any) -> Owner | None:
        return self.index.netns.get(ns.label or ns.name or "")

    def process(self, p: Any) -> Owner | None:
        owner = _container_in_path(self.index, p.cgroup)
        if owner is None:
            net = p.ns("net")
            for ns in self.snap.netns:
                if ns.inode == net:
                    owner = self.index.netns.get(ns.label or ns.name or "")
                    break
        return owner

    def path(self, path: str) -> Owner | None:
        index = self.index
        owner = index.uppers.get(path) or _container_in_path(index, path)
        # Docker's overlay2 dirs are named after layer ids, which look like container ids
        # but are not: only a hinted upper dir or the process that mounted it can tell.
        if owner is None and "/overlay2/" not in path:
            cid = _id_component(path)
            if cid is not None:
                owner = Owner("container", cid[:12], cid)
        if owner is None and index.lab is not None and f"/{index.lab.name}" in path:
            owner = index.lab
        return owner

    def mount(self, mount: Any) -> Owner | None:
        owner = self.path(mount.upperdir)
        from_process = mount.seen_from.startswith("pid:")
        if (owner is None or owner.kind in ("lab", "docker")) and from_process:
            p = self.procs.get(int(mount.seen_from[4:]))
            if p is not None:
                owner = self.process(p) or owner
        return owner

    def flow(self, f: Any) -> Owner | None:
        for ip in (f.reply_src, f.orig_src, f.orig_dst):
            owner = self.index.ip_in(f.netns, ip)
            if owner is not None:
                if f.dnat:
                    return _port(f.orig_dport, f.proto, owner, f.reply_sport)
                return owner
        return self.index.netns.get(f.netns)
