"""One packet on one line, in the spirit of tcpdump's output (in our own words where it differs).

``12:00:01.123456 veth1a2b3c4 Out IP 172.17.0.2.43512 > 172.17.0.3.80: TCP [S] seq 1
...`` (the flags in brackets, then seq, ack, window and payload length)
"""

from __future__ import annotations

import time as _time

from dockerscope.kernel.packets.records import Packet

ICMP_WORDS = {
    4: {0: "echo reply", 3: "unreachable", 5: "redirect", 8: "echo request", 11: "time exceeded"},
    6: {
        1: "unreachable",
        2: "packet too big",
        3: "time exceeded",
        128: "echo request",
        129: "echo reply",
        133: "router solicitation",
        134: "router advertisement",
        135: "neighbor solicitation",
        136: "neighbor advertisement",
    },
}
DNS_TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA"}


def clock(t: float) -> str:
    """``HH:MM:SS.micro`` in local time, as tcpdump prints it."""
    whole = int(t)
    micro = int(round((t - whole) * 1e6))
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    return _time.strftime("%H:%M:%S", _time.localtime(whole)) + f".{micro:06d}"


def _endpoint(addr: str, port: int | None, version: int) -> str:
    if port is None:
        return addr
    return f"{addr}.{port}"


def summary(p: Packet) -> str:
    """What the packet is, without when and where: ``IP a.1 > b.2: TCP [S] seq 1 ...``."""
    body = _body(p)
    if p.error:
        body += f" [{p.error}]"
    if p.truncated:
        body += " [truncated]"
    return body


def _body(p: Packet) -> str:
    if p.arp is not None:
        a = p.arp
        if a.op == 1:
            return f"ARP who-has {a.target_ip} tell {a.sender_ip} ({a.sender_mac})"
        if a.op == 2:
            return f"ARP {a.sender_ip} is-at {a.sender_mac} (to {a.target_ip})"
        return f"ARP {a.kind} {a.sender_ip} > {a.target_ip}"
    ip = p.ip
    if ip is None:
        if p.ether is None:
            return f"frame of {p.caplen} bytes"
        e = p.ether
        vlan = f" vlan {e.vlan}" if e.vlan is not None else ""
        return f"{e.src} > {e.dst}{vlan} ethertype {e.ethertype:#06x} length {p.length}"
    word = "IP" if ip.version == 4 else "IP6"
    sport = dport = None
    if p.tcp is not None:
        sport, dport = p.tcp.sport, p.tcp.dport
    elif p.udp is not None:
        sport, dport = p.udp.sport, p.udp.dport
    head = (
        f"{word} {_endpoint(ip.src, sport, ip.version)} > {_endpoint(ip.dst, dport, ip.version)}:"
    )
    return f"{head} {_transport(p)}"


def _transport(p: Packet) -> str:
    assert p.ip is not None
    if p.tcp is not None:
        t = p.tcp
        ack = f" ack {t.ack}" if t.flags & 16 else ""
        return f"TCP [{t.flag_letters}] seq {t.seq}{ack} win {t.window} len {t.payload_length}"
    if p.dns is not None:
        return _dns(p)
    if p.udp is not None:
        return f"UDP len {max(p.udp.length - 8, 0)}"
    if p.icmp is not None:
        i = p.icmp
        word = ICMP_WORDS.get(i.version, {}).get(i.type, f"type {i.type} code {i.code}")
        echo = f" id {i.ident} seq {i.seq}" if i.ident is not None else ""
        return f"ICMP{'6' if i.version == 6 else ''} {word}{echo} len {p.ip.payload_length}"
    return f"protocol {p.ip.proto} len {p.ip.payload_length}"


def _dns(p: Packet) -> str:
    d = p.dns
    assert d is not None
    qs = " ".join(f"{DNS_TYPES.get(t, t)}? {n}" for n, t in d.questions)
    if not d.response:
        return f"DNS query {d.ident} {qs}".rstrip()
    answers = ", ".join(f"{DNS_TYPES.get(a.type, a.type)} {a.data}" for a in d.answers)
    rcode = f" rcode {d.rcode}" if d.rcode else ""
    return f"DNS answer {d.ident} {qs}{rcode}: {answers or 'none'}"


def line(p: Packet, *, netns: bool = False) -> str:
    """The packet on one line: time, [netns/]interface, In/Out, then :func:`summary`."""
    where = f"{p.netns}/{p.interface}" if netns else p.interface
    return f"{clock(p.time)} {where} {p.direction} {summary(p)}"
