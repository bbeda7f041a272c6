"""A fixed little story of packets in a lab, for tests and demos without root.

Container ``web`` (172.17.0.2) asks who has 172.17.0.3, pings it, then opens a TCP connection
to 100.64.0.1:8080 outside the lab. Each packet is seen where a real capture on docker0 and the
containers' veths would see it; the SYN is seen again on the uplink after MASQUERADE, so a
viewer folds it under the first sighting with the source rewritten. Times are fixed.
"""

from __future__ import annotations

from dockerscope.kernel.packets import build
from dockerscope.kernel.packets.decode import decode
from dockerscope.kernel.packets.records import Packet

#: Time of the first packet (2023-11-14 22:13:20 UTC), the same as the fake lab's frames.
T0 = 1_700_000_000.0
LAB = "demo"
WEB_MAC, DB_MAC, GW_MAC = "02:42:ac:11:00:02", "02:42:ac:11:00:03", "02:42:5e:1a:00:01"
UPLINK_MAC, OUT_MAC = "5a:10:00:00:00:02", "5a:10:00:00:00:01"
#: The interfaces the story happens on (as the Packets screen would capture them).
INTERFACES = ("docker0", "veth1a2b3c4", "veth5d6e7f8", "ds-uplink")
IN, OUT = 0, 4


def _seen(frame: bytes, at: float, *places: tuple[str, int]) -> list[Packet]:
    # The same frame a few microseconds apart at each place it crosses.
    return [
        decode(frame, time=at + i * 12e-6, netns=LAB, interface=name, pkttype=kind)
        for i, (name, kind) in enumerate(places)
    ]


def story() -> list[Packet]:
    """The packets, in time order."""
    out: list[Packet] = []
    who = build.ethernet(
        WEB_MAC,
        "ff:ff:ff:ff:ff:ff",
        0x0806,
        build.arp(1, WEB_MAC, "172.17.0.2", "00:00:00:00:00:00", "172.17.0.3"),
    )
    out += _seen(who, T0 + 0.001, ("veth1a2b3c4", IN), ("docker0", IN))
    isat = build.ethernet(
        DB_MAC, WEB_MAC, 0x0806, build.arp(2, DB_MAC, "172.17.0.3", WEB_MAC, "172.17.0.2")
    )
    out += _seen(isat, T0 + 0.002, ("veth5d6e7f8", IN))
    for seq in (1, 2):
        at = T0 + seq
        ping = build.ethernet(
            WEB_MAC,
            DB_MAC,
            0x0800,
            build.ipv4("172.17.0.2", "172.17.0.3", 1, build.icmp_echo(7, seq), ident=100 + seq),
        )
        out += _seen(ping, at, ("veth1a2b3c4", IN), ("docker0", IN))
        pong = build.ethernet(
            DB_MAC,
            WEB_MAC,
            0x0800,
            build.ipv4(
                "172.17.0.3", "172.17.0.2", 1, build.icmp_echo(7, seq, reply=True), ident=200 + seq
            ),
        )
        out += _seen(pong, at + 0.0003, ("veth5d6e7f8", IN), ("docker0", IN))
    syn = build.tcp("172.17.0.2", "100.64.0.1", 43512, 8080, seq=1)
    inside = build.ethernet(
        WEB_MAC, GW_MAC, 0x0800, build.ipv4("172.17.0.2", "100.64.0.1", 6, syn, ident=300)
    )
    out += _seen(inside, T0 + 3, ("veth1a2b3c4", IN), ("docker0", IN))
    outside_syn = build.tcp("100.64.0.2", "100.64.0.1", 43512, 8080, seq=1)
    outside = build.ethernet(
        UPLINK_MAC,
        OUT_MAC,
        0x0800,
        build.ipv4("100.64.0.2", "100.64.0.1", 6, outside_syn, ident=300),
    )
    out += _seen(outside, T0 + 3.0001, ("ds-uplink", OUT))
    return sorted(out, key=lambda p: p.time)
