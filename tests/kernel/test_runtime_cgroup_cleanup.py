"""remove_parent clears a lab whose container groups still hold processes (after a daemon crash)."""

from __future__ import annotations

import os
import subprocess

import pytest

from dockerscope.engine.runtime import cgroups
from dockerscope.engine.runtime.spec import Resources

pytestmark = pytest.mark.kernel


def test_remove_parent_kills_stragglers_in_every_group(lab_name: str) -> None:
    layout = cgroups.CgroupLayout.detect()
    parent = f"dockerscope/{lab_name}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name in ("c1", "c2"):
            dirs = cgroups.create(layout, parent, name, Resources())
            proc = subprocess.Popen(["sleep", "1000"])
            procs.append(proc)
            for d in dirs:
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    f.write(str(proc.pid))
        cgroups.remove_parent(parent, layout, timeout=0.2)
        for proc in procs:
            assert proc.wait(timeout=5) == -9  # SIGKILLed by remove_parent, both of them
        assert not any(os.path.exists(d) for d in layout.dirs(parent))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        cgroups.remove_parent(parent, layout)
