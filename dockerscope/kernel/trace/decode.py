"""NFT_MSG_TRACE messages (the NFNLGRP_NFTRACE multicast group) decoded into TraceEvents.

The kernel sends one message per rule that matched with a verdict, per chain return and per
base chain policy, for every packet whose nftrace bit is set (``nft monitor trace`` prints
them). Every integer attribute is big endian; the headers are the packet's own bytes at that
point, so a DNAT shows as a changed destination in the events after it.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

from dockerscope.kernel.netlink import NLMSGHDR, attr_str, attributes
from dockerscope.kernel.netlink_constants import (
    NFNL_SUBSYS_NFTABLES,
    NFT_MSG_TRACE,
    NFT_TRACETYPE_POLICY,
    NFT_TRACETYPE_RETURN,
    NFT_TRACETYPE_RULE,
    NFTA_TRACE_CHAIN,
    NFTA_TRACE_ID,
    NFTA_TRACE_IIF,
    NFTA_TRACE_MARK,
    NFTA_TRACE_NETWORK_HEADER,
    NFTA_TRACE_POLICY,
    NFTA_TRACE_RULE_HANDLE,
    NFTA_TRACE_TABLE,
    NFTA_TRACE_TRANSPORT_HEADER,
    NFTA_TRACE_TYPE,
    NFTA_TRACE_VERDICT,
    NFTA_VERDICT_CHAIN,
    NFTA_VERDICT_CODE,
)
from dockerscope.kernel.netlink_constants import NFTA_TRACE_OIF as _OIF
from dockerscope.kernel.trace.model import Header, TraceEvent

TRACE_TYPE = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_TRACE

FAMILIES = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}
KINDS = {NFT_TRACETYPE_RULE: "rule", NFT_TRACETYPE_RETURN: "return", NFT_TRACETYPE_POLICY: "policy"}
#: netfilter verdict codes (NF_* >= 0, NFT_* < 0) as nft prints them
VERDICTS = {
    0: "drop",
    1: "accept",
    2: "stolen",
    3: "queue",
    4: "repeat",
    -1: "continue",
    -2: "break",
    -3: "jump",
    -4: "goto",
    -5: "return",
}
PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp"}


def verdict_name(code: int) -> str:
    """A verdict code as nft prints it (queue numbers in the high bits left out)."""
    if code >= 0:
        code &= 0xFF
    return VERDICTS.get(code, str(code))


def header(network: bytes, transport: bytes | None) -> Header | None:
    """Addresses and ports from an IPv4 header and the transport header after it."""
    if len(network) < 20 or network[0] >> 4 != 4:
        return None
    proto_num = network[9]
    proto = PROTO_NAMES.get(proto_num, str(proto_num))
    src = socket.inet_ntoa(network[12:16])
    dst = socket.inet_ntoa(network[16:20])
    if transport is None:  # the kernel sends the transport header apart when it can
        ihl = (network[0] & 0x0F) * 4
        transport = network[ihl:] or None
    if transport and proto in ("tcp", "udp") and len(transport) >= 4:
        sport, dport = struct.unpack_from(">HH", transport)
        return Header(proto, src, dst, sport, dport)
    if transport and proto == "icmp" and len(transport) >= 8:
        return Header(
            proto,
            src,
            dst,
            icmp_type=transport[0],
            icmp_id=struct.unpack_from(">H", transport, 4)[0],
        )
    return Header(proto, src, dst)


def decode(data: bytes, off: int) -> TraceEvent | None:
    """One trace message at ``off`` (after the nlmsghdr comes the nfgenmsg), or None."""
    length, mtype = struct.unpack_from("=IH", data, off)
    if mtype != TRACE_TYPE:
        return None
    family = FAMILIES.get(data[off + NLMSGHDR.size], str(data[off + NLMSGHDR.size]))
    fields: dict[int, memoryview] = {}
    for kind, payload in attributes(data, off + NLMSGHDR.size + 4, off + length):
        fields.setdefault(kind, payload)

    def be32(kind: int) -> int:
        v = fields.get(kind)
        return int(struct.unpack_from(">I", v)[0]) if v is not None else 0

    verdict = target = policy = ""
    if NFTA_TRACE_VERDICT in fields:
        for kind, payload in attributes(
            fields[NFTA_TRACE_VERDICT], 0, len(fields[NFTA_TRACE_VERDICT])
        ):
            if kind == NFTA_VERDICT_CODE:
                verdict = verdict_name(struct.unpack_from(">i", payload)[0])
            elif kind == NFTA_VERDICT_CHAIN:
                target = attr_str(payload)
    if NFTA_TRACE_POLICY in fields:
        policy = verdict_name(struct.unpack_from(">i", fields[NFTA_TRACE_POLICY])[0])
    handle = None
    if NFTA_TRACE_RULE_HANDLE in fields:
        handle = int(struct.unpack_from(">Q", fields[NFTA_TRACE_RULE_HANDLE])[0])
    net = fields.get(NFTA_TRACE_NETWORK_HEADER)
    trans = fields.get(NFTA_TRACE_TRANSPORT_HEADER)
    hdr = (
        header(bytes(net), bytes(trans) if trans is not None else None) if net is not None else None
    )
    return TraceEvent(
        id=be32(NFTA_TRACE_ID),
        kind=KINDS.get(be32(NFTA_TRACE_TYPE), "?"),
        family=family,
        table=attr_str(fields[NFTA_TRACE_TABLE]) if NFTA_TRACE_TABLE in fields else "",
        chain=attr_str(fields[NFTA_TRACE_CHAIN]) if NFTA_TRACE_CHAIN in fields else "",
        handle=handle,
        verdict=verdict,
        target=target,
        policy=policy,
        header=hdr,
        iif=be32(NFTA_TRACE_IIF),
        oif=be32(_OIF),
        mark=be32(NFTA_TRACE_MARK),
    )


def decode_datagram(data: bytes) -> Iterator[TraceEvent]:
    """Every trace event of one datagram read from the trace socket."""
    off = 0
    while off + NLMSGHDR.size <= len(data):
        length = NLMSGHDR.unpack_from(data, off)[0]
        if length < NLMSGHDR.size:
            return
        event = decode(data, off)
        if event is not None:
            yield event
        off += (length + 3) & ~3
