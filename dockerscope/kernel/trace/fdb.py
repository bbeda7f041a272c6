"""Which bridge port a packet left by: the neighbour table gives the destination's MAC, the
bridge's forwarding database (``bridge fdb``) the port that MAC was learned on."""

from __future__ import annotations

import socket
import struct

from dockerscope.kernel.netlink import NLMSGHDR, Conn, Replay, attr_mac, attributes
from dockerscope.kernel.netlink_constants import (
    AF_BRIDGE,
    NDA_DST,
    NDA_LLADDR,
    NDA_MASTER,
    RTM_GETNEIGH,
    RTM_NEWNEIGH,
)

#: struct ndmsg: family, 3 pad bytes, ifindex, state, flags, type
NDMSG = struct.Struct("=BxxxiHBB")


def _entries(conn: Conn | Replay, family: int) -> list[tuple[int, dict[int, bytes]]]:
    out = []
    for t, _f, d, o in conn.dump(RTM_GETNEIGH, NDMSG.pack(family, 0, 0, 0, 0)):
        if t != RTM_NEWNEIGH:
            continue
        end = o + NLMSGHDR.unpack_from(d, o)[0]
        fam, index, _state, _flags, _type = NDMSG.unpack_from(d, o + NLMSGHDR.size)
        if fam != family:
            continue
        attrs = {k: bytes(v) for k, v in attributes(d, o + NLMSGHDR.size + NDMSG.size, end)}
        out.append((index, attrs))
    return out


def mac_of(conn: Conn | Replay, ip: str) -> str | None:
    """The link-layer address the neighbour table holds for an IPv4 address."""
    want = socket.inet_aton(ip)
    for _index, attrs in _entries(conn, socket.AF_INET):
        if attrs.get(NDA_DST) == want and NDA_LLADDR in attrs:
            return attr_mac(memoryview(attrs[NDA_LLADDR]))
    return None


def port_for(conn: Conn | Replay, bridge_index: int, mac: str) -> int | None:
    """The ifindex of the bridge port whose FDB entry holds ``mac``."""
    for index, attrs in _entries(conn, AF_BRIDGE):
        master = attrs.get(NDA_MASTER)
        if master is None or struct.unpack("=I", master[:4])[0] != bridge_index:
            continue
        if NDA_LLADDR in attrs and attr_mac(memoryview(attrs[NDA_LLADDR])) == mac:
            return index
    return None
