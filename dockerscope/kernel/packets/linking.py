"""Tie together the same packet seen at several places, and say what changed on the way.

A packet crossing a veth shows up on both ends unchanged; one leaving a lab through docker0
and the uplink shows up twice with its source rewritten by MASQUERADE (and its reply with the
destination rewritten back). What NAT leaves alone identifies it: the IPv4 id, the protocol,
the payload length, and the TCP sequence/ack/flags, the UDP length, or the ICMP type and
sequence. Addresses and ports are left out of that fingerprint because NAT changes them; they
are compared afterwards to describe the rewrite.

Pure: no sockets, no clock; packets come in time order and are forgotten after ``window``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from dockerscope.kernel.packets.records import Packet

Fingerprint = tuple[object, ...]


def fingerprint(p: Packet) -> Fingerprint | None:
    """What stays the same for this packet at every place it passes (None: cannot tell)."""
    if p.arp is not None:
        a = p.arp
        return ("arp", a.op, a.sender_mac, a.sender_ip, a.target_ip)
    ip = p.ip
    if ip is None:
        return None
    if p.tcp is not None:
        t = p.tcp
        return (ip.version, 6, ip.ident, ip.payload_length, t.seq, t.ack, t.flags)
    if p.udp is not None:
        return (ip.version, 17, ip.ident, ip.payload_length, p.udp.length)
    if p.icmp is not None:
        i = p.icmp
        return (ip.version, ip.proto, ip.ident, ip.payload_length, i.type, i.code, i.seq)
    if ip.version == 4:
        return (4, ip.proto, ip.ident, ip.payload_length)
    return None


def place(p: Packet) -> tuple[str, str, str]:
    """Where a packet was seen: netns, interface and direction."""
    return (p.netns, p.interface, p.direction)


def _endpoints(p: Packet) -> tuple[str, str]:
    """Source and destination as ``addr.port`` (``addr`` without ports)."""
    assert p.ip is not None
    ports = p.tcp or p.udp
    if ports is None:
        return p.ip.src, p.ip.dst
    return f"{p.ip.src}.{ports.sport}", f"{p.ip.dst}.{ports.dport}"


@dataclass(frozen=True)
class Rewrite:
    """One address (and port) changed between two sightings: which side, before and after."""

    side: str  # "source" or "destination"
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.side} {self.before} -> {self.after}"


@dataclass(frozen=True)
class Link:
    """``later`` is ``earlier`` seen again at another place, with what was rewritten between."""

    earlier: Packet
    later: Packet
    rewrites: tuple[Rewrite, ...]

    @property
    def rewritten(self) -> bool:
        """True when NAT (or anything) changed an address or port on the way."""
        return bool(self.rewrites)

    def describe(self) -> str:
        """``same packet as on docker0 (In); source 172.17.0.2.43512 -> 100.64.0.2.43512``."""
        where = f"{self.earlier.netns}/{self.earlier.interface} ({self.earlier.direction})"
        changes = "; ".join(str(r) for r in self.rewrites)
        return f"same packet as on {where}" + (f"; {changes}" if changes else "")


def rewrites(a: Packet, b: Packet) -> tuple[Rewrite, ...]:
    """Which endpoints differ between two sightings of one packet."""
    if a.ip is None or b.ip is None:
        return ()
    (asrc, adst), (bsrc, bdst) = _endpoints(a), _endpoints(b)
    out = []
    if asrc != bsrc:
        out.append(Rewrite("source", asrc, bsrc))
    if adst != bdst:
        out.append(Rewrite("destination", adst, bdst))
    return tuple(out)


class Linker:
    """Feed packets in time order; :meth:`add` says when one was already seen elsewhere."""

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._seen: dict[Fingerprint, list[Packet]] = {}
        self._order: deque[tuple[float, Fingerprint]] = deque()

    def add(self, p: Packet) -> Link | None:
        """Remember ``p``; return a link to its first sighting at another place, if any."""
        self._forget_before(p.time - self.window)
        key = fingerprint(p)
        if key is None:
            return None
        earlier = self._seen.setdefault(key, [])
        link = None
        here = place(p)
        for e in earlier:
            if place(e) != here:
                link = Link(e, p, rewrites(e, p))
                break
        earlier.append(p)
        self._order.append((p.time, key))
        return link

    def _forget_before(self, limit: float) -> None:
        order, seen = self._order, self._seen
        while order and order[0][0] < limit:
            _, key = order.popleft()
            sightings = seen.get(key)
            if sightings:
                sightings.pop(0)
                if not sightings:
                    del seen[key]


def link_all(packets: list[Packet], window: float = 1.0) -> list[Link]:
    """Every link among ``packets`` (sorted by time first)."""
    linker = Linker(window)
    return [link for link in (linker.add(p) for p in sorted(packets, key=lambda p: p.time)) if link]
