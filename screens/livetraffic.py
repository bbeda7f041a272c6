"""Live socket traffic for the dashboard: which follower opens a lab daemon's traffic tap.

The wrapper that merges API calls into the frames is UI-free and lives in the core
(``dockerscope.feed.traffic.WithTraffic``); the dashboard hands it this opener.
"""

from __future__ import annotations

from dockerscope.feed.traffic import TrafficFeed


def open_traffic_feed(socket_path: str) -> TrafficFeed:
    """Follow a dockerscope daemon's traffic tap (raises OSError or LabError if there is none)."""
    from dockerscope.scenario.lab import TrafficFeed as TapFollower

    return TapFollower(socket_path)
