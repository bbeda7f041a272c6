"""Speed of packet capture and decoding (issue 11 "Packets you can watch"). Prints a table;
not a test. Run as root.

    python3 bench/packets.py [--frames 200000] [--idle 10]

- decoder: packets/s decoded on one core (our struct decoder; dpkt and scapy too when they are
  installed, parse only, for the comparison in docs/packets.md);
- filter compile: libpcap's pcap_compile through ctypes against ``tcpdump -ddd``;
- flood: a sender process floods one end of a veth pair in a netns of this bench; a capture on
  the other end with a filter that keeps half of them decodes them; received, dropped by the
  kernel (PACKET_STATISTICS) and decoded per second;
- idle: CPU of an open capture waiting on a silent veth (target <= 1% of a core).
Everything it makes (one netns ``bp<hex>`` with its veth pair) is removed at the end.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dockerscope.kernel.packets import bpf  # noqa: E402
from dockerscope.kernel.packets import build as b  # noqa: E402
from dockerscope.kernel.packets.capture import Capture  # noqa: E402
from dockerscope.kernel.packets.decode import decode  # noqa: E402

A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
IP_A, IP_B = "10.250.0.1", "10.250.0.2"

SENDER = """
import socket, sys, time
frames = [bytes.fromhex(h) for h in sys.argv[3].split(",")]
n = int(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for i in range(n):
    while True:
        try:
            s.send(frames[i % len(frames)])
            break
        except BlockingIOError:
            time.sleep(0.0001)
"""


def sample_frames() -> list[bytes]:
    """Kept (UDP 9999, TCP 80) and refused (ARP, ICMP) frames for the flood and the decoder."""
    return [
        b.ethernet(A, B, 0x0800, b.ipv4(IP_A, IP_B, 17, b.udp(IP_A, IP_B, 4000, 9999, b"x" * 32))),
        b.ethernet(A, B, 0x0806, b.arp(1, A, IP_A, "00:00:00:00:00:00", IP_B)),
        b.ethernet(
            A, B, 0x0800, b.ipv4(IP_A, IP_B, 6, b.tcp(IP_A, IP_B, 43512, 80, 1, 0, 0x18, b"GET /"))
        ),
        b.ethernet(A, B, 0x0800, b.ipv4(IP_A, IP_B, 1, b.icmp_echo(1, 2))),
    ]


def dns_frames() -> list[bytes]:
    q = b.udp(IP_A, IP_B, 40000, 53, b.dns_query(7, "web.test"))
    a = b.udp(IP_B, IP_A, 53, 40000, b.dns_answer(7, "web.test", "10.0.0.9"))
    return [
        b.ethernet(A, B, 0x0800, b.ipv4(IP_A, IP_B, 17, q)),
        b.ethernet(B, A, 0x0800, b.ipv4(IP_B, IP_A, 17, a)),
    ]


def rate(fn, frames: list[bytes], n: int) -> float:  # type: ignore[no-untyped-def]
    t0 = time.process_time()
    k = len(frames)
    for i in range(n):
        fn(frames[i % k])
    return n / (time.process_time() - t0)


def decoder_rows(n: int) -> list[tuple[str, str]]:
    frames = sample_frames() + dns_frames()
    rows = [("decoder: ours (records)", f"{rate(decode, frames, n):,.0f} pkt/s")]
    try:
        import dpkt  # type: ignore[import-not-found]

        def with_dpkt(f: bytes) -> None:
            e = dpkt.ethernet.Ethernet(f)
            ip = e.data
            udp = ip.data if isinstance(ip, dpkt.ip.IP) else None
            if isinstance(udp, dpkt.udp.UDP) and 53 in (udp.sport, udp.dport):
                dpkt.dns.DNS(udp.data)

        rows.append(("decoder: dpkt (parse only)", f"{rate(with_dpkt, frames, n):,.0f} pkt/s"))
    except ImportError:
        rows.append(("decoder: dpkt", "not installed"))
    try:
        from scapy.layers import dns as _dns  # type: ignore[import-not-found]  # noqa: F401
        from scapy.layers.l2 import Ether  # type: ignore[import-not-found]

        rows.append(("decoder: scapy (parse only)", f"{rate(Ether, frames, n // 20):,.0f} pkt/s"))
    except ImportError:
        rows.append(("decoder: scapy", "not installed"))
    return rows


def compile_rows() -> list[tuple[str, str]]:
    expr = "tcp port 80 or arp or (udp and port 53)"
    t0 = time.perf_counter()
    for _ in range(200):
        bpf.compile_filter(expr)
    ours = (time.perf_counter() - t0) / 200
    t0 = time.perf_counter()
    for _ in range(10):
        subprocess.run(["tcpdump", "-ddd", "-i", "lo", expr], capture_output=True, check=True)
    tcpdump = (time.perf_counter() - t0) / 10
    return [
        ("filter compile: pcap_compile (ctypes)", f"{ours * 1e6:,.0f} us"),
        ("filter compile: tcpdump -ddd", f"{tcpdump * 1e3:,.1f} ms"),
    ]


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def flood_rows(ns: str, frames_n: int, rcvbuf: int) -> list[tuple[str, str]]:
    netns = f"/run/netns/{ns}"
    cap = Capture("vb", netns, "udp port 9999 or tcp port 80", rcvbuf=rcvbuf)
    hexes = ",".join(f.hex() for f in sample_frames())
    sender = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", SENDER, "va", str(frames_n), hexes]
    )
    decoded = 0
    t0 = time.monotonic()
    cpu0 = time.thread_time()
    while True:
        batch = cap.read(512)
        decoded += len(batch)
        if not batch:
            if sender.poll() is not None:
                time.sleep(0.05)
                tail = cap.read(100000)
                decoded += len(tail)
                if not tail:
                    break
            else:
                time.sleep(0.0005)
    wall = time.monotonic() - t0
    cpu = time.thread_time() - cpu0
    stats = cap.stats()
    cap.close()
    return [
        ("flood: frames sent (half match the filter)", f"{frames_n:,}"),
        ("flood: receive buffer", f"{rcvbuf >> 20} MiB"),
        ("flood: kept by the filter (kernel)", f"{stats.received:,}"),
        ("flood: dropped by the kernel (queue full)", f"{stats.dropped:,}"),
        ("flood: decoded", f"{decoded:,} in {wall:.2f} s"),
        ("flood: decoded per CPU second of the reader", f"{decoded / cpu:,.0f} pkt/s"),
    ]


def idle_rows(ns: str, seconds: float) -> list[tuple[str, str]]:
    cap = Capture("vb", f"/run/netns/{ns}", "tcp")
    stop = threading.Event()
    cpu: list[float] = []

    def run() -> None:
        t0 = time.thread_time()
        for _ in cap.packets(stop):
            pass
        cpu.append(time.thread_time() - t0)

    before = resource.getrusage(resource.RUSAGE_SELF)
    t = threading.Thread(target=run)
    t.start()
    time.sleep(seconds)
    stop.set()
    t.join()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cap.close()
    proc = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return [
        (
            f"idle: capture thread CPU over {seconds:.0f} s",
            f"{cpu[0] / seconds * 100:.2f}% of a core",
        ),
        ("idle: whole process CPU", f"{proc / seconds * 100:.2f}% of a core"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200000, help="frames in the flood")
    ap.add_argument("--decode", type=int, default=100000, help="frames for the decoder rows")
    ap.add_argument("--rcvbuf", type=int, default=16, help="receive buffer of the capture, MiB")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of the idle measure")
    args = ap.parse_args()
    rows = decoder_rows(args.decode) + compile_rows()
    ns = "bp" + uuid.uuid4().hex[:8]
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "-n", ns, "link", "add", "va", "type", "veth", "peer", "name", "vb")
        for dev in ("va", "vb"):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        rows += flood_rows(ns, args.frames, args.rcvbuf << 20)
        rows += idle_rows(ns, args.idle)
    finally:
        sh("ip", "netns", "del", ns)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
