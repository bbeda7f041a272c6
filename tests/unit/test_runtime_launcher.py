"""launch() refuses bad specs before touching anything; helpers of the daemon side."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from dockerscope.engine.runtime import Bind, ContainerSpec, LaunchError, exec_in, launch
from dockerscope.engine.runtime.cgroups import CgroupLayout
from dockerscope.engine.runtime.launcher import (
    _cgroup_mounts,
    _cgroup_paths,
    _first_missing,
    cgroup_procs_of,
)


def _spec(tmp_path: Path) -> ContainerSpec:
    lower = tmp_path / "lower"
    lower.mkdir(exist_ok=True)
    netns = tmp_path / "netns"
    netns.touch()
    return ContainerSpec(
        id="c1",
        hostname="c1",
        lowerdirs=(str(lower),),
        upperdir=str(tmp_path / "c/upper"),
        workdir=str(tmp_path / "c/work"),
        rootfs=str(tmp_path / "c/rootfs"),
        args=("true",),
        env=(),
        cwd="/",
        user="",
        tty=False,
        netns_path=str(netns),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"args": ()}, "no command specified"),
        ({"upperdir": "rel/upper"}, "upperdir must be an absolute path"),
        ({"lowerdirs": ()}, "no image layers"),
        ({"lowerdirs": ("/nonexistent/layer",)}, "image layer /nonexistent/layer does not exist"),
        ({"netns_path": "/run/netns/nonexistent-x"}, "network namespace .* does not exist"),
        ({"etc_files": (("/etc/hosts", "/nonexistent/hosts"),)}, "bad /etc file mapping"),
        ({"binds": (Bind("/nonexistent/src", "/data"),)}, "bind source path does not exist"),
        ({"binds": (Bind("/tmp", "data"),)}, "mount path must be absolute"),
    ],
)
def test_bad_specs_are_refused_before_anything_is_made(
    tmp_path: Path, change: dict, message: str
) -> None:
    spec = dataclasses.replace(_spec(tmp_path), **change)
    layout = CgroupLayout.unified(str(tmp_path / "cg"), simulated=True)
    with pytest.raises(LaunchError, match=message):
        launch(spec, 0, 1, 2, layout=layout)
    assert not (tmp_path / "c").exists()
    assert not (tmp_path / "cg").exists()


def test_launch_error_carries_dockers_exit_code() -> None:
    err = LaunchError('exec: "x": executable file not found in $PATH', 127)
    assert isinstance(err, RuntimeError) and err.exit_code == 127
    assert LaunchError("other").exit_code == 128


def test_cgroup_paths_of_a_proc_cgroup_file() -> None:
    text = (
        "9:name=systemd:/\n4:memory:/dockerscope/lab/c1\n1:cpu,cpuacct:/dockerscope/lab/c1\n0::/\n"
    )
    assert _cgroup_paths(text) == {
        "name=systemd": "/",
        "memory": "/dockerscope/lab/c1",
        "cpu,cpuacct": "/dockerscope/lab/c1",
        "": "/",
    }


def test_cgroup_mounts_for_the_container() -> None:
    v1 = CgroupLayout.legacy({"memory": "/cg/memory", "cpu": "/cg/cpu,cpuacct"})
    assert _cgroup_mounts(v1, "dockerscope/lab/c1") == [
        ("cpu,cpuacct", "/cg/cpu,cpuacct/dockerscope/lab/c1"),
        ("memory", "/cg/memory/dockerscope/lab/c1"),
    ]
    v2 = CgroupLayout.unified("/sys/fs/cgroup")
    assert _cgroup_mounts(v2, "dockerscope/lab/c1") == [("", "/sys/fs/cgroup/dockerscope/lab/c1")]


def test_first_missing_climbs_one_level_at_most(tmp_path: Path) -> None:
    (tmp_path / "c1").mkdir()
    assert _first_missing(str(tmp_path / "c1")) is None
    assert _first_missing(str(tmp_path / "c1/rootfs")) == str(tmp_path / "c1/rootfs")
    assert _first_missing(str(tmp_path / "c2/rootfs")) == str(tmp_path / "c2")
    assert _first_missing(str(tmp_path / "a/b/rootfs")) == str(tmp_path / "a/b")


def test_a_process_in_our_own_cgroups_has_none_to_join() -> None:
    assert cgroup_procs_of(os.getpid()) == ()


def test_exec_in_a_missing_process_is_a_launch_error() -> None:
    with pytest.raises(LaunchError, match="is not running"):
        exec_in(2**22 + 12345, ("true",), (), "/", "", False, 0, 1, 2)
