"""What the dashboard remembers between frames: the latest snapshot, what just changed, the
traffic seen so far and the kernel changes stamped with the time they were seen.

Pure Python (no Textual), so the logic behind highlighting and the timeline is unit-testable.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dockerscope.feed import Frame
from dockerscope.kernel.model import COLLECTIONS, ApiCall, Change, Snapshot

#: Seconds a new object stays highlighted, and a removed one keeps fading out.
HIGHLIGHT_SECONDS = 4.0

#: The observer sees a change a moment after the kernel made it: a change seen this long after
#: a call ended still counts as that call's doing.
TIMELINE_GRACE = 0.25

#: Fields that move on their own (counters, usage): a change to only these is a tick, not news.
VOLATILE_FIELDS = ("packets", "bytes", "memory_usage", "cpu_usage_ns", "pids_current", "state")


@dataclass(frozen=True)
class Mark:
    """A recent change to one object: ``added`` (highlight) or ``removed`` (fading out)."""

    action: str
    since: float  # clock() when it was seen
    obj: Any  # the new object (added) or the last one seen (removed)


@dataclass(frozen=True)
class StampedChange:
    """A kernel change and the time of the frame that carried it."""

    at: float
    change: Change


def significant(change: Change) -> bool:
    """False for a change that only moved counters or usage figures."""
    if change.action != "changed":
        return True
    before, after = change.before, change.after
    if type(before) is not type(after) or not dataclasses.is_dataclass(before):
        return True
    kind: type = type(before)
    return any(getattr(before, name) != getattr(after, name) for name in _steady_fields(kind))


@functools.cache
def _steady_fields(cls: type) -> tuple[str, ...]:
    """The fields of a dataclass that do not move on their own."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in VOLATILE_FIELDS)


class DashState:
    """Accumulates frames; panels read from it and never from the source directly."""

    def __init__(self, clock: Callable[[], float], history: int = 2000,
                 max_calls: int = 1000) -> None:
        self.clock = clock
        self.max_calls = max_calls
        self.snapshot: Snapshot | None = None
        self.previous: Snapshot | None = None
        self.first_at: float | None = None
        self.last_at: float = 0.0
        self.note = ""
        self.frames = 0
        self.marks: dict[tuple[str, str], Mark] = {}
        self.ticked: set[tuple[str, str]] = set()  # counters that moved in the latest frame
        self.calls: dict[int, ApiCall] = {}
        self.changes: deque[StampedChange] = deque(maxlen=history)
        self.touched: set[str] = set()  #: collections (and "traffic") changed since last taken

    def apply(self, frame: Frame) -> None:
        """Take in one frame (frames must be applied in order)."""
        now = self.clock()
        self.previous, self.snapshot = self.snapshot, frame.snapshot
        if self.first_at is None:
            # Times show as offsets from here: the first frame, or a call that came before it.
            self.first_at = min([frame.at, *(c.started_at for c in frame.traffic)])
        self.last_at = frame.at
        if frame.note:
            self.note = frame.note
        self.frames += 1
        # Counters lit in the last frame go back to normal: their panels must redraw too.
        self.touched.update(coll for coll, _ in self.ticked)
        self.ticked = set()
        if self.frames == 1:
            self.touched.update([*COLLECTIONS, "traffic"])  # the first frame is news everywhere
        if frame.traffic:
            self.touched.add("traffic")
        for change in frame.diff.changes:
            self.touched.add(change.collection)
            ident = (change.collection, _base_key(change.key))
            if change.action == "added":
                self.marks[ident] = Mark("added", now, change.after)
            elif change.action == "removed":
                self.marks[ident] = Mark("removed", now, change.before)
            else:
                self.ticked.add(ident)
            if significant(change):
                self.changes.append(StampedChange(frame.at, change))
                self.touched.add("news")  # the timeline redraws for news, not for ticks
        for call in frame.traffic:
            self.calls[call.seq] = call  # a call seen again (finished) replaces its first sighting
        if len(self.calls) > self.max_calls:  # a long class: forget the oldest calls
            for seq in sorted(self.calls)[: len(self.calls) - self.max_calls]:
                del self.calls[seq]

    def take_touched(self) -> set[str]:
        """What changed since the last call (the dashboard redraws only panels showing it)."""
        touched, self.touched = self.touched, set()
        return touched

    def mark(self, collection: str, key: str) -> Mark | None:
        """The live mark of an object, or None once it has faded."""
        m = self.marks.get((collection, key))
        if m is None or self.clock() - m.since > HIGHLIGHT_SECONDS:
            return None
        return m

    def age(self, mark: Mark) -> float:
        """0.0 when just seen, 1.0 when about to fade."""
        return min(1.0, max(0.0, (self.clock() - mark.since) / HIGHLIGHT_SECONDS))

    def removed(self, collection: str) -> list[Any]:
        """Objects of ``collection`` removed recently enough to still be shown fading."""
        return [
            m.obj
            for (coll, key), m in self.marks.items()
            if coll == collection and m.action == "removed" and self.mark(coll, key) is not None
        ]

    def expire(self) -> bool:
        """Forget faded marks; True when something visible changed (a redraw is due)."""
        now = self.clock()
        old = [k for k, m in self.marks.items() if now - m.since > HIGHLIGHT_SECONDS]
        for k in old:
            del self.marks[k]
        return bool(old)

    @property
    def fading(self) -> bool:
        """True while any highlight is on screen."""
        return bool(self.marks)

    def relative(self, at: float) -> str:
        """A time as seconds since the first frame: ``+1.234s``."""
        base = self.first_at if self.first_at is not None else at
        return f"+{at - base:.3f}s"

    def ordered_calls(self) -> list[ApiCall]:
        """API calls in the order they arrived."""
        return [self.calls[k] for k in sorted(self.calls)]

    def changes_during(self, call: ApiCall) -> list[StampedChange]:
        """Kernel changes whose frame time falls within the call (start to start + latency,
        plus ``TIMELINE_GRACE`` for the observer's delay).

        A call still being served (status 0) is open-ended: everything seen since it began.
        """
        start = call.started_at
        end = (float("inf") if call.status == 0
               else start + call.latency_ms / 1000.0 + TIMELINE_GRACE)
        return [c for c in self.changes if start <= c.at <= end]


def _base_key(key: str) -> str:
    """Keys of duplicate objects carry ``#2``: highlight them with their first twin."""
    return key.split("#", 1)[0]
