"""What kernel objects a test run could have made, so a test can prove it left none behind.

``KernelInventory.take()`` lists the things our engine (and the tests' own helpers) can create
on a machine; comparing two inventories (before and after a test) names whatever leaked.

The machine is shared: other programs may start processes, mount file systems or make the
first ``ip netns add`` while a test runs. Only what this test run could have made counts:

- processes: ones that mention dockerscope *and* descend from this test run, known by the
  marker variable every descendant inherits (``RUN_MARKER``) or, failing that, by their
  parent chain reaching the pytest process (a daemon that was re-parented keeps the marker);
- mounts: mount points under the paths a lab or a test uses (``/run/netns/<name>``,
  ``/run/dockerscope``, ``/var/lib/dockerscope``, the temp dir), never ``/run/netns`` itself,
  which the machine's first ``ip netns add`` (ours or anyone's) bind-mounts onto itself;
- rules: every ``-A`` line and user chain; not built-in chains at ACCEPT, which the machine's
  first use of a table (nat, on a fresh host) makes and leaves;
- netns, links, cgroups as before: each is named by the lab that made it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

#: Set once per pytest process (``install_run_marker``); inherited by everything it starts.
RUN_MARKER = "DOCKERSCOPE_TEST_RUN"

NETNS_DIR = "/run/netns"


def install_run_marker() -> str:
    """Give this process (and so its descendants) the run marker; return its value."""
    value = os.environ.get(RUN_MARKER) or uuid.uuid4().hex
    os.environ[RUN_MARKER] = value
    return value


def _run(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _test_paths() -> tuple[str, ...]:
    return (
        NETNS_DIR + "/",
        "/run/dockerscope",
        "/var/lib/dockerscope",
        os.path.realpath(tempfile.gettempdir()) + "/",
    )


def could_be_ours(mount_point: str, prefixes: tuple[str, ...] | None = None) -> bool:
    """Whether a mount point lies where a lab or a test makes mounts."""
    if mount_point.rstrip("/") == NETNS_DIR:
        return False
    return mount_point.startswith(prefixes if prefixes is not None else _test_paths())


BUILTIN_CHAINS = frozenset(("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"))


def could_be_our_chain(line: str) -> bool:
    """Whether an ``iptables-save`` chain line (``:NAME POLICY [p:b]``) can be a leak.

    Docker's chains are left alone (a lab makes them inside its own netns). A built-in chain
    with the ACCEPT policy is what the machine's first use of a table shows (``iptables -t
    nat`` on a fresh nf_tables host makes the table with its chains, and they stay); a built-in
    chain with another policy is a real change and counts."""
    name, _, rest = line[1:].partition(" ")
    if "DOCKER" in name:
        return False
    return not (name in BUILTIN_CHAINS and rest.startswith("ACCEPT"))


def _mounts(mountinfo: str = "/proc/self/mountinfo") -> frozenset[str]:
    out = set()
    for line in Path(mountinfo).read_text().splitlines():
        fields = line.split()
        point = fields[4].replace("\\040", " ")
        if could_be_ours(point):
            out.add(point)
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


def _ppid(pid: str) -> str:
    try:
        stat = Path("/proc", pid, "stat").read_text()
    except OSError:
        return "0"
    return stat.rsplit(")", 1)[1].split()[1]


def _descends_from(pid: str, ancestor: str) -> bool:
    seen = 0
    while pid not in ("0", "1") and seen < 64:
        if pid == ancestor:
            return True
        pid = _ppid(pid)
        seen += 1
    return False


def _has_marker(pid: str, marker: str) -> bool:
    try:
        env = Path("/proc", pid, "environ").read_bytes()
    except OSError:
        return False
    return f"{RUN_MARKER}={marker}".encode() in env.split(b"\0")


def _processes(marker: str | None = None) -> frozenset[str]:
    """Live processes of this test run whose command line mentions dockerscope."""
    marker = marker if marker is not None else os.environ.get(RUN_MARKER, "")
    out = set()
    me = str(os.getpid())
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or p.name == me:
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "dockerscope" not in cmd or "pytest" in cmd:
            continue
        if (marker and _has_marker(p.name, marker)) or _descends_from(p.name, me):
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
        netns = frozenset(os.listdir(NETNS_DIR)) if os.path.isdir(NETNS_DIR) else frozenset()
        links = frozenset(
            line.split(":")[1].strip().split("@")[0]
            for line in _run("ip", "-o", "link", "show").splitlines()
            if ":" in line
        )
        rules = frozenset(
            line
            for cmd in ("iptables-save", "iptables-legacy-save")
            for line in _run(cmd).splitlines()
            if line.startswith("-A") or (line.startswith(":") and could_be_our_chain(line))
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
