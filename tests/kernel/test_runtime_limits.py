"""Resource limits enforced through cgroups: memory (OOM kill), pids (fork bomb), CPU values."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from dockerscope.engine.runtime import Resources, exit_code, oom_killed, teardown
from tests.kernel.test_runtime_launch import Rig, kill_and_reap, read_all
from tests.kernel.test_runtime_launch import rig as rig  # the fixture, shared

pytestmark = pytest.mark.kernel

MiB = 1024 * 1024


def _group(launched_paths: tuple[str, ...], controller: str) -> Path:
    (path,) = [p for p in launched_paths if f"/{controller}/" in p]
    return Path(path)


def test_memory_hog_is_oom_killed(rig: Rig) -> None:
    # dd's 64 MiB buffer cannot fit in 32 MiB of memory, and memory+swap is capped too.
    spec = rig.spec(
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
        resources=Resources(memory=32 * MiB),
    )
    launched, out_r, err_r = rig.start(spec)
    memory = _group(launched.cgroup_paths, "memory")
    assert (memory / "memory.limit_in_bytes").read_text().strip() == str(32 * MiB)
    assert (memory / "memory.memsw.limit_in_bytes").read_text().strip() == str(32 * MiB)
    read_all(out_r), read_all(err_r)
    _, status = os.waitpid(launched.pid, 0)
    rig.pids.remove(launched.pid)
    assert exit_code(status) == 137
    assert oom_killed(spec)
    teardown(spec)
    assert not memory.exists()
    assert not oom_killed(spec)  # the group is gone: nothing to report, no error


def test_a_quiet_container_is_not_oom_killed(rig: Rig) -> None:
    spec = rig.spec("true", resources=Resources(memory=32 * MiB))
    launched, out_r, err_r = rig.start(spec)
    read_all(out_r), read_all(err_r)
    _, status = os.waitpid(launched.pid, 0)
    rig.pids.remove(launched.pid)
    assert exit_code(status) == 0 and not oom_killed(spec)


def test_fork_bomb_is_contained(rig: Rig) -> None:
    spec = rig.spec("sh", "-c", "b() { b | b & }; b; sleep 30", resources=Resources(pids_limit=20))
    launched, out_r, err_r = rig.start(spec)
    pids = _group(launched.cgroup_paths, "pids")
    assert (pids / "pids.max").read_text().strip() == "20"
    peak = 0
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            peak = max(peak, int((pids / "pids.current").read_text()))
            time.sleep(0.01)
        hit = int((pids / "pids.events").read_text().split()[1])
    finally:
        kill_and_reap(launched.pid)
        rig.pids.remove(launched.pid)
        os.close(out_r), os.close(err_r)
    assert 1 < peak <= 20
    assert hit > 0  # forks were refused at the limit
    # The host is fine: it can still start processes.
    assert subprocess.run(["true"]).returncode == 0


def test_cpu_values_are_written_to_the_cgroup(rig: Rig) -> None:
    spec = rig.spec(
        "sleep", "30", resources=Resources(nano_cpus=1_500_000_000, cpu_shares=512, pids_limit=50)
    )
    launched, out_r, err_r = rig.start(spec)
    try:
        cpu = _group(launched.cgroup_paths, "cpu")
        assert (cpu / "cpu.shares").read_text().strip() == "512"
        assert (cpu / "cpu.cfs_period_us").read_text().strip() == "100000"
        assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "150000"
        assert str(launched.pid) in (cpu / "cgroup.procs").read_text().split()
        own = Path(f"/proc/{launched.pid}/cgroup").read_text()
        for controller in ("cpu", "cpuacct", "memory", "pids"):
            assert f":{controller}:/{spec.cgroup_parent}/{spec.id}\n" in own
    finally:
        os.kill(launched.pid, signal.SIGKILL)
        os.waitpid(launched.pid, 0)
        rig.pids.remove(launched.pid)
        os.close(out_r), os.close(err_r)
    teardown(spec)
    teardown(spec)  # idempotent
    assert not cpu.exists()


def test_the_container_sees_its_own_cgroups_read_only(rig: Rig) -> None:
    code, out, err = rig.run(
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max;"
        "echo 1 > /sys/fs/cgroup/pids/pids.max || echo refused;"
        "grep -c ' /sys/fs/cgroup/[a-z,]* cgroup ro,' /proc/mounts",
        resources=Resources(memory=64 * MiB, pids_limit=30),
    )
    limit, pids_max, refused, ro_mounts = out.split()
    assert (limit, pids_max, refused) == (str(64 * MiB), "30", "refused")
    assert int(ro_mounts) >= 4  # one per hierarchy: cpu, cpuacct, memory, pids at least


def test_a_pids_limit_of_one_still_starts(rig: Rig) -> None:
    # The helper must not sit in a group with room for one process next to its child.
    script = "echo alone; read m < /sys/fs/cgroup/pids/pids.max; echo $m; ls /; echo end"
    code, out, err = rig.run("sh", "-c", script, resources=Resources(pids_limit=1))
    assert out.splitlines()[:2] == ["alone", "1"]
    assert "can't fork" in err or "Resource temporarily unavailable" in err  # ls needs a fork
