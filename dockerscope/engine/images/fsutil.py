"""File system helpers: atomic JSON writes, removing trees that may hold mounts, and the
bytes a tree holds."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
from pathlib import Path
from typing import Any

from dockerscope.engine.private import write_private
from dockerscope.kernel.mounts import unescape

_MNT_DETACH = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (temp file, fsync, rename), 0600."""
    write_bytes(path, json.dumps(obj, indent=1, sort_keys=True).encode())


def write_bytes(path: Path, data: bytes) -> None:
    """Write image metadata ``data`` to ``path`` atomically (readers see the old or the new
    file, never half), durably, and 0600 from the start: the store's records are root's alone
    (layer content is extracted elsewhere and keeps its own modes)."""
    write_private(path, data, fsync=True)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` in this mount namespace, deepest first."""
    base = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = unescape(line.split()[4])
            if point == base or point.startswith(base.rstrip("/") + "/"):
                found.append(point)
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


def unmount_under(path: Path) -> None:
    """Lazily unmount everything mounted at or below ``path`` (e.g. debootstrap's /proc)."""
    for _ in range(10):
        points = mounts_under(path)
        if not points:
            return
        for point in points:
            if _libc.umount2(os.fsencode(point), _MNT_DETACH) != 0:
                err = ctypes.get_errno()
                if err not in (22, 2):  # EINVAL (not a mount any more), ENOENT
                    raise OSError(err, os.strerror(err), point)
    if mounts_under(path):
        raise OSError(f"mounts remain under {path}")


def remove_tree(path: Path) -> None:
    """Remove ``path`` entirely; unmounts anything below it first so rmtree never walks into a
    mounted /proc, /sys or a bind mount of the host's /dev."""
    if not os.path.lexists(path):
        return
    unmount_under(path)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def tree_bytes(path: str | Path) -> int:
    """Bytes of the regular files and links under ``path`` (0 if it is gone); files that go
    away while it walks are skipped. A container's SizeRw, a layer being packed."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total
