"""rtnetlink dumps decoded: links, addresses, routes, link packet totals, netns ids.

A full re-read decodes every link of every namespace, so the decoders look only at the
attributes the model uses and walk the bytes in one tight loop.
"""

from __future__ import annotations

import socket
import struct

from dockerscope.kernel.netlink import (
    IFADDRMSG,
    IFINFOMSG,
    NLATTR,
    NLMSGHDR,
    RTMSG,
    S32,
    U32,
    Conn,
    Msg,
    Replay,
    attr_ip,
    attr_mac,
    attr_s32,
    attr_str,
    attr_u32,
    attributes,
    index_attributes,
)
from dockerscope.kernel.netlink_constants import (
    IF_OPER_STATES,
    IFA_ADDRESS,
    IFA_LOCAL,
    IFLA_ADDRESS,
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
    IFLA_STATS_FILTER_BIT_LINK_64,
    IFLA_STATS_LINK_64,
    NETNSA_FD,
    NETNSA_NSID,
    NLA_TYPE_MASK,
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
)

_QQ = struct.Struct("=QQ")
_STATSMSG = struct.Struct("=BBHiI")  # if_stats_msg: family, pad, pad, ifindex, filter_mask


def _linkinfo(v: memoryview) -> Msg:
    info = Msg()
    for kind, payload in attributes(v, 0, len(v)):
        if kind == IFLA_INFO_KIND:
            info.attrs["IFLA_INFO_KIND"] = attr_str(payload)
        elif kind == IFLA_INFO_DATA:  # decoded for bridges once the kind is known
            info.attrs["_data"] = payload
    data = info.attrs.pop("_data", None)
    if data is not None and info.attrs.get("IFLA_INFO_KIND") == "bridge":
        bridge = Msg()
        for kind, payload in attributes(data, 0, len(data)):
            if kind == IFLA_BR_STP_STATE:
                bridge.attrs["IFLA_BR_STP_STATE"] = attr_u32(payload)
            elif kind == IFLA_BR_PRIORITY:
                bridge.attrs["IFLA_BR_PRIORITY"] = struct.unpack_from("=H", payload)[0]
            elif kind == IFLA_BR_BRIDGE_ID and len(payload) >= 8:  # u8 prio[2], u8 addr[6]
                bridge.attrs["IFLA_BR_BRIDGE_ID"] = {
                    "prio": int.from_bytes(bytes(payload[:2]), "big"),
                    "addr": attr_mac(payload[2:8]),
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
    end = off + NLMSGHDR.unpack_from(data, off)[0]
    body = off + NLMSGHDR.size
    _family, ifi_type, index, flags, _change = IFINFOMSG.unpack_from(data, body)
    msg = Msg({"index": index, "ifi_type": ifi_type, "flags": flags})
    attrs = msg.attrs
    unpack = NLATTR.unpack_from
    wanted = _LINK_WANTED
    pos = body + IFINFOMSG.size
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
                attrs.setdefault(_LINK_U32[atype], U32.unpack_from(data, start)[0])
            elif atype == IFLA_OPERSTATE and "IFLA_OPERSTATE" not in attrs:
                state = data[start]
                known = state < len(IF_OPER_STATES)
                attrs["IFLA_OPERSTATE"] = IF_OPER_STATES[state] if known else "UNKNOWN"
            elif atype == IFLA_LINKINFO and "IFLA_LINKINFO" not in attrs:
                attrs["IFLA_LINKINFO"] = _linkinfo(memoryview(data)[start : pos + alen])
            elif atype == IFLA_LINK_NETNSID:
                attrs.setdefault("IFLA_LINK_NETNSID", S32.unpack_from(data, start)[0])
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
        length = NLMSGHDR.unpack_from(data, offset)[0]
        found = index_attributes(data, offset + NLMSGHDR.size + _STATSMSG.size, offset + length)
        if IFLA_STATS_LINK_64 in found:  # struct rtnl_link_stats64 (rx_packets, tx_packets, ...)
            rx, tx = _QQ.unpack_from(data, found[IFLA_STATS_LINK_64][0])
            total += rx + tx
    return total


def decode_addr(data: bytes, off: int) -> Msg:
    """One RTM_NEWADDR message at ``off``."""
    end = off + NLMSGHDR.unpack_from(data, off)[0]
    body = off + NLMSGHDR.size
    family, prefixlen, _flags, scope, index = IFADDRMSG.unpack_from(data, body)
    msg = Msg({"family": family, "prefixlen": prefixlen, "scope": scope, "index": index})
    attrs = msg.attrs
    unpack = NLATTR.unpack_from
    pos = body + IFADDRMSG.size
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
    length = NLMSGHDR.unpack_from(data, off)[0]
    body = off + NLMSGHDR.size
    family, dst_len, _src_len, _tos, table, _proto, scope, rtype, _flags = RTMSG.unpack_from(
        data, body
    )
    msg = Msg({"family": family, "dst_len": dst_len, "table": table, "scope": scope, "type": rtype})
    for kind, payload in attributes(data, body + RTMSG.size, off + length):
        if kind == RTA_DST:
            msg.attrs["RTA_DST"] = attr_ip(family, payload)
        elif kind == RTA_OIF:
            msg.attrs["RTA_OIF"] = attr_u32(payload)
        elif kind == RTA_GATEWAY:
            msg.attrs["RTA_GATEWAY"] = attr_ip(family, payload)
        elif kind == RTA_PREFSRC:
            msg.attrs["RTA_PREFSRC"] = attr_ip(family, payload)
        elif kind == RTA_TABLE:
            msg.attrs["RTA_TABLE"] = attr_u32(payload)
    return msg


#: RTM_GETLINK dump request. IFLA_EXT_MASK (RTEXT_FILTER_SKIP_STATS) leaves the IPv6 and VF
#: statistics out; the link's own counters (IFLA_STATS, IFLA_STATS64) come regardless.
LINK_DUMP_REQUEST = (
    IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    + NLATTR.pack(8, IFLA_EXT_MASK)
    + U32.pack(RTEXT_FILTER_SKIP_STATS)
)
#: RTM_GETADDR dump request: every address (IPv4 and IPv6).
ADDR_DUMP_REQUEST = IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)


def dump_links(conn: Conn | Replay) -> list[Msg]:
    """``ip link``: every link of the socket's namespace."""
    msgs = conn.dump(RTM_GETLINK, LINK_DUMP_REQUEST)
    return [decode_link(d, o) for t, _f, d, o in msgs if t == RTM_NEWLINK]


def dump_addrs(conn: Conn | Replay) -> list[Msg]:
    """``ip addr``: every address (IPv4 and IPv6)."""
    msgs = conn.dump(RTM_GETADDR, ADDR_DUMP_REQUEST)
    return [decode_addr(d, o) for t, _f, d, o in msgs if t == RTM_NEWADDR]


def dump_routes(conn: Conn | Replay, family: int = socket.AF_INET, table: int = 0) -> list[Msg]:
    """``ip route show table all`` for one family; with ``table`` (and a socket in strict
    checking mode, see ``strict``) the kernel leaves the other tables out."""
    return [decode_route(d, o) for t, _f, d, o in route_replies(conn, family, table)]


def route_replies(
    conn: Conn | Replay, family: int = socket.AF_INET, table: int = 0
) -> list[tuple[int, int, bytes, int]]:
    """The RTM_NEWROUTE messages of ``dump_routes``, not decoded."""
    req = RTMSG.pack(family, 0, 0, 0, table & 0xFF, 0, 0, 0, 0)
    return [r for r in conn.dump(RTM_GETROUTE, req) if r[0] == RTM_NEWROUTE]


def netnsid_of_fd(conn: Conn | Replay, fd: int) -> int | None:
    """The id the socket's namespace gives the namespace open at ``fd`` (None: unassigned)."""
    attr = NLATTR.pack(8, NETNSA_FD) + struct.pack("=I", fd)
    request = struct.pack("=Bxxx", socket.AF_UNSPEC) + attr
    for mtype, _flags, data, offset in conn.request(RTM_GETNSID, 0, request):
        if mtype != RTM_NEWNSID:
            continue
        length = NLMSGHDR.unpack_from(data, offset)[0]
        for kind, value in attributes(data, offset + NLMSGHDR.size + 4, offset + length):
            if kind == NETNSA_NSID:
                nsid = attr_s32(value)
                return None if nsid < 0 else nsid
    return None
