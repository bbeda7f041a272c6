#!/usr/bin/env python3
"""Start latency: create + start + wait of ``true`` on busybox, through the API (docker-py).

Prints median and p95 over N runs for dockerscope and, when /usr/sbin/dockerd can be started
in isolation, for Docker 20.10 on the same busybox rootfs. Docker runs inside a network
namespace made for the bench, with its own data root, exec root and unix socket under a temp
dir, so it never touches the host's network or the host's Docker state; it is stopped and
everything it made is removed at the end.

    sudo python3 bench/start_latency.py [--runs 50] [--no-docker] [--debian]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dockerscope.engine.paths import Lab  # noqa: E402

DOCKERD = "/usr/sbin/dockerd"


def wait_for_socket(path: Path, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        if path.exists():
            try:
                if docker.DockerClient(base_url=f"unix://{path}", timeout=5).ping():
                    return
            except Exception:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"no answer on {path} after {timeout}s")


@dataclass
class Engine:
    name: str
    url: str
    pid: int
    image: str


@contextlib.contextmanager
def dockerscope_engine(tmp: Path) -> Iterator[Engine]:
    """A dockerscope daemon in its own lab; the lab is taken down afterwards."""
    lab = Lab.named("b" + uuid.uuid4().hex[:8], tmp / "ds-data", tmp / "ds-run")
    log = open(tmp / "dockerscope.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dockerscope.engine.daemon",
            "--lab",
            lab.name,
            "--data-root",
            str(lab.data_root),
            "--run-root",
            str(lab.run_root),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        wait_for_socket(lab.socket, proc)
        yield Engine("dockerscope", f"unix://{lab.socket}", proc.pid, "busybox")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        from dockerscope.engine import runtime
        from dockerscope.engine.network import LabHost

        with contextlib.suppress(Exception):
            LabHost(lab).down()
        with contextlib.suppress(Exception):
            runtime.remove_parent(lab.cgroup_parent)


def busybox_rootfs_tar(lab_images: Path, out: Path) -> None:
    """A tar of the busybox rootfs dockerscope built (the same bytes for both engines)."""
    from dockerscope.engine.images import ImageStore

    store = ImageStore(lab_images)
    img = store.ensure_builtin("busybox")
    dirs = store.layer_dirs(img)
    with tarfile.open(out, "w") as tar:
        for d in reversed(dirs):
            tar.add(d, arcname=".")


def _cgroup_dirs(name: str) -> list[Path]:
    root = Path("/sys/fs/cgroup")
    dirs = [root / name] + [p / name for p in root.iterdir() if p.is_dir()] if root.exists() else []
    return [d for d in dirs if d.is_dir()]


def _remove_cgroup_tree(d: Path) -> None:
    for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            sub.rmdir()
    with contextlib.suppress(OSError):
        d.rmdir()


@contextlib.contextmanager
def docker_engine(tmp: Path, rootfs_tar: Path) -> Iterator[Engine]:
    """Docker 20.10 inside a netns of its own, on private roots; removed afterwards."""
    ns = "dsbench-" + uuid.uuid4().hex[:6]
    data, exec_root = tmp / "docker-data", tmp / "docker-exec"
    sock = tmp / "docker.sock"
    cgroups_before = {str(d) for d in _cgroup_dirs("docker")}
    subprocess.run(["ip", "netns", "add", ns], check=True)
    proc = None
    log = open(tmp / "dockerd.log", "wb")  # noqa: SIM115
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        proc = subprocess.Popen(
            # nsenter switches only the network namespace (``ip netns exec`` would also remount
            # /sys, hiding the cgroup mounts dockerd needs).
            [
                "nsenter",
                f"--net=/run/netns/{ns}",
                DOCKERD,
                "--data-root",
                str(data),
                "--exec-root",
                str(exec_root),
                "-H",
                f"unix://{sock}",
                "--pidfile",
                str(tmp / "dockerd.pid"),
                "--iptables=true",
                "--ip-masq=true",
                "--userland-proxy=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_socket(sock, proc)
        client = docker.DockerClient(base_url=f"unix://{sock}", timeout=120)
        with open(rootfs_tar, "rb") as f:
            client.api.import_image_from_data(f.read(), repository="busybox", tag="bench")
        client.close()
        yield Engine(
            "docker 20.10",
            f"unix://{sock}",
            int((tmp / "dockerd.pid").read_text()),
            "busybox:bench",
        )
    finally:
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(Exception):
                client = docker.DockerClient(base_url=f"unix://{sock}", timeout=60)
                for c in client.containers.list(all=True):
                    c.remove(force=True)
                client.close()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        # Whatever dockerd left mounted under its roots, then the roots, the netns, cgroups.
        for root in (exec_root, data):
            mounts = [
                line.split()[4]
                for line in Path("/proc/self/mountinfo").read_text().splitlines()
                if line.split()[4].startswith(str(root))
            ]
            for m in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], check=False)
            shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["ip", "netns", "del", ns], check=False)
        for d in _cgroup_dirs("docker"):
            if str(d) not in cgroups_before:
                _remove_cgroup_tree(d)


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
        with dockerscope_engine(tmp) as eng:
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
