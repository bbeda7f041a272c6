"""A lab's caps (containers, memory, pids) enforced by the daemon and the kernel, and a lab's
state kept private (0700 dirs, 0600 files) while containers still read what they must.

Each test runs a real daemon in its own lab (temporary data and run roots) and takes the lab
down after, cgroup parent included (the leak check proves nothing is left).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockerscope import labctl
from dockerscope.engine.containers.frames import unframe
from dockerscope.engine.labcaps import LabCaps
from dockerscope.engine.paths import Lab
from dockerscope.engine.runtime.cgroups import CgroupLayout
from tests.kernel.test_engine_daemon import (
    START_TIMEOUT,
    RunningDaemon,
    stop_daemon,
    take_lab_down,
    wait_exit,
)
from tests.kernel.test_engine_daemon import daemon as daemon  # the fixture, shared

pytestmark = pytest.mark.kernel

MiB = 1024 * 1024
PIDS = 60
CAPS = LabCaps(containers=3, memory=256 * MiB, pids=PIDS)


@pytest.fixture
def capped(tmp_path: Path, lab_name: str) -> Iterator[RunningDaemon]:
    """A daemon whose lab may keep 3 containers, 256 MiB and 60 pids."""
    lab = Lab.named(lab_name, tmp_path / "data", tmp_path / "run")
    log = tmp_path / "daemon.log"
    proc = None
    try:
        with open(log, "ab") as f:
            proc = labctl.spawn_daemon(lab, f, CAPS)
        labctl.wait_until_answering(lab, proc, START_TIMEOUT, log)
        yield RunningDaemon(lab, proc, log)
    finally:
        if proc is not None:
            stop_daemon(proc)
        take_lab_down(lab)


def _parent(lab: Lab, controller: str) -> Path:
    layout = CgroupLayout.detect()
    root = layout.mount_of(controller)
    assert root is not None
    return Path(root, lab.cgroup_parent)


def _read(p: Path) -> str:
    return p.read_text().strip()


def _create(d: RunningDaemon, *cmd: str, **extra: object) -> tuple[int, dict[str, str]]:
    status, out = d.call("POST", "/containers/create", {"Image": "busybox", "Cmd": cmd, **extra})
    return status, out


def test_the_parent_cgroup_holds_the_caps_and_the_count_is_refused(
    capped: RunningDaemon,
) -> None:
    lab = capped.lab
    if CgroupLayout.detect().version == 2:
        mem = _parent(lab, "memory")
        assert _read(mem / "memory.max") == str(256 * MiB)
        assert _read(mem / "pids.max") == str(PIDS)
    else:
        mem = _parent(lab, "memory")
        assert _read(mem / "memory.limit_in_bytes") == str(256 * MiB)
        if (mem / "memory.memsw.limit_in_bytes").exists():
            assert _read(mem / "memory.memsw.limit_in_bytes") == str(256 * MiB)
        assert _read(_parent(lab, "pids") / "pids.max") == str(PIDS)
    _, info = capped.call("GET", "/info")
    assert info["Labels"] == [
        "dockerscope.max-containers=3",
        f"dockerscope.max-memory={256 * MiB}",
        f"dockerscope.max-pids={PIDS}",
    ]
    assert "caps: containers 3, memory 256 MiB, pids 60" in capped.log.read_text()
    labels = f" Labels:\n  dockerscope.max-containers=3\n  dockerscope.max-memory={256 * MiB}\n"
    env = {**os.environ, "DOCKER_HOST": capped.url}
    clients = [[sys.executable, "-m", "dockerscope.client"]]  # ours, and Docker's if here
    clients += [["docker"]] if shutil.which("docker") else []
    for cli in clients:
        done = subprocess.run([*cli, "info"], env=env, capture_output=True, text=True, timeout=60)
        assert labels in done.stdout, (cli, done.stdout, done.stderr)

    ids = []
    for _ in range(3):
        status, out = _create(capped, "true")
        assert status == 201, out
        ids.append(out["Id"])
    status, out = _create(capped, "true")
    assert status == 409
    assert out["message"] == (
        f"lab {lab.name}: at most 3 containers (dockerscope daemon --max-containers); "
        "remove some with docker rm"
    )
    _, rows = capped.call("GET", "/containers/json?all=1")
    assert len(rows) == 3  # the refused create left nothing
    assert capped.call("DELETE", f"/containers/{ids[0]}")[0] == 204
    status, out = _create(capped, "true")
    assert status == 201, out


def _fork_failures(parent: Path) -> int:
    """Forks refused at a pids limit in ``parent`` or a container's group below it (v1 and
    newer kernels count them where the fork was tried, not where the limit sits)."""
    total = 0
    for events in [parent / "pids.events", *parent.glob("*/pids.events")]:
        with contextlib.suppress(FileNotFoundError):
            for line in events.read_text().splitlines():
                key, _, value = line.partition(" ")
                total += int(value) if key == "max" else 0
    return total


def test_processes_stop_at_the_labs_pids_cap_and_the_daemon_answers(
    capped: RunningDaemon,
) -> None:
    """Two containers without a pids limit of their own each spawn sleeps until fork fails:
    together they never pass the lab's cap, and the daemon (outside the lab) still answers."""
    pids = _parent(capped.lab, "pids")
    # Each waits for SIGUSR1 (both must start before the cap is reached), then its spawner
    # forks until it fails and exits; PID 1 then execs (no fork) a sleep, so the container
    # lives on holding its share of the cap.
    spawn = (
        'go=; trap "go=1" USR1; until [ -n "$go" ]; do sleep 0.1; done; '
        'sh -c "while :; do sleep 600 & done" 2>/dev/null; exec sleep 600'
    )
    hogs = [capped.run("sh", "-c", spawn) for _ in range(2)]
    for cid in hogs:
        assert capped.call("POST", f"/containers/{cid}/kill?signal=USR1")[0] == 204
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _fork_failures(pids) > 0:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the cap was never hit: {_read(pids / 'pids.current')} pids")
    current = int(_read(pids / "pids.current"))
    assert 0 < current <= PIDS
    if (pids / "pids.peak").exists():
        assert int(_read(pids / "pids.peak")) == PIDS  # reached, never passed
    status, body = capped.call("GET", "/_ping")
    assert (status, body) == (200, b"OK")
    for cid in hogs:
        _, info = capped.call("GET", f"/containers/{cid}/json")
        assert info["State"]["Running"] is True
        assert capped.call("DELETE", f"/containers/{cid}?force=1")[0] == 204
    # The lab's share is free again: a container runs.
    cid = capped.run("echo", "ok")
    assert wait_exit(capped, cid) == 0


# --- private state -------------------------------------------------------------------------

#: What a container reads as its /etc files through bind mounts (Docker keeps them 0644).
ETC_FILES = ("hosts", "hostname", "resolv.conf")
#: A container's root file system: its init layer, upper dir and mount point.
ROOTFS_DIRS = ("init", "upper", "rootfs")


def _readable_by_others(data: Path) -> list[str]:
    """Paths under ``data`` that "other" may read (or, a dir, enter), but for what containers
    read: their /etc files, their root file systems and image layer content."""
    found = []
    for dirpath, dirnames, filenames in os.walk(data):
        here = Path(dirpath)
        rel = here.relative_to(data)
        parts = rel.parts
        if parts[:1] == ("containers",) and len(parts) == 2:
            dirnames[:] = [n for n in dirnames if n not in ROOTFS_DIRS]
            filenames = [n for n in filenames if n not in ETC_FILES]
        if parts[:2] == ("images", "layers") and len(parts) == 3:
            dirnames[:] = [n for n in dirnames if n != "diff"]
        for name in [*dirnames, *filenames]:
            st = os.lstat(here / name)
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o007:
                found.append(f"{oct(stat.S_IMODE(st.st_mode))} {rel / name}")
    return found


def test_state_is_private_but_a_user_in_a_container_reads_what_it_needs(
    daemon: RunningDaemon,
) -> None:
    status, net = daemon.call("POST", "/networks/create", {"Name": "backend"})
    assert status == 201, net
    status, out = _create(
        daemon,
        "sh",
        "-c",
        "echo secret-output; id -u; cat /etc/hosts /etc/hostname /etc/resolv.conf >/dev/null"
        " && ls / | grep -x bin",
        User="1000",
        Env=["DB_PASSWORD=hunter2"],
        HostConfig={"NetworkMode": "backend"},
    )
    assert status == 201, out
    cid = out["Id"]
    assert daemon.call("POST", f"/containers/{cid}/start")[0] == 204
    assert wait_exit(daemon, cid) == 0
    _, raw = daemon.call("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
    assert unframe(raw)[0] == [(1, b"secret-output\n"), (1, b"1000\n"), (1, b"bin\n")]

    data = daemon.lab.data_root
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    cdir = daemon.lab.containers_dir / cid
    config = cdir / "config.v2.json"
    assert b"hunter2" in config.read_bytes() and stat.S_IMODE(config.stat().st_mode) == 0o600
    logfile = cdir / f"{cid}-json.log"
    assert b"secret-output" in logfile.read_bytes()
    assert stat.S_IMODE(logfile.stat().st_mode) == 0o600
    for name in ETC_FILES:  # read by the container's user through bind mounts
        assert stat.S_IMODE((cdir / name).stat().st_mode) == 0o644
    assert stat.S_IMODE((cdir / "upper").stat().st_mode) == 0o755  # the container's "/"
    assert len(list(daemon.lab.networks_dir.glob("*.json"))) >= 2  # network state: lab, backend
    assert _readable_by_others(data) == []
    assert daemon.call("DELETE", f"/containers/{cid}")[0] == 204
