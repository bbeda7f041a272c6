"""The neighbour (ARP / NDP) table of one netns, as ``ip neigh`` shows it, over rtnetlink."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from dockerscope.kernel import netlink, rtnetlink
from dockerscope.kernel.netlink_constants import NETLINK_ROUTE, RTM_GETNEIGH, RTM_NEWNEIGH
from dockerscope.kernel.setns import netlink_socket

NDA_DST, NDA_LLADDR = 1, 2
_NDMSG = struct.Struct("=BxxxiHBB")  # struct ndmsg: family, ifindex, state, flags, type
_NLMSGHDR_SIZE = 16
#: NUD_* states, as ``ip neigh`` words them.
STATES = {
    0x01: "INCOMPLETE",
    0x02: "REACHABLE",
    0x04: "STALE",
    0x08: "DELAY",
    0x10: "PROBE",
    0x20: "FAILED",
    0x40: "NOARP",
    0x80: "PERMANENT",
}


@dataclass(frozen=True)
class Neighbour:
    """One entry: an address, the link-layer address it resolves to, where, and how sure."""

    address: str
    mac: str  # "" while unresolved
    interface: str
    state: str


def _state(bits: int) -> str:
    return "|".join(word for bit, word in STATES.items() if bits & bit) or "NONE"


def parse(replies: list[tuple[int, int, bytes, int]], names: dict[int, str]) -> list[Neighbour]:
    """Neighbours from RTM_NEWNEIGH replies; ``names`` maps ifindex to interface name."""
    out = []
    for mtype, _flags, data, off in replies:
        if mtype != RTM_NEWNEIGH:
            continue
        (length,) = struct.unpack_from("=I", data, off)
        body = off + _NLMSGHDR_SIZE
        family, ifindex, state, _fl, _type = _NDMSG.unpack_from(data, body)
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = mac = ""
        for kind, value in netlink.attributes(data, body + _NDMSG.size, off + length):
            if kind == NDA_DST:
                address = netlink.attr_ip(family, value)
            elif kind == NDA_LLADDR and len(value) == 6:
                mac = netlink.attr_mac(value)
        out.append(Neighbour(address, mac, names.get(ifindex, f"if{ifindex}"), _state(state)))
    return sorted(out, key=lambda n: (n.interface, n.address))


def read_neighbours(netns: str | None) -> list[Neighbour]:
    """The neighbour table of the netns at ``netns`` (None: ours), IPv4 and IPv6."""
    conn = netlink.Conn(netlink_socket(netns, NETLINK_ROUTE))
    try:
        names = {
            int(m["index"]): str(m.get_attr("IFLA_IFNAME") or "")
            for m in rtnetlink.dump_links(conn)
        }
        request = _NDMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        return parse(conn.dump(RTM_GETNEIGH, request), names)
    finally:
        conn.close()
