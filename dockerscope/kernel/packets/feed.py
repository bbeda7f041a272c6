"""A packet feed for a viewer: captures on a thread, linked sightings, a bounded hand-over.

The viewer (the Packets screen, a test) never touches sockets. A feed runs its captures on a
thread of its own, decodes, links sightings of the same packet (``linking.Linker``) and puts
``Sighting`` objects in a bounded queue; ``wake`` is called so the viewer comes and ``take``s
them. When the viewer falls behind, the oldest sightings go and are counted (``not_shown``)
instead of piling up. ``FakePacketFeed`` hands out built frames the same way, for tests and
demos without root.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dockerscope.kernel.packets import bpf
from dockerscope.kernel.packets.capture import Capture, CaptureError, Stats
from dockerscope.kernel.packets.linking import Link, Linker
from dockerscope.kernel.packets.records import Packet
from dockerscope.kernel.packets.several import Captures

#: Sightings waiting for the viewer at most; past this the oldest are dropped and counted.
QUEUE_LIMIT = 5000


@dataclass(frozen=True)
class Sighting:
    """One packet at one place, and (when it is not the first place) the link to the earlier."""

    packet: Packet
    link: Link | None = None


def check_filter(expression: str) -> str | None:
    """None when libpcap accepts ``expression``, else its complaint as a sentence."""
    if not expression.strip():
        return None
    try:
        bpf.compile_filter(expression.strip())
    except bpf.BpfError as exc:
        return str(exc)
    return None


@dataclass
class FeedState:
    """What a feed has to say besides packets: ended captures, drops, counts."""

    notes: list[str] = field(default_factory=list)
    not_shown: int = 0  # sightings dropped because the viewer fell behind


class PacketFeed:
    """The common hand-over: a bounded queue of sightings, ``wake`` called when some arrive."""

    def __init__(self, limit: int = QUEUE_LIMIT) -> None:
        self.state = FeedState()
        self._queue: deque[Sighting] = deque()
        self._limit = limit
        self._lock = threading.Lock()
        self._wake: Callable[[], None] = lambda: None
        self._linker = Linker()

    def _put(self, packets: Sequence[Packet]) -> None:
        """Link and queue ``packets`` (in time order), then wake the viewer."""
        if not packets:
            return
        with self._lock:
            for p in packets:
                self._queue.append(Sighting(p, self._linker.add(p)))
            over = len(self._queue) - self._limit
            for _ in range(max(over, 0)):
                self._queue.popleft()
            self.state.not_shown += max(over, 0)
        self._wake()

    def _note(self, text: str) -> None:
        with self._lock:
            self.state.notes.append(text)
        self._wake()

    def take(self) -> list[Sighting]:
        """Every sighting queued since the last call."""
        with self._lock:
            out = list(self._queue)
            self._queue.clear()
        return out

    def start(self, wake: Callable[[], None]) -> None:
        """Begin; ``wake`` is called (from any thread) whenever sightings or notes arrive."""
        self._wake = wake

    def stop(self) -> None:
        """End the captures; safe to call twice."""

    def stats(self) -> Stats:
        """The kernel's received and dropped counts, summed over the captures."""
        return Stats(0, 0)


class LivePacketFeed(PacketFeed):
    """Captures on ``interfaces`` of the netns at ``netns`` (None: the host's), one thread.

    Opening raises ``CaptureError`` (no root, no such interface) or ``bpf.BpfError`` (a bad
    filter) at once, so the viewer can say so before anything runs.
    """

    def __init__(
        self,
        netns: str | None,
        interfaces: Sequence[str],
        expression: str = "",
        limit: int = QUEUE_LIMIT,
    ) -> None:
        super().__init__(limit)
        self.interfaces = list(interfaces)
        self.expression = expression.strip()
        self.captures: list[Capture] = []
        try:
            for name in self.interfaces:
                self.captures.append(Capture(name, netns, self.expression))
        except (CaptureError, bpf.BpfError):
            self._close()
            raise
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, wake: Callable[[], None]) -> None:
        super().start(wake)
        self._thread = threading.Thread(target=self._run, name="packet-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # Whole batches are handed over: one wake of the viewer per wait on the sockets.
        noted: set[int] = set()
        for batch in Captures(self.captures).batches(self._stop):
            self._put(batch)
            self._note_ended(noted)
        self._note_ended(noted)

    def _note_ended(self, noted: set[int]) -> None:
        for i, c in enumerate(self.captures):
            if c.ended is not None and i not in noted:
                noted.add(i)
                self._note(f"capture on {c.interface} ended: {c.ended}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        self._close()

    def _close(self) -> None:
        for c in self.captures:
            c.close()

    def stats(self) -> Stats:
        each = [c.stats() for c in self.captures if c.ended is None]
        return Stats(sum(s.received for s in each), sum(s.dropped for s in each))


class FakePacketFeed(PacketFeed):
    """Hands out given packets when told (``release``), for tests and demos without root.

    The filter is checked with the real compiler (a bad one raises ``bpf.BpfError``) but not
    applied: the fake has no kernel to run it in.
    """

    def __init__(
        self,
        packets: Sequence[Packet],
        expression: str = "",
        limit: int = QUEUE_LIMIT,
        *,
        every: float | None = None,
    ) -> None:
        """``every``: release one packet each ``every`` seconds on a thread (demos), instead
        of waiting for ``release`` calls (tests)."""
        super().__init__(limit)
        self.expression = expression.strip()
        if self.expression:
            bpf.compile_filter(self.expression)
        self._waiting = deque(packets)
        self.released = 0
        self.stopped = False
        self._every = every
        self._halt = threading.Event()

    def start(self, wake: Callable[[], None]) -> None:
        super().start(wake)
        if self._every is not None:
            threading.Thread(target=self._trickle, name="fake-packets", daemon=True).start()

    def _trickle(self) -> None:
        assert self._every is not None
        while self._waiting and not self._halt.wait(self._every):
            self.release(1)

    def release(self, count: int | None = None) -> None:
        """Hand the next ``count`` packets (all when None) to the viewer."""
        n = len(self._waiting) if count is None else min(count, len(self._waiting))
        batch = [self._waiting.popleft() for _ in range(n)]
        self.released += n
        self._put(batch)

    def end(self, note: str) -> None:
        """Act as if a capture ended (its interface went away)."""
        self._note(note)

    def stop(self) -> None:
        self.stopped = True
        self._halt.set()

    def stats(self) -> Stats:
        return Stats(self.released, 0)
