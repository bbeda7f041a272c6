"""Facts about a host process, read from ``/proc`` or asked of the kernel with signal 0."""

from __future__ import annotations

import os
from pathlib import Path

# One implementation, in the kernel (the tracer needs it too); the engine names it here.
from dockerscope.kernel.processes import pid_alive as pid_alive


def proc_start_time(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks); 0 if the process is gone.

    With the pid it names one process for good: a recycled pid has another start time."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    # The command name (field 2) may hold spaces and ")": split after its last ")".
    return int(raw.rsplit(")", 1)[1].split()[19])


def pidns_inode(pid: int) -> int | None:
    """Inode of the pid namespace ``pid`` lives in; None if the process is gone."""
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return None


def pids_in_pidns(inode: int | None) -> list[int]:
    """Host pids of every process in the pid namespace with this inode, sorted."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and pidns_inode(int(p.name)) == inode:
            out.append(int(p.name))
    return sorted(out)
