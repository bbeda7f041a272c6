"""What one captured packet decodes to: frozen dataclasses, one per protocol layer.

A :class:`Packet` carries where and when it was seen (netns, interface, direction, time) and
each layer the decoder understood; a layer it could not reach is ``None``. ``truncated`` says
the bytes ended before a header did (a short snap length or a cut frame), ``error`` names what
did not parse; neither ever raises.
"""

from __future__ import annotations

from dataclasses import dataclass

#: sll_pkttype values (linux/if_packet.h) as words.
PKTTYPE_WORDS = {0: "In", 1: "B", 2: "M", 3: "Other", 4: "Out"}
PACKET_OUTGOING = 4


@dataclass(frozen=True, slots=True)
class Ethernet:
    """An Ethernet header; ``vlan`` is the 802.1Q VLAN id when the frame carried a tag."""

    src: str
    dst: str
    ethertype: int
    vlan: int | None = None


@dataclass(frozen=True, slots=True)
class Arp:
    """An ARP request (``who-has``) or reply (``is-at``) for IPv4 over Ethernet."""

    op: int
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str

    @property
    def kind(self) -> str:
        """``who-has``, ``is-at`` or ``op N``."""
        return {1: "who-has", 2: "is-at"}.get(self.op, f"op {self.op}")


@dataclass(frozen=True, slots=True)
class Ip:
    """An IPv4 or IPv6 header. ``ident`` is IPv4's id (IPv6 has none: 0)."""

    version: int
    src: str
    dst: str
    proto: int
    ttl: int
    ident: int
    length: int  # total length from the header: what the sender meant, not what was captured
    payload_length: int


@dataclass(frozen=True, slots=True)
class Icmp:
    """An ICMP (version 4) or ICMPv6 (6) message: type and code, echo id/sequence if any."""

    version: int
    type: int
    code: int
    ident: int | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Tcp:
    """A TCP header; ``flags`` is the low byte of the flag field (FIN=1 ... CWR=0x80)."""

    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    payload_length: int

    @property
    def flag_letters(self) -> str:
        """Flags as tcpdump spells them: ``S``, ``S.``, ``P.``, ``F.``, ``R``, ``.``."""
        f = self.flags
        letters = ((2, "S"), (1, "F"), (8, "P"), (4, "R"), (32, "U"))
        out = "".join(c for bit, c in letters if f & bit)
        if f & 16:
            out += "."
        return out or "none"


@dataclass(frozen=True, slots=True)
class Udp:
    """A UDP header; ``length`` is from the header (8 + payload)."""

    sport: int
    dport: int
    length: int


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """One DNS answer: name, type number and its data as text (an address, a name or hex)."""

    name: str
    type: int
    data: str


@dataclass(frozen=True, slots=True)
class Dns:
    """A DNS message: its id, whether it is a response, the questions and the answers."""

    ident: int
    response: bool
    rcode: int
    questions: tuple[tuple[str, int], ...]  # (name, qtype)
    answers: tuple[DnsRecord, ...]


@dataclass(frozen=True, slots=True)
class Packet:
    """One packet as seen at one place: when, where, which way, and its decoded layers."""

    time: float
    netns: str
    interface: str
    pkttype: int  # sll_pkttype: 0 to us, 1 broadcast, 2 multicast, 3 other host, 4 outgoing
    length: int  # the frame's length on the wire
    caplen: int  # how much of it we hold
    data: bytes
    ether: Ethernet | None = None
    arp: Arp | None = None
    ip: Ip | None = None
    icmp: Icmp | None = None
    tcp: Tcp | None = None
    udp: Udp | None = None
    dns: Dns | None = None
    truncated: bool = False
    error: str = ""

    @property
    def outgoing(self) -> bool:
        """True when the interface sent it (PACKET_OUTGOING), false when it arrived there."""
        return self.pkttype == PACKET_OUTGOING

    @property
    def direction(self) -> str:
        """``Out`` for outgoing, ``In`` for anything received (like tcpdump's ``-i any``)."""
        return "Out" if self.pkttype == PACKET_OUTGOING else "In"
