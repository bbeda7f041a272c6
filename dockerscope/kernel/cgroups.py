"""Control groups under a parent (``dockerscope/<lab>``, ``docker``), cgroup v1 and v2.

The hierarchy root is a parameter (default ``/sys/fs/cgroup``) so the v2 reader is tested on a
fake tree. v2 is recognised by ``cgroup.controllers`` at the root; otherwise each v1 controller
is a directory of its own (``memory``, ``cpu``, ``cpuacct``, ``pids``; or ``cpu,cpuacct``).
"""

from __future__ import annotations

import os
from pathlib import Path

from dockerscope.kernel.model import Cgroup

#: Limits at or above this are "unlimited" (v1 writes 2^63 rounded down to a page).
_UNLIMITED = 1 << 62


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _int(path: Path) -> int | None:
    text = _read(path)
    if text is None or text == "max":
        return None
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return None


def _limit(value: int | None) -> int | None:
    if value is None or value < 0 or value >= _UNLIMITED:
        return None
    return value


def _keyed(path: Path) -> dict[str, int]:
    """A flat keyed file ("oom_kill 0" per line) as a dict."""
    out: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def is_v2(root: str | Path) -> bool:
    """True when ``root`` is a cgroup2 (unified) hierarchy."""
    return Path(root, "cgroup.controllers").exists()


def shares_to_weight(shares: int) -> int:
    """The runtimes' cpu.shares -> cpu.weight mapping (2..262144 -> 1..10000)."""
    return 1 + ((shares - 2) * 9999) // 262142


def weight_to_shares(weight: int) -> int:
    """Map cpu.weight back to cpu.shares.

    The forward mapping is many-to-one, so the default 1024 is returned when it maps to this
    weight, else the smallest shares value that does.
    """
    if shares_to_weight(1024) == weight:
        return 1024
    return 2 + -(-((weight - 1) * 262142) // 9999)


def read_v2(root: str | Path, rel: str) -> Cgroup:
    """Figures of one v2 cgroup at ``root/rel``."""
    d = Path(root, rel.lstrip("/"))
    cpu_stat = _keyed(d / "cpu.stat")
    quota = period = None
    cpu_max = (_read(d / "cpu.max") or "").split()
    if len(cpu_max) == 2:
        quota = None if cpu_max[0] == "max" else int(cpu_max[0])
        period = int(cpu_max[1])
    weight = _int(d / "cpu.weight")
    return Cgroup(
        path="/" + rel.strip("/"),
        version=2,
        memory_usage=_int(d / "memory.current"),
        memory_limit=_limit(_int(d / "memory.max")),
        cpu_usage_ns=cpu_stat["usage_usec"] * 1000 if "usage_usec" in cpu_stat else None,
        cpu_shares=None if weight is None else weight_to_shares(weight),
        cpu_quota_us=quota,
        cpu_period_us=period,
        pids_current=_int(d / "pids.current"),
        pids_limit=_limit(_int(d / "pids.max")),
        oom_kills=_keyed(d / "memory.events").get("oom_kill", 0),
    )


def v1_controllers(root: str | Path) -> dict[str, Path]:
    """Where each v1 controller we read is mounted under ``root``."""
    out: dict[str, Path] = {}
    root = Path(root)
    for name in ("memory", "cpu", "cpuacct", "pids"):
        for cand in (name, "cpu,cpuacct", "cpuacct,cpu"):
            p = root / cand
            if (name in cand.split(",")) and p.is_dir():
                out[name] = p
                break
    return out


def read_v1(root: str | Path, rel: str) -> Cgroup:
    """Figures of one v1 cgroup ``rel``, gathered from each controller's hierarchy."""
    ctl = v1_controllers(root)
    rel = rel.strip("/")

    def at(name: str) -> Path | None:
        return ctl[name] / rel if name in ctl else None

    mem, cpu, acct, pids = at("memory"), at("cpu"), at("cpuacct"), at("pids")
    quota = _int(cpu / "cpu.cfs_quota_us") if cpu else None
    return Cgroup(
        path="/" + rel,
        version=1,
        memory_usage=_int(mem / "memory.usage_in_bytes") if mem else None,
        memory_limit=_limit(_int(mem / "memory.limit_in_bytes")) if mem else None,
        cpu_usage_ns=_int(acct / "cpuacct.usage") if acct else None,
        cpu_shares=_int(cpu / "cpu.shares") if cpu else None,
        cpu_quota_us=_limit(quota),
        cpu_period_us=_int(cpu / "cpu.cfs_period_us") if cpu else None,
        pids_current=_int(pids / "pids.current") if pids else None,
        pids_limit=_limit(_int(pids / "pids.max")) if pids else None,
        oom_kills=_keyed(mem / "memory.oom_control").get("oom_kill", 0) if mem else 0,
    )


def _children(base: Path, depth: int) -> list[str]:
    """Relative paths of the cgroup directories below ``base`` (not ``base`` itself)."""
    found: list[str] = []
    if not base.is_dir():
        return found
    for dirpath, dirnames, _ in os.walk(base):
        here = Path(dirpath)
        level = len(here.relative_to(base).parts)
        if level >= depth:
            dirnames[:] = []
        for d in sorted(dirnames):
            found.append(str((here / d).relative_to(base)))
    return found


def cgroup_dirs(parent: str, root: str | Path = "/sys/fs/cgroup") -> list[Path]:
    """The directories that hold ``parent`` (one on v2, one per controller on v1)."""
    parent = parent.strip("/")
    if is_v2(root):
        return [Path(root, parent)]
    return [p / parent for p in v1_controllers(root).values()]


def list_cgroups(parent: str, root: str | Path = "/sys/fs/cgroup", depth: int = 2) -> list[str]:
    """Relative paths (``dockerscope/lab/<id>``) of cgroups under ``parent``."""
    parent = parent.strip("/")
    names: set[str] = set()
    for base in cgroup_dirs(parent, root):
        names.update(f"{parent}/{c}" for c in _children(base, depth))
    return sorted(names)


def read_cgroups(parent: str, root: str | Path = "/sys/fs/cgroup", depth: int = 2) -> list[Cgroup]:
    """Every cgroup below ``parent`` with its figures; an absent parent gives []."""
    reader = read_v2 if is_v2(root) else read_v1
    return [reader(root, rel) for rel in list_cgroups(parent, root, depth)]


def read_cgroups_at(rels: list[str], root: str | Path = "/sys/fs/cgroup") -> list[Cgroup]:
    """Figures of the named cgroups (relative paths); ones that no longer exist are left out."""
    v2 = is_v2(root)
    out = []
    for rel in rels:
        rel = rel.strip("/")
        bases = [Path(root)] if v2 else list(v1_controllers(root).values())
        if any((b / rel).is_dir() for b in bases):
            out.append(read_v2(root, rel) if v2 else read_v1(root, rel))
    return out
