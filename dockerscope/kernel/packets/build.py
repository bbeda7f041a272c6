"""Build Ethernet frames by hand: for tests, benchmarks and floods sent on a test veth.

Checksums are computed (IPv4 header; TCP/UDP/ICMP over the pseudo-header) so the kernel and
tcpdump take the frames as real ones.
"""

from __future__ import annotations

import socket
import struct

BROADCAST = "ff:ff:ff:ff:ff:ff"


def mac(text: str) -> bytes:
    """``aa:bb:..`` to 6 bytes."""
    return bytes.fromhex(text.replace(":", ""))


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethernet(src: str, dst: str, ethertype: int, payload: bytes, vlan: int | None = None) -> bytes:
    """An Ethernet frame, 802.1Q-tagged when ``vlan`` is given."""
    head = mac(dst) + mac(src)
    if vlan is not None:
        head += struct.pack("!HH", 0x8100, vlan & 0x0FFF)
    return head + struct.pack("!H", ethertype) + payload


def arp(op: int, sender_mac: str, sender_ip: str, target_mac: str, target_ip: str) -> bytes:
    """An ARP payload for IPv4 over Ethernet (op 1 who-has, 2 is-at)."""
    return struct.pack(
        "!HHBBH6s4s6s4s",
        1,
        0x0800,
        6,
        4,
        op,
        mac(sender_mac),
        socket.inet_aton(sender_ip),
        mac(target_mac),
        socket.inet_aton(target_ip),
    )


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 1, ttl: int = 64) -> bytes:
    """An IPv4 packet (no options, DF set) around ``payload``."""
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        ident,
        0x4000,
        ttl,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    head = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
    return head + payload


def ipv6(src: str, dst: str, nxt: int, payload: bytes, hops: int = 64) -> bytes:
    """An IPv6 packet around ``payload``."""
    return (
        struct.pack("!IHBB", 6 << 28, len(payload), nxt, hops)
        + socket.inet_pton(socket.AF_INET6, src)
        + socket.inet_pton(socket.AF_INET6, dst)
        + payload
    )


def _pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    if ":" in src:
        return (
            socket.inet_pton(socket.AF_INET6, src)
            + socket.inet_pton(socket.AF_INET6, dst)
            + struct.pack("!IxxxB", length, proto)
        )
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!xBH", proto, length)


def tcp(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    seq: int,
    ack: int = 0,
    flags: int = 0x02,
    payload: bytes = b"",
    window: int = 64240,
) -> bytes:
    """A TCP segment (checksummed for ``src`` -> ``dst``); flags default to SYN."""
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0) + payload
    csum = checksum(_pseudo(src, dst, 6, len(seg)) + seg)
    return seg[:16] + struct.pack("!H", csum) + seg[18:]


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """A UDP datagram (checksummed)."""
    dgram = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    csum = checksum(_pseudo(src, dst, 17, len(dgram)) + dgram) or 0xFFFF
    return dgram[:6] + struct.pack("!H", csum) + dgram[8:]


def icmp_echo(ident: int, seq: int, reply: bool = False, payload: bytes = b"x" * 8) -> bytes:
    """An ICMP echo request (or reply)."""
    msg = struct.pack("!BBHHH", 0 if reply else 8, 0, 0, ident, seq) + payload
    return msg[:2] + struct.pack("!H", checksum(msg)) + msg[4:]


def icmp6_echo(src: str, dst: str, ident: int, seq: int, payload: bytes = b"x" * 8) -> bytes:
    """An ICMPv6 echo request."""
    msg = struct.pack("!BBHHH", 128, 0, 0, ident, seq) + payload
    csum = checksum(_pseudo(src, dst, 58, len(msg)) + msg)
    return msg[:2] + struct.pack("!H", csum) + msg[4:]


def dns_name(name: str) -> bytes:
    """A DNS name in labels, uncompressed."""
    return b"".join(bytes([len(part)]) + part.encode() for part in name.split(".") if part) + b"\0"


def dns_query(ident: int, name: str, qtype: int = 1) -> bytes:
    """A DNS query for ``name``."""
    return (
        struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
        + dns_name(name)
        + struct.pack("!HH", qtype, 1)
    )


def dns_answer(ident: int, name: str, address: str) -> bytes:
    """A DNS response with one A record; the answer's name is a pointer to the question's."""
    question = dns_name(name) + struct.pack("!HH", 1, 1)
    answer = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(address)
    return struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + answer
