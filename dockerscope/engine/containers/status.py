"""Docker's human texts for container states: "Up 3 seconds", "Exited (0) 3 seconds ago"."""

from __future__ import annotations

import datetime as dt

# Docker's wording of durations is one function, shared with the client's `docker ps`.
from dockerscope.client.formatting import human_duration

ZERO_TIME = "0001-01-01T00:00:00Z"


def iso(ts: float | None) -> str:
    """RFC 3339 with nanoseconds, UTC, as Docker writes times; None is Go's zero time."""
    if ts is None:
        return ZERO_TIME
    whole = int(ts)
    nanos = int(round((ts - whole) * 1e9))
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    base = dt.datetime.fromtimestamp(whole, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


def status_text(
    state: str,
    now: float,
    started_at: float | None,
    finished_at: float | None,
    exit_code: int,
) -> str:
    """The ``Status`` column of ``docker ps`` for a container in ``state``."""
    if state in ("running", "paused") and started_at is not None:
        text = f"Up {human_duration(now - started_at)}"
        return text + " (Paused)" if state == "paused" else text
    if state == "removing":
        return "Removal In Progress"
    if state == "dead":
        return "Dead"
    if state == "exited" and finished_at is not None:
        return f"Exited ({exit_code}) {human_duration(now - finished_at)} ago"
    return "Created"
