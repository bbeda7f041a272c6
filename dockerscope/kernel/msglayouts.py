"""Which bytes of a link or address message its decoding depends on (``Layout``).

Both dumps are read from the kernel at every refresh; when their messages hold, in these
ranges, the bytes decoded last time, links.py returns the links built then instead of decoding
again. Left out are sequence numbers and attributes that tick and are not read.
"""

from __future__ import annotations

from dockerscope.kernel.netlink import (
    IFADDRMSG,
    IFINFOMSG,
    NLATTR,
    NLMSGHDR,
)
from dockerscope.kernel.netlink_constants import (
    IFA_ADDRESS,
    IFA_LOCAL,
    IFLA_AF_SPEC,
    IFLA_BR_BRIDGE_ID,
    IFLA_BR_PRIORITY,
    IFLA_BR_STP_STATE,
    IFLA_INFO_DATA,
    IFLA_INFO_KIND,
    IFLA_LINKINFO,
    IFLA_STATS,
    IFLA_STATS64,
    NLA_TYPE_MASK,
)

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
        end = o + NLMSGHDR.unpack_from(d, o)[0]
        skip: list[tuple[int, int]] = []  # payload ranges left out, absolute
        pos = o + NLMSGHDR.size + IFINFOMSG.size
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
        end = o + NLMSGHDR.unpack_from(d, o)[0]
        flags = o + NLMSGHDR.size + 2  # ifaddrmsg: family, prefixlen, flags, scope, index
        skip: list[tuple[int, int]] = [(flags, flags + 1)]
        pos = o + NLMSGHDR.size + IFADDRMSG.size
        while pos + 4 <= end:
            alen, atype = NLATTR.unpack_from(d, pos)
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
    at = o + NLMSGHDR.size
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
        alen, atype = NLATTR.unpack_from(d, pos)
        if alen < 4:
            break
        atype &= NLA_TYPE_MASK
        if atype == IFLA_INFO_KIND:  # (comes first)
            bridge = d[pos + 4 : pos + alen].rstrip(b"\0") == b"bridge"
        elif atype == IFLA_INFO_DATA and bridge:  # keep STP state, priority, bridge id
            inner, stop = pos + 4, pos + alen
            while inner + 4 <= stop:
                blen, btype = NLATTR.unpack_from(d, inner)
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
