"""The packet decoder on hand-built frames of every kind, cut at every byte, and on noise."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockerscope.kernel.packets import build as b
from dockerscope.kernel.packets import text
from dockerscope.kernel.packets.decode import decode
from dockerscope.kernel.packets.records import Packet

A, B = "02:42:ac:11:00:02", "02:42:ac:11:00:03"
IP_A, IP_B = "172.17.0.2", "172.17.0.3"
V6_A, V6_B = "fd00::2", "fd00::3"


def tcp_frame(flags: int = 0x02, payload: bytes = b"", vlan: int | None = None) -> bytes:
    seg = b.tcp(IP_A, IP_B, 43512, 80, 1000, 2000 if flags & 16 else 0, flags, payload)
    return b.ethernet(A, B, 0x0800, b.ipv4(IP_A, IP_B, 6, seg, ident=777), vlan=vlan)


FRAMES: dict[str, bytes] = {
    "tcp_syn": tcp_frame(),
    "tcp_push": tcp_frame(0x18, b"GET / HTTP/1.0\r\n\r\n"),
    "tcp_vlan": tcp_frame(vlan=42),
    "udp": b.ethernet(A, B, 0x0800, b.ipv4(IP_A, IP_B, 17, b.udp(IP_A, IP_B, 4000, 9999, b"hi"))),
    "dns_query": b.ethernet(
        A,
        B,
        0x0800,
        b.ipv4(IP_A, IP_B, 17, b.udp(IP_A, IP_B, 40000, 53, b.dns_query(7, "web.test"))),
    ),
    "dns_answer": b.ethernet(
        B,
        A,
        0x0800,
        b.ipv4(
            IP_B, IP_A, 17, b.udp(IP_B, IP_A, 53, 40000, b.dns_answer(7, "web.test", "10.0.0.9"))
        ),
    ),
    "icmp": b.ethernet(A, B, 0x0800, b.ipv4(IP_A, IP_B, 1, b.icmp_echo(5, 1))),
    "arp_request": b.ethernet(A, b.BROADCAST, 0x0806, b.arp(1, A, IP_A, "00:00:00:00:00:00", IP_B)),
    "arp_reply": b.ethernet(B, A, 0x0806, b.arp(2, B, IP_B, A, IP_A)),
    "ipv6_tcp": b.ethernet(
        A, B, 0x86DD, b.ipv6(V6_A, V6_B, 6, b.tcp(V6_A, V6_B, 5555, 443, 9, flags=0x02))
    ),
    "icmp6": b.ethernet(A, B, 0x86DD, b.ipv6(V6_A, V6_B, 58, b.icmp6_echo(V6_A, V6_B, 3, 4))),
}


def test_tcp_syn() -> None:
    p = decode(FRAMES["tcp_syn"], time=1.5, netns="lab", interface="eth0", pkttype=4)
    assert p.ether is not None and p.ether.src == A and p.ether.dst == B
    assert p.ether.ethertype == 0x0800 and p.ether.vlan is None
    assert p.ip is not None and (p.ip.src, p.ip.dst, p.ip.ident, p.ip.version) == (
        IP_A,
        IP_B,
        777,
        4,
    )
    assert p.tcp is not None and (p.tcp.sport, p.tcp.dport, p.tcp.seq) == (43512, 80, 1000)
    assert p.tcp.flag_letters == "S" and p.tcp.payload_length == 0
    assert p.outgoing and p.direction == "Out"
    assert not p.truncated and not p.error
    assert p.length == p.caplen == len(FRAMES["tcp_syn"])


def test_tcp_payload_and_flags() -> None:
    p = decode(FRAMES["tcp_push"])
    assert p.tcp is not None and p.tcp.flag_letters == "P." and p.tcp.ack == 2000
    assert p.tcp.payload_length == len(b"GET / HTTP/1.0\r\n\r\n")
    assert p.direction == "In"


def test_vlan_tag_in_frame_and_from_the_kernel() -> None:
    p = decode(FRAMES["tcp_vlan"])
    assert p.ether is not None and p.ether.vlan == 42 and p.ether.ethertype == 0x0800
    assert p.tcp is not None and p.tcp.dport == 80
    q = decode(FRAMES["tcp_syn"], vlan=7)  # tag stripped by the kernel, given as auxdata
    assert q.ether is not None and q.ether.vlan == 7


def test_udp_and_dns() -> None:
    p = decode(FRAMES["udp"])
    assert p.udp is not None and (p.udp.sport, p.udp.dport, p.udp.length) == (4000, 9999, 10)
    assert p.dns is None
    q = decode(FRAMES["dns_query"])
    assert q.dns is not None and not q.dns.response and q.dns.questions == (("web.test", 1),)
    r = decode(FRAMES["dns_answer"])
    assert r.dns is not None and r.dns.response and r.dns.ident == 7
    assert [(a.name, a.type, a.data) for a in r.dns.answers] == [("web.test", 1, "10.0.0.9")]
    assert "DNS answer 7 A? web.test: A 10.0.0.9" in text.summary(r)


def test_icmp_and_icmp6() -> None:
    p = decode(FRAMES["icmp"])
    assert p.icmp is not None and (p.icmp.version, p.icmp.type, p.icmp.ident, p.icmp.seq) == (
        4,
        8,
        5,
        1,
    )
    q = decode(FRAMES["icmp6"])
    assert q.ip is not None and q.ip.version == 6 and q.ip.src == V6_A
    assert q.icmp is not None and (q.icmp.version, q.icmp.type, q.icmp.seq) == (6, 128, 4)
    assert "ICMP6 echo request id 3 seq 4" in text.summary(q)


def test_arp() -> None:
    p = decode(FRAMES["arp_request"])
    assert p.arp is not None and p.arp.kind == "who-has"
    assert (p.arp.sender_ip, p.arp.target_ip, p.arp.sender_mac) == (IP_A, IP_B, A)
    assert text.summary(p) == f"ARP who-has {IP_B} tell {IP_A} ({A})"
    r = decode(FRAMES["arp_reply"])
    assert r.arp is not None and r.arp.kind == "is-at"
    assert text.summary(r) == f"ARP {IP_B} is-at {B} (to {IP_A})"


def test_ipv6_tcp() -> None:
    p = decode(FRAMES["ipv6_tcp"])
    assert p.ip is not None and (p.ip.version, p.ip.dst, p.ip.proto) == (6, V6_B, 6)
    assert p.tcp is not None and p.tcp.dport == 443
    assert text.summary(p).startswith(f"IP6 {V6_A}.5555 > {V6_B}.443: TCP [S] seq 9")


def test_one_line_like_tcpdump() -> None:
    p = decode(FRAMES["tcp_syn"], time=0.25, interface="veth1a2b3c4", pkttype=4)
    line = text.line(p)
    assert line.endswith(
        f"veth1a2b3c4 Out IP {IP_A}.43512 > {IP_B}.80: TCP [S] seq 1000 win 64240 len 0"
    )
    assert line[8:15] == ".250000"


@pytest.mark.parametrize("kind", sorted(FRAMES))
def test_cut_at_every_byte_never_raises_and_says_so(kind: str) -> None:
    frame = FRAMES[kind]
    whole = decode(frame)
    assert not whole.truncated and not whole.error
    for cut in range(len(frame)):
        p = decode(frame[:cut], length=len(frame))
        assert isinstance(p, Packet)
        assert p.truncated or p.error, (kind, cut)
        assert p.caplen == cut and p.length == len(frame)
        text.line(p)  # printing a cut packet never raises either
        # Whatever was decoded agrees with the whole frame.
        if p.ip is not None:
            assert p.ip == whole.ip
        if p.tcp is not None:
            assert p.tcp == whole.tcp


def test_malformed_headers_say_what() -> None:
    frame = bytearray(FRAMES["tcp_syn"])
    frame[14] = 0x41  # IPv4 with a 4-byte header
    p = decode(bytes(frame))
    assert p.ip is None and "IPv4 header length 4" in p.error
    frame = bytearray(FRAMES["tcp_syn"])
    frame[14 + 20 + 12] = 0x10  # TCP data offset 4 bytes
    assert "TCP data offset 4" in decode(bytes(frame)).error
    loop = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c" + b"\0\1\0\1"
    dns = b.ethernet(A, B, 0x0800, b.ipv4(IP_A, IP_B, 17, b.udp(IP_A, IP_B, 1, 53, loop)))
    p = decode(dns)
    assert "name pointers loop" in p.error and p.udp is not None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data: bytes) -> None:
    text.line(decode(data))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(FRAMES)), st.data())
def test_random_corruption_of_real_frames_never_raises(kind: str, data: st.DataObject) -> None:
    frame = bytearray(FRAMES[kind])
    for _ in range(data.draw(st.integers(1, 6))):
        frame[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
    text.line(decode(bytes(frame)))


def test_seeded_noise_after_headers_never_raises() -> None:
    rng = random.Random(11)
    for _ in range(3000):
        head = rng.choice(list(FRAMES.values()))[: rng.randrange(14, 60)]
        text.line(decode(head + rng.randbytes(rng.randrange(0, 80))))
