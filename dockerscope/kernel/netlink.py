"""A small, fast netlink dump reader: rtnetlink links, addresses, routes, netns ids, and the
nf_tables table list, generation id and rule counters.

pyroute2 decodes every attribute of every message through an asyncio round trip, which costs
milliseconds per namespace; the observer re-reads on every event and polls counters, so it reads
the few attributes it needs with ``struct`` instead. Messages come back as ``Msg`` objects with
pyroute2's access style (``msg.get(field)``, ``msg.get_attr("IFLA_IFNAME")``) so the builders in
links.py and iproutes.py work on either.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any

from dockerscope.kernel.netlink_constants import (
    IF_OPER_STATES,
    IFA_ADDRESS,
    IFA_LOCAL,
    IFLA_ADDRESS,
    IFLA_AF_SPEC,
    IFLA_BR_BRIDGE_ID,
    IFLA_BR_PRIORITY,
    IFLA_BR_STP_STATE,
    IFLA_EXT_MASK,
    IFLA_IFNAME,
    IFLA_INFO_DATA,
    IFLA_INFO_KIND,
    IFLA_LINK,
    IFLA_LINK_NETNSID,
    IFLA_LINKINFO,
    IFLA_MASTER,
    IFLA_MTU,
    IFLA_OPERSTATE,
    IFLA_STATS,
    IFLA_STATS64,
    IFLA_STATS_FILTER_BIT_LINK_64,
    IFLA_STATS_LINK_64,
    NETLINK_GET_STRICT_CHK,
    NETNSA_FD,
    NETNSA_NSID,
    NFNL_SUBSYS_NFTABLES,
    NFPROTO_IPV4,
    NFPROTO_UNSPEC,
    NFT_MSG_GETGEN,
    NFT_MSG_GETRULE,
    NFT_MSG_GETTABLE,
    NFT_MSG_NEWGEN,
    NFT_MSG_NEWRULE,
    NFT_MSG_NEWTABLE,
    NFTA_COUNTER_BYTES,
    NFTA_COUNTER_PACKETS,
    NFTA_GEN_ID,
    NFTA_RULE_CHAIN,
    NFTA_RULE_EXPRESSIONS,
    NFTA_RULE_TABLE,
    NFTA_TABLE_NAME,
    NLA_TYPE_MASK,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLM_F_MULTI,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    RTA_DST,
    RTA_GATEWAY,
    RTA_OIF,
    RTA_PREFSRC,
    RTA_TABLE,
    RTEXT_FILTER_SKIP_STATS,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETNSID,
    RTM_GETROUTE,
    RTM_GETSTATS,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWNSID,
    RTM_NEWROUTE,
    RTM_NEWSTATS,
    SOL_NETLINK,
)

_HDR = struct.Struct("=IHHII")
_RTA = struct.Struct("=HH")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_U32 = struct.Struct("=I")
_S32 = struct.Struct("=i")
_QQ = struct.Struct("=QQ")
_STATSMSG = struct.Struct("=BBHiI")  # if_stats_msg: family, pad, pad, ifindex, filter_mask


class DumpInterrupted(OSError):
    """The kernel's table changed during the dump; retry."""


class Msg(dict[str, Any]):
    """A decoded message: header fields as dict items, attributes by name."""

    def __init__(self, fields: dict[str, Any] | None = None, attrs: dict[str, Any] | None = None):
        super().__init__(fields or {})
        self.attrs: dict[str, Any] = {} if attrs is None else attrs

    def get_attr(self, name: str) -> Any:
        return self.attrs.get(name)


def attributes(data: bytes | memoryview, off: int, end: int) -> Iterator[tuple[int, memoryview]]:
    """(type, payload) of each netlink attribute between ``off`` and ``end``."""
    view = memoryview(data)
    while off + 4 <= end:
        length, atype = _RTA.unpack_from(view, off)
        if length < 4:
            return
        yield atype & NLA_TYPE_MASK, view[off + 4 : off + length]
        off += (length + 3) & ~3


def index_attributes(d: bytes, off: int, end: int) -> dict[int, tuple[int, int]]:
    """type -> (start, end) of each attribute's payload (first occurrence), without copying."""
    out: dict[int, tuple[int, int]] = {}
    unpack = _RTA.unpack_from
    while off + 4 <= end:
        length, atype = unpack(d, off)
        if length < 4:
            break
        out.setdefault(atype & NLA_TYPE_MASK, (off + 4, off + length))
        off += (length + 3) & ~3
    return out


def _str(v: memoryview) -> str:
    return bytes(v).split(b"\0", 1)[0].decode(errors="replace")


def _u32(v: memoryview) -> int:
    return int(struct.unpack_from("=I", v)[0])


def _s32(v: memoryview) -> int:
    return int(struct.unpack_from("=i", v)[0])


def _mac(v: memoryview) -> str:
    return ":".join(f"{b:02x}" for b in bytes(v))


def _ip(family: int, v: memoryview) -> str:
    return socket.inet_ntop(family, bytes(v))


class Conn:
    """Request/response over one netlink socket (blocking, used from one thread)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.sock.setblocking(True)
        self._seq = int.from_bytes(os.urandom(2), "little")
        #: when a list, every reply datagram is appended to it (to capture test samples)
        self.tap: list[bytes] | None = None

    def close(self) -> None:
        self.sock.close()

    def request(self, mtype: int, flags: int, payload: bytes) -> list[tuple[int, int, bytes, int]]:
        """Send one request; return (type, flags, datagram, offset of payload) per reply."""
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        seq = self._seq
        msg = _HDR.pack(_HDR.size + len(payload), mtype, flags | NLM_F_REQUEST, seq, 0) + payload
        self.sock.send(msg)
        out: list[tuple[int, int, bytes, int]] = []
        interrupted = False
        while True:
            data = self.sock.recv(1 << 17)
            if self.tap is not None:
                self.tap.append(data)
            off = 0
            while off + _HDR.size <= len(data):
                length, rtype, rflags, rseq, _pid = _HDR.unpack_from(data, off)
                if length < _HDR.size:
                    break
                if rseq != seq:  # a stale answer to an earlier, abandoned request
                    off += (length + 3) & ~3
                    continue
                if rflags & NLM_F_DUMP_INTR:
                    interrupted = True
                if rtype == NLMSG_DONE:
                    if interrupted:
                        raise DumpInterrupted(errno.EINTR, "netlink dump interrupted")
                    return out
                if rtype == NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", data, off + _HDR.size)
                    if err == 0:  # an ACK
                        return out
                    raise OSError(-err, os.strerror(-err))
                out.append((rtype, rflags, data, off))
                if not rflags & NLM_F_MULTI:
                    return out
                off += (length + 3) & ~3

    def dump(self, mtype: int, payload: bytes, tries: int = 5) -> list[tuple[int, int, bytes, int]]:
        """A dump request, retried when the kernel reports it was interrupted."""
        for attempt in range(tries):
            try:
                return self.request(mtype, NLM_F_DUMP, payload)
            except DumpInterrupted:
                if attempt == tries - 1:
                    raise
        return []


def strict(sock: socket.socket) -> bool:
    """Ask the kernel to check dump requests strictly and honour their filters (4.20+)."""
    try:
        sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
    except OSError:
        return False
    return True


class Replay:
    """Answers every request with messages recorded from a real dump (for parser tests)."""

    def __init__(self, data: bytes):
        self.data = data

    def replies(self) -> list[tuple[int, int, bytes, int]]:
        out = []
        off = 0
        while off + _HDR.size <= len(self.data):
            length, rtype, rflags, _seq, _pid = _HDR.unpack_from(self.data, off)
            if length < _HDR.size:
                break
            if rtype not in (NLMSG_DONE, NLMSG_ERROR):
                out.append((rtype, rflags, self.data, off))
            off += (length + 3) & ~3
        return out

    def request(self, mtype: int, flags: int, payload: bytes) -> list[tuple[int, int, bytes, int]]:
        return self.replies()

    def dump(self, mtype: int, payload: bytes, tries: int = 5) -> list[tuple[int, int, bytes, int]]:
        return self.replies()


# ---------------------------------------------------------------------------------------------
# rtnetlink


def _linkinfo(v: memoryview) -> Msg:
    info = Msg()
    for kind, payload in attributes(v, 0, len(v)):
        if kind == IFLA_INFO_KIND:
            info.attrs["IFLA_INFO_KIND"] = _str(payload)
        elif kind == IFLA_INFO_DATA:  # decoded for bridges once the kind is known
            info.attrs["_data"] = payload
    data = info.attrs.pop("_data", None)
    if data is not None and info.attrs.get("IFLA_INFO_KIND") == "bridge":
        bridge = Msg()
        for kind, payload in attributes(data, 0, len(data)):
            if kind == IFLA_BR_STP_STATE:
                bridge.attrs["IFLA_BR_STP_STATE"] = _u32(payload)
            elif kind == IFLA_BR_PRIORITY:
                bridge.attrs["IFLA_BR_PRIORITY"] = struct.unpack_from("=H", payload)[0]
            elif kind == IFLA_BR_BRIDGE_ID and len(payload) >= 8:  # u8 prio[2], u8 addr[6]
                bridge.attrs["IFLA_BR_BRIDGE_ID"] = {
                    "prio": int.from_bytes(bytes(payload[:2]), "big"),
                    "addr": _mac(payload[2:8]),
                }
        info.attrs["IFLA_INFO_DATA"] = bridge
    return info


#: IFLA_* types decode_link reads; a link message carries some fifty, the rest are skipped.
_LINK_U32 = {IFLA_MTU: "IFLA_MTU", IFLA_LINK: "IFLA_LINK", IFLA_MASTER: "IFLA_MASTER"}
_LINK_WANTED = frozenset(
    (IFLA_ADDRESS, IFLA_IFNAME, *_LINK_U32, IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_LINK_NETNSID)
)


def decode_link(data: bytes, off: int) -> Msg:
    """One RTM_NEWLINK message at ``off``.

    A full re-read decodes every link of every namespace, so the attribute walk is one tight
    loop that looks only at the types it keeps (no per-attribute objects or slices).
    """
    end = off + _HDR.unpack_from(data, off)[0]
    body = off + _HDR.size
    _family, ifi_type, index, flags, _change = _IFINFO.unpack_from(data, body)
    msg = Msg({"index": index, "ifi_type": ifi_type, "flags": flags})
    attrs = msg.attrs
    unpack = _RTA.unpack_from
    wanted = _LINK_WANTED
    pos = body + _IFINFO.size
    while pos + 4 <= end:
        alen, atype = unpack(data, pos)
        if alen < 4:
            break
        atype &= NLA_TYPE_MASK
        if atype in wanted:
            start = pos + 4
            if atype == IFLA_IFNAME and "IFLA_IFNAME" not in attrs:
                attrs["IFLA_IFNAME"] = _cstr(data[start : pos + alen])
            elif atype == IFLA_ADDRESS and "IFLA_ADDRESS" not in attrs:
                attrs["IFLA_ADDRESS"] = data[start : pos + alen].hex(":")
            elif atype in _LINK_U32:
                attrs.setdefault(_LINK_U32[atype], _U32.unpack_from(data, start)[0])
            elif atype == IFLA_OPERSTATE and "IFLA_OPERSTATE" not in attrs:
                state = data[start]
                known = state < len(IF_OPER_STATES)
                attrs["IFLA_OPERSTATE"] = IF_OPER_STATES[state] if known else "UNKNOWN"
            elif atype == IFLA_LINKINFO and "IFLA_LINKINFO" not in attrs:
                attrs["IFLA_LINKINFO"] = _linkinfo(memoryview(data)[start : pos + alen])
            elif atype == IFLA_LINK_NETNSID:
                attrs.setdefault("IFLA_LINK_NETNSID", _S32.unpack_from(data, start)[0])
        pos += (alen + 3) & ~3
    return msg


def _cstr(raw: bytes) -> str:
    """A NUL-terminated string attribute."""
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def link_packets(conn: Conn | Replay) -> int:
    """Packets received plus sent over every link of the namespace.

    Read with RTM_GETSTATS filtered to the 64-bit link counters: a small message per link.
    When the total has not moved, no packet crossed the namespace's links, so rule counters
    there cannot have moved either (a locally made packet dropped before leaving is the
    exception, caught by a periodic full count).
    """
    total = 0
    req = _STATSMSG.pack(socket.AF_UNSPEC, 0, 0, 0, IFLA_STATS_FILTER_BIT_LINK_64)
    for mtype, _flags, data, offset in conn.dump(RTM_GETSTATS, req):
        if mtype != RTM_NEWSTATS:
            continue
        length = _HDR.unpack_from(data, offset)[0]
        found = index_attributes(data, offset + _HDR.size + _STATSMSG.size, offset + length)
        if IFLA_STATS_LINK_64 in found:  # struct rtnl_link_stats64 (rx_packets, tx_packets, ...)
            rx, tx = _QQ.unpack_from(data, found[IFLA_STATS_LINK_64][0])
            total += rx + tx
    return total


def decode_addr(data: bytes, off: int) -> Msg:
    """One RTM_NEWADDR message at ``off``."""
    end = off + _HDR.unpack_from(data, off)[0]
    body = off + _HDR.size
    family, prefixlen, _flags, scope, index = _IFADDR.unpack_from(data, body)
    msg = Msg({"family": family, "prefixlen": prefixlen, "scope": scope, "index": index})
    attrs = msg.attrs
    unpack = _RTA.unpack_from
    pos = body + _IFADDR.size
    while pos + 4 <= end:
        alen, atype = unpack(data, pos)
        if alen < 4:
            break
        atype &= NLA_TYPE_MASK
        if atype == IFA_ADDRESS:
            attrs["IFA_ADDRESS"] = socket.inet_ntop(family, data[pos + 4 : pos + alen])
        elif atype == IFA_LOCAL:
            attrs["IFA_LOCAL"] = socket.inet_ntop(family, data[pos + 4 : pos + alen])
        pos += (alen + 3) & ~3
    return msg


def decode_route(data: bytes, off: int) -> Msg:
    """One RTM_NEWROUTE message at ``off``."""
    length = _HDR.unpack_from(data, off)[0]
    body = off + _HDR.size
    family, dst_len, _src_len, _tos, table, _proto, scope, rtype, _flags = _RTMSG.unpack_from(
        data, body
    )
    msg = Msg({"family": family, "dst_len": dst_len, "table": table, "scope": scope, "type": rtype})
    for kind, payload in attributes(data, body + _RTMSG.size, off + length):
        if kind == RTA_DST:
            msg.attrs["RTA_DST"] = _ip(family, payload)
        elif kind == RTA_OIF:
            msg.attrs["RTA_OIF"] = _u32(payload)
        elif kind == RTA_GATEWAY:
            msg.attrs["RTA_GATEWAY"] = _ip(family, payload)
        elif kind == RTA_PREFSRC:
            msg.attrs["RTA_PREFSRC"] = _ip(family, payload)
        elif kind == RTA_TABLE:
            msg.attrs["RTA_TABLE"] = _u32(payload)
    return msg


#: RTM_GETLINK dump request. IFLA_EXT_MASK (RTEXT_FILTER_SKIP_STATS) leaves the IPv6 and VF
#: statistics out; the link's own counters (IFLA_STATS, IFLA_STATS64) come regardless.
LINK_DUMP_REQUEST = (
    _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    + _RTA.pack(8, IFLA_EXT_MASK)
    + _U32.pack(RTEXT_FILTER_SKIP_STATS)
)
#: RTM_GETADDR dump request: every address (IPv4 and IPv6).
ADDR_DUMP_REQUEST = _IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, 0)


def dump_links(conn: Conn | Replay) -> list[Msg]:
    """``ip link``: every link of the socket's namespace."""
    msgs = conn.dump(RTM_GETLINK, LINK_DUMP_REQUEST)
    return [decode_link(d, o) for t, _f, d, o in msgs if t == RTM_NEWLINK]


def dump_addrs(conn: Conn | Replay) -> list[Msg]:
    """``ip addr``: every address (IPv4 and IPv6)."""
    msgs = conn.dump(RTM_GETADDR, ADDR_DUMP_REQUEST)
    return [decode_addr(d, o) for t, _f, d, o in msgs if t == RTM_NEWADDR]


def content(replies: list[tuple[int, int, bytes, int]]) -> bytes:
    """The messages of a reply as bytes, without the sequence number and port id that make
    every answer differ: equal content means the kernel said the same thing."""
    parts = []
    for _t, _f, d, o in replies:
        end = o + _HDR.unpack_from(d, o)[0]
        parts.append(d[o : o + 8])  # length, type, flags
        parts.append(d[o + _HDR.size : end])
    return b"".join(parts)


#: Link attributes whose payload moves all the time and is not decoded: IFLA_STATS and
#: IFLA_STATS64 (in every link message whatever IFLA_EXT_MASK asks; a bridge floods each port
#: with its neighbours' multicast) and IFLA_AF_SPEC (IPv6 flags and timestamps).
_LINK_VOLATILE = frozenset((IFLA_STATS, IFLA_STATS64, IFLA_AF_SPEC))

#: Where a message's bytes matter to its decoder: (start, end, bytes) ranges, offsets from the
#: message's start.
Layout = tuple[tuple[int, int, bytes], ...]


def link_layouts(replies: list[tuple[int, int, bytes, int]]) -> tuple[Layout, ...]:
    """For each link message, the byte ranges ``decode_link``'s result depends on.

    Left out are the payloads of what moves all the time and is not decoded (packet
    counters, IPv6 state, and inside IFLA_LINKINFO the slave data and the bridge attributes
    other than the ones decoded: a bridge's and its ports' timers tick). Attribute headers
    are always kept, so a message whose kept ranges hold the same bytes (``same_layouts``)
    has the same attributes at the same places, and decodes to the same link.
    """
    out = []
    for _t, _f, d, o in replies:
        end = o + _HDR.unpack_from(d, o)[0]
        skip: list[tuple[int, int]] = []  # payload ranges left out, absolute
        pos = o + _HDR.size + _IFINFO.size
        while pos + 4 <= end:
            alen = d[pos] | d[pos + 1] << 8
            if alen < 4:
                break
            if not d[pos + 3] & (NLA_TYPE_MASK >> 8):  # a type below 256, flags aside
                atype = d[pos + 2]
                if atype in _LINK_VOLATILE:
                    skip.append((pos + 4, pos + alen))
                elif atype == IFLA_LINKINFO:
                    _linkinfo_skips(d, pos + 4, pos + alen, skip)
            pos += (alen + 3) & ~3
        out.append(_ranges(d, o, end, skip))
    return tuple(out)


def addr_layouts(replies: list[tuple[int, int, bytes, int]]) -> tuple[Layout, ...]:
    """``link_layouts`` for address messages: of the attributes only IFA_ADDRESS and IFA_LOCAL
    are decoded (IFA_CACHEINFO's lifetimes count down on addresses that expire), and of the
    header all but the flags (an IPv6 address is "tentative" for its first seconds)."""
    out = []
    for _t, _f, d, o in replies:
        end = o + _HDR.unpack_from(d, o)[0]
        flags = o + _HDR.size + 2  # ifaddrmsg: family, prefixlen, flags, scope, index
        skip: list[tuple[int, int]] = [(flags, flags + 1)]
        pos = o + _HDR.size + _IFADDR.size
        while pos + 4 <= end:
            alen, atype = _RTA.unpack_from(d, pos)
            if alen < 4:
                break
            if atype & NLA_TYPE_MASK not in (IFA_ADDRESS, IFA_LOCAL):
                skip.append((pos + 4, pos + alen))
            pos += (alen + 3) & ~3
        out.append(_ranges(d, o, end, skip))
    return tuple(out)


def _ranges(d: bytes, o: int, end: int, skip: list[tuple[int, int]]) -> Layout:
    """The message at ``o`` minus the ``skip`` ranges and its sequence number and port id
    (which differ in every answer)."""
    ranges = [(0, 8, d[o : o + 8])]
    at = o + _HDR.size
    for a, b in skip:
        ranges.append((at - o, a - o, d[at:a]))
        at = b
    ranges.append((at - o, end - o, d[at:end]))
    return tuple(ranges)


#: IFLA_BR_* attributes ``_linkinfo`` decodes (the rest of a bridge's data is skipped)
_BRIDGE_DECODED = frozenset((IFLA_BR_STP_STATE, IFLA_BR_PRIORITY, IFLA_BR_BRIDGE_ID))


def _linkinfo_skips(d: bytes, pos: int, end: int, skip: list[tuple[int, int]]) -> None:
    """Payloads inside an IFLA_LINKINFO that ``_linkinfo`` does not decode."""
    bridge = False
    while pos + 4 <= end:
        alen, atype = _RTA.unpack_from(d, pos)
        if alen < 4:
            break
        atype &= NLA_TYPE_MASK
        if atype == IFLA_INFO_KIND:  # (comes first)
            bridge = d[pos + 4 : pos + alen].rstrip(b"\0") == b"bridge"
        elif atype == IFLA_INFO_DATA and bridge:  # keep STP state, priority, bridge id
            inner, stop = pos + 4, pos + alen
            while inner + 4 <= stop:
                blen, btype = _RTA.unpack_from(d, inner)
                if blen < 4:
                    break
                if btype & NLA_TYPE_MASK not in _BRIDGE_DECODED:
                    skip.append((inner + 4, inner + blen))
                inner += (blen + 3) & ~3
        elif atype != IFLA_INFO_DATA:  # IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA, ...
            skip.append((pos + 4, pos + alen))
        pos += (alen + 3) & ~3


def same_layouts(replies: list[tuple[int, int, bytes, int]], layouts: tuple[Layout, ...]) -> bool:
    """True when each message holds, in its kept ranges, the bytes ``layouts`` recorded."""
    if len(replies) != len(layouts):
        return False
    for (_t, _f, d, o), ranges in zip(replies, layouts, strict=True):
        for a, b, blob in ranges:
            if d[o + a : o + b] != blob:
                return False
    return True


def dump_routes(conn: Conn | Replay, family: int = socket.AF_INET, table: int = 0) -> list[Msg]:
    """``ip route show table all`` for one family; with ``table`` (and a socket in strict
    checking mode, see ``strict``) the kernel leaves the other tables out."""
    return [decode_route(d, o) for t, _f, d, o in route_replies(conn, family, table)]


def route_replies(
    conn: Conn | Replay, family: int = socket.AF_INET, table: int = 0
) -> list[tuple[int, int, bytes, int]]:
    """The RTM_NEWROUTE messages of ``dump_routes``, not decoded."""
    req = _RTMSG.pack(family, 0, 0, 0, table & 0xFF, 0, 0, 0, 0)
    return [r for r in conn.dump(RTM_GETROUTE, req) if r[0] == RTM_NEWROUTE]


def netnsid_of_fd(conn: Conn | Replay, fd: int) -> int | None:
    """The id the socket's namespace gives the namespace open at ``fd`` (None: unassigned)."""
    attr = _RTA.pack(8, NETNSA_FD) + struct.pack("=I", fd)
    request = struct.pack("=Bxxx", socket.AF_UNSPEC) + attr
    for mtype, _flags, data, offset in conn.request(RTM_GETNSID, 0, request):
        if mtype != RTM_NEWNSID:
            continue
        length = _HDR.unpack_from(data, offset)[0]
        for kind, value in attributes(data, offset + _HDR.size + 4, offset + length):
            if kind == NETNSA_NSID:
                nsid = _s32(value)
                return None if nsid < 0 else nsid
    return None


# ---------------------------------------------------------------------------------------------
# nf_tables


def _nft(msg: int) -> int:
    return (NFNL_SUBSYS_NFTABLES << 8) | msg


def _nfgen(family: int) -> bytes:
    return struct.pack("=BBH", family, 0, 0)


def nft_tables(conn: Conn | Replay) -> list[tuple[int, str]]:
    """(family, name) of every nf_tables table in the socket's namespace."""
    out = []
    for mtype, _flags, data, offset in conn.dump(_nft(NFT_MSG_GETTABLE), _nfgen(NFPROTO_UNSPEC)):
        if mtype != _nft(NFT_MSG_NEWTABLE):
            continue
        length = _HDR.unpack_from(data, offset)[0]
        family = data[offset + _HDR.size]
        for kind, payload in attributes(data, offset + _HDR.size + 4, offset + length):
            if kind == NFTA_TABLE_NAME:
                out.append((family, _str(payload)))
    return out


def nft_genid(conn: Conn | Replay) -> int | None:
    """The ruleset generation id: it changes with every committed ruleset change."""
    for mtype, _flags, data, offset in conn.request(
        _nft(NFT_MSG_GETGEN), 0, _nfgen(NFPROTO_UNSPEC)
    ):
        if mtype != _nft(NFT_MSG_NEWGEN):
            continue
        length = _HDR.unpack_from(data, offset)[0]
        for kind, payload in attributes(data, offset + _HDR.size + 4, offset + length):
            if kind == NFTA_GEN_ID:  # big endian
                return int(struct.unpack_from(">I", payload)[0])
    return None


def nft_rule_counters(
    conn: Conn | Replay, family: int = NFPROTO_IPV4
) -> dict[tuple[str, str], list[tuple[int, int]]]:
    """(table, chain) -> [(packets, bytes)] of each rule in chain order.

    Rules made by iptables-nft carry one ``counter`` expression; a rule without one counts as
    (0, 0) so positions still line up with ``iptables-save``. This runs at the polling rate
    over every rule, so it walks the bytes directly instead of building attribute objects.
    """
    out: dict[tuple[str, str], list[tuple[int, int]]] = {}
    names: dict[bytes, str] = {}
    unpack_rta = _RTA.unpack_from
    for t, _f, d, o in conn.dump(_nft(NFT_MSG_GETRULE), _nfgen(family)):
        if t != _nft(NFT_MSG_NEWRULE):
            continue
        end = o + _HDR.unpack_from(d, o)[0]
        off = o + _HDR.size + 4
        table = chain = b""
        counts = (0, 0)
        while off + 4 <= end:
            alen, atype = unpack_rta(d, off)
            if alen < 4:
                break
            atype &= NLA_TYPE_MASK
            if atype == NFTA_RULE_TABLE:
                table = d[off + 4 : off + alen]
            elif atype == NFTA_RULE_CHAIN:
                chain = d[off + 4 : off + alen]
            elif atype == NFTA_RULE_EXPRESSIONS:
                q = d.find(b"counter\0", off, off + alen)
                if q >= 0:
                    counts = _counter_at(d, q + 8, off + alen)
            off += (alen + 3) & ~3
        key = (_name(names, table), _name(names, chain))
        out.setdefault(key, []).append(counts)
    return out


def _name(cache: dict[bytes, str], raw: bytes) -> str:
    name = cache.get(raw)
    if name is None:
        name = cache[raw] = raw.split(b"\0", 1)[0].decode(errors="replace")
    return name


def _counter_at(d: bytes, off: int, end: int) -> tuple[int, int]:
    """(packets, bytes) from the NFTA_EXPR_DATA attribute that follows a "counter" name."""
    if off + 4 > end:
        return (0, 0)
    alen, _atype = _RTA.unpack_from(d, off)
    inner, stop = off + 4, min(off + alen, end)
    nbytes = packets = 0
    while inner + 4 <= stop:
        clen, ctype = _RTA.unpack_from(d, inner)
        if clen < 4:
            break
        ctype &= NLA_TYPE_MASK
        if ctype == NFTA_COUNTER_BYTES and clen >= 12:
            nbytes = int.from_bytes(d[inner + 4 : inner + 12], "big")
        elif ctype == NFTA_COUNTER_PACKETS and clen >= 12:
            packets = int.from_bytes(d[inner + 4 : inner + 12], "big")
        inner += (clen + 3) & ~3
    return (packets, nbytes)
