"""Garbage collection out of the way of paints.

CPython's full collections walk every tracked object. The dashboard holds about 100k of them
after start-up (widgets, CSS rules, Textual's per-line caches for 1,000 NAT rules), so a full
collection costs ~55 ms on these machines, and it fires whenever allocation counts say so: in
the middle of a key press or a frame, which is where the 150-250 ms tails of ``bench/ui.py``
came from.

The app's policy: whenever the dashboard has been quiet for a moment (no key, no mouse, no
frame), collect and then ``gc.freeze()`` what survived. Frozen objects are skipped by later
collections, so the automatic ones that still happen during activity only walk what was made
since the last quiet moment (~36k objects after 16 panel switches and 5 frames: ~14 ms).
Objects frozen and later dropped are reclaimed by reference counting as usual; only frozen
*cycles* wait, until the next deep collection (``gc.unfreeze()`` + collect, ~55 ms), which runs
at a quiet moment at most every ``deep_every`` seconds.

While the policy runs, automatic full collections come every 100 young collections instead of
10 (after a freeze CPython's trigger, a quarter of the few unfrozen long-lived objects, fires at
nearly every chance, which made ~30 ms pauses every few keys while a user typed).

Pure Python, no Textual: the app calls ``busy()`` on input and frames and ``tick()`` from a
timer; ``stop()`` gives the process its collector back as it was.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: Young (generation 1) collections between automatic full ones while the policy runs.
FULL_EVERY = 100


@dataclass
class IdleCollector:
    """Collect and freeze at quiet moments; see the module docstring."""

    clock: Callable[[], float] = time.monotonic
    quiet: float = 0.1  #: seconds without input or frames that count as a quiet moment
    every: float = 1.0  #: at most one shallow collect + freeze this often
    deep_every: float = 600.0  #: an unfreeze + full collect at a quiet moment this often
    collect: Callable[[], int] = gc.collect
    last_busy: float = field(default=0.0, init=False)
    last_freeze: float = field(default=0.0, init=False)
    last_deep: float = field(default=0.0, init=False)
    collections: int = field(default=0, init=False)  #: shallow + deep ones this policy ran
    deep_collections: int = field(default=0, init=False)
    running: bool = field(default=False, init=False)
    _saved_threshold: tuple[int, int, int] = field(default=(700, 10, 10), init=False)

    def start(self) -> None:
        """Collect everything once and freeze the survivors (start-up objects); make the
        automatic full collections rarer (the quiet moments do that work)."""
        now = self.clock()
        self.collect()
        gc.freeze()
        self._saved_threshold = gc.get_threshold()
        first, second, third = self._saved_threshold
        # After a freeze CPython's full-collection trigger (a quarter of the long-lived
        # objects, now few) fires every ``third`` young collections; at 10 that was a ~30 ms
        # pause every few keys while a user was busy. 100 keeps cyclic garbage bounded.
        gc.set_threshold(first, second, max(third, FULL_EVERY))
        self.last_busy = self.last_freeze = self.last_deep = now
        self.running = True

    def busy(self, hold: float = 0.0) -> None:
        """The user or the feed just did something: a paint is on its way. ``hold`` keeps
        the moment busy that much longer (a key's animations, e.g. the tab underline)."""
        self.last_busy = max(self.last_busy, self.clock() + hold)

    def is_quiet(self) -> bool:
        """True when nothing happened for ``quiet`` seconds (no paint is on its way)."""
        return self.clock() - self.last_busy >= self.quiet

    def tick(self) -> str | None:
        """Called from a timer. Returns "deep", "shallow" or None (what it did)."""
        if not self.running or not self.is_quiet():
            return None
        now = self.clock()
        if now - self.last_deep >= self.deep_every:
            gc.unfreeze()
            self.collect()
            gc.freeze()
            self.last_deep = self.last_freeze = now
            self.collections += 1
            self.deep_collections += 1
            return "deep"
        if now - self.last_freeze >= self.every:
            self.collect()
            gc.freeze()
            self.last_freeze = now
            self.collections += 1
            return "shallow"
        return None

    def stop(self) -> None:
        """Unfreeze: the process's collector sees every object again."""
        if self.running:
            gc.unfreeze()
            gc.set_threshold(*self._saved_threshold)
            self.running = False
