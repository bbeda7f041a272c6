#!/usr/bin/env python3
"""Engine memory per idle container: RSS growth of the engine over N idle containers.

For dockerscope: the daemon and any helper process it keeps (not the containers' own
processes, told apart by their pid namespace). For Docker 20.10 (when it can be started in
isolation, see start_latency.py): dockerd + containerd + every containerd-shim.

    sudo python3 bench/memory.py [--containers 20] [--no-docker]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent))

from labs import DOCKERD, Engine, docker_engine, dockerscope_lab  # noqa: E402
from start_latency import busybox_rootfs_tar  # noqa: E402


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            ppid = int(Path(p, "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(p.name))
    return out


def pidns(pid: int) -> int:
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return 0


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def engine_pids(engine: Engine) -> list[int]:
    """The engine's own processes: the daemon, and descendants in the daemon's pid namespace
    (helpers, dockerd's containerd and shims); containers live in other pid namespaces."""
    mine = pidns(engine.pid)
    seen, todo = [], [engine.pid]
    while todo:
        pid = todo.pop()
        if pidns(pid) != mine:
            continue
        seen.append(pid)
        todo += children(pid)
    if engine.name.startswith("docker"):
        # containerd-shims are reparented to init: find them by name.
        for p in Path("/proc").iterdir():
            shim = p.name.isdigit() and comm(int(p.name)).startswith("containerd-shim")
            if shim and int(p.name) not in seen:
                seen.append(int(p.name))
    return seen


def total_rss(engine: Engine) -> tuple[int, int]:
    pids = engine_pids(engine)
    return sum(rss_kb(p) for p in pids), len(pids)


def measure(engine: Engine, n: int) -> tuple[int, int, int, int]:
    client = docker.DockerClient(base_url=engine.url, timeout=120)
    try:
        warm = client.containers.run(engine.image, ["true"], remove=True)  # noqa: F841
        time.sleep(1)
        before, nbefore = total_rss(engine)
        made = [
            client.containers.run(engine.image, ["sleep", "100000"], detach=True) for _ in range(n)
        ]
        time.sleep(2)
        after, nafter = total_rss(engine)
        for c in made:
            c.remove(force=True)
    finally:
        client.close()
    return before, after, nbefore, nafter


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--containers", type=int, default=20)
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    n = args.containers
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="dsbench-"))
    try:
        with dockerscope_lab(tmp) as eng:
            rows.append(("dockerscope", *measure(eng, n)))
        if not args.no_docker and os.path.exists(DOCKERD):
            tar = tmp / "busybox.tar"
            busybox_rootfs_tar(tmp / "ds-data" / "images", tar)
            try:
                with docker_engine(tmp, tar) as eng:
                    rows.append(("docker 20.10", *measure(eng, n)))
            except Exception as exc:
                print(f"(Docker not measured: {exc})", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"engine RSS with {n} idle containers (containers' own processes excluded)")
    print(f"{'engine':<14} {'before MB':>10} {'after MB':>10} {'procs':>9} {'MB/container':>13}")
    for name, before, after, nb, na in rows:
        print(
            f"{name:<14} {before / 1024:>10.1f} {after / 1024:>10.1f} {f'{nb}->{na}':>9} "
            f"{(after - before) / 1024 / n:>13.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
