"""Live socket traffic for the dashboard: which follower opens a lab daemon's traffic tap.

The wrapper that merges API calls into the frames is UI-free and lives in the core
(``dockerscope.feed.traffic.WithTraffic``), and so does the tap's follower
(``dockerscope.feed.tap.TapFollower``); the dashboard hands the wrapper this opener.
"""

from __future__ import annotations

from dockerscope.feed.tap import TapFollower


def open_traffic_feed(socket_path: str) -> TapFollower:
    """Follow a dockerscope daemon's traffic tap (raises ``TapUnavailable`` if there is none)."""
    return TapFollower(socket_path)
