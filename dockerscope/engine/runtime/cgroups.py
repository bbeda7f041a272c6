"""Control groups for containers, on cgroup v1 (one hierarchy per controller) and v2 (unified).

A lab has a parent group (``dockerscope/<lab>``) and each container a group below it
(``dockerscope/<lab>/<id>``), in every hierarchy used. The hierarchy roots come from a
``CgroupLayout``: detected from the mount table, or built by hand over a plain directory tree
(``simulated=True``) so the v2 code path can be tested on a v1 machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass

from dockerscope.engine.runtime.spec import Resources
from dockerscope.kernel.mounts import unescape

# The v1 controllers a Docker container joins (the named systemd hierarchy aside).
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids")
# The v2 controllers our limits need, enabled down the tree where the kernel offers them.
V2_CONTROLLERS = ("cpu", "memory", "pids")
_KNOWN_V1 = frozenset(
    V1_CONTROLLERS + ("net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc")
)

CFS_PERIOD_US = 100_000  # Docker's CPU period for --cpus

# Docker's default device rules: mknod of anything, use of the usual character devices only.
DEFAULT_DEVICE_RULES = (
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",  # null
    "c 1:5 rwm",  # zero
    "c 1:7 rwm",  # full
    "c 1:8 rwm",  # random
    "c 1:9 rwm",  # urandom
    "c 5:0 rwm",  # tty
    "c 5:1 rwm",  # console
    "c 5:2 rwm",  # ptmx
    "c 136:* rwm",  # pts
    "c 10:200 rwm",  # tun
)


class CgroupError(RuntimeError):
    """A cgroup could not be created, configured or removed."""


def shares_to_weight(shares: int) -> int:
    """cgroup v2 ``cpu.weight`` (1..10000) for v1 ``cpu.shares`` (2..262144), as runc maps it."""
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


def cpu_quota(nano_cpus: int, period: int = CFS_PERIOD_US) -> int:
    """CFS quota in microseconds per ``period`` for ``--cpus`` given as nano CPUs."""
    return max(1000, nano_cpus * period // 1_000_000_000)


@dataclass(frozen=True)
class CgroupLayout:
    """Where the cgroup hierarchies are mounted.

    ``version`` 1: ``hierarchies`` maps each controller to its mount point (controllers
    co-mounted share one). ``version`` 2: a single entry ``("", <unified root>)``.
    ``simulated``: the roots are plain directories (tests), so control files are created on
    write and groups are removed with their files.
    """

    version: int
    hierarchies: tuple[tuple[str, str], ...]
    simulated: bool = False

    @classmethod
    def unified(cls, root: str, simulated: bool = False) -> CgroupLayout:
        """A cgroup v2 layout rooted at ``root``."""
        return cls(2, (("", root),), simulated)

    @classmethod
    def legacy(cls, mounts: dict[str, str], simulated: bool = False) -> CgroupLayout:
        """A cgroup v1 layout from ``{controller: mount point}``."""
        return cls(1, tuple(sorted(mounts.items())), simulated)

    @classmethod
    def detect(cls, mountinfo: str = "/proc/self/mountinfo") -> CgroupLayout:
        """The layout of this machine: v1 if the memory controller is on a v1 hierarchy
        (this includes "hybrid" set-ups), else the unified v2 hierarchy."""
        v1: dict[str, str] = {}
        v2: list[str] = []
        with open(mountinfo) as f:
            for line in f:
                head, _, tail = line.partition(" - ")
                fields = head.split()
                rest = tail.split()
                if len(fields) < 5 or len(rest) < 3:
                    continue
                point = unescape(fields[4])
                if rest[0] == "cgroup":
                    for opt in rest[2].split(","):
                        if opt in _KNOWN_V1:
                            v1.setdefault(opt, point)
                elif rest[0] == "cgroup2":
                    v2.append(point)
        if "memory" in v1:
            return cls.legacy({c: p for c, p in v1.items() if c in V1_CONTROLLERS})
        if v2:
            root = "/sys/fs/cgroup" if "/sys/fs/cgroup" in v2 else v2[0]
            return cls.unified(root)
        raise CgroupError("no cgroup hierarchy with the memory controller is mounted")

    def mount_of(self, controller: str) -> str | None:
        """Mount point of the hierarchy holding ``controller`` (v2: the unified root)."""
        for name, point in self.hierarchies:
            if self.version == 2 or name == controller:
                return point
        return None

    def roots(self) -> tuple[str, ...]:
        """Distinct hierarchy mount points, in a stable order."""
        seen: list[str] = []
        for _, point in self.hierarchies:
            if point not in seen:
                seen.append(point)
        return tuple(seen)

    def dirs(self, path: str) -> tuple[str, ...]:
        """The directories of group ``path`` (relative, e.g. ``dockerscope/lab/id``)."""
        rel = path.strip("/")
        return tuple(os.path.join(root, rel) for root in self.roots())

    def procs_files(self, path: str) -> tuple[str, ...]:
        """The ``cgroup.procs`` files a process writes itself into to join group ``path``."""
        return tuple(os.path.join(d, "cgroup.procs") for d in self.dirs(path))


def group_path(parent: str, name: str) -> str:
    """The relative path of container ``name``'s group under ``parent``."""
    if not name or "/" in name or name in (".", ".."):
        raise CgroupError(f"bad cgroup name {name!r}")
    parent = parent.strip("/")
    if not parent or ".." in parent.split("/"):
        raise CgroupError(f"bad cgroup parent {parent!r}")
    return f"{parent}/{name}"


# --- creating -------------------------------------------------------------------------------


def create(layout: CgroupLayout, parent: str, name: str, resources: Resources) -> tuple[str, ...]:
    """Create the group ``parent/name`` in every hierarchy and apply ``resources``.
    Returns the group directories. On failure nothing of the group is left."""
    path = group_path(parent, name)
    # A group left by a container whose teardown never ran (a daemon killed at the wrong
    # moment) is replaced when empty; one with processes in it belongs to a live container.
    stale = [d for d in layout.dirs(path) if os.path.isdir(d)]
    for d in stale:
        if pids_in(d):
            raise CgroupError(f"cgroup {d} already exists and has processes in it")
    _remove_dirs(layout, stale)
    made: list[str] = []
    try:
        if layout.version == 2:
            _create_v2(layout, path, resources, made)
        else:
            _create_v1(layout, path, resources, made)
    except OSError as exc:
        _remove_dirs(layout, made)
        raise CgroupError(f"cannot set up cgroup {path}: {exc}") from exc
    except CgroupError:
        _remove_dirs(layout, made)
        raise
    return layout.dirs(path)


def _mkdirs(layout: CgroupLayout, root: str, rel: str, made: list[str]) -> list[str]:
    """Create each level of ``rel`` under ``root``; returns every level's dir, top first.
    Only the last level (the container's group) is recorded in ``made`` for cleanup: the
    parents belong to the lab and go with ``remove_parent``."""
    levels = []
    cur = root
    parts = rel.split("/")
    for i, part in enumerate(parts):
        cur = os.path.join(cur, part)
        levels.append(cur)
        try:
            os.mkdir(cur)
        except FileExistsError:
            if i == len(parts) - 1:
                raise CgroupError(f"cgroup {cur} already exists") from None
        else:
            if i == len(parts) - 1:
                made.append(cur)
        # Every level, made here or by a concurrent launch that has not filled it yet: an empty
        # cpuset level would leave its children empty, and joining those fails with ENOSPC.
        if layout.version == 1 and os.path.basename(root) == "cpuset":
            _inherit_cpuset(layout, cur)
    return levels


def _inherit_cpuset(layout: CgroupLayout, d: str) -> None:
    """v1 cpuset groups start with no CPUs and no memory nodes: copy the parent's."""
    parent = os.path.dirname(d)
    for f in ("cpuset.cpus", "cpuset.mems"):
        if _read(os.path.join(d, f), layout).strip():
            continue
        _write(os.path.join(d, f), _read(os.path.join(parent, f), layout).strip(), layout)


def _create_v1(layout: CgroupLayout, path: str, res: Resources, made: list[str]) -> None:
    for root in layout.roots():
        _mkdirs(layout, root, path, made)
    memory = res.memory
    nano_cpus = res.nano_cpus
    shares = res.cpu_shares
    pids = res.pids_limit
    mem = layout.mount_of("memory")
    if mem and memory:
        d = os.path.join(mem, path)
        _write(os.path.join(d, "memory.limit_in_bytes"), str(memory), layout)
        # memory+swap equal to memory: a container cannot escape its limit into swap.
        memsw = os.path.join(d, "memory.memsw.limit_in_bytes")
        if layout.simulated or os.path.exists(memsw):
            _write(memsw, str(memory), layout)
    cpu = layout.mount_of("cpu")
    if cpu:
        d = os.path.join(cpu, path)
        if shares:
            _write(os.path.join(d, "cpu.shares"), str(shares), layout)
        if nano_cpus:
            _write(os.path.join(d, "cpu.cfs_period_us"), str(CFS_PERIOD_US), layout)
            _write(os.path.join(d, "cpu.cfs_quota_us"), str(cpu_quota(nano_cpus)), layout)
    pid_root = layout.mount_of("pids")
    if pid_root and pids and pids > 0:
        _write(os.path.join(pid_root, path, "pids.max"), str(pids), layout)
    dev = layout.mount_of("devices")
    if dev:
        d = os.path.join(dev, path)
        _write(os.path.join(d, "devices.deny"), "a", layout)
        for rule in DEFAULT_DEVICE_RULES:
            _write(os.path.join(d, "devices.allow"), rule, layout)


def _create_v2(layout: CgroupLayout, path: str, res: Resources, made: list[str]) -> None:
    root = layout.roots()[0]
    available = set(_read(os.path.join(root, "cgroup.controllers"), layout).split())
    memory, nano_cpus, shares, pids = res.memory, res.nano_cpus, res.cpu_shares, res.pids_limit
    needed = {"memory": bool(memory), "cpu": bool(nano_cpus or shares), "pids": bool(pids)}
    for controller, need in needed.items():
        if need and controller not in available:
            raise CgroupError(f"the {controller} controller is not available in cgroup v2 here")
    levels = _mkdirs(layout, root, path, made)
    # A controller works in a group only if every ancestor enables it for its children.
    for d in [root] + levels[:-1]:
        _enable_controllers(layout, d, [c for c in V2_CONTROLLERS if c in available], needed)
    d = levels[-1]
    if memory:
        _write(os.path.join(d, "memory.max"), str(memory), layout)
        swap = os.path.join(d, "memory.swap.max")
        if layout.simulated or os.path.exists(swap):
            _write(swap, "0", layout)
    if nano_cpus:
        _write(os.path.join(d, "cpu.max"), f"{cpu_quota(nano_cpus)} {CFS_PERIOD_US}", layout)
    if shares:
        _write(os.path.join(d, "cpu.weight"), str(shares_to_weight(shares)), layout)
    if pids and pids > 0:
        _write(os.path.join(d, "pids.max"), str(pids), layout)


def _enable_controllers(
    layout: CgroupLayout, d: str, controllers: list[str], needed: dict[str, bool]
) -> None:
    """Enable each controller in ``d``'s subtree_control, one at a time: the kernel can refuse
    one (e.g. cpu while real-time tasks run outside it), which matters only if a limit needs it."""
    f = os.path.join(d, "cgroup.subtree_control")
    enabled = {c.lstrip("+") for c in _read(f, layout).split()}
    for c in controllers:
        if c in enabled:
            continue
        try:
            _write(f, "+" + c, layout)
        except CgroupError:
            if needed.get(c):
                raise


# --- the lab's parent group -------------------------------------------------------------------


def set_parent_caps(
    layout: CgroupLayout, parent: str, memory: int | None, pids: int | None
) -> tuple[str, ...]:
    """Create the lab's parent group ``parent`` in every hierarchy (if missing) and cap the
    memory and the pids of everything below it: the kernel then bounds the sum of the lab's
    containers, even of those without limits of their own. None lifts a cap. Returns the
    parent's directories. Raises ``CgroupError`` (a controller missing, a cap below what the
    lab uses now)."""
    rel = parent.strip("/")
    if not rel or ".." in rel.split("/"):
        raise CgroupError(f"bad cgroup parent {parent!r}")
    try:
        if layout.version == 2:
            _parent_caps_v2(layout, rel, memory, pids)
        else:
            _parent_caps_v1(layout, rel, memory, pids)
    except OSError as exc:
        raise CgroupError(f"cannot set up cgroup {rel}: {exc}") from exc
    return layout.dirs(rel)


def _mkparents(layout: CgroupLayout, root: str, rel: str) -> list[str]:
    """Each level of ``rel`` under ``root``, made if missing (cpuset levels filled); top first."""
    levels = []
    cur = root
    for part in rel.split("/"):
        cur = os.path.join(cur, part)
        with contextlib.suppress(FileExistsError):
            os.mkdir(cur)
        if layout.version == 1 and os.path.basename(root) == "cpuset":
            _inherit_cpuset(layout, cur)
        levels.append(cur)
    return levels


def _parent_caps_v1(layout: CgroupLayout, rel: str, memory: int | None, pids: int | None) -> None:
    for root in layout.roots():
        _mkparents(layout, root, rel)
    mem, pid_root = layout.mount_of("memory"), layout.mount_of("pids")
    for controller, point, cap in (("memory", mem, memory), ("pids", pid_root, pids)):
        if point is None and cap is not None:
            raise CgroupError(f"no {controller} controller: the lab's cap cannot be enforced")
    if mem is not None:
        d = os.path.join(mem, rel)
        value = str(memory) if memory is not None else "-1"
        memsw = os.path.join(d, "memory.memsw.limit_in_bytes")
        has_swap = layout.simulated or os.path.exists(memsw)
        # memory+swap may never be below memory: lift it first, set memory, then bring
        # memory+swap down to the same value (no escaping the cap into swap).
        if has_swap:
            _write(memsw, "-1", layout)
        _write(os.path.join(d, "memory.limit_in_bytes"), value, layout)
        if has_swap:
            _write(memsw, value, layout)
    if pid_root is not None:
        _write(os.path.join(pid_root, rel, "pids.max"), str(pids or "max"), layout)


def _parent_caps_v2(layout: CgroupLayout, rel: str, memory: int | None, pids: int | None) -> None:
    root = layout.roots()[0]
    available = set(_read(os.path.join(root, "cgroup.controllers"), layout).split())
    needed = {"memory": memory is not None, "pids": pids is not None}
    for controller, need in needed.items():
        if need and controller not in available:
            raise CgroupError(f"the {controller} controller is not available in cgroup v2 here")
    levels = _mkparents(layout, root, rel)
    # The parent's own control files exist once every ancestor enables the controller below.
    for d in [root] + levels[:-1]:
        _enable_controllers(layout, d, [c for c in V2_CONTROLLERS if c in available], needed)
    d = levels[-1]
    if "memory" in available:
        _write(os.path.join(d, "memory.max"), str(memory or "max"), layout)
        swap = os.path.join(d, "memory.swap.max")
        if layout.simulated or os.path.exists(swap):
            # As containers' own limits do: the cap is of memory, with no swap beyond it.
            _write(swap, "0" if memory is not None else "max", layout)
    if "pids" in available:
        _write(os.path.join(d, "pids.max"), str(pids or "max"), layout)


# --- reading --------------------------------------------------------------------------------


def oom_kills(layout: CgroupLayout, parent: str, name: str) -> int:
    """How many processes of the group the OOM killer has killed (0 if the group is gone)."""
    path = group_path(parent, name)
    if layout.version == 2:
        f = os.path.join(layout.roots()[0], path, "memory.events")
    else:
        mem = layout.mount_of("memory")
        if not mem:
            return 0
        f = os.path.join(mem, path, "memory.oom_control")
    try:
        text = _read(f, layout)
    except FileNotFoundError:
        return 0
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    if layout.version == 1:
        # Older v1 kernels have no oom_kill counter: hitting the limit is the best hint.
        try:
            return int(_read(os.path.join(os.path.dirname(f), "memory.failcnt"), layout) or 0)
        except (FileNotFoundError, ValueError):
            return 0
    return 0


def pids_in(d: str) -> list[int]:
    """The processes in the group directory ``d`` (empty if it is gone)."""
    try:
        with open(os.path.join(d, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except (FileNotFoundError, ValueError):
        return []


# --- removing -------------------------------------------------------------------------------


def remove(layout: CgroupLayout, parent: str, name: str, timeout: float = 2.0) -> None:
    """Remove container ``name``'s group everywhere (idempotent). Processes still in it get
    ``timeout`` seconds to vanish, then SIGKILL."""
    _remove_dirs(layout, list(layout.dirs(group_path(parent, name))), timeout)


def remove_parent(parent: str, layout: CgroupLayout | None = None, timeout: float = 2.0) -> None:
    """Remove a lab's parent group and any container groups left under it (idempotent)."""
    layout = layout or CgroupLayout.detect()
    rel = parent.strip("/")
    if not rel or ".." in rel.split("/"):
        raise CgroupError(f"bad cgroup parent {parent!r}")
    for d in layout.dirs(rel):
        if not os.path.isdir(d):
            continue
        children = [os.path.join(d, c) for c in os.listdir(d) if os.path.isdir(os.path.join(d, c))]
        _remove_dirs(layout, children, timeout)
        _remove_dirs(layout, [d], timeout)


def _remove_dirs(layout: CgroupLayout, dirs: list[str], timeout: float = 2.0) -> None:
    for d in dirs:
        # Each group gets its own grace period and its own kill of stragglers: one slow group
        # must not make the next one fail before its processes were ever killed.
        deadline = time.monotonic() + timeout
        killed = False
        while os.path.isdir(d):
            if layout.simulated:
                _remove_simulated(d)
                break
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                now = time.monotonic()
                if now > deadline and killed:
                    raise CgroupError(f"cannot remove cgroup {d}: {exc.strerror}") from exc
                if now > deadline:
                    # Stragglers (e.g. processes exec'd into a container that died) get killed.
                    for pid in pids_in(d):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    killed = True
                    deadline = now + timeout
                time.sleep(0.005)


def _remove_simulated(d: str) -> None:
    for dirpath, dirnames, filenames in os.walk(d, topdown=False):
        for f in filenames:
            os.unlink(os.path.join(dirpath, f))
        for sub in dirnames:
            os.rmdir(os.path.join(dirpath, sub))
    os.rmdir(d)


# --- files ------------------------------------------------------------------------------------


def _read(path: str, layout: CgroupLayout) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        if layout.simulated:
            return ""
        raise


def _write(path: str, value: str, layout: CgroupLayout) -> None:
    """Write one value to a control file (cgroupfs takes one value per write)."""
    flags = os.O_WRONLY | os.O_CLOEXEC
    if layout.simulated:
        flags |= os.O_CREAT | os.O_APPEND
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise CgroupError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        os.write(fd, (value + "\n").encode() if layout.simulated else value.encode())
    except OSError as exc:
        raise CgroupError(f"cannot write {value!r} to {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
