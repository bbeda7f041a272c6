"""Play a recording back as a ``dockerscope.feed.Source``: pause, step, seek, speed.

Needs no root, no daemon and no Linux-specific call: only the standard library and the
snapshot model, so a teacher can project a recorded class from any laptop with Python.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from dockerscope.feed import Frame
from dockerscope.kernel.model import Diff, Snapshot
from dockerscope.kernel.model import diff as compute_diff
from dockerscope.scenario.moments import Moment, moments
from dockerscope.scenario.recording import Recording, read

#: Speeds the ``faster``/``slower`` controls step through.
SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


class ReplaySource:
    """Frames from a recording, at the recorded pace times ``speed``.

    Controls (call them from the event loop that iterates ``frames``): ``pause``, ``resume``,
    ``toggle``, ``step`` (next frame now, even when paused; ``step(-1)`` goes back), ``seek``
    (to a frame index, a time or a step), ``set_speed``/``faster``/``slower``. A seek shows the
    target with the diff from the frame on screen, so the panels highlight what is different.
    """

    def __init__(
        self,
        recording: Recording | str | Path,
        speed: float = 1.0,
        paused: bool = False,
        max_gap: float = 3.0,
        hold_at_end: bool = False,
    ) -> None:
        self.recording = recording if isinstance(recording, Recording) else read(recording)
        self.moments: list[Moment] = moments(self.recording)
        first = self.moments[0].snapshot if self.moments else None
        self.scope = first.scope if first is not None else "replay"
        self.speed = float(speed)
        self.paused = paused
        self.max_gap = max_gap  # long recorded waits (a slow command) are cut to this
        self.hold_at_end = hold_at_end  # keep waiting for seeks at the end (interactive use)
        self.position = 0  # index of the next moment to show
        self.shown: int | None = None  # index of the moment last shown
        self._last_snapshot: Snapshot | None = None
        self._jumped = False
        self._steps_granted = 0
        self._until: int | None = None  # pause once this frame has been shown
        self._stopped = False
        self._wake: asyncio.Event | None = None

    # -- controls ---------------------------------------------------------------------------

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def pause(self) -> None:
        self.paused = True
        self._poke()

    def resume(self) -> None:
        self.paused = False
        self._poke()

    def toggle(self) -> None:
        """Pause if playing, play if paused."""
        self.resume() if self.paused else self.pause()

    def step(self, n: int = 1) -> None:
        """Show the next frame now (``n`` < 0: go back ``-n`` frames), staying paused."""
        self.paused = True
        if n >= 0:
            self._steps_granted += n
        else:
            target = (self.shown if self.shown is not None else self.position) + n
            self.seek(max(0, target))
            self._steps_granted += 1
        self._poke()

    def seek(
        self, index: int | None = None, *, t: float | None = None, step: int | None = None
    ) -> int:
        """Make frame ``index`` (or the first at/after time ``t``, or step ``step``) the next."""
        if index is None and t is not None:
            index = next((i for i, m in enumerate(self.moments) if m.t >= t), len(self.moments))
        if index is None and step is not None:
            index = next(
                (i for i, m in enumerate(self.moments) if m.step >= step), len(self.moments)
            )
        if index is None:
            raise ValueError("seek needs an index, t= or step=")
        self.position = max(0, min(index, len(self.moments)))
        self._jumped = True
        self._poke()
        return self.position

    def play_span(self, first: int, last: int) -> None:
        """Play frames ``first``..``last`` at the recorded pace, then pause (a walkthrough step)."""
        self.seek(first)
        self._until = last
        self.resume()

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = float(speed)
        self._poke()

    def faster(self) -> float:
        self.set_speed(next((s for s in SPEEDS if s > self.speed), SPEEDS[-1]))
        return self.speed

    def slower(self) -> float:
        self.set_speed(next((s for s in reversed(SPEEDS) if s < self.speed), SPEEDS[0]))
        return self.speed

    @property
    def finished(self) -> bool:
        return self.position >= len(self.moments)

    # -- the Source protocol ----------------------------------------------------------------

    def frame_at(self, index: int) -> Frame:
        """Frame for moment ``index`` as shown after the last shown one."""
        m = self.moments[index]
        d: Diff = m.diff
        if self._jumped and self._last_snapshot is not None:
            d = compute_diff(self._last_snapshot, m.snapshot)
        return Frame(
            at=m.snapshot.taken_at,
            snapshot=m.snapshot,
            diff=d,
            traffic=m.traffic,
            note=m.note(),
            extra={
                "index": index,
                "total": len(self.moments),
                "t": m.t,
                "step": m.step,
                "events": m.events,
                "speed": self.speed,
                "paused": self.paused,
            },
        )

    def _delay(self) -> float:
        if self.shown is None or self._jumped or self.position >= len(self.moments):
            return 0.0
        gap = self.moments[self.position].t - self.moments[self.shown].t
        return max(0.0, min(gap, self.max_gap)) / self.speed

    async def _wait(self, timeout: float | None) -> None:
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def frames(self) -> AsyncIterator[Frame]:
        """Frames until the recording ends or ``stop`` is called."""
        self._wake = asyncio.Event()
        while not self._stopped:
            if self.finished:
                if not self.hold_at_end:
                    break
                self._steps_granted = 0
                await self._wait(None)
                continue
            if self._steps_granted > 0:
                self._steps_granted -= 1
            elif self.paused:
                await self._wait(None)
                continue
            else:
                delay = self._delay()
                if delay > 0:
                    before = (self.position, self.paused, self.speed)
                    await self._wait(delay)
                    if self._stopped:
                        break
                    if (self.position, self.paused, self.speed) != before or self._steps_granted:
                        continue  # a control changed the plan: think again
            index = self.position
            frame = self.frame_at(index)
            self.shown = index
            self.position = index + 1
            self._last_snapshot = frame.snapshot
            self._jumped = False
            if self._until is not None and index >= self._until:
                self._until = None
                self.paused = True
            yield frame

    async def stop(self) -> None:
        self._stopped = True
        self._poke()


async def play_to_end(path: str | Path, speed: float = 1e6) -> int:
    """Play a recording as fast as possible; returns how many frames it gave (for tests)."""
    src = ReplaySource(path, speed=speed)
    n = 0
    async for _ in src.frames():
        n += 1
    return n


class SwitchableSource:
    """A Source whose recording can be swapped while the app runs (the replay menu's deck).

    ``frames`` follows the current ReplaySource; ``switch`` stops it and carries on with the
    next, so one app can play one recording after another.
    """

    def __init__(self, scope: str = "replay") -> None:
        self.scope = scope
        self.current: ReplaySource | None = None
        self._changed: asyncio.Event | None = None
        self._pending: ReplaySource | None = None
        self._stopped = False

    async def switch(self, source: ReplaySource) -> None:
        """Play ``source`` from now on."""
        self._pending = source
        self.scope = source.scope
        if self.current is not None:
            await self.current.stop()
        if self._changed is not None:
            self._changed.set()

    async def frames(self) -> AsyncIterator[Frame]:
        self._changed = asyncio.Event()
        while not self._stopped:
            if self._pending is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            self.current, self._pending = self._pending, None
            async for frame in self.current.frames():
                yield frame

    async def stop(self) -> None:
        self._stopped = True
        if self.current is not None:
            await self.current.stop()
        if self._changed is not None:
            self._changed.set()
