"""Our tracing table, written over nf_tables netlink (no ``nft`` program needed).

Why netlink and not ``nft -f -``: Debian's iptables package does not bring ``nft``, the observer
already speaks nf_tables netlink (nftables.py), and a table made over netlink can carry the
``owner`` flag (kernel 5.12+): the kernel removes it by itself when the socket that made it
closes, so even a SIGKILLed tracer leaves nothing behind. The table, in nft's words::

    table inet dockerscope_trace_<pid> {            # flags owner
        chain pre { type filter hook prerouting priority -350; policy accept;
                    <filter> meta nftrace set 1 }
        chain out { type filter hook output priority -350; policy accept;
                    <filter> meta nftrace set 1 }
    }

Priority -350 runs before raw (-300) and conntrack (-200), so the packet is marked before any
of Docker's chains sees it; the rules only set nftrace, so no verdict ever changes.
"""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Network

from dockerscope.kernel.netlink import NLMSGHDR
from dockerscope.kernel.netlink_constants import (
    NF_INET_LOCAL_OUT,
    NF_INET_PRE_ROUTING,
    NFNL_MSG_BATCH_BEGIN,
    NFNL_MSG_BATCH_END,
    NFNL_SUBSYS_NFTABLES,
    NFPROTO_INET,
    NFPROTO_IPV4,
    NFT_CMP_EQ,
    NFT_META_L4PROTO,
    NFT_META_NFPROTO,
    NFT_META_NFTRACE,
    NFT_MSG_DELTABLE,
    NFT_MSG_NEWCHAIN,
    NFT_MSG_NEWRULE,
    NFT_MSG_NEWTABLE,
    NFT_PAYLOAD_NETWORK_HEADER,
    NFT_PAYLOAD_TRANSPORT_HEADER,
    NFT_REG_1,
    NFT_TABLE_F_OWNER,
    NFTA_BITWISE_DREG,
    NFTA_BITWISE_LEN,
    NFTA_BITWISE_MASK,
    NFTA_BITWISE_SREG,
    NFTA_BITWISE_XOR,
    NFTA_CHAIN_HOOK,
    NFTA_CHAIN_NAME,
    NFTA_CHAIN_TABLE,
    NFTA_CHAIN_TYPE,
    NFTA_CMP_DATA,
    NFTA_CMP_OP,
    NFTA_CMP_SREG,
    NFTA_DATA_VALUE,
    NFTA_EXPR_DATA,
    NFTA_EXPR_NAME,
    NFTA_HOOK_HOOKNUM,
    NFTA_HOOK_PRIORITY,
    NFTA_IMMEDIATE_DATA,
    NFTA_IMMEDIATE_DREG,
    NFTA_LIST_ELEM,
    NFTA_META_DREG,
    NFTA_META_KEY,
    NFTA_META_SREG,
    NFTA_PAYLOAD_BASE,
    NFTA_PAYLOAD_DREG,
    NFTA_PAYLOAD_LEN,
    NFTA_PAYLOAD_OFFSET,
    NFTA_RULE_CHAIN,
    NFTA_RULE_EXPRESSIONS,
    NFTA_RULE_TABLE,
    NFTA_TABLE_FLAGS,
    NFTA_TABLE_NAME,
    NLA_F_NESTED,
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_REQUEST,
    NLMSG_ERROR,
)
from dockerscope.kernel.trace.filters import Filter, Match

PREFIX = "dockerscope_trace"
PRIORITY = -350
#: (chain name, hook) of our base chains: the first hooks a packet meets, arriving or sent
CHAINS = (("pre", NF_INET_PRE_ROUTING), ("out", NF_INET_LOCAL_OUT))


class NftError(OSError):
    """The kernel refused part of a transaction (the errno says why)."""


def table_name(pid: int) -> str:
    """Our table's name carries our pid, so a later trace can tell a dead tracer's table."""
    return f"{PREFIX}_{pid}"


def _attr(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _nest(kind: int, *parts: bytes) -> bytes:
    return _attr(kind | NLA_F_NESTED, b"".join(parts))


def _str(kind: int, text: str) -> bytes:
    return _attr(kind, text.encode() + b"\0")


def _be32(kind: int, value: int) -> bytes:
    return _attr(kind, struct.pack(">i" if value < 0 else ">I", value))


def _expr(name: str, *parts: bytes) -> bytes:
    return _nest(NFTA_LIST_ELEM, _str(NFTA_EXPR_NAME, name), _nest(NFTA_EXPR_DATA, *parts))


def _data(kind: int, value: bytes) -> bytes:
    return _nest(kind, _attr(NFTA_DATA_VALUE, value))


def _meta_load(key: int) -> bytes:
    return _expr("meta", _be32(NFTA_META_KEY, key), _be32(NFTA_META_DREG, NFT_REG_1))


def _payload(base: int, offset: int, length: int) -> bytes:
    return _expr(
        "payload",
        _be32(NFTA_PAYLOAD_DREG, NFT_REG_1),
        _be32(NFTA_PAYLOAD_BASE, base),
        _be32(NFTA_PAYLOAD_OFFSET, offset),
        _be32(NFTA_PAYLOAD_LEN, length),
    )


def _cmp_eq(value: bytes) -> bytes:
    return _expr(
        "cmp",
        _be32(NFTA_CMP_SREG, NFT_REG_1),
        _be32(NFTA_CMP_OP, NFT_CMP_EQ),
        _data(NFTA_CMP_DATA, value),
    )


def _mask(length: int, mask: bytes) -> bytes:
    return _expr(
        "bitwise",
        _be32(NFTA_BITWISE_SREG, NFT_REG_1),
        _be32(NFTA_BITWISE_DREG, NFT_REG_1),
        _be32(NFTA_BITWISE_LEN, length),
        _data(NFTA_BITWISE_MASK, mask),
        _data(NFTA_BITWISE_XOR, b"\0" * length),
    )


def match_expressions(m: Match) -> bytes:
    """The expressions of one comparison (load into register 1, maybe mask, compare)."""
    if m.field == "l4proto":
        return _meta_load(NFT_META_L4PROTO) + _cmp_eq(bytes([int(m.value)]))  # type: ignore[arg-type]
    if m.field in ("saddr", "daddr"):
        net = m.value
        assert isinstance(net, IPv4Network)
        out = _payload(NFT_PAYLOAD_NETWORK_HEADER, 12 if m.field == "saddr" else 16, 4)
        if net.prefixlen < 32:
            out += _mask(4, net.netmask.packed)
        return out + _cmp_eq(net.network_address.packed)
    if m.field in ("sport", "dport"):
        offset = 0 if m.field == "sport" else 2
        return _payload(NFT_PAYLOAD_TRANSPORT_HEADER, offset, 2) + _cmp_eq(
            struct.pack(">H", int(m.value))  # type: ignore[arg-type]
        )
    raise ValueError(f"unknown match field {m.field}")


def rule_expressions(alt: tuple[Match, ...]) -> bytes:
    """``meta nfproto ipv4 <matches> meta nftrace set 1`` as an NFTA_RULE_EXPRESSIONS list."""
    parts = [_meta_load(NFT_META_NFPROTO), _cmp_eq(bytes([NFPROTO_IPV4]))]
    parts += [match_expressions(m) for m in alt]
    parts.append(
        _expr("immediate", _be32(NFTA_IMMEDIATE_DREG, NFT_REG_1), _data(NFTA_IMMEDIATE_DATA, b"\1"))
    )
    parts.append(
        _expr("meta", _be32(NFTA_META_KEY, NFT_META_NFTRACE), _be32(NFTA_META_SREG, NFT_REG_1))
    )
    return _nest(NFTA_RULE_EXPRESSIONS, *parts)


def _message(mtype: int, flags: int, seq: int, family: int, body: bytes, res_id: int = 0) -> bytes:
    payload = struct.pack("=BBH", family, 0, socket.htons(res_id)) + body
    return NLMSGHDR.pack(NLMSGHDR.size + len(payload), mtype, flags, seq, 0) + payload


def _nft(msg: int) -> int:
    return (NFNL_SUBSYS_NFTABLES << 8) | msg


def batch(messages: list[tuple[int, int, bytes]], seq: int) -> tuple[bytes, list[int]]:
    """A transaction: begin, each (type, flags, body) with an ACK asked for, end.

    Returns the bytes and the sequence numbers that will be acknowledged.
    """
    out = [_message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, 0, b"", NFNL_SUBSYS_NFTABLES)]
    acked = []
    for i, (mtype, flags, body) in enumerate(messages, 1):
        acked.append(seq + i)
        out.append(
            _message(_nft(mtype), NLM_F_REQUEST | NLM_F_ACK | flags, seq + i, NFPROTO_INET, body)
        )
    end = seq + len(messages) + 1
    out.append(_message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, end, 0, b"", NFNL_SUBSYS_NFTABLES))
    return b"".join(out), acked


def add_table_messages(name: str, flt: Filter, owner: bool = True) -> list[tuple[int, int, bytes]]:
    """The messages that make our table, its two base chains and one rule per alternative."""
    table = _str(NFTA_TABLE_NAME, name)
    if owner:
        table += _be32(NFTA_TABLE_FLAGS, NFT_TABLE_F_OWNER)
    msgs = [(NFT_MSG_NEWTABLE, NLM_F_CREATE, table)]
    for chain, hook in CHAINS:
        hookspec = _nest(
            NFTA_CHAIN_HOOK, _be32(NFTA_HOOK_HOOKNUM, hook), _be32(NFTA_HOOK_PRIORITY, PRIORITY)
        )
        body = (
            _str(NFTA_CHAIN_TABLE, name)
            + _str(NFTA_CHAIN_NAME, chain)
            + hookspec
            + _str(NFTA_CHAIN_TYPE, "filter")
        )
        msgs.append((NFT_MSG_NEWCHAIN, NLM_F_CREATE, body))
        for alt in flt.alternatives:
            body = _str(NFTA_RULE_TABLE, name) + _str(NFTA_RULE_CHAIN, chain)
            msgs.append((NFT_MSG_NEWRULE, NLM_F_CREATE, body + rule_expressions(alt)))
    return msgs


def delete_table_messages(name: str) -> list[tuple[int, int, bytes]]:
    """The message that removes a table of ours (its chains and rules go with it)."""
    return [(NFT_MSG_DELTABLE, 0, _str(NFTA_TABLE_NAME, name))]


def commit(sock: socket.socket, messages: list[tuple[int, int, bytes]], seq: int = 1) -> None:
    """Send one transaction and wait for every acknowledgement; NftError on a refusal."""
    data, acked = batch(messages, seq)
    waiting = set(acked)
    old = sock.gettimeout()
    sock.settimeout(5)
    try:
        sock.send(data)
        while waiting:
            reply = sock.recv(1 << 16)
            off = 0
            while off + NLMSGHDR.size <= len(reply):
                length, rtype, _flags, rseq, _pid = NLMSGHDR.unpack_from(reply, off)
                if length < NLMSGHDR.size:
                    break
                if rtype == NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", reply, off + NLMSGHDR.size)
                    if err:
                        what = _describe(messages, rseq - seq)
                        raise NftError(-err, f"nf_tables refused {what}: {_strerror(-err)}")
                    waiting.discard(rseq)
                off += (length + 3) & ~3
    finally:
        sock.settimeout(old)


def _describe(messages: list[tuple[int, int, bytes]], index: int) -> str:
    names = {NFT_MSG_NEWTABLE: "the table", NFT_MSG_NEWCHAIN: "a chain", NFT_MSG_NEWRULE: "a rule"}
    names[NFT_MSG_DELTABLE] = "the table's removal"
    if 1 <= index <= len(messages):
        return names.get(messages[index - 1][0], "a message")
    return "the transaction"


def _strerror(err: int) -> str:
    import os

    return os.strerror(err)
