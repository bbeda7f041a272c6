"""Several captures read as one stream (e.g. docker0 and the uplink, or both ends of a veth).

Each capture keeps its own socket and netns; one ``select`` waits on all of them. A capture
that ends (its interface removed) leaves a note and the others go on; the stream ends when
every capture has ended, on ``stop`` or after ``count`` packets.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Iterator

from dockerscope.kernel.packets.capture import LIVENESS_EVERY, Capture, Stats
from dockerscope.kernel.packets.records import Packet


class Captures:
    """A group of open captures read together, packets in arrival order per batch."""

    def __init__(self, captures: list[Capture]) -> None:
        self.captures = captures
        self.notes: list[str] = []
        self._noted: set[int] = set()

    def _note_ended(self) -> None:
        for i, c in enumerate(self.captures):
            if c.ended is not None and i not in self._noted:
                self._noted.add(i)
                self.notes.append(f"{c.label}/{c.interface}: {c.ended}")

    def live(self) -> list[Capture]:
        """The captures that have not ended."""
        return [c for c in self.captures if c.ended is None]

    def batches(self, stop: threading.Event | None = None) -> Iterator[list[Packet]]:
        """What one wait on every capture brought, as one batch sorted by kernel time (empty
        when only time passed), until every capture has ended or ``stop`` is set."""
        last_check = time.monotonic()
        while not (stop is not None and stop.is_set()):
            live = self.live()
            if not live:
                break
            try:
                ready, _, _ = select.select(live, [], [], LIVENESS_EVERY / 2)
            except (OSError, ValueError):
                break
            batch = [p for c in ready for p in c.read()]
            self._note_ended()
            batch.sort(key=lambda p: p.time)
            yield batch
            if time.monotonic() - last_check >= LIVENESS_EVERY:
                last_check = time.monotonic()
                for c in live:
                    c.check_alive()
                self._note_ended()

    def packets(
        self, stop: threading.Event | None = None, count: int | None = None
    ) -> Iterator[Packet]:
        """Packets from every capture as they come (each batch sorted by kernel time)."""
        seen = 0
        for batch in self.batches(stop):
            for p in batch:
                yield p
                seen += 1
                if count is not None and seen >= count:
                    return

    def stats(self) -> Stats:
        """Received and dropped, summed over every capture."""
        each = [c.stats() for c in self.captures]
        return Stats(sum(s.received for s in each), sum(s.dropped for s in each))

    def close(self) -> None:
        """Close every capture."""
        for c in self.captures:
            c.close()
