"""``python -m dockerscope.screens.demo``: the dashboard on the fake lab, no root, no daemon.

For trying the UI and for the tmux smoke test. ``--interval`` sets seconds between frames.
"""

from __future__ import annotations

import argparse

from dockerscope.screens.app import build_app
from dockerscope.screens.fake import FakeSource

from dockerscope.kernel.neighbours import Neighbour
from dockerscope.kernel.packets import fakepackets
from dockerscope.kernel.packets.feed import FakePacketFeed, PacketFeed


def demo_packets(interfaces: list[str], expression: str) -> PacketFeed:
    """The fake packet story, one packet every half second (the Packets view, ``P``)."""
    return FakePacketFeed(fakepackets.story(), expression, every=0.5)


def demo_neighbours() -> list[Neighbour]:
    """The fake lab's neighbour table."""
    return [Neighbour("172.17.0.3", fakepackets.DB_MAC, "docker0", "REACHABLE"),
            Neighbour("172.17.0.2", fakepackets.WEB_MAC, "docker0", "STALE")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dockerscope.screens.demo")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between frames")
    args = parser.parse_args(argv)
    source = FakeSource(interval=args.interval)
    # The Packets view asks a source for these (a live lab needs neither: it captures).
    source.packet_feed = demo_packets  # type: ignore[attr-defined]
    source.packet_neighbours = demo_neighbours  # type: ignore[attr-defined]
    build_app(source, title="dockerscope demo (fake lab)").run()


if __name__ == "__main__":
    main()
