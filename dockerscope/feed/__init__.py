"""What the UI consumes: frames from a live observer or from a recording, the same objects.

A ``Source`` yields ``Frame`` objects. The first frame carries a full snapshot and an empty diff;
later frames carry the new snapshot and the diff from the previous one, plus any socket traffic
and narration seen in between. The dashboard renders frames and never asks where they came from.

Sources: ``feed.live.LiveSource`` (the kernel observer; not imported here, so a replay never loads
it), ``feed.traffic.WithTraffic`` (a source plus a daemon's API calls), the scenario replay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from dockerscope.kernel.model import ApiCall, Diff, Snapshot


@dataclass(frozen=True)
class Frame:
    """One update for the panels."""

    at: float  # time.time() (live) or recorded time (replay)
    snapshot: Snapshot
    diff: Diff = field(default_factory=Diff)
    traffic: tuple[ApiCall, ...] = ()
    note: str = ""  # narration or command output to show with this frame
    extra: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    """Anything that feeds frames to the dashboard (live observer, replay, test fake)."""

    scope: str

    def frames(self) -> AsyncIterator[Frame]:
        """Frames until ``stop`` is called or the source runs out."""
        ...

    async def stop(self) -> None:
        """Ask the source to end; ``frames`` then finishes."""
        ...
