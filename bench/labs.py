"""The engines the benches measure, started and removed the same way by each bench.

``dockerscope_lab``: a dockerscope daemon in a lab of its own, started and taken down through
``dockerscope.labctl`` (as the CLI and the tests do). ``docker_engine``: Docker 20.10 inside a
network namespace made for the bench, with its own data root, exec root and unix socket under a
temp dir, so it never touches the host's network or the host's Docker state; it is stopped and
everything it made is removed at the end.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dockerscope import labctl  # noqa: E402
from dockerscope.engine.paths import Lab  # noqa: E402

DOCKERD = "/usr/sbin/dockerd"


def wait_for_socket(path: Path, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    """Return once ``path`` answers a docker-py ping (dockerd's socket); raise if ``proc``
    exits first or ``timeout`` seconds pass."""
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
    """An engine a bench talks to: its name in the tables, API URL, daemon pid, test image."""

    name: str
    url: str
    pid: int
    image: str


@contextlib.contextmanager
def dockerscope_lab(tmp: Path, nofile: int | None = None) -> Iterator[Engine]:
    """A dockerscope daemon in a lab of its own under ``tmp`` (RLIMIT_NOFILE ``nofile`` if
    given), its log in ``tmp``; the daemon is stopped and the lab taken down afterwards."""
    lab = Lab.named("b" + uuid.uuid4().hex[:8], tmp / "ds-data", tmp / "ds-run")
    log_name = tmp / f"dockerscope-{lab.name}.log"
    proc: subprocess.Popen[bytes] | None = None
    with open(log_name, "wb") as log:
        try:
            proc = labctl.start_daemon(lab, log, wait=90, log_name=log_name, nofile=nofile)
            yield Engine("dockerscope", f"unix://{lab.socket}", proc.pid, "busybox")
        finally:
            if proc is not None:
                labctl.stop_process(proc, timeout=60)
            for problem in labctl.take_down(lab, keep_log=True, say=lambda _: None):
                print(f"lab {lab.name}: {problem}", file=sys.stderr)


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
