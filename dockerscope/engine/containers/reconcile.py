"""After a daemon restart, make the kernel match the container records.

A daemon killed with SIGKILL can die between any two steps of create, start, stop or remove:
after a cgroup was made but before the record said "running", after a rootfs was mounted but
before the record was saved, while a container was half removed. The records on disk are then
not the whole truth, so the restarted daemon reads the kernel instead: every cgroup under the
lab's parent and every mount under its containers directory that belongs to no record is
removed (its processes killed first). What does belong to a record is cleaned by the record's
own teardown (``ContainerManager.restore``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from dockerscope.engine.containers.store import CONFIG_FILE
from dockerscope.engine.paths import Lab
from dockerscope.engine.runtime import cgroups
from dockerscope.engine.runtime.mounts import mount_points_under, unmount


@dataclass(frozen=True)
class Orphans:
    """What of a lab belongs to no container record."""

    cgroups: tuple[str, ...]  # container ids (group names under the lab's parent)
    mounts: tuple[str, ...]  # mount points under the containers directory
    dirs: tuple[str, ...]  # container directories without a record


def find_orphans(lab: Lab, known: set[str], layout: cgroups.CgroupLayout | None = None) -> Orphans:
    """The lab's cgroups, mounts and container directories that no record in ``known`` owns."""
    layout = layout or cgroups.CgroupLayout.detect()
    groups = set()
    for top in layout.dirs(lab.cgroup_parent):
        with contextlib.suppress(OSError):
            groups |= {e.name for e in os.scandir(top) if e.is_dir() and e.name not in known}
    mounts = [
        point
        for point in mount_points_under([lab.containers_dir])
        if _owner(lab, point) not in known
    ]
    dirs = []
    if lab.containers_dir.is_dir():
        # A directory with an unreadable record is left for a human (the store says so).
        dirs = [
            str(p)
            for p in lab.containers_dir.iterdir()
            if p.is_dir() and p.name not in known and not (p / CONFIG_FILE).exists()
        ]
    return Orphans(tuple(sorted(groups)), tuple(mounts), tuple(sorted(dirs)))


def _owner(lab: Lab, point: str) -> str:
    """The container id a mount point under the containers directory belongs to."""
    rel = Path(point).relative_to(lab.containers_dir)
    return rel.parts[0] if rel.parts else ""


def remove_orphans(
    lab: Lab, orphans: Orphans, layout: cgroups.CgroupLayout | None = None
) -> list[str]:
    """Kill and remove what ``find_orphans`` found; returns a note per thing removed."""
    layout = layout or cgroups.CgroupLayout.detect()
    notes = []
    for name in orphans.cgroups:
        # Processes in the group are killed after a short grace, then the group goes.
        cgroups.remove(layout, lab.cgroup_parent, name, timeout=0.2)
        notes.append(f"cgroup {name[:12]}: no container record, removed")
    for point in orphans.mounts:  # deepest first
        unmount(point)
        notes.append(f"mount {point}: no container record, unmounted")
    for d in orphans.dirs:
        if not mount_points_under([Path(d)]):
            shutil.rmtree(d, ignore_errors=True)
            notes.append(f"directory {Path(d).name[:12]}: no container record, removed")
    return notes
