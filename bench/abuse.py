#!/usr/bin/env python3
"""Abusive clients against the daemon: does ``/_ping`` stay fast and the daemon bounded?

For each abuse, while it runs, a prober opens a fresh connection every 20 ms and times
``GET /_ping`` (2 s at most per ping); a sampler reads the engine's RSS every 50 ms. Abuses:

- ``idle 200``: 200 connections each send one ping, then sit idle (keep-alive) for 5 s;
- ``idle 330 / nofile 300``: 330 such connections to an engine whose RLIMIT_NOFILE is 300
  (dockerscope is started with it; dockerd gets it with prlimit once it serves);
- ``slowloris``: 50 connections send a request line, then a header byte every 0.5 s for 12 s
  (past the daemon's 10 s header timeout);
- ``1 GB body``: ``POST /images/load`` announcing a 1 GiB + 1 tar (a valid tar header, then
  zeros), streamed at full speed, then the connection is dropped one byte short;
- ``malformed``: 2000 broken requests (bad request lines and headers, a 20 KiB header, bad
  chunk sizes, broken JSON, a negative length, binary garbage) from 4 threads;
- ``all at once``: idle 200 + slowloris + 1 GB body together.

Container output (a second table; busybox containers, so Docker gets a busybox rootfs):

- ``flood yes``/``flood 80 B lines``: a container writes ``yes`` (2-byte lines) or 80-byte
  lines as fast as it can, through ``head -c``; MB/s of container output from start to exit,
  and the disk its logs take afterwards (dockerscope's default cap is 10 MB x 3; Docker's
  json-file has none). Beside them, ``host pipe``: ``head -c N /dev/zero > file`` on the host;
- ``big log read``: ``docker logs`` (everything, read as fast as the client can) of a log of a
  few hundred MB, written beforehand with ``max-size=100m``;
- ``slow attach``: an attach client that never reads, for 25 s, on a container writing ``yes``;
- ``stalled logs -f``: the same with ``logs -f``.

Columns: requests the abuse sent, 5xx answers (to the abuse and to the pings), pings that got
no answer within 2 s, the engine's RSS before / peak / after (1 s after the abuse ended), and
the ping latency p50 / p95. Docker 20.10 (when /usr/sbin/dockerd exists) runs in a netns of
its own on private roots, as bench/start_latency.py starts it. All traffic goes to the engines'
unix sockets; every abuse is bounded in count and time.

    sudo .venv/bin/python bench/abuse.py [--no-docker] [--only NAME|output] [--no-output]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from labs import DOCKERD, Engine, docker_engine, dockerscope_lab  # noqa: E402
from memory import engine_pids, rss_kb  # noqa: E402
from start_latency import busybox_rootfs_tar  # noqa: E402

PING = b"GET /_ping HTTP/1.1\r\nHost: bench\r\n\r\n"
PING_EVERY = 0.02
PING_TIMEOUT = 2.0
LOW_NOFILE = 300
NOFILE_ABUSE = f"idle 330 / nofile {LOW_NOFILE}"


# ---- engines ------------------------------------------------------------------------------


@contextlib.contextmanager
def dockerscope_daemon(tmp: Path, nofile: int | None = None) -> Iterator[Engine]:
    """A dockerscope daemon in a lab of its own (RLIMIT_NOFILE ``nofile`` if given); its socket.
    bench/labs.py starts it through dockerscope.labctl and takes the lab down afterwards."""
    with dockerscope_lab(tmp, nofile=nofile) as eng:
        yield Engine(eng.name, eng.url.removeprefix("unix://"), eng.pid, eng.image)


@contextlib.contextmanager
def docker_daemon(tmp: Path, busybox: bool = False) -> Iterator[Engine]:
    """Docker 20.10 in its own netns on private roots (bench/start_latency.py's); its socket.
    ``busybox``: its image is dockerscope's busybox rootfs (the container output rows run it)."""
    tar = tmp / "tiny.tar"
    if busybox:
        busybox_rootfs_tar(tmp / "bb-images", tar)
    else:
        with tarfile.open(tar, "w") as t:  # docker_engine imports an image: one empty file
            t.addfile(tarfile.TarInfo("empty"))
    with docker_engine(tmp, tar) as eng:
        yield Engine(eng.name, eng.url.removeprefix("unix://"), eng.pid, eng.image)


# ---- probes -------------------------------------------------------------------------------


def unix(path: str, timeout: float = PING_TIMEOUT) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    return s


def read_head(s: socket.socket) -> int:
    """The status of one response, its body read too (by Content-Length); 0 if none came."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = s.recv(4096)
        if not data:
            return 0
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(rest) < length:
        data = s.recv(4096)
        if not data:
            break
        rest += data
    return int(head.split(b" ", 2)[1])


def ping_once(path: str) -> tuple[float | None, int]:
    """(seconds, status) of a ping on a fresh connection; (None, 0) when no answer came."""
    t0 = time.perf_counter()
    try:
        with unix(path) as s:
            s.sendall(PING)
            status = read_head(s)
    except OSError:
        return None, 0
    return (time.perf_counter() - t0 if status else None), status


@dataclass
class Probe:
    """Pings and RSS samples taken while an abuse runs."""

    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    errors: int = 0  # 5xx answers to pings
    rss: list[int] = field(default_factory=list)


def probing(path: str, pids: Callable[[], list[int]], stop: threading.Event, out: Probe):
    def pinger() -> None:
        while not stop.is_set():
            dt, status = ping_once(path)
            if dt is None:
                out.failed += 1
            else:
                out.latencies.append(dt)
            out.errors += status >= 500
            stop.wait(PING_EVERY)

    def sampler() -> None:
        while not stop.is_set():
            out.rss.append(sum(rss_kb(p) for p in pids()))
            stop.wait(0.05)

    return [threading.Thread(target=f, daemon=True) for f in (pinger, sampler)]


# ---- abuses -------------------------------------------------------------------------------


@dataclass
class Tally:
    """What an abuse sent and got."""

    sent: int = 0
    errors: int = 0  # 5xx answers
    closed_by_server: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # container output rows: MB/s of output, MB of log on disk, bytes a client received
    mb_s: float = float("nan")
    disk_mb: float = float("nan")

    def add(self, sent: int = 0, errors: int = 0, closed: int = 0) -> None:
        with self.lock:
            self.sent += sent
            self.errors += errors
            self.closed_by_server += closed


def idle(n: int, hold: float) -> Callable[[str, Tally, threading.Event], None]:
    """``n`` keep-alive connections, one ping each, then silent for ``hold`` seconds."""

    def run(path: str, tally: Tally, stop: threading.Event) -> None:
        held: list[socket.socket] = []
        try:
            for _ in range(n):
                try:
                    s = unix(path)
                    held.append(s)
                    s.sendall(PING)
                    status = read_head(s)
                    tally.add(sent=1, errors=status >= 500)
                except OSError:
                    tally.add(sent=1)
            stop.wait(hold)
            for s in held:  # which ones did the server close?
                s.setblocking(False)
                try:
                    tally.add(closed=s.recv(4096) == b"")
                except BlockingIOError:
                    pass
                except OSError:
                    tally.add(closed=1)
        finally:
            for s in held:
                s.close()

    return run


def slowloris(n: int, every: float, total: float) -> Callable[[str, Tally, threading.Event], None]:
    """``n`` connections that send a request line, then one header byte every ``every`` s."""

    def run(path: str, tally: Tally, stop: threading.Event) -> None:
        conns: list[socket.socket | None] = []
        for _ in range(n):
            try:
                s = unix(path)
                s.sendall(b"GET /_ping HTTP/1.1\r\nHost: bench\r\nX-Slow: ")
                conns.append(s)
                tally.add(sent=1)
            except OSError:
                conns.append(None)
        end = time.monotonic() + total
        try:
            while time.monotonic() < end and not stop.is_set():
                for i, s in enumerate(conns):
                    if s is None:
                        continue
                    try:
                        s.sendall(b"a")
                    except OSError:
                        tally.add(closed=1)
                        s.close()
                        conns[i] = None
                stop.wait(every)
        finally:
            for s in conns:
                if s is not None:
                    s.close()

    return run


def big_body(size: int) -> Callable[[str, Tally, threading.Event], None]:
    """``POST /images/load`` announcing ``size`` + 1 bytes of tar, aborted one byte short."""

    def run(path: str, tally: Tally, stop: threading.Event) -> None:
        info = tarfile.TarInfo("layer.bin")
        info.size = size  # the tar is valid as far as it goes: both engines keep reading
        header = info.tobuf()
        total = size + 1
        head = (
            f"POST /v1.41/images/load?quiet=1 HTTP/1.1\r\nHost: bench\r\n"
            f"Content-Type: application/x-tar\r\nContent-Length: {total}\r\n\r\n"
        ).encode()
        block = bytes(1 << 20)
        sent = 0
        try:
            with unix(path, timeout=30) as s:
                s.sendall(head + header)
                sent = len(header)
                tally.add(sent=1)
                while sent + len(block) < total and not stop.is_set():
                    s.sendall(block)
                    sent += len(block)
                s.sendall(bytes(total - 1 - sent))  # all but the last byte, then drop it
        except OSError:
            tally.add(closed=1)  # the engine stopped reading (refused or failed early)

    return run


MALFORMED = (
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET /_ping HTTP/1.1\r\nNo colon here\r\n\r\n",
    b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
    b"POST /containers/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{nope",
    b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"\x00\xff\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 20,
    b"GET /containers/json?filters=%7B%7B%7B HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /" + b"%" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
)


def malformed(n: int, threads: int = 4) -> Callable[[str, Tally, threading.Event], None]:
    """``n`` broken requests, each on a new connection, from ``threads`` threads."""

    def one_thread(path: str, tally: Tally, count: int) -> None:
        for i in range(count):
            try:
                with unix(path) as s:
                    s.sendall(MALFORMED[i % len(MALFORMED)])
                    status = read_head(s)
                tally.add(sent=1, errors=status >= 500)
            except OSError:
                tally.add(sent=1)

    def run(path: str, tally: Tally, stop: threading.Event) -> None:
        workers = [
            threading.Thread(target=one_thread, args=(path, tally, n // threads))
            for _ in range(threads)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    return run


def together(*abuses: Callable[[str, Tally, threading.Event], None]):
    def run(path: str, tally: Tally, stop: threading.Event) -> None:
        workers = [threading.Thread(target=a, args=(path, tally, stop)) for a in abuses]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    return run


# ---- one measurement ----------------------------------------------------------------------


@dataclass
class Row:
    abuse: str
    engine: str
    tally: Tally
    probe: Probe
    before_kb: int
    after_kb: int
    seconds: float


def measure(name: str, engine: Engine, abuse: Callable[[str, Tally, threading.Event], None]) -> Row:
    pids = (
        (lambda: engine_pids(engine))
        if engine.name.startswith("docker")
        else (lambda: [engine.pid])
    )
    before = sum(rss_kb(p) for p in pids())
    probe, tally, stop = Probe(), Tally(), threading.Event()
    threads = probing(engine.url, pids, stop, probe)
    for t in threads:
        t.start()
    t0 = time.monotonic()
    worker = threading.Thread(target=abuse, args=(engine.url, tally, stop), daemon=True)
    worker.start()
    worker.join(180)  # every abuse is bounded; this bounds a stuck engine too
    stop.set()
    seconds = time.monotonic() - t0
    for t in threads:
        t.join()
    time.sleep(1)
    after = sum(rss_kb(p) for p in pids())
    print(f"  {engine.name}: {name} done in {seconds:.1f} s", file=sys.stderr)
    return Row(name, engine.name, tally, probe, before, after, seconds)


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))] * 1000 if s else float("nan")


def table(rows: list[Row]) -> str:
    lines = [
        f"{'abuse':<22} {'engine':<12} {'sent':>5} {'5xx':>4} {'closed':>6} {'no ans':>6} "
        f"{'RSS MB before/peak/after':>25} {'pings':>5} {'p50 ms':>7} {'p95 ms':>7}"
    ]
    for r in rows:
        peak = max([r.before_kb, r.after_kb, *r.probe.rss])
        rss = f"{r.before_kb / 1024:.1f}/{peak / 1024:.1f}/{r.after_kb / 1024:.1f}"
        lines.append(
            f"{r.abuse:<22} {r.engine:<12} {r.tally.sent:>5} "
            f"{r.tally.errors + r.probe.errors:>4} {r.tally.closed_by_server:>6} "
            f"{r.probe.failed:>6} {rss:>25} {len(r.probe.latencies):>5} "
            f"{pct(r.probe.latencies, 0.5):>7.1f} {pct(r.probe.latencies, 0.95):>7.1f}"
        )
    return "\n".join(lines)


GiB = 1 << 30


def abuses() -> list[tuple[str, Callable[[str, Tally, threading.Event], None]]]:
    return [
        ("idle 200", idle(200, 5)),
        ("slowloris 50", slowloris(50, 0.5, 12)),
        ("1 GB body, aborted", big_body(GiB)),
        ("malformed 2000", malformed(2000)),
        (
            "all at once",
            together(idle(200, 12), slowloris(50, 0.5, 12), big_body(GiB)),
        ),
    ]


def run_engine(engine: Engine, only: str | None) -> list[Row]:
    rows = []
    for name, abuse in abuses():
        if only is None or only in name:
            rows.append(measure(name, engine, abuse))
    return rows


def low_nofile_row(engine: Engine) -> Row:
    return measure(NOFILE_ABUSE, engine, idle(330, 5))


# ---- container output -----------------------------------------------------------------------

LINE80 = "x" * 79  # `yes LINE80` writes 80-byte lines
OUTPUT_HOLD = 25.0  # seconds a slow reader holds its connection
MB = 1_000_000


def _client(path: str) -> docker.DockerClient:
    return docker.DockerClient(base_url=f"unix://{path}", timeout=300)


def _log_disk(cl: docker.DockerClient, cid: str) -> int:
    """Bytes of a container's json log, rotated files included (from its LogPath)."""
    log_path = cl.api.inspect_container(cid)["LogPath"]
    return sum(p.stat().st_size for p in Path(log_path).parent.glob(Path(log_path).name + "*"))


def flood(image: str, cmd: str, nbytes: int) -> Callable[[str, Tally, threading.Event], None]:
    """A container writes ``nbytes`` through ``cmd`` (``head -c`` ends it); MB/s from start to
    exit, and the disk its log takes."""

    def run(path: str, tally: Tally, stop: threading.Event) -> None:
        cl = _client(path)
        c = cl.containers.create(image, ["sh", "-c", cmd])
        try:
            t0 = time.perf_counter()
            c.start()
            c.wait(timeout=170)
            tally.add(sent=1)
            tally.mb_s = nbytes / MB / (time.perf_counter() - t0)
            tally.disk_mb = _log_disk(cl, c.id) / MB
        finally:
            c.remove(force=True)
            cl.close()

    return run


def big_log(engine: Engine, nbytes: int) -> str:
    """A stopped container whose log holds ``nbytes`` of 80-byte lines (max-size 100m): the
    setup of ``big log read``, not measured."""
    cl = _client(engine.url)
    log_config = {"type": "json-file", "config": {"max-size": "100m", "max-file": "5"}}
    c = cl.containers.create(
        engine.image,
        ["sh", "-c", f"yes {LINE80} | head -c {nbytes}"],
        log_config=log_config,
    )
    c.start()
    c.wait(timeout=170)
    cl.close()
    return str(c.id)


def read_logs(cid: str) -> Callable[[str, Tally, threading.Event], None]:
    """``docker logs`` of the whole log, read as fast as the client can; MB/s read."""

    def run(path: str, tally: Tally, stop: threading.Event) -> None:
        cl = _client(path)
        try:
            tally.disk_mb = _log_disk(cl, cid) / MB
            with unix(path, timeout=120) as s:
                s.sendall(
                    f"GET /v1.41/containers/{cid}/logs?stdout=1&stderr=1 HTTP/1.1\r\n"
                    "Host: bench\r\nConnection: close\r\n\r\n".encode()
                )
                t0, got = time.perf_counter(), 0
                while data := s.recv(1 << 20):
                    got += len(data)
                tally.add(sent=1)
                tally.mb_s = got / MB / (time.perf_counter() - t0)
        finally:
            cl.api.remove_container(cid, force=True)
            cl.close()

    return run


def slow_reader(image: str, request: str) -> Callable[[str, Tally, threading.Event], None]:
    """A client that sends ``request`` (attach or logs -f, ``{cid}`` in it) to a container
    writing ``yes`` and reads nothing for OUTPUT_HOLD seconds; then, did the engine close it?"""

    def run(path: str, tally: Tally, stop: threading.Event) -> None:
        cl = _client(path)
        c = cl.containers.create(image, ["yes"])
        try:
            c.start()
            s = unix(path, timeout=10)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            s.sendall(request.format(cid=c.id).encode())
            tally.add(sent=1)
            stop.wait(OUTPUT_HOLD)
            try:  # what the kernel holds, then EOF if the engine closed the connection
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    if not s.recv(1 << 20):
                        tally.add(closed=1)
                        break
            except OSError:
                pass
            s.close()
            tally.disk_mb = _log_disk(cl, c.id) / MB
        finally:
            c.remove(force=True)
            cl.close()

    return run


ATTACH_REQ = (
    "POST /v1.41/containers/{cid}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: bench\r\n"
    "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
)
FOLLOW_REQ = "GET /v1.41/containers/{cid}/logs?stdout=1&follow=1 HTTP/1.1\r\nHost: bench\r\n\r\n"
OUTPUT_ABUSES = ("flood yes", "flood 80 B lines", "big log read", "slow attach", "stalled logs -f")


def run_output(engine: Engine, only: str | None) -> list[Row]:
    """The container output rows for one engine."""
    img = engine.image
    yes_n, lines_n, big_n = 30 * MB, 300 * MB, 160 * MB
    plan: list[tuple[str, Callable[[], Callable[[str, Tally, threading.Event], None]]]] = [
        ("flood yes", lambda: flood(img, f"yes | head -c {yes_n}", yes_n)),
        (
            "flood 80 B lines",
            lambda: flood(img, f"yes {LINE80} | head -c {lines_n}", lines_n),
        ),
        ("big log read", lambda: read_logs(big_log(engine, big_n))),
        ("slow attach", lambda: slow_reader(img, ATTACH_REQ)),
        ("stalled logs -f", lambda: slow_reader(img, FOLLOW_REQ)),
    ]
    rows = []
    for name, make in plan:
        if only in (None, "output") or only in name:
            rows.append(measure(name, engine, make()))
    return rows


def host_pipe_row(tmp: Path, nbytes: int = 1000 * MB) -> Row:
    """``head -c N /dev/zero > file`` on the host: what a plain pipe-to-file copy costs."""
    out = tmp / "pipe.out"
    t0 = time.perf_counter()
    subprocess.run(["sh", "-c", f"head -c {nbytes} /dev/zero > {out}"], check=True)
    dt = time.perf_counter() - t0
    disk = out.stat().st_size / MB
    out.unlink()
    tally = Tally(sent=1, mb_s=nbytes / MB / dt, disk_mb=disk)
    return Row("host pipe (head > file)", "host", tally, Probe(), 0, 0, dt)


def output_table(rows: list[Row]) -> str:
    lines = [
        f"{'output abuse':<24} {'engine':<12} {'MB/s':>7} {'log MB':>7} {'closed':>6} "
        f"{'RSS MB before/peak/after':>25} {'pings':>5} {'p50 ms':>7} {'p95 ms':>7}"
    ]
    for r in rows:
        peak = max([r.before_kb, r.after_kb, *r.probe.rss])
        rss = f"{r.before_kb / 1024:.1f}/{peak / 1024:.1f}/{r.after_kb / 1024:.1f}"
        lines.append(
            f"{r.abuse:<24} {r.engine:<12} {r.tally.mb_s:>7.1f} {r.tally.disk_mb:>7.1f} "
            f"{r.tally.closed_by_server:>6} {rss:>25} {len(r.probe.latencies):>5} "
            f"{pct(r.probe.latencies, 0.5):>7.1f} {pct(r.probe.latencies, 0.95):>7.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--no-docker", action="store_true", help="skip Docker even if installed")
    ap.add_argument("--only", help="run only the abuses whose name contains this")
    ap.add_argument("--no-output", action="store_true", help="skip the container output rows")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    # The bench holds hundreds of sockets itself.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    rows: list[Row] = []
    out_rows: list[Row] = []
    output = not args.no_output and (
        args.only in (None, "output") or any(args.only in name for name in OUTPUT_ABUSES)
    )
    tmp = Path(tempfile.mkdtemp(prefix="dsabuse-"))
    try:
        with dockerscope_daemon(tmp) as eng:
            rows += run_engine(eng, args.only)
            if output:
                out_rows += run_output(eng, args.only)
        if args.only is None or "330" in args.only:
            with dockerscope_daemon(tmp, nofile=LOW_NOFILE) as eng:
                rows.append(low_nofile_row(eng))
        if not args.no_docker and os.path.exists(DOCKERD):
            try:
                with docker_daemon(tmp, busybox=output) as eng:
                    rows += run_engine(eng, args.only)
                    if output:
                        out_rows += run_output(eng, args.only)
                    if args.only is None or "330" in args.only:
                        # Last: dockerd keeps the lowered limit until it stops.
                        resource.prlimit(eng.pid, resource.RLIMIT_NOFILE, (LOW_NOFILE, LOW_NOFILE))
                        rows.append(low_nofile_row(eng))
            except Exception as exc:
                print(f"(Docker not measured: {exc})", file=sys.stderr)
        if output and (args.only in (None, "output") or "flood" in args.only):
            out_rows.append(host_pipe_row(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    order = [name for name, _ in abuses()] + [NOFILE_ABUSE]
    rows.sort(
        key=lambda r: (
            order.index(r.abuse) if r.abuse in order else len(order),
            r.engine != "dockerscope",
        )
    )
    print(
        "abusive clients; /_ping on a fresh connection every 20 ms during each "
        f"(no answer within {PING_TIMEOUT:g} s = 'no ans'); 'closed' = abuse connections the "
        "engine closed"
    )
    print(table(rows))
    if out_rows:
        names = [*OUTPUT_ABUSES, "host pipe (head > file)"]
        out_rows.sort(key=lambda r: (names.index(r.abuse), r.engine != "dockerscope"))
        print(
            "\ncontainer output; MB/s: container output from start to exit (floods), a client "
            "reading docker logs (big log read); log MB: the container's json log files on "
            f"disk; slow readers read nothing for {OUTPUT_HOLD:g} s ('closed': the engine "
            "closed them)"
        )
        print(output_table(out_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
