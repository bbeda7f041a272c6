#!/usr/bin/env python3
"""Start latency: create + start + wait of ``true`` on busybox, through the API (docker-py).

Prints median and p95 over N runs for dockerscope and, when /usr/sbin/dockerd can be started
in isolation, for Docker 20.10 on the same busybox rootfs. Both engines are started and removed
by bench/labs.py (dockerscope in a lab through dockerscope.labctl, Docker in a netns of its own
on private roots).

    sudo python3 bench/start_latency.py [--runs 50] [--no-docker] [--debian]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))

from labs import DOCKERD, Engine, docker_engine, dockerscope_lab  # noqa: E402


def busybox_rootfs_tar(lab_images: Path, out: Path) -> None:
    """A tar of the busybox rootfs dockerscope built (the same bytes for both engines)."""
    from dockerscope.engine.images import ImageStore

    store = ImageStore(lab_images)
    img = store.ensure_builtin("busybox")
    dirs = store.layer_dirs(img)
    with tarfile.open(out, "w") as tar:
        for d in reversed(dirs):
            tar.add(d, arcname=".")


def measure(engine: Engine, runs: int, image: str | None = None) -> list[float]:
    """Seconds for create + start + wait of ``true``, ``runs`` times (removal not timed)."""
    client = docker.DockerClient(base_url=engine.url, timeout=120)
    img = image or engine.image
    out = []
    try:
        for i in range(runs + 2):
            t0 = time.perf_counter()
            c = client.containers.create(img, ["true"])
            c.start()
            code = c.wait()["StatusCode"]
            dt = time.perf_counter() - t0
            c.remove()
            if code != 0:
                raise RuntimeError(f"{engine.name}: true exited {code}")
            if i >= 2:  # two warm-up runs
                out.append(dt)
    finally:
        client.close()
    return out


def p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]


def row(name: str, xs: list[float]) -> str:
    return (
        f"{name:<22} {len(xs):>4} {statistics.median(xs) * 1000:>10.1f} "
        f"{p95(xs) * 1000:>10.1f} {min(xs) * 1000:>9.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--no-docker", action="store_true", help="skip Docker even if installed")
    ap.add_argument(
        "--debian", action="store_true", help="also measure the debian image (built on first use)"
    )
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    results: list[tuple[str, list[float]]] = []
    tmp = Path(tempfile.mkdtemp(prefix="dsbench-"))
    try:
        with dockerscope_lab(tmp) as eng:
            results.append(("dockerscope busybox", measure(eng, args.runs)))
            if args.debian:
                client = docker.DockerClient(base_url=eng.url, timeout=3600)
                client.images.pull("debian")
                client.close()
                results.append(("dockerscope debian", measure(eng, args.runs, "debian")))
        if not args.no_docker and os.path.exists(DOCKERD):
            tar = tmp / "busybox.tar"
            busybox_rootfs_tar(tmp / "ds-data" / "images", tar)
            try:
                with docker_engine(tmp, tar) as eng:
                    results.append(("docker 20.10 busybox", measure(eng, args.runs)))
            except Exception as exc:
                log = tmp / "dockerd.log"
                tail = log.read_text(errors="replace").splitlines()[-3:] if log.exists() else []
                print(f"(Docker not measured: {exc}) {tail}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"create + start + wait of `true`, through docker-py, {args.runs} runs (ms)")
    print(f"{'engine':<22} {'runs':>4} {'median':>10} {'p95':>10} {'min':>9}")
    for name, xs in results:
        print(row(name, xs))
    ours = statistics.median(results[0][1])
    theirs = [statistics.median(xs) for name, xs in results if name.startswith("docker ")]
    if theirs:
        print(f"dockerscope / docker median: {ours / theirs[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
