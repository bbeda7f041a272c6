"""Taking a lab off the machine: the one way, shared by `dockerscope lab down`, the scenario
runner's temporary labs and the tests.

The daemon stops its own containers on SIGTERM; what is here is the safety net for a daemon that
could not (killed with -9, crashed): kill whatever is left in the lab's cgroups, unmount what is
still mounted under its dirs, take the lab host's kernel objects down (netns, bridges, veths,
rules, the uplink and the host-side rule), remove the cgroups and the state. Each step tolerates
what is already gone, so running it twice is harmless.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from dockerscope.engine.paths import Lab
from dockerscope.engine.runtime.mounts import mount_points_under, unmount


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (absent, or a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def kill_lab_processes(lab: Lab, timeout: float = 5.0) -> list[int]:
    """SIGKILL every process in the lab's cgroups and wait for them to go; returns the pids
    still running after ``timeout``."""
    from dockerscope.engine.runtime import cgroups

    pids: set[int] = set()
    for top in cgroups.CgroupLayout.detect().dirs(lab.cgroup_parent):
        for dirpath, _dirs, _files in os.walk(top):
            pids.update(cgroups.pids_in(dirpath))
    pids.discard(os.getpid())
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    left = sorted(p for p in pids if not process_gone(p))
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [p for p in left if not process_gone(p)]
    return left


def remove_lab(lab: Lab, say: Callable[[str], None] = lambda _: None) -> list[str]:
    """Remove everything of ``lab`` but its daemon (stop that first); returns what could not
    be removed, empty when all went."""
    problems: list[str] = []

    def step(what: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # keep going: take down as much as possible
            problems.append(f"{what}: {exc}")

    def processes() -> None:
        left = kill_lab_processes(lab)
        if left:
            say(f"processes still in lab {lab.name}'s cgroups: {' '.join(map(str, left))}")

    def mounts() -> None:
        for point in mount_points_under([lab.data_root, lab.run_root]):
            unmount(point)

    def network() -> None:
        from dockerscope.engine.network import LabHost

        LabHost(lab).down()

    def cgroups() -> None:
        from dockerscope.engine.runtime import remove_parent

        remove_parent(lab.cgroup_parent)

    def files() -> None:
        for d in (lab.data_root, lab.run_root):
            if d.exists():
                shutil.rmtree(d)

    step("killing leftover processes", processes)
    step("unmounting", mounts)
    step("removing the lab host", network)
    step("removing cgroups", cgroups)
    step("removing state", files)
    return problems
