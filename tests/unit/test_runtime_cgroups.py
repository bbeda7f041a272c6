"""cgroups without root: layout detection, value mapping, and both versions' file writes
against a simulated cgroup tree in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockerscope.engine.runtime import cgroups
from dockerscope.engine.runtime.cgroups import CgroupError, CgroupLayout
from dockerscope.engine.runtime.spec import Resources

MiB = 1024 * 1024

HYBRID = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
30 24 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
36 30 0:32 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
37 30 0:33 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
"""
UNIFIED = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate
"""


def _mountinfo(tmp_path: Path, text: str) -> str:
    f = tmp_path / "mountinfo"
    f.write_text(text)
    return str(f)


def test_detect_hybrid_is_v1_with_comounted_controllers(tmp_path: Path) -> None:
    layout = CgroupLayout.detect(_mountinfo(tmp_path, HYBRID))
    assert layout.version == 1
    assert layout.mount_of("cpu") == layout.mount_of("cpuacct") == "/sys/fs/cgroup/cpu,cpuacct"
    assert layout.mount_of("net_cls") is None  # not a controller containers join
    assert layout.roots() == (
        "/sys/fs/cgroup/cpu,cpuacct",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/pids",
    )
    assert layout.dirs("dockerscope/lab/c1")[1] == "/sys/fs/cgroup/memory/dockerscope/lab/c1"


def test_detect_unified(tmp_path: Path) -> None:
    layout = CgroupLayout.detect(_mountinfo(tmp_path, UNIFIED))
    assert layout == CgroupLayout.unified("/sys/fs/cgroup")
    assert layout.procs_files("/a/b/") == ("/sys/fs/cgroup/a/b/cgroup.procs",)


def test_detect_without_cgroups(tmp_path: Path) -> None:
    with pytest.raises(CgroupError, match="no cgroup hierarchy"):
        CgroupLayout.detect(_mountinfo(tmp_path, "22 27 0:21 / /proc rw - proc proc rw\n"))


def test_detect_this_machine() -> None:
    layout = CgroupLayout.detect()
    assert layout.version in (1, 2) and layout.roots()


@pytest.mark.parametrize(
    ("shares", "weight"), [(2, 1), (1024, 39), (512, 20), (262144, 10000), (0, 1), (10**7, 10000)]
)
def test_shares_to_weight_like_runc(shares: int, weight: int) -> None:
    assert cgroups.shares_to_weight(shares) == weight


def test_cpu_quota() -> None:
    assert cgroups.cpu_quota(1_500_000_000) == 150_000
    assert cgroups.cpu_quota(500_000_000) == 50_000
    assert cgroups.cpu_quota(1) == 1000  # the kernel's minimum quota is 1 ms


@pytest.mark.parametrize(
    ("parent", "name"), [("dockerscope/lab", "a/b"), ("dockerscope/lab", ".."), ("", "x"),
                         ("dockerscope/../etc", "x"), ("dockerscope/lab", "")]
)  # fmt: skip
def test_bad_group_names(parent: str, name: str) -> None:
    with pytest.raises(CgroupError):
        cgroups.group_path(parent, name)


@pytest.fixture
def v2(tmp_path: Path) -> CgroupLayout:
    root = tmp_path / "unified"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    return CgroupLayout.unified(str(root), simulated=True)


def _text(p: Path) -> str:
    return p.read_text().strip()


def test_v2_group_gets_limits_and_parents_enable_controllers(v2: CgroupLayout) -> None:
    res = Resources(memory=64 * MiB, nano_cpus=500_000_000, cpu_shares=512, pids_limit=100)
    (d,) = cgroups.create(v2, "dockerscope/lab1", "c1", res)
    root = Path(v2.roots()[0])
    assert d == str(root / "dockerscope/lab1/c1")
    g = Path(d)
    assert _text(g / "memory.max") == str(64 * MiB)
    assert _text(g / "memory.swap.max") == "0"
    assert _text(g / "cpu.max") == "50000 100000"
    assert _text(g / "cpu.weight") == "20"
    assert _text(g / "pids.max") == "100"
    for level in (root, root / "dockerscope", root / "dockerscope/lab1"):
        assert (level / "cgroup.subtree_control").read_text().split() == [
            "+cpu",
            "+memory",
            "+pids",
        ]
    assert not (g / "cgroup.subtree_control").exists()  # a leaf: processes live here


def test_v2_without_limits_writes_no_limits(v2: CgroupLayout) -> None:
    (d,) = cgroups.create(v2, "dockerscope/lab1", "c1", Resources())
    assert sorted(p.name for p in Path(d).iterdir()) == []


def test_v2_missing_controller_is_a_clear_error_and_leaves_no_group(tmp_path: Path) -> None:
    root = tmp_path / "u"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory\n")
    layout = CgroupLayout.unified(str(root), simulated=True)
    with pytest.raises(CgroupError, match="pids controller is not available"):
        cgroups.create(layout, "dockerscope/lab1", "c1", Resources(pids_limit=10))
    assert not (root / "dockerscope/lab1/c1").exists()


def test_v2_controllers_already_enabled_are_not_written_again(v2: CgroupLayout) -> None:
    root = Path(v2.roots()[0])
    (root / "cgroup.subtree_control").write_text("cpu memory pids\n")
    cgroups.create(v2, "dockerscope/lab1", "c1", Resources())
    assert (root / "cgroup.subtree_control").read_text() == "cpu memory pids\n"


def test_v2_a_stale_empty_group_is_replaced_a_busy_one_refused(v2: CgroupLayout) -> None:
    (d,) = cgroups.create(v2, "dockerscope/lab1", "c1", Resources(pids_limit=5))
    (d,) = cgroups.create(v2, "dockerscope/lab1", "c1", Resources())
    assert not Path(d, "pids.max").exists()  # fresh: the old limits are gone
    Path(d, "cgroup.procs").write_text("4242\n")
    with pytest.raises(CgroupError, match="already exists and has processes"):
        cgroups.create(v2, "dockerscope/lab1", "c1", Resources())
    assert Path(d, "cgroup.procs").exists()  # left alone


def test_v2_oom_kills_from_memory_events(v2: CgroupLayout) -> None:
    (d,) = cgroups.create(v2, "dockerscope/lab1", "c1", Resources(memory=8 * MiB))
    assert cgroups.oom_kills(v2, "dockerscope/lab1", "c1") == 0
    Path(d, "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\n")
    assert cgroups.oom_kills(v2, "dockerscope/lab1", "c1") == 1
    assert cgroups.oom_kills(v2, "dockerscope/lab1", "gone") == 0


def test_v2_remove_and_remove_parent(v2: CgroupLayout) -> None:
    root = Path(v2.roots()[0])
    cgroups.create(v2, "dockerscope/lab1", "c1", Resources(memory=8 * MiB))
    cgroups.create(v2, "dockerscope/lab1", "c2", Resources())
    cgroups.remove(v2, "dockerscope/lab1", "c1")
    cgroups.remove(v2, "dockerscope/lab1", "c1")  # idempotent
    assert not (root / "dockerscope/lab1/c1").exists()
    assert (root / "dockerscope/lab1/c2").exists()
    cgroups.remove_parent("dockerscope/lab1", v2)
    assert not (root / "dockerscope/lab1").exists()
    assert (root / "dockerscope").is_dir()  # shared by every lab
    cgroups.remove_parent("dockerscope/lab1", v2)  # idempotent


@pytest.fixture
def v1(tmp_path: Path) -> CgroupLayout:
    mounts = {}
    for c in ("cpu", "cpuacct", "cpuset", "memory", "devices", "pids"):
        (tmp_path / c).mkdir()
        mounts[c] = str(tmp_path / c)
    (tmp_path / "cpuset/cpuset.cpus").write_text("0-1\n")
    (tmp_path / "cpuset/cpuset.mems").write_text("0\n")
    return CgroupLayout.legacy(mounts, simulated=True)


def test_v1_cpuset_levels_made_by_a_concurrent_launch_are_filled(
    v1: CgroupLayout, tmp_path: Path
) -> None:
    """Another launch made the lab's cpuset levels but has not copied cpus/mems into them yet:
    this launch fills them top-down, so its own group is never left empty (ENOSPC on join)."""
    (tmp_path / "cpuset/dockerscope/lab1").mkdir(parents=True)
    cgroups.create(v1, "dockerscope/lab1", "c1", Resources())
    for level in ("dockerscope", "dockerscope/lab1", "dockerscope/lab1/c1"):
        assert _text(tmp_path / "cpuset" / level / "cpuset.cpus") == "0-1"
        assert _text(tmp_path / "cpuset" / level / "cpuset.mems") == "0"


def test_v1_group_in_every_hierarchy_with_limits(v1: CgroupLayout, tmp_path: Path) -> None:
    res = Resources(memory=32 * MiB, nano_cpus=2_000_000_000, cpu_shares=256, pids_limit=20)
    dirs = cgroups.create(v1, "dockerscope/lab1", "c1", res)
    assert len(dirs) == 6 and all(d.endswith("/dockerscope/lab1/c1") for d in dirs)
    mem = tmp_path / "memory/dockerscope/lab1/c1"
    assert _text(mem / "memory.limit_in_bytes") == str(32 * MiB)
    assert _text(mem / "memory.memsw.limit_in_bytes") == str(32 * MiB)  # no swap escape
    cpu = tmp_path / "cpu/dockerscope/lab1/c1"
    assert _text(cpu / "cpu.shares") == "256"
    assert _text(cpu / "cpu.cfs_period_us") == "100000"
    assert _text(cpu / "cpu.cfs_quota_us") == "200000"
    assert _text(tmp_path / "pids/dockerscope/lab1/c1/pids.max") == "20"
    for level in ("dockerscope", "dockerscope/lab1", "dockerscope/lab1/c1"):
        assert _text(tmp_path / "cpuset" / level / "cpuset.cpus") == "0-1"
        assert _text(tmp_path / "cpuset" / level / "cpuset.mems") == "0"
    devices = tmp_path / "devices/dockerscope/lab1/c1"
    assert _text(devices / "devices.deny") == "a"
    assert "c 1:3 rwm" in (devices / "devices.allow").read_text().splitlines()
    assert v1.procs_files("dockerscope/lab1/c1")[0].endswith("/dockerscope/lab1/c1/cgroup.procs")


def test_v1_oom_kill_counter(v1: CgroupLayout, tmp_path: Path) -> None:
    cgroups.create(v1, "dockerscope/lab1", "c1", Resources(memory=8 * MiB))
    f = tmp_path / "memory/dockerscope/lab1/c1/memory.oom_control"
    f.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert cgroups.oom_kills(v1, "dockerscope/lab1", "c1") == 3


def test_v1_failcnt_when_the_kernel_has_no_oom_kill_counter(
    v1: CgroupLayout, tmp_path: Path
) -> None:
    cgroups.create(v1, "dockerscope/lab1", "c1", Resources(memory=8 * MiB))
    d = tmp_path / "memory/dockerscope/lab1/c1"
    (d / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\n")
    (d / "memory.failcnt").write_text("5\n")
    assert cgroups.oom_kills(v1, "dockerscope/lab1", "c1") == 5


def test_v1_remove_everywhere(v1: CgroupLayout, tmp_path: Path) -> None:
    cgroups.create(v1, "dockerscope/lab1", "c1", Resources(pids_limit=5))
    cgroups.remove(v1, "dockerscope/lab1", "c1")
    assert not list(tmp_path.glob("*/dockerscope/lab1/c1"))
    cgroups.remove_parent("dockerscope/lab1", v1)
    assert not list(tmp_path.glob("*/dockerscope/lab1"))


# --- the lab's parent group: caps on everything below it -----------------------------------


def _last(p: Path) -> str:
    """A simulated control file's current value (the simulation appends every write)."""
    return p.read_text().split()[-1]


def test_v1_parent_caps_in_memory_and_pids(v1: CgroupLayout, tmp_path: Path) -> None:
    dirs = cgroups.set_parent_caps(v1, "dockerscope/lab1", 512 * MiB, 300)
    assert str(tmp_path / "memory/dockerscope/lab1") in dirs
    mem = tmp_path / "memory/dockerscope/lab1"
    assert _last(mem / "memory.limit_in_bytes") == str(512 * MiB)
    # memory+swap lifted first (it may never sit below memory), then set to the same cap
    assert (mem / "memory.memsw.limit_in_bytes").read_text().split() == ["-1", str(512 * MiB)]
    assert _last(tmp_path / "pids/dockerscope/lab1/pids.max") == "300"
    for level in ("dockerscope", "dockerscope/lab1"):  # cpuset levels usable by containers
        assert _text(tmp_path / "cpuset" / level / "cpuset.cpus") == "0-1"
    # a container below it still gets its own group and limits
    cgroups.create(v1, "dockerscope/lab1", "c1", Resources(pids_limit=10))
    assert _text(tmp_path / "pids/dockerscope/lab1/c1/pids.max") == "10"
    cgroups.remove_parent("dockerscope/lab1", v1)
    assert not any((tmp_path / c / "dockerscope/lab1").exists() for c in ("memory", "pids"))


def test_v1_parent_caps_lifted_with_none(v1: CgroupLayout, tmp_path: Path) -> None:
    cgroups.set_parent_caps(v1, "dockerscope/lab1", 64 * MiB, 50)
    cgroups.set_parent_caps(v1, "dockerscope/lab1", None, None)  # a restart with no caps
    assert _last(tmp_path / "memory/dockerscope/lab1/memory.limit_in_bytes") == "-1"
    assert _last(tmp_path / "memory/dockerscope/lab1/memory.memsw.limit_in_bytes") == "-1"
    assert _last(tmp_path / "pids/dockerscope/lab1/pids.max") == "max"


def test_v1_parent_pids_cap_without_pids_controller(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    layout = CgroupLayout.legacy({"memory": str(tmp_path / "memory")}, simulated=True)
    with pytest.raises(CgroupError, match="no pids controller"):
        cgroups.set_parent_caps(layout, "dockerscope/lab1", None, 100)
    cgroups.set_parent_caps(layout, "dockerscope/lab1", 64 * MiB, None)  # no pids cap: fine


def test_v2_parent_caps_and_controllers_enabled_above(v2: CgroupLayout) -> None:
    root = Path(v2.roots()[0])
    (d,) = cgroups.set_parent_caps(v2, "/dockerscope/lab1/", 256 * MiB, 1000)
    g = Path(d)
    assert g == root / "dockerscope/lab1"
    assert _text(g / "memory.max") == str(256 * MiB)
    assert _text(g / "memory.swap.max") == "0"
    assert _text(g / "pids.max") == "1000"
    for level in (root, root / "dockerscope"):
        assert {"+memory", "+pids"} <= set((level / "cgroup.subtree_control").read_text().split())
    cgroups.set_parent_caps(v2, "dockerscope/lab1", None, None)
    assert _last(g / "memory.max") == _last(g / "pids.max") == "max"


def test_parent_caps_refuse_a_bad_parent(v2: CgroupLayout) -> None:
    for bad in ("", "/", "dockerscope/../etc"):
        with pytest.raises(CgroupError, match="bad cgroup parent"):
            cgroups.set_parent_caps(v2, bad, None, 10)
