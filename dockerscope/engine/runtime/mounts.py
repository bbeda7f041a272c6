"""Finding and detaching the mounts a lab or a container left on the host."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from dockerscope.kernel.mounts import unescape

MNT_DETACH = 2


def mount_points_under(roots: list[Path]) -> list[str]:
    """Mount points at or below any of ``roots``, deepest first (from /proc/self/mountinfo)."""
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return []
    prefixes = [str(r).rstrip("/") for r in roots]
    found = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = unescape(fields[4])
        if any(point == p or point.startswith(p + "/") for p in prefixes):
            found.add(point)
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


def unmount(path: str) -> None:
    """Detach one mount; "not a mount point (any more)" and "gone" are fine."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(path.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (22, 2):  # EINVAL, ENOENT
            raise OSError(err, os.strerror(err), path)
