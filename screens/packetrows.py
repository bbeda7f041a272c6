"""The Packets view's list: one row per packet, its other sightings folded under it.

Pure data and text (no widgets): ``PacketRows.add`` takes sightings from a packet feed; a
sighting linked to an earlier one joins that packet's row instead of making a new one. The
list keeps the newest ``limit`` rows and counts the ones it let go.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from dockerscope.screens.printable import printable

from dockerscope.kernel.packets import text
from dockerscope.kernel.packets.feed import Sighting
from dockerscope.kernel.packets.linking import Rewrite
from dockerscope.kernel.packets.records import Packet

#: Rows kept (older ones are let go and counted).
ROW_LIMIT = 1000


@dataclass
class Row:
    """A packet where it was first seen, and where else it was seen after."""

    first: Packet
    also: list[tuple[Packet, tuple[Rewrite, ...]]] = field(default_factory=list)

    def packets(self) -> Iterator[Packet]:
        """Every sighting, first one first."""
        yield self.first
        for packet, _ in self.also:
            yield packet


def _endpoint(word: str, packet: Packet) -> str:
    # linking.py writes ``addr.port`` (tcpdump's way); a student reads ``addr:port`` better.
    if packet.tcp is None and packet.udp is None:
        return word
    addr, _, port = word.rpartition(".")
    return f"{addr}:{port}" if addr else word


def rewrite_text(rewrite: Rewrite, packet: Packet) -> str:
    """``source 172.17.0.2:43512 -> 100.64.0.2:43512``."""
    before, after = _endpoint(rewrite.before, packet), _endpoint(rewrite.after, packet)
    return f"{rewrite.side} {before} -> {after}"


def first_line(p: Packet) -> str:
    """The row's line: time, interface, In/Out, what the packet is."""
    return printable(f"{text.clock(p.time)} {p.interface} {p.direction} {text.summary(p)}")


def also_line(p: Packet, rewrites: tuple[Rewrite, ...]) -> str:
    """A folded sighting: ``  also on veth1a2b3c4 (In), source a:1 -> b:1``."""
    changes = "".join(f", {rewrite_text(r, p)}" for r in rewrites)
    return printable(f"    also on {p.interface} ({p.direction}){changes}")


class PacketRows:
    """The rows shown, newest last, at most ``limit`` of them."""

    def __init__(self, limit: int = ROW_LIMIT) -> None:
        self.limit = limit
        self.rows: deque[Row] = deque()
        self.let_go = 0  #: rows dropped to stay under the limit
        self._row_of: dict[int, Row] = {}  # id(packet) -> its row, for every packet held

    def add(self, sightings: Iterable[Sighting]) -> int:
        """Fold or append each sighting; the number of new rows."""
        new = 0
        for s in sightings:
            row = self._row_of.get(id(s.link.earlier)) if s.link is not None else None
            if row is not None and s.link is not None:
                row.also.append((s.packet, s.link.rewrites))
            else:
                row = Row(s.packet)
                self.rows.append(row)
                new += 1
            self._row_of[id(s.packet)] = row
        while len(self.rows) > self.limit:
            old = self.rows.popleft()
            self.let_go += 1
            for p in old.packets():
                self._row_of.pop(id(p), None)
        return new

    def packets(self) -> list[Packet]:
        """Every sighting held, in time order (what a saved file gets)."""
        return sorted((p for row in self.rows for p in row.packets()), key=lambda p: p.time)

    def lines(self, last: int | None = None) -> list[tuple[str, bool]]:
        """(line, folded) for the newest ``last`` rows (all when None), oldest first."""
        rows = list(self.rows)[-last:] if last else list(self.rows)
        out: list[tuple[str, bool]] = []
        for row in rows:
            out.append((first_line(row.first), False))
            out.extend((also_line(p, rw), True) for p, rw in row.also)
        return out
