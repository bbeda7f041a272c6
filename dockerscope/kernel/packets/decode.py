"""Decode an Ethernet frame into a :class:`~records.Packet`, as far as its bytes allow.

A small hand-written decoder over ``struct``: measured against dpkt it is faster on the packets
a lab sees (see docs/packets.md) and it never raises. Each layer checks its length before
reading; a header cut short sets ``truncated``, a header that makes no sense sets ``error``,
and the layers decoded before that are kept.
"""

from __future__ import annotations

import socket
import struct

from dockerscope.kernel.packets.records import (
    Arp,
    Dns,
    DnsRecord,
    Ethernet,
    Icmp,
    Ip,
    Packet,
    Tcp,
    Udp,
)

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
VLAN_TPIDS = (0x8100, 0x88A8)
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6 = 1, 6, 17, 58
#: IPv6 extension headers we step over to reach the transport header.
IPV6_EXTENSIONS = (0, 43, 60)
IPV6_FRAGMENT = 44
DNS_PORTS = (53, 5353)

_eth = struct.Struct("!6s6sH")
_u16 = struct.Struct("!H")
_ipv4 = struct.Struct("!BBHHHBBH4s4s")
_ipv6 = struct.Struct("!IHBB16s16s")
_tcp = struct.Struct("!HHIIBBH")
_udp = struct.Struct("!HHH")
_arp = struct.Struct("!HHBBH6s4s6s4s")
_icmp = struct.Struct("!BBHHH")
_dns = struct.Struct("!HHHHHH")

_inet_ntoa = socket.inet_ntoa


def mac_text(raw: bytes) -> str:
    """``aa:bb:cc:dd:ee:ff``."""
    return raw.hex(":")


def _ip6_text(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, raw)


class _Layers:
    """The fields of a Packet being filled in, layer by layer (a Packet is frozen)."""

    __slots__ = ("ether", "arp", "ip", "icmp", "tcp", "udp", "dns", "truncated", "error")

    def __init__(self) -> None:
        self.ether: Ethernet | None = None
        self.arp: Arp | None = None
        self.ip: Ip | None = None
        self.icmp: Icmp | None = None
        self.tcp: Tcp | None = None
        self.udp: Udp | None = None
        self.dns: Dns | None = None
        self.truncated = False
        self.error = ""


def decode(
    data: bytes,
    *,
    time: float = 0.0,
    netns: str = "",
    interface: str = "",
    pkttype: int = 0,
    length: int | None = None,
    vlan: int | None = None,
) -> Packet:
    """Decode ``data`` (an Ethernet frame, maybe cut short) seen at ``netns``/``interface``.

    ``length`` is the frame's length on the wire (default: ``len(data)``); ``vlan`` a VLAN id the
    kernel took out of the frame (PACKET_AUXDATA) and that the frame itself no longer shows.
    """
    out = _Layers()
    try:
        _ethernet(data, out, vlan)
    except (struct.error, ValueError, IndexError) as exc:  # a guard missed: still no raise
        out.error = out.error or f"malformed: {exc}"
    return Packet(
        time=time,
        netns=netns,
        interface=interface,
        pkttype=pkttype,
        length=len(data) if length is None else length,
        caplen=len(data),
        data=data,
        ether=out.ether,
        arp=out.arp,
        ip=out.ip,
        icmp=out.icmp,
        tcp=out.tcp,
        udp=out.udp,
        dns=out.dns,
        truncated=out.truncated,
        error=out.error,
    )


def _ethernet(data: bytes, out: _Layers, vlan: int | None) -> None:
    if len(data) < 14:
        out.truncated = True
        return
    dst, src, ethertype = _eth.unpack_from(data)
    off = 14
    while ethertype in VLAN_TPIDS:
        if len(data) < off + 4:
            out.ether = Ethernet(mac_text(src), mac_text(dst), ethertype, vlan)
            out.truncated = True
            return
        tci, ethertype = struct.unpack_from("!HH", data, off)
        vlan = tci & 0x0FFF
        off += 4
    out.ether = Ethernet(mac_text(src), mac_text(dst), ethertype, vlan)
    if ethertype == ETH_P_IP:
        _ipv4_layer(data, off, out)
    elif ethertype == ETH_P_IPV6:
        _ipv6_layer(data, off, out)
    elif ethertype == ETH_P_ARP:
        _arp_layer(data, off, out)


def _arp_layer(data: bytes, off: int, out: _Layers) -> None:
    if len(data) < off + 8:
        out.truncated = True
        return
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", data, off)
    if (htype, ptype, hlen, plen) != (1, ETH_P_IP, 6, 4):
        out.error = f"ARP for hardware {htype} protocol {ptype:#06x} not decoded"
        return
    if len(data) < off + 28:
        out.truncated = True
        return
    _, _, _, _, _, sha, spa, tha, tpa = _arp.unpack_from(data, off)
    out.arp = Arp(op, mac_text(sha), _inet_ntoa(spa), mac_text(tha), _inet_ntoa(tpa))


def _ipv4_layer(data: bytes, off: int, out: _Layers) -> None:
    if len(data) < off + 20:
        out.truncated = True
        return
    vihl, _tos, total, ident, frag, ttl, proto, _sum, src, dst = _ipv4.unpack_from(data, off)
    if vihl >> 4 != 4:
        out.error = f"IPv4 header says version {vihl >> 4}"
        return
    ihl = (vihl & 0x0F) * 4
    if ihl < 20 or total < ihl:
        out.error = f"IPv4 header length {ihl}, total length {total}"
        return
    out.ip = Ip(4, _inet_ntoa(src), _inet_ntoa(dst), proto, ttl, ident, total, total - ihl)
    if len(data) < off + total:  # the capture holds less than the sender sent
        out.truncated = True
    if frag & 0x1FFF:  # a later fragment: no transport header in it
        return
    if len(data) < off + ihl:
        out.truncated = True
        return
    end = min(len(data), off + total)
    _transport(data, off + ihl, end, proto, 4, out)


def _ipv6_layer(data: bytes, off: int, out: _Layers) -> None:
    if len(data) < off + 40:
        out.truncated = True
        return
    vtf, plen, nxt, hops, src, dst = _ipv6.unpack_from(data, off)
    if vtf >> 28 != 6:
        out.error = f"IPv6 header says version {vtf >> 28}"
        return
    start = off + 40
    end = min(len(data), start + plen)
    if len(data) < start + plen:
        out.truncated = True
    pos = start
    while nxt in IPV6_EXTENSIONS or nxt == IPV6_FRAGMENT:
        if end < pos + 8:
            out.truncated = True
            nxt = -1
            break
        following, size = data[pos], data[pos + 1]
        if nxt == IPV6_FRAGMENT:
            if _u16.unpack_from(data, pos + 2)[0] & 0xFFF8:  # not the first fragment
                nxt = -1
                pos += 8
                break
            size = 0
        pos += (size + 1) * 8
        nxt = following
    payload = plen - (pos - start)
    out.ip = Ip(6, _ip6_text(src), _ip6_text(dst), max(nxt, 0), hops, 0, plen + 40, payload)
    if nxt < 0 or pos > end:
        return
    _transport(data, pos, end, nxt, 6, out)


def _transport(data: bytes, off: int, end: int, proto: int, version: int, out: _Layers) -> None:
    if proto == IPPROTO_TCP:
        _tcp_layer(data, off, end, out)
    elif proto == IPPROTO_UDP:
        _udp_layer(data, off, end, out)
    elif proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        _icmp_layer(data, off, end, 4 if proto == IPPROTO_ICMP else 6, out)


def _tcp_layer(data: bytes, off: int, end: int, out: _Layers) -> None:
    if end < off + 20:
        out.truncated = True
        return
    sport, dport, seq, ack, doff, flags, window = _tcp.unpack_from(data, off)
    hlen = (doff >> 4) * 4
    if hlen < 20:
        out.error = f"TCP data offset {hlen}"
        return
    assert out.ip is not None
    payload = out.ip.payload_length - hlen
    out.tcp = Tcp(sport, dport, seq, ack, flags, window, max(payload, 0))
    if payload < 0:
        out.error = f"TCP header ({hlen} bytes) longer than the IP payload"


def _udp_layer(data: bytes, off: int, end: int, out: _Layers) -> None:
    if end < off + 8:
        out.truncated = True
        return
    sport, dport, length = _udp.unpack_from(data, off)
    out.udp = Udp(sport, dport, length)
    if sport in DNS_PORTS or dport in DNS_PORTS:
        stop = min(end, off + length) if length >= 8 else end
        _dns_layer(data[off + 8 : stop], out)


def _icmp_layer(data: bytes, off: int, end: int, version: int, out: _Layers) -> None:
    if end < off + 4:
        out.truncated = True
        return
    kind, code = data[off], data[off + 1]
    echo = (8, 0) if version == 4 else (128, 129)
    ident = seq = None
    if kind in echo:
        if end < off + 8:
            out.truncated = True
        else:
            _, _, _, ident, seq = _icmp.unpack_from(data, off)
    out.icmp = Icmp(version, kind, code, ident, seq)


def _dns_layer(msg: bytes, out: _Layers) -> None:
    if len(msg) < 12:
        out.truncated = True
        return
    ident, flags, qd, an, _ns, _ar = _dns.unpack_from(msg)
    pos = 12
    questions: list[tuple[str, int]] = []
    answers: list[DnsRecord] = []
    try:
        for _ in range(qd):
            name, pos = _dns_name(msg, pos)
            if len(msg) < pos + 4:
                raise _Short
            questions.append((name, _u16.unpack_from(msg, pos)[0]))
            pos += 4
        for _ in range(an):
            name, pos = _dns_name(msg, pos)
            if len(msg) < pos + 10:
                raise _Short
            rtype, _cls, _ttl, rdlen = struct.unpack_from("!HHIH", msg, pos)
            pos += 10
            if len(msg) < pos + rdlen:
                raise _Short
            answers.append(DnsRecord(name, rtype, _rdata(msg, pos, rtype, rdlen)))
            pos += rdlen
    except _Short:
        out.truncated = True
    except _Bad as exc:
        out.error = f"DNS: {exc}"
    out.dns = Dns(ident, bool(flags & 0x8000), flags & 0x0F, tuple(questions), tuple(answers))


class _Short(Exception):
    """The DNS message ended inside a name or record."""


class _Bad(Exception):
    """A DNS name that cannot be read (a pointer loop, a reserved label type)."""


def _dns_name(msg: bytes, pos: int) -> tuple[str, int]:
    """Read a possibly compressed name at ``pos``; returns it and the position after it."""
    labels: list[str] = []
    after = -1
    jumps = 0
    while True:
        if pos >= len(msg):
            raise _Short
        n = msg[pos]
        if n == 0:
            pos += 1
            break
        if n & 0xC0 == 0xC0:
            if pos + 1 >= len(msg):
                raise _Short
            jumps += 1
            if jumps > 32:  # a pointer loop
                raise _Bad("name pointers loop")
            if after < 0:
                after = pos + 2
            pos = ((n & 0x3F) << 8) | msg[pos + 1]
            continue
        if n & 0xC0:
            raise _Bad(f"label type {n >> 6}")
        if pos + 1 + n > len(msg):
            raise _Short
        labels.append(msg[pos + 1 : pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    return (".".join(labels) or "."), (after if after >= 0 else pos)


def _rdata(msg: bytes, pos: int, rtype: int, rdlen: int) -> str:
    raw = msg[pos : pos + rdlen]
    if rtype == 1 and rdlen == 4:
        return _inet_ntoa(raw)
    if rtype == 28 and rdlen == 16:
        return _ip6_text(raw)
    if rtype in (2, 5, 12):  # NS, CNAME, PTR: a name
        try:
            return _dns_name(msg, pos)[0]
        except (_Short, _Bad):
            return raw.hex()
    return raw.hex()
