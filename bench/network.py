"""Network set-up cost per container and a 100-container bridge, inside a throwaway lab.

Run as root: ``python3 bench/network.py [--runs 50] [--containers 100]``. Prints a table:
median/p90 of sandbox+attach (default bridge), sandbox only (--net=none), publish of one
port, release; then 100 containers on docker0, each pinging its neighbour.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dockerscope.engine.network import LabHost, NetworkManager, parse_publish
from dockerscope.engine.paths import Lab


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def row(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[max(0, int(len(ordered) * 0.9) - 1)]
    return f"{name:<34} {statistics.median(samples):>8.2f} {p90:>8.2f} {len(samples):>5}"


def cid(i: int, tag: str) -> str:
    return (f"{tag}{i:06d}" * 8)[:64]


def per_container(nm: NetworkManager, runs: int) -> list[str]:
    bridge, none, publish, release = [], [], [], []
    for i in range(runs):
        c = cid(i, "b")
        bridge.append(timed(lambda c=c, i=i: (nm.sandbox(c, f"b{i}"), nm.attach(c, "bridge"))))
        publish.append(timed(lambda c=c: nm.publish(c, None, parse_publish("18080:80"))))
        release.append(timed(lambda c=c: nm.release(c)))
        n = cid(i, "n")
        none.append(timed(lambda n=n, i=i: nm.sandbox(n, f"n{i}", mode="none")))
        nm.release(n)
    return [
        row("sandbox + attach (default bridge)", bridge),
        row("sandbox only (--net=none)", none),
        row("publish one port (rules+proxies)", publish),
        row("release (ports, veth, netns)", release),
    ]


def hundred(nm: NetworkManager, count: int) -> str:
    ids = [cid(i, "h") for i in range(count)]
    start = time.perf_counter()
    for i, c in enumerate(ids):
        nm.sandbox(c, f"h{i}")
        nm.attach(c, "bridge")
    made = time.perf_counter() - start
    ips = [nm.endpoints("bridge")[i].ip_address for i in range(count)]
    by_id = {e.container_id: e.ip_address for e in nm.endpoints("bridge")}
    ips = [by_id[c] for c in ids]

    def ping(i: int) -> bool:
        netns = nm.sandbox(ids[i], f"h{i}")
        proc = subprocess.run(
            [
                "nsenter",
                f"--net={netns}",
                "busybox",
                "ping",
                "-c",
                "1",
                "-W",
                "2",
                ips[(i + 1) % count],
            ],
            capture_output=True,
        )
        return proc.returncode == 0

    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        answered = sum(pool.map(ping, range(count)))
    pinged = time.perf_counter() - start
    start = time.perf_counter()
    for c in ids:
        nm.release(c)
    gone = time.perf_counter() - start
    return (
        f"{count} containers on docker0: set up in {made:.2f} s, {answered}/{count} pings "
        f"to the neighbour answered in {pinged:.2f} s, released in {gone:.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--containers", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nbench") as tmp:
        lab = Lab.named(
            "b" + uuid.uuid4().hex[:8], data_root=Path(tmp, "data"), run_root=Path(tmp, "run")
        )
        host = LabHost(lab)
        up_ms = timed(host.up)
        nm = NetworkManager(lab)
        try:
            lines = per_container(nm, args.runs)
            print(f"lab up: {up_ms:.1f} ms")
            print(f"{'operation':<34} {'med ms':>8} {'p90 ms':>8} {'runs':>5}")
            print("\n".join(lines))
            print(hundred(nm, args.containers))
        finally:
            for sb in nm.sandboxes():
                nm.release(sb.container_id)
            nm.close()
            down_ms = timed(host.down)
            print(f"lab down: {down_ms:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
