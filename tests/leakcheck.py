"""What kernel objects exist right now, so a test can prove it left none behind.

``KernelInventory.take()`` lists the things our engine can create on a machine; comparing two
inventories (before and after a test) names whatever leaked.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path


def _run(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _mounts() -> frozenset[str]:
    out = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        out.add(fields[4])  # mount point
    return frozenset(out)


def _cgroups() -> frozenset[str]:
    found = set()
    root = Path("/sys/fs/cgroup")
    candidates = [root] + [p for p in root.iterdir() if p.is_dir()] if root.exists() else []
    for base in candidates:
        top = base / "dockerscope"
        if top.is_dir():
            for dirpath, dirnames, _ in os.walk(top):
                for d in dirnames:
                    found.add(str(Path(dirpath, d)))
    return frozenset(found)


def _processes() -> frozenset[str]:
    """Processes whose command line mentions dockerscope (daemons, helpers, proxies)."""
    out = set()
    me = os.getpid()
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == me:
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "dockerscope" in cmd and "pytest" not in cmd:
            out.add(f"{p.name} {cmd.strip()}")
    return frozenset(out)


@dataclass(frozen=True)
class KernelInventory:
    """A listing of namespaces, links, rules, mounts, cgroups and processes."""

    netns: frozenset[str]
    links: frozenset[str]
    iptables: frozenset[str]
    mounts: frozenset[str]
    cgroups: frozenset[str]
    processes: frozenset[str]

    @classmethod
    def take(cls) -> KernelInventory:
        netns = frozenset(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else frozenset()
        links = frozenset(
            line.split(":")[1].strip().split("@")[0]
            for line in _run("ip", "-o", "link", "show").splitlines()
            if ":" in line
        )
        rules = frozenset(
            line
            for cmd in ("iptables-save", "iptables-legacy-save")
            for line in _run(cmd).splitlines()
            if line.startswith("-A") or (line.startswith(":") and "DOCKER" not in line)
        )
        return cls(netns, links, rules, _mounts(), _cgroups(), _processes())

    def leaked_since(self, before: KernelInventory) -> dict[str, list[str]]:
        """Objects present now that were not there before, by kind."""
        out: dict[str, list[str]] = {}
        for name in ("netns", "links", "iptables", "mounts", "cgroups", "processes"):
            new = sorted(getattr(self, name) - getattr(before, name))
            if name == "processes":
                old_pids = {p.split()[0] for p in before.processes}
                new = [p for p in new if p.split()[0] not in old_pids]
            if new:
                out[name] = new
        return out
