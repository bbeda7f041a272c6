"""Network namespaces: named ones (files in /run/netns or a lab's netns dir) and unnamed ones
reachable only through a process (``/proc/<pid>/ns/net``).

Every namespace gets a *label* used in every object read from it: "host" for the observer's
own, the file name for a named one, "pid:<pid>" (the lowest pid) for an unnamed one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from dockerscope.kernel.model import NetNs

HOST = "host"


@dataclass(frozen=True)
class NsRef:
    """How to reach one network namespace: a label for display and a path to open."""

    label: str
    path: str
    inode: int
    name: str | None = None  # named namespaces only
    dir: str | None = None  # the directory the name lives in


def host_ref(proc: str = "/proc") -> NsRef:
    """The observer's own network namespace."""
    path = f"{proc}/{os.getpid()}/ns/net"
    return NsRef(HOST, path, os.stat(path).st_ino)


def named(dirs: Iterable[str]) -> list[NsRef]:
    """Namespace files in ``dirs`` (later dirs do not repeat an inode already found).

    A file that is not a namespace (a leftover plain file, an unmounted name) is skipped.
    """
    out: list[NsRef] = []
    seen: set[int] = set()
    labels: set[str] = set()
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
            dir_dev = os.stat(d).st_dev
        except OSError:
            continue
        for name in names:
            path = os.path.join(d, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            # A bind-mounted nsfs file sits on its own device; a plain leftover file does not.
            if st.st_ino in seen or st.st_size != 0 or st.st_dev == dir_dev:
                continue
            seen.add(st.st_ino)
            label = name if name not in labels and name != HOST else f"{d}/{name}"
            labels.add(label)
            out.append(NsRef(label, path, st.st_ino, name, d))
    return out


def pids_by_netns(proc: str = "/proc") -> dict[int, list[int]]:
    """Inode of each network namespace in use by a process -> its pids (sorted)."""
    out: dict[int, list[int]] = {}
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            target = os.readlink(f"{proc}/{name}/ns/net")
        except OSError:
            continue
        # "net:[4026531840]"
        try:
            inode = int(target[5:-1])
        except ValueError:
            continue
        out.setdefault(inode, []).append(int(name))
    for pids in out.values():
        pids.sort()
    return out


def unnamed(
    known: Iterable[int], by_inode: dict[int, list[int]], proc: str = "/proc"
) -> list[NsRef]:
    """Namespaces used by processes but not in ``known`` (inodes), labelled by lowest pid."""
    skip = set(known)
    out = []
    for inode, pids in sorted(by_inode.items(), key=lambda kv: kv[1][0]):
        if inode in skip:
            continue
        out.append(NsRef(f"pid:{pids[0]}", f"{proc}/{pids[0]}/ns/net", inode))
    return out


def to_model(refs: Iterable[NsRef], by_inode: dict[int, list[int]]) -> list[NetNs]:
    """NetNs objects for the snapshot."""
    out = []
    for r in refs:
        name = r.name if r.name is not None else (HOST if r.label == HOST else None)
        out.append(NetNs(inode=r.inode, name=name, pids=tuple(by_inode.get(r.inode, ()))))
    return out
