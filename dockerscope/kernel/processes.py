"""Processes and the inodes of their eight namespaces, like ``lsns`` (from ``/proc/<pid>/ns``),
with the seccomp mode and effective capabilities the kernel reports in ``/proc/<pid>/status``."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable

from dockerscope.kernel.model import ProcessNs

#: The namespace types the course shows, in ``lsns`` order.
NS_TYPES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")

_LINK = re.compile(r"^(\w+):\[(\d+)\]$")


def parse_ns_link(target: str) -> tuple[str, int]:
    """``net:[4026531840]`` -> ("net", 4026531840). Raises ValueError otherwise."""
    m = _LINK.match(target.strip())
    if not m:
        raise ValueError(f"not a namespace link: {target!r}")
    return m.group(1), int(m.group(2))


def parse_ns_listing(text: str) -> tuple[tuple[str, int], ...]:
    """Lines of ``<name> <link target>`` (as captured from /proc/<pid>/ns) -> (type, inode).

    ``pid_for_children`` and ``time_for_children`` are left out: the process's own are kept.
    """
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2 or parts[0] not in NS_TYPES:
            continue
        kind, inode = parse_ns_link(parts[1])
        out[kind] = inode
    return tuple(sorted(out.items()))


def parse_cgroup_file(text: str) -> str:
    """The path to show from /proc/<pid>/cgroup: v2 (``0::``) if set, else the memory one."""
    v2 = memory = first = ""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, controllers, path = parts
        if hid == "0" and not controllers:
            v2 = path
        elif "memory" in controllers.split(","):
            memory = path
        elif not first and path != "/":
            first = path
    if v2 and v2 != "/":
        return v2
    return memory or first or v2


def parse_status(text: str) -> tuple[int | None, int | None]:
    """(seccomp mode, effective capabilities) from a /proc/<pid>/status text: its
    ``Seccomp:`` line (0 disabled, 1 strict, 2 filter) and ``CapEff:`` (hex); None if absent."""
    seccomp = cap_eff = None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        try:
            if key == "Seccomp":
                seccomp = int(value.strip())
            elif key == "CapEff":
                cap_eff = int(value.strip(), 16)
        except ValueError:
            continue
    return seccomp, cap_eff


def namespaces_of(pid: int, proc: str = "/proc") -> tuple[tuple[str, int], ...]:
    """(type, inode) of each namespace of ``pid``; missing types (old kernels) are left out."""
    out = []
    for kind in NS_TYPES:
        try:
            out.append(parse_ns_link(os.readlink(f"{proc}/{pid}/ns/{kind}")))
        except (OSError, ValueError):
            continue
    return tuple(out)


def pids(proc: str = "/proc") -> list[int]:
    """Every process id in ``proc`` (threads excluded)."""
    return sorted(int(n) for n in os.listdir(proc) if n.isdigit())


def read_process(pid: int, proc: str = "/proc") -> ProcessNs | None:
    """One process, or None when it exited meanwhile (or its namespaces can't be read)."""
    try:
        with open(f"{proc}/{pid}/comm") as f:
            comm = f.read().strip()
        with open(f"{proc}/{pid}/cgroup") as f:
            cgroup = parse_cgroup_file(f.read())
        with open(f"{proc}/{pid}/status") as f:
            seccomp, cap_eff = parse_status(f.read())
    except OSError:
        return None
    ns = namespaces_of(pid, proc)
    if not ns:
        return None  # kernel thread or gone
    return ProcessNs(pid=pid, comm=comm, namespaces=ns, cgroup=cgroup, seccomp=seccomp,
                     cap_eff=cap_eff)  # fmt: skip


def read_processes(
    keep: Callable[[ProcessNs], bool] | None = None,
    candidates: Iterable[int] | None = None,
    proc: str = "/proc",
) -> list[ProcessNs]:
    """Processes (all, or ``candidates``) that ``keep`` accepts, by pid."""
    out = []
    for pid in pids(proc) if candidates is None else sorted(set(candidates)):
        p = read_process(pid, proc)
        if p is not None and (keep is None or keep(p)):
            out.append(p)
    return out


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists (a zombie counts); a process of another user counts too."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
