"""cgroup v1 figures from captured files laid out as a tree, and v2 on a fake unified tree."""

from __future__ import annotations

import shutil
from pathlib import Path

from dockerscope.kernel.cgroups import is_v2, list_cgroups, read_cgroups, weight_to_shares

DATA = Path(__file__).parent.parent / "data" / "kernel"
CID = "0123456789ab"


def _v1_tree(root: Path) -> None:
    by_controller = {
        "memory": ["memory.usage_in_bytes", "memory.limit_in_bytes", "memory.oom_control"],
        "cpu": ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"],
        "cpuacct": ["cpuacct.usage"],
        "pids": ["pids.current", "pids.max"],
    }
    for ctl, files in by_controller.items():
        d = root / ctl / "dockerscope" / "lab" / CID
        d.mkdir(parents=True)
        for f in files:
            shutil.copy(DATA / "cgroup-v1" / f, d / f)


def test_v1_captured(tmp_path):
    _v1_tree(tmp_path)
    assert not is_v2(tmp_path)
    (cg,) = read_cgroups("dockerscope/lab", tmp_path)
    assert cg.path == f"/dockerscope/lab/{CID}" and cg.version == 1
    assert cg.memory_limit == 64 * 1024 * 1024
    assert cg.memory_usage and cg.memory_usage > 0
    assert cg.cpu_shares == 512 and cg.cpu_quota_us == 50000 and cg.cpu_period_us == 100000
    assert cg.cpu_usage_ns and cg.cpu_usage_ns > 0
    assert (cg.pids_current, cg.pids_limit, cg.oom_kills) == (2, 64, 0)


def test_v1_unlimited(tmp_path):
    _v1_tree(tmp_path)
    d = tmp_path / "memory" / "dockerscope" / "lab" / CID
    (d / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (tmp_path / "cpu" / "dockerscope" / "lab" / CID / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "pids" / "dockerscope" / "lab" / CID / "pids.max").write_text("max\n")
    (cg,) = read_cgroups("dockerscope/lab", tmp_path)
    assert cg.memory_limit is None and cg.cpu_quota_us is None and cg.pids_limit is None


def _v2_tree(root: Path) -> Path:
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    d = root / "dockerscope" / "lab" / CID
    d.mkdir(parents=True)
    files = {
        "memory.current": "1048576\n",
        "memory.max": "33554432\n",
        "memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n",
        "cpu.stat": "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
        "cpu.weight": "39\n",
        "cpu.max": "max 100000\n",
        "pids.current": "3\n",
        "pids.max": "max\n",
    }
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def test_v2_fake_tree(tmp_path):
    _v2_tree(tmp_path)
    assert is_v2(tmp_path)
    (cg,) = read_cgroups("dockerscope/lab", tmp_path)
    assert cg.version == 2 and cg.path == f"/dockerscope/lab/{CID}"
    assert (cg.memory_usage, cg.memory_limit) == (1048576, 33554432)
    assert cg.cpu_usage_ns == 2_500_000
    assert cg.cpu_quota_us is None and cg.cpu_period_us == 100000
    assert cg.cpu_shares == 1024  # weight 39 is what runc makes of 1024 shares
    assert (cg.pids_current, cg.pids_limit, cg.oom_kills) == (3, None, 1)


def test_v2_quota(tmp_path):
    d = _v2_tree(tmp_path)
    (d / "cpu.max").write_text("50000 100000\n")
    (cg,) = read_cgroups("dockerscope/lab", tmp_path)
    assert cg.cpu_quota_us == 50000


def test_missing_parent_and_depth(tmp_path):
    assert read_cgroups("docker", tmp_path) == []
    _v2_tree(tmp_path)
    (tmp_path / "dockerscope" / "lab" / CID / "inner").mkdir()
    assert list_cgroups("dockerscope/lab", tmp_path, depth=1) == [f"dockerscope/lab/{CID}"]
    assert f"dockerscope/lab/{CID}/inner" in list_cgroups("dockerscope/lab", tmp_path, depth=2)


def test_weight_mapping():
    assert weight_to_shares(1) == 2
    assert weight_to_shares(10000) == 262144


def test_read_cgroups_at_named_paths_only(tmp_path):
    """Cgroups found through processes (a daemon's --cgroup-parent) are read where they are."""
    from dockerscope.kernel.cgroups import read_cgroups_at

    _v1_tree(tmp_path)
    (cg,) = read_cgroups_at([f"/dockerscope/lab/{CID}", "/dockerscope/lab/gone"], tmp_path)
    assert cg.path == f"/dockerscope/lab/{CID}" and cg.version == 1
