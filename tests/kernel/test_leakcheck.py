"""The leak check counts only what a test run could have made (a shared, fresh machine)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.leakcheck import RUN_MARKER, KernelInventory, _ppid, could_be_ours

pytestmark = pytest.mark.kernel


def _wait_for(pred, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _pids_running(needle: str) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if needle.encode() in (p / "cmdline").read_bytes():
                    out.append(int(p.name))
            except OSError:
                pass
    return out


def test_other_programs_processes_are_not_ours_but_our_descendants_are() -> None:
    tag = f"dockerscope-leakcheck-{os.getpid()}"
    before = KernelInventory.take()
    # A "host" program: started without our marker and re-parented away from pytest (setsid -f
    # forks and its parent exits), as another program on the machine would be.
    host_env = {k: v for k, v in os.environ.items() if k != RUN_MARKER}
    subprocess.run(
        ["setsid", "-f", "sh", "-c", f"sleep 30; : {tag}-host"], env=host_env, check=True
    )
    # One of ours: a descendant of this test run, which must be reported.
    ours = subprocess.Popen(["sh", "-c", f"sleep 30; : {tag}-ours"])
    try:
        _wait_for(lambda: bool(_pids_running(f"{tag}-host")))
        host_pids = _pids_running(f"{tag}-host")
        assert all(_ppid(str(p)) != str(os.getpid()) for p in host_pids)
        leaked = KernelInventory.take().leaked_since(before)
        procs = leaked.get("processes", [])
        assert any(f"{tag}-ours" in p for p in procs), leaked
        assert not any(f"{tag}-host" in p for p in procs), leaked
    finally:
        ours.kill()
        ours.wait()
        for pid in _pids_running(f"{tag}-host"):
            os.kill(pid, signal.SIGKILL)
        _wait_for(lambda: not _pids_running(f"{tag}-host"))


_FRESH_NETNS = textwrap.dedent(
    """
    import json, os, subprocess, sys
    sys.path.insert(0, sys.argv[1])
    from tests.leakcheck import KernelInventory
    # A private /run: this mount namespace's /run/netns does not exist yet, as on a fresh machine.
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)
    assert not os.path.exists("/run/netns")
    before = KernelInventory.take()
    subprocess.run(["ip", "netns", "add", sys.argv[2]], check=True)
    made = KernelInventory.take().leaked_since(before)
    subprocess.run(["ip", "netns", "del", sys.argv[2]], check=True)
    after = KernelInventory.take().leaked_since(before)
    print(json.dumps({"made": made, "after": after,
                      "netns_mounted": "/run/netns" in open("/proc/self/mountinfo").read()}))
    """
)


def test_first_ip_netns_add_on_a_fresh_machine_is_not_a_leak(lab_name: str) -> None:
    import json

    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            sys.executable,
            "-c",
            _FRESH_NETNS,
            root,
            lab_name,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["netns_mounted"], "ip netns add did not mount /run/netns: nothing was tested"
    # The namespace itself is seen while it exists (the check still fails on a real leak) ...
    assert result["made"]["netns"] == [lab_name]
    assert result["made"]["mounts"] == [f"/run/netns/{lab_name}"]
    # ... and once it is gone nothing is reported: not the /run/netns mount left behind.
    assert result["after"] == {}


def test_mounts_outside_the_test_paths_are_not_ours() -> None:
    prefixes = ("/run/netns/", "/run/dockerscope", "/var/lib/dockerscope", "/tmp/")
    assert not could_be_ours("/run/netns", prefixes)
    assert not could_be_ours("/run/netns/", prefixes)
    assert not could_be_ours("/var/lib/docker/overlay2/abc/merged", prefixes)
    assert not could_be_ours("/mnt/usb", prefixes)
    assert could_be_ours("/run/netns/t1234abcd", prefixes)
    assert could_be_ours("/var/lib/dockerscope/t1/containers/x/rootfs", prefixes)
    assert could_be_ours("/tmp/pytest-of-root/pytest-3/lab0/rootfs", prefixes)


def test_a_tables_first_use_is_not_a_leak_but_a_policy_change_is() -> None:
    from tests.leakcheck import could_be_our_chain

    assert not could_be_our_chain(":POSTROUTING ACCEPT [0:0]")
    assert not could_be_our_chain(":PREROUTING ACCEPT [12:720]")
    assert not could_be_our_chain(":DOCKER-USER - [0:0]")
    assert could_be_our_chain(":FORWARD DROP [0:0]")
    assert could_be_our_chain(":DS-TRACE - [0:0]")
