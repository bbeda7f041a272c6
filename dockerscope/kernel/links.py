"""Links and their addresses in one network namespace (``ip link``, ``ip addr``, ``brctl show``).

One ``RtnlReader`` per namespace keeps a netlink socket created inside that namespace (see
setns.py), so a re-read costs one dump and no fork. The dumps are decoded by netlink.py into
messages shaped like pyroute2's (``get``/``get_attr``), which is what the builders here take.
A veth's peer is named by ifindex plus a *netns id* local to the namespace being read;
``resolve_peers`` turns that id into the label of the namespace that holds the peer, across all
namespaces in view.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from dockerscope.kernel import msglayouts, netlink, rtnetlink
from dockerscope.kernel.model import Address, Link
from dockerscope.kernel.netlink import Conn
from dockerscope.kernel.netlink_constants import (
    ARPHRD_LOOPBACK,
    NETLINK_ROUTE,
    RT_SCOPE_HOST,
    RT_SCOPE_LINK,
    RT_SCOPE_NOWHERE,
    RT_SCOPE_SITE,
    RT_SCOPE_UNIVERSE,
    RT_TABLE_MAIN,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_NEWADDR,
    RTM_NEWLINK,
)
from dockerscope.kernel.netns import NsRef
from dockerscope.kernel.setns import netlink_socket

#: address scopes as ``ip addr`` names them
_SCOPES = {
    RT_SCOPE_UNIVERSE: "global",
    RT_SCOPE_SITE: "site",
    RT_SCOPE_LINK: "link",
    RT_SCOPE_HOST: "host",
    RT_SCOPE_NOWHERE: "nowhere",
}


@dataclass(frozen=True)
class RawLink:
    """A Link before its veth peer's namespace is known."""

    link: Link
    peer_nsid: int | None  # IFLA_LINK_NETNSID: the peer lives in another netns


@dataclass
class _Decoded:
    """The last link and address dumps of a namespace and the links decoded from them."""

    link_msgs: list[tuple[int, int, bytes, int]]
    addr_msgs: list[tuple[int, int, bytes, int]]
    links: list[RawLink]
    #: (link layouts, address layouts) of those dumps, once worked out (then msgs are dropped)
    layouts: tuple[tuple[msglayouts.Layout, ...], tuple[msglayouts.Layout, ...]] | None = None


class RtnlReader:
    """Route-netlink dumps (links, addresses, routes) of one namespace."""

    def __init__(self, ref: NsRef, sock: socket.socket | None = None):
        """``sock``: a route-netlink socket already opened in that netns (else one is opened)."""
        self.ref = ref
        if sock is None:
            sock = netlink_socket(None if ref.label == "host" else ref.path, NETLINK_ROUTE)
        netlink.strict(sock)  # lets route dumps be filtered by table in the kernel
        self.conn = Conn(sock)
        self._nsids: dict[int, int] = {}  # netns inode -> nsid as seen from here
        #: what other readers of this namespace (iproutes.py) decoded last, by name
        self.memo: dict[str, Any] = {}
        self._decoded: _Decoded | None = None

    def close(self) -> None:
        """Release the socket."""
        self.conn.close()

    def dump_links(self) -> list[Any]:
        return rtnetlink.dump_links(self.conn)

    def dump_addrs(self) -> list[Any]:
        return rtnetlink.dump_addrs(self.conn)

    def dump_routes(self) -> list[Any]:
        return rtnetlink.dump_routes(self.conn, table=RT_TABLE_MAIN)

    def links(self) -> list[RawLink]:
        """Every link of the namespace with its addresses (peers unresolved).

        Both dumps are read from the kernel every time. Decoding them is most of the cost of
        a full refresh, so when their messages hold byte for byte what was decoded last time
        (``msglayouts.link_layouts``: everything but sequence numbers, packet counters and other
        attributes that tick and are not read) the links built then are returned again.
        """
        link_msgs = self.conn.dump(RTM_GETLINK, rtnetlink.LINK_DUMP_REQUEST)
        addr_msgs = self.conn.dump(RTM_GETADDR, rtnetlink.ADDR_DUMP_REQUEST)
        link_msgs = [r for r in link_msgs if r[0] == RTM_NEWLINK]
        addr_msgs = [r for r in addr_msgs if r[0] == RTM_NEWADDR]
        last = self._decoded
        if last is not None:
            if last.layouts is None:
                # Worked out at the next read, not on the path of the event that decoded.
                last.layouts = (
                    msglayouts.link_layouts(last.link_msgs),
                    msglayouts.addr_layouts(last.addr_msgs),
                )
                last.link_msgs = last.addr_msgs = []
            if msglayouts.same_layouts(link_msgs, last.layouts[0]) and msglayouts.same_layouts(
                addr_msgs, last.layouts[1]
            ):
                return last.links
        raw = links_from_messages(
            self.ref.label,
            [rtnetlink.decode_link(d, o) for _t, _f, d, o in link_msgs],
            [rtnetlink.decode_addr(d, o) for _t, _f, d, o in addr_msgs],
        )
        self._decoded = _Decoded(link_msgs, addr_msgs, raw)
        return raw

    def nsid_of(self, ref: NsRef) -> int | None:
        """The netns id this namespace uses for ``ref`` (None when it has none assigned)."""
        if ref.inode in self._nsids:
            return self._nsids[ref.inode]
        try:
            fd = os.open(ref.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            nsid = rtnetlink.netnsid_of_fd(self.conn, fd)
        except OSError:
            nsid = None
        finally:
            os.close(fd)
        if nsid is not None:
            self._nsids[ref.inode] = nsid
        return nsid


def _attr(msg: Any, name: str) -> Any:
    return msg.get_attr(name)


def _kind(msg: Any) -> tuple[str, Any]:
    info = _attr(msg, "IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
    data = info.get_attr("IFLA_INFO_DATA") if info is not None else None
    if kind:
        return kind, data
    if msg.get("ifi_type") == ARPHRD_LOOPBACK:
        return "loopback", None
    return "device", None


def addresses_from_messages(addr_msgs: Iterable[Any]) -> dict[int, tuple[Address, ...]]:
    """ifindex -> its addresses, from RTM_NEWADDR messages."""
    out: dict[int, list[Address]] = {}
    for m in addr_msgs:
        fam = 4 if m.get("family") == socket.AF_INET else 6
        ip = _attr(m, "IFA_LOCAL") if fam == 4 else None
        ip = ip or _attr(m, "IFA_ADDRESS")
        if not ip:
            continue
        scope = _SCOPES.get(m.get("scope", 0), str(m.get("scope")))
        out.setdefault(m.get("index"), []).append(Address(fam, ip, m.get("prefixlen"), scope))
    return {k: tuple(v) for k, v in out.items()}


def links_from_messages(label: str, link_msgs: list[Any], addr_msgs: list[Any]) -> list[RawLink]:
    """Build Links of one namespace from RTM_NEWLINK and RTM_NEWADDR messages."""
    names = {m.get("index"): _attr(m, "IFLA_IFNAME") for m in link_msgs}
    addrs = addresses_from_messages(addr_msgs)
    out = []
    for m in link_msgs:
        kind, data = _kind(m)
        mac = _attr(m, "IFLA_ADDRESS") or ""
        bridge_id = stp = None
        if kind == "bridge" and data is not None:
            prio = data.get_attr("IFLA_BR_PRIORITY")
            bid = data.get_attr("IFLA_BR_BRIDGE_ID") or {}
            addr = bid.get("addr") if isinstance(bid, dict) else None
            # brctl shows "<priority as 4 hex digits>.<bridge address without colons>".
            prio = 32768 if prio is None else prio
            bridge_id = f"{prio:04x}.{(addr or mac).replace(':', '')}"
            stp = bool(data.get_attr("IFLA_BR_STP_STATE"))
        master_idx = _attr(m, "IFLA_MASTER")
        peer_index = peer_nsid = None
        if kind == "veth":
            peer_index = _attr(m, "IFLA_LINK")
            peer_nsid = _attr(m, "IFLA_LINK_NETNSID")
        idx = m.get("index")
        link = Link(
            netns=label,
            index=idx,
            name=names[idx],
            kind=kind,
            mac=mac,
            state=_attr(m, "IFLA_OPERSTATE") or "UNKNOWN",
            mtu=_attr(m, "IFLA_MTU") or 0,
            master=names.get(master_idx) if master_idx else None,
            peer_index=peer_index,
            peer_netns=label if kind == "veth" and peer_nsid is None and peer_index else None,
            addresses=addrs.get(idx, ()),
            bridge_id=bridge_id,
            stp=stp,
        )
        out.append(RawLink(link, peer_nsid))
    return out


def resolve_peers(
    raw: dict[str, list[RawLink]],
    refs: dict[str, NsRef],
    readers: dict[str, RtnlReader] | None = None,
    memo: dict[tuple[Link, str | None], Link] | None = None,
) -> dict[str, list[Link]]:
    """Fill ``peer_netns`` of veths whose peer is in another namespace.

    First by symmetry (the only link elsewhere whose index is my peer index and whose peer
    index is my index, itself pointing to another netns); when that is ambiguous, by asking
    the kernel which netns id this namespace gives each candidate (RTM_GETNSID).
    """
    # (index, peer index) -> namespaces holding such a veth that points to another netns.
    by_pair: dict[tuple[int, int], list[str]] = {}
    for label, items in raw.items():
        for r in items:
            if r.link.kind == "veth" and r.peer_nsid is not None and r.link.peer_index:
                by_pair.setdefault((r.link.index, r.link.peer_index), []).append(label)
    out: dict[str, list[Link]] = {}
    for label, items in raw.items():
        links = []
        for r in items:
            link = r.link
            if r.peer_nsid is not None and link.peer_index:
                cands = [
                    lab for lab in by_pair.get((link.peer_index, link.index), []) if lab != label
                ]
                peer = cands[0] if len(cands) == 1 else None
                if peer is None and readers and label in readers:
                    peer = _ask_kernel(readers[label], r.peer_nsid, cands or list(refs), refs)
                link = _with_peer(link, peer, memo)
            links.append(link)
        out[label] = links
    return out


def _with_peer(
    link: Link, peer: str | None, memo: dict[tuple[Link, str | None], Link] | None
) -> Link:
    """``link`` with ``peer_netns`` set; with a memo, the object made last time is reused."""
    if memo is None:
        return replace(link, peer_netns=peer)
    key = (link, peer)
    got = memo.get(key)
    if got is None:
        if len(memo) > 50_000:
            memo.clear()
        got = memo[key] = replace(link, peer_netns=peer)
    return got


def _ask_kernel(
    reader: RtnlReader, nsid: int, candidates: list[str], refs: dict[str, NsRef]
) -> str | None:
    for lab in candidates:
        ref = refs.get(lab)
        if ref is not None and ref.label != reader.ref.label and reader.nsid_of(ref) == nsid:
            return lab
    return None
