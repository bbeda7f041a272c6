"""Docker's "init layer": the mount points and files every container needs, as a layer.

Docker puts a small read-only layer between the image and the container's upper dir holding
/proc, /sys, /dev, /etc/hosts and friends, so that starting a container writes nothing to its
own layer and ``docker diff`` stays empty. Give ``make_init_layer(dir, image_layers)`` as the
top-most lower dir; without it the runtime creates the missing mount points in the upper dir.
"""

from __future__ import annotations

import os
from pathlib import Path

# (path, kind): kind "dir", "file" or a symlink target; Docker's list for Linux.
INIT_PATHS: tuple[tuple[str, str], ...] = (
    ("dev", "dir"),
    ("dev/pts", "dir"),
    ("dev/shm", "dir"),
    ("proc", "dir"),
    ("sys", "dir"),
    ("etc", "dir"),
    ("dev/console", "file"),
    ("etc/hosts", "file"),
    ("etc/hostname", "file"),
    ("etc/resolv.conf", "file"),
    ("etc/mtab", "/proc/mounts"),
    (".dockerenv", "file"),
)


def make_init_layer(path: str | os.PathLike[str], image_layers: tuple[str, ...] = ()) -> str:
    """Create (or complete) the init layer at ``path`` for an image made of ``image_layers``
    (top-most first): each path is added unless the image already has it. Idempotent."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    for rel, kind in INIT_PATHS:
        target = root / rel
        if os.path.lexists(target) or any(
            os.path.lexists(os.path.join(layer, rel)) for layer in image_layers
        ):
            continue  # the image's own entry wins, as with Docker
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            target.mkdir(0o755)
        elif kind == "file":
            target.touch(0o755)
        else:
            target.symlink_to(kind)
    return str(root)
