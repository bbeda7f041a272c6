"""kill -9 at any moment: a daemon killed while it creates, starts, stops and removes
containers leaves nothing of the lab behind once it is restarted and every container removed.

Each cycle (seeded, bounded) runs a client thread that keeps creating containers (some with a
published port on the host's loopback), starting, stopping and removing them, kills the daemon
with SIGKILL at a random moment, restarts it, checks that every container's status is what its
process says, removes every container with ``rm -f`` and then compares the lab with how it was
before the first container: cgroups, container netns, veths, nat and filter rules, mounts,
loopback listeners and container processes. The kernel-test leak check then proves that taking
the lab down leaves nothing on the host.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockerscope.engine.paths import Lab
from tests.kernel.test_engine_daemon import (
    RunningDaemon,
    start_daemon,
    stop_daemon,
    take_lab_down,
)

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

SEED = 20261207
CYCLES = 16
#: Client threads churning at once (dockerd serves many clients; so must we).
CLIENTS = 4
#: Host ports the churn publishes on loopback (the daemon listens there while published).
PORTS = range(39100, 39140)


@dataclass(frozen=True)
class LabState:
    """What of a lab a container could leave behind, read from the kernel."""

    cgroups: frozenset[str]
    netns: frozenset[str]
    links: frozenset[str]
    rules: frozenset[str]
    mounts: frozenset[str]
    listeners: frozenset[str]

    def differences(self, other: LabState) -> dict[str, list[str]]:
        out = {}
        for name in ("cgroups", "netns", "links", "rules", "mounts", "listeners"):
            a, b = getattr(self, name), getattr(other, name)
            if a != b:
                out[name] = sorted(f"+{x}" for x in b - a) + sorted(f"-{x}" for x in a - b)
        return out


def _sh(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout


def _cgroups(lab: Lab) -> frozenset[str]:
    found = set()
    root = Path("/sys/fs/cgroup")
    for base in [root, *(p for p in root.iterdir() if p.is_dir())]:
        top = base / lab.cgroup_parent
        if top.is_dir():
            found |= {str(p.relative_to(base)) for p in top.rglob("*") if p.is_dir()}
    return frozenset(found)


def _rules(lab: Lab) -> frozenset[str]:
    out = _sh("ip", "netns", "exec", lab.netns, "iptables-save")
    # Counters change with traffic; the rules themselves must not.
    return frozenset(line.split(" [")[0] for line in out.splitlines() if line[:1] in "-:")


def _listeners() -> frozenset[str]:
    out = _sh("ss", "-Htlnp")
    # "127.0.0.1:39101 users:(("python3",pid=..,fd=..))": who holds it says what leaked.
    return frozenset(
        f"{line.split()[3]} {' '.join(line.split()[5:])}"
        for line in out.splitlines()
        if any(line.split()[3].endswith(f":{p}") for p in PORTS)
    )


def lab_state(lab: Lab) -> LabState:
    netns_dir = lab.container_netns_dir
    mounts = frozenset(
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith((str(lab.data_root), str(lab.run_root)))
    )
    return LabState(
        cgroups=_cgroups(lab),
        netns=frozenset(os.listdir(netns_dir)) if netns_dir.is_dir() else frozenset(),
        links=frozenset(
            line.split(":")[1].strip().split("@")[0]
            for line in _sh("ip", "-n", lab.netns, "-o", "link", "show").splitlines()
        ),
        rules=_rules(lab),
        mounts=mounts,
        listeners=_listeners(),
    )


class Churn(threading.Thread):
    """Creates, starts, stops and removes containers until the daemon stops answering."""

    def __init__(self, daemon: RunningDaemon, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.d = daemon
        self.rng = rng
        self.stop = threading.Event()
        self.requests = 0

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.step()
        except OSError:
            return  # the daemon died under us: that is the point

    def step(self) -> None:
        body: dict[str, object] = {"Image": "busybox", "Cmd": ["sleep", "1000"], "StopTimeout": 1}
        if self.rng.random() < 0.5:
            port = self.rng.choice(PORTS)
            body["ExposedPorts"] = {"80/tcp": {}}
            body["HostConfig"] = {
                "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
            }
        status, out = self.d.call("POST", "/containers/create", body)
        self.requests += 1
        if status != 201:
            return  # a taken port, for example
        cid = out["Id"]
        self.d.call("POST", f"/containers/{cid}/start")
        self.requests += 1
        roll = self.rng.random()
        if roll < 0.3:
            self.d.call("POST", f"/containers/{cid}/stop?t=1")
            self.requests += 1
        elif roll < 0.6:
            self.d.call("DELETE", f"/containers/{cid}?force=1")
            self.requests += 1


@pytest.fixture
def chaos_daemon(tmp_path: Path, lab_name: str) -> Iterator[RunningDaemon]:
    lab = Lab.named(lab_name, tmp_path / "data", tmp_path / "run")
    log = tmp_path / "daemon.log"
    running = RunningDaemon(lab, start_daemon(lab, log), log)
    try:
        yield running
    finally:
        stop_daemon(running.proc)
        take_lab_down(lab)


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _check_statuses(d: RunningDaemon) -> list[str]:
    """Each container's status agrees with its process, after the restart."""
    wrong = []
    _, rows = d.call("GET", "/containers/json?all=1")
    for row in rows:
        _, info = d.call("GET", f"/containers/{row['Id']}/json")
        state = info["State"]
        pid = int(state.get("Pid") or 0)
        if state["Status"] == "running":
            if not (pid and _pid_alive(pid)):
                wrong.append(f"{row['Id'][:12]} running without a live process ({pid})")
        elif pid:
            wrong.append(f"{row['Id'][:12]} {state['Status']} but reports pid {pid}")
        else:
            procs = _processes_in(d.lab, row["Id"])
            if procs:
                wrong.append(f"{row['Id'][:12]} {state['Status']} but its cgroup holds {procs}")
    return wrong


def _processes_in(lab: Lab, cid: str) -> list[str]:
    """Processes in one container's cgroups (any hierarchy)."""
    out = []
    for base in Path("/sys/fs/cgroup").iterdir():
        procs = base / lab.cgroup_parent / cid / "cgroup.procs"
        if procs.is_file():
            out += procs.read_text().split()
    return out


def _container_processes(lab: Lab) -> list[str]:
    """Processes still in any of the lab's container cgroups."""
    left = []
    for cg in _cgroups(lab):
        for base in Path("/sys/fs/cgroup").iterdir():
            procs = base / cg / "cgroup.procs"
            if procs.is_file():
                left += [f"{cg}: {p}" for p in procs.read_text().split()]
    return left


def test_kill_9_at_random_moments_leaves_nothing_of_the_lab(chaos_daemon: RunningDaemon) -> None:
    d = chaos_daemon
    rng = random.Random(SEED)
    # The lab as a fresh daemon makes it; one container run and removed first, so the
    # chains and objects the first container makes once (and keeps) are in the baseline.
    status, out = d.call("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]})
    assert status == 201, out
    assert d.call("DELETE", f"/containers/{out['Id']}?force=1")[0] == 204
    baseline = lab_state(d.lab)
    requests = 0
    for cycle in range(CYCLES):
        churns = [Churn(d, random.Random(rng.random())) for _ in range(CLIENTS)]
        for churn in churns:
            churn.start()
        time.sleep(rng.uniform(0.05, 1.0))
        d.proc.kill()
        d.proc.wait()
        for churn in churns:
            churn.join(30)
            assert not churn.is_alive()
            requests += churn.requests
        d.proc = start_daemon(d.lab, d.log)
        wrong = _check_statuses(d)
        assert not wrong, f"cycle {cycle}: statuses disagree with the kernel: {wrong}"
        _, rows = d.call("GET", "/containers/json?all=1")
        for row in rows:
            status, out = d.call("DELETE", f"/containers/{row['Id']}?force=1")
            assert status == 204, (cycle, out)
        assert d.call("GET", "/containers/json?all=1")[1] == []
        deadline = time.monotonic() + 10
        while True:
            left = baseline.differences(lab_state(d.lab))
            procs = _container_processes(d.lab)
            if (not left and not procs) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        log_tail = d.log.read_text()[-3000:]
        assert not procs, f"cycle {cycle}: container processes left: {procs}\n{log_tail}"
        assert not left, (
            f"cycle {cycle}: left in the lab after rm -f of everything (daemon pid "
            f"{d.proc.pid}, test pid {os.getpid()}): "
            f"{json.dumps(left, indent=1)}\n{log_tail}"
        )
    assert requests > CYCLES  # the churn really ran between the kills
