"""nf_tables over netlink: the table list, the ruleset generation id, rule counters.

What the observer asks between ``iptables-save`` runs: whether there are ip nat/filter tables
at all, whether the ruleset changed (generation id), and each rule's packet and byte counts.
"""

from __future__ import annotations

import struct

from dockerscope.kernel.netlink import (
    NLATTR,
    NLMSGHDR,
    Conn,
    Replay,
    attr_str,
    attributes,
)
from dockerscope.kernel.netlink_constants import (
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
)


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
        length = NLMSGHDR.unpack_from(data, offset)[0]
        family = data[offset + NLMSGHDR.size]
        for kind, payload in attributes(data, offset + NLMSGHDR.size + 4, offset + length):
            if kind == NFTA_TABLE_NAME:
                out.append((family, attr_str(payload)))
    return out


def nft_genid(conn: Conn | Replay) -> int | None:
    """The ruleset generation id: it changes with every committed ruleset change."""
    for mtype, _flags, data, offset in conn.request(
        _nft(NFT_MSG_GETGEN), 0, _nfgen(NFPROTO_UNSPEC)
    ):
        if mtype != _nft(NFT_MSG_NEWGEN):
            continue
        length = NLMSGHDR.unpack_from(data, offset)[0]
        for kind, payload in attributes(data, offset + NLMSGHDR.size + 4, offset + length):
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
    unpack_rta = NLATTR.unpack_from
    for t, _f, d, o in conn.dump(_nft(NFT_MSG_GETRULE), _nfgen(family)):
        if t != _nft(NFT_MSG_NEWRULE):
            continue
        end = o + NLMSGHDR.unpack_from(d, o)[0]
        off = o + NLMSGHDR.size + 4
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
    alen, _atype = NLATTR.unpack_from(d, off)
    inner, stop = off + 4, min(off + alen, end)
    nbytes = packets = 0
    while inner + 4 <= stop:
        clen, ctype = NLATTR.unpack_from(d, inner)
        if clen < 4:
            break
        ctype &= NLA_TYPE_MASK
        if ctype == NFTA_COUNTER_BYTES and clen >= 12:
            nbytes = int.from_bytes(d[inner + 4 : inner + 12], "big")
        elif ctype == NFTA_COUNTER_PACKETS and clen >= 12:
            packets = int.from_bytes(d[inner + 4 : inner + 12], "big")
        inner += (clen + 3) & ~3
    return (packets, nbytes)
