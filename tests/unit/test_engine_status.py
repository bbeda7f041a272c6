"""Docker's state texts and times (durations themselves: tests/unit/test_client_formatting.py)."""

from __future__ import annotations

from dockerscope.engine.containers.status import ZERO_TIME, iso, status_text


def test_status_texts() -> None:
    now = 1000.0
    assert status_text("running", now, now - 0.5, None, 0) == "Up Less than a second"
    assert status_text("running", now, now - 120, None, 0) == "Up 2 minutes"
    assert status_text("exited", now, now - 10, now - 3, 0) == "Exited (0) 3 seconds ago"
    assert status_text("exited", now, now - 10, now - 3, 137) == "Exited (137) 3 seconds ago"
    assert status_text("created", now, None, None, 0) == "Created"
    assert status_text("paused", now, now - 5, None, 0) == "Up 5 seconds (Paused)"
    assert status_text("removing", now, None, None, 0) == "Removal In Progress"


def test_iso_times_like_docker() -> None:
    assert iso(None) == ZERO_TIME == "0001-01-01T00:00:00Z"
    assert iso(1795811011.5) == "2026-11-27T20:23:31.500000000Z"
    assert iso(0) == "1970-01-01T00:00:00.000000000Z"
