"""A recording as moments: one per snapshot, with the events and traffic that led to it.

This is what a player steps through (replay, the walkthrough): the first snapshot in full,
each later one rebuilt from its diff, narration and verdicts kept with the step they belong to.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from dockerscope.kernel.model import (
    ApiCall,
    Change,
    Diff,
    Snapshot,
)
from dockerscope.kernel.model import diff as compute_diff
from dockerscope.scenario.recording import (
    TIMELINE_EVENTS,
    Recording,
    RecordingError,
    api_call,
    apply_changes,
)


@dataclass(frozen=True)
class Moment:
    """One point of a recording a player can show: a snapshot and what led to it."""

    t: float  # seconds since the recording started
    snapshot: Snapshot
    diff: Diff
    step: int  # index of the current step (-1 before the first)
    traffic: tuple[ApiCall, ...] = ()
    events: tuple[dict[str, Any], ...] = ()  # narration, commands, outputs, verdicts since last

    def note(self) -> str:
        """Narration and command output of this moment, as text."""
        lines = []
        for e in self.events:
            if e["type"] == "narration":
                lines.append(e["text"])
            elif e["type"] == "command":
                lines.append(f"$ {e['command']}")
            elif e["type"] == "output":
                text = (e.get("stdout", "") + e.get("stderr", "")).rstrip()
                if text:
                    lines.append(text)
            elif e["type"] == "verdict":
                lines.append(("✓ " if e["ok"] else "✗ ") + f"{e['expectation']}: {e['detail']}")
        return "\n".join(lines)


def moments(rec: Recording) -> list[Moment]:
    """The recording as a list of moments, one per snapshot (first full, then each diff).

    Events after the last snapshot (verdicts, the end) are attached to a final moment that
    repeats the last snapshot with an empty diff, so nothing recorded is lost.
    """
    out: list[Moment] = []
    current: Snapshot | None = None
    step = -1
    pending_events: list[dict[str, Any]] = []
    pending_traffic: list[ApiCall] = []
    for e in rec.events:
        kind = e["type"]
        if kind in TIMELINE_EVENTS:
            if kind == "step":
                step = int(e["step"])
            if (
                kind in ("verdict", "predict", "step_end")
                and out
                and out[-1].step == e.get("step")
                and not pending_events
            ):
                # A step's verdicts describe its last snapshot: keep them with it.
                last = out[-1]
                out[-1] = dataclasses.replace(last, events=last.events + (e,))
                continue
            pending_events.append(e)
            continue
        if kind == "traffic":
            pending_traffic.append(api_call(e["call"]))
            continue
        if kind == "snapshot":
            snap = Snapshot.from_json(e["snapshot"])
            d = compute_diff(current, snap) if current is not None else Diff()
        else:  # diff
            if current is None:
                raise RecordingError(rec.path, 0, "a diff before the first full snapshot")
            changes = tuple(Change.from_json(c) for c in e["changes"])
            snap = apply_changes(
                current, changes, taken_at=e["taken_at"], errors=tuple(e.get("errors", ()))
            )
            d = Diff(changes)
        out.append(
            Moment(float(e["t"]), snap, d, step, tuple(pending_traffic), tuple(pending_events))
        )
        current = snap
        pending_events, pending_traffic = [], []
    if (pending_events or pending_traffic) and current is not None:
        t = float(rec.events[-1]["t"])
        out.append(Moment(t, current, Diff(), step, tuple(pending_traffic), tuple(pending_events)))
    return out
