"""Packets view latency: from a ping on the wire to its row painted (issue 11: p95 <= 100 ms).

Not a test; run as root:  python3 bench/packets_paint.py [--count 40] [--interval 0.2]

Builds a netns ``pl<hex>`` with a bridge ``br0`` and two netns ``pa<hex>``/``pb<hex>`` plugged
into it, opens the Packets screen (headless, through Textual's Pilot) on ``br0`` with a filter
keeping echo requests, and pings from one to the other. Each redraw records the time from the
newest packet's kernel timestamp (taken when the bridge saw it) to the moment after the screen
was refreshed. Everything it makes is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dockerscope.screens.packets import PacketsScreen, live_feed_factory  # noqa: E402
from textual.app import App  # noqa: E402

from dockerscope.kernel.packets.feed import PacketFeed  # noqa: E402

ECHO_REQUESTS = "icmp[icmptype] == icmp-echo"


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def build(tag: str) -> tuple[str, str, str]:
    lab, a, b = f"pl{tag}", f"pa{tag}", f"pb{tag}"
    for ns in (lab, a, b):
        sh("ip", "netns", "add", ns)
    sh("ip", "-n", lab, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", lab, "link", "set", "br0", "up")
    for n, ns in enumerate((a, b), 2):
        sh(
            "ip",
            "-n",
            lab,
            "link",
            "add",
            f"v{n}",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns,
        )
        sh("ip", "-n", lab, "link", "set", f"v{n}", "master", "br0", "up")
        sh("ip", "-n", ns, "addr", "add", f"10.251.0.{n}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
    return lab, a, b


async def measure(lab: str, pinger: str, count: int, interval: float) -> list[float]:
    live = live_feed_factory(f"/run/netns/{lab}")

    def open_feed(interfaces: list[str], expression: str) -> PacketFeed:
        return live(interfaces, expression or ECHO_REQUESTS)

    app: App[None] = App()
    async with app.run_test(size=(200, 60)) as pilot:
        screen = PacketsScreen(open_feed, ["br0"], lab=lab)
        await app.push_screen(screen)
        await pilot.pause(0.5)
        ping = await asyncio.create_subprocess_exec(
            "ip",
            "netns",
            "exec",
            pinger,
            "busybox",
            "ping",
            "-q",
            "-c",
            str(count),
            "-i",
            str(interval),
            "10.251.0.3",
            stdout=asyncio.subprocess.DEVNULL,
        )
        await ping.wait()
        await pilot.pause(0.5)
        return list(screen.paint_delays)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=40, help="pings")
    ap.add_argument("--interval", type=float, default=0.2, help="seconds between pings")
    args = ap.parse_args()
    lab, a, b = build(uuid.uuid4().hex[:8])
    try:
        delays = asyncio.run(measure(lab, a, args.count, args.interval))
    finally:
        for ns in (lab, a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    ms = sorted(d * 1e3 for d in delays)
    if not ms:
        raise SystemExit("no packet was painted: is busybox there, and are we root?")
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    print(
        f"samples {len(ms)}; wire to painted p50 {statistics.median(ms):.1f} ms, "
        f"p95 {p95:.1f} ms, max {ms[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
