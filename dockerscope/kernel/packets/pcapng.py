"""Write captured packets as pcapng, the file format tcpdump, tshark and Wireshark read.

One Section Header Block, then an Interface Description Block the first time each (netns,
interface) shows up (its name, and the netns in its description), then an Enhanced Packet Block
per packet with its timestamp (microseconds) and the direction in ``epb_flags``. All blocks in
this machine's byte order, which the Section Header's magic announces.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from dockerscope.kernel.packets.records import Packet

SHB, IDB, EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
LINKTYPE_ETHERNET = 1
OPT_END, OPT_COMMENT = 0, 1
SHB_USERAPPL = 4
IF_NAME, IF_DESCRIPTION = 2, 3
EPB_FLAGS = 2
#: epb_flags bits 0-1: direction (1 inbound, 2 outbound); bits 2-4: reception type.
INBOUND, OUTBOUND = 1, 2
RECEPTION = {0: 1, 1: 3, 2: 2, 3: 4}  # sll_pkttype -> unicast, broadcast, multicast, promiscuous


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("=HH", code, len(value)) + _pad(value)


def _options(opts: list[bytes]) -> bytes:
    return b"".join(opts) + struct.pack("=HH", OPT_END, 0) if opts else b""


def _block(kind: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("=II", kind, total) + body + struct.pack("=I", total)


def section_header(application: str = "dockerscope") -> bytes:
    """The Section Header Block (version 1.0, section length unknown)."""
    body = struct.pack("=IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)
    body += _options([_option(SHB_USERAPPL, application.encode())])
    return _block(SHB, body)


def interface_description(name: str, netns: str, snaplen: int = 262144) -> bytes:
    """An Interface Description Block for an Ethernet interface ``name`` in ``netns``."""
    body = struct.pack("=HHI", LINKTYPE_ETHERNET, 0, snaplen)
    body += _options(
        [_option(IF_NAME, name.encode()), _option(IF_DESCRIPTION, f"netns {netns}".encode())]
    )
    return _block(IDB, body)


def enhanced_packet(interface_id: int, packet: Packet) -> bytes:
    """An Enhanced Packet Block: timestamp in microseconds, lengths, data, direction flags."""
    micros = int(round(packet.time * 1e6))
    data = packet.data
    flags = OUTBOUND if packet.outgoing else INBOUND | (RECEPTION.get(packet.pkttype, 0) << 2)
    body = struct.pack(
        "=IIIII", interface_id, micros >> 32, micros & 0xFFFFFFFF, len(data), packet.length
    )
    body += _pad(data) + _options([_option(EPB_FLAGS, struct.pack("=I", flags))])
    return _block(EPB, body)


class PcapngWriter:
    """Writes a section header, then each packet (with its interface described once)."""

    def __init__(self, out: BinaryIO, snaplen: int = 262144) -> None:
        self.out = out
        self.snaplen = snaplen
        self.count = 0
        self._ids: dict[tuple[str, str], int] = {}
        out.write(section_header())

    def write(self, packet: Packet) -> None:
        """Append one packet (and its interface's description the first time)."""
        key = (packet.netns, packet.interface)
        ident = self._ids.get(key)
        if ident is None:
            ident = self._ids[key] = len(self._ids)
            self.out.write(interface_description(packet.interface, packet.netns, self.snaplen))
        self.out.write(enhanced_packet(ident, packet))
        self.count += 1

    def flush(self) -> None:
        """Push what was written to the file (so a reader sees whole blocks)."""
        self.out.flush()
