"""Overlay mounts (container roots) from ``/proc/<pid>/mountinfo`` and what their upper dir holds.

A container's root is usually mounted in its own mount namespace, so it is only visible through
the mountinfo of a process inside it; the host's own mountinfo shows the overlays mounted there
(a real Docker's ``/var/lib/docker/overlay2/.../merged``).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from dockerscope.kernel.model import UpperEntry

_ESCAPE = re.compile(r"\\([0-7]{3})")


def unescape(field: str) -> str:
    """Undo mountinfo's octal escapes (``\\040`` is a space)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


@dataclass(frozen=True)
class MountEntry:
    """One overlay line of a mountinfo file."""

    mount_id: int
    target: str
    lowerdirs: tuple[str, ...]
    upperdir: str
    workdir: str


def _split_options(opts: str) -> list[str]:
    # Options are comma separated; a comma inside a path is escaped by the kernel as "\,".
    return [o.replace("\\,", ",") for o in re.split(r"(?<!\\),", opts)]


def parse_mountinfo(text: str) -> list[MountEntry]:
    """The overlay mounts of one mountinfo file, in file order."""
    out: list[MountEntry] = []
    for line in text.splitlines():
        if " - overlay " not in line:  # most lines: skip before splitting
            continue
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3 or rest[0] != "overlay":
            continue
        lower: list[str] = []
        upper = work = ""
        for opt in _split_options(rest[2]):
            key, _, value = opt.partition("=")
            if key == "lowerdir":
                # Layers are ':'-separated; a literal ':' in a path is written as "\:".
                lower.extend(unescape(p).replace("\\:", ":") for p in re.split(r"(?<!\\):", value))
            elif key == "lowerdir+":  # new mount API: one option per layer
                lower.append(unescape(value))
            elif key == "upperdir":
                upper = unescape(value)
            elif key == "workdir":
                work = unescape(value)
        out.append(MountEntry(int(fields[0]), unescape(fields[4]), tuple(lower), upper, work))
    return out


def _opaque(path: str) -> bool:
    for name in ("trusted.overlay.opaque", "user.overlay.opaque"):
        try:
            if os.getxattr(path, name, follow_symlinks=False) in (b"y", b"x"):
                return True
        except OSError:
            continue
    return False


def upper_entries(upperdir: str, cap: int = 200) -> tuple[UpperEntry, ...]:
    """What an upper dir holds, up to ``cap`` entries, sorted by path.

    A whiteout (a character device 0/0) records a deleted lower file; an opaque dir (xattr
    ``overlay.opaque=y``) hides the whole lower dir of the same name.
    """
    found: list[UpperEntry] = []
    root = Path(upperdir)
    if not root.is_dir():
        return ()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                kind = "whiteout"
            elif stat.S_ISDIR(st.st_mode):
                kind = "opaque" if _opaque(full) else "dir"
            elif stat.S_ISLNK(st.st_mode):
                kind = "symlink"
            else:
                kind = "file"
            size = st.st_size if kind == "file" else 0
            found.append(UpperEntry(rel, kind, size))
            if len(found) >= cap:
                return tuple(sorted(found, key=lambda e: e.path))
    return tuple(sorted(found, key=lambda e: e.path))


def docker_layer_owners(upperdirs: list[str]) -> dict[str, str]:
    """Container ids of Docker overlay2 upper dirs, from Docker's own layer store.

    overlay2 names a container's writable layer ``<data root>/overlay2/<mount id>/diff``; the
    container it belongs to is the one whose ``image/overlay2/layerdb/mounts/<container
    id>/mount-id`` holds that mount id. Used when Docker's API cannot be asked (it names the
    upper dir in an inspect); upper dirs outside an overlay2 tree are left out.
    """
    wanted: dict[str, dict[str, str]] = {}  # data root -> mount id -> upper dir
    for upper in upperdirs:
        root, sep, rest = upper.rpartition("/overlay2/")
        parts = rest.split("/")
        if sep and len(parts) == 2 and parts[1] == "diff":
            wanted.setdefault(root, {})[parts[0]] = upper
    out: dict[str, str] = {}
    for root, by_mount in wanted.items():
        mounts_dir = Path(root, "image", "overlay2", "layerdb", "mounts")
        try:
            cids = os.listdir(mounts_dir)
        except OSError:
            continue
        for cid in cids:
            try:
                mount_id = (mounts_dir / cid / "mount-id").read_text().strip()
            except OSError:
                continue
            if mount_id in by_mount:
                out[by_mount[mount_id]] = cid
    return out
