"""Overlay mounts from captured mountinfo, and what an upper dir holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockerscope.kernel.mounts import parse_mountinfo, unescape, upper_entries

DATA = Path(__file__).parent.parent / "data" / "kernel"
BASE = "/var/lib/dockerscope/capture/overlay"


def test_captured_overlay():
    mounts = parse_mountinfo((DATA / "mountinfo-overlay.txt").read_text())
    assert len(mounts) == 1
    m = mounts[0]
    assert m.target == f"{BASE}/merged"
    assert m.lowerdirs == (f"{BASE}/lower",)
    assert m.upperdir == f"{BASE}/upper" and m.workdir == f"{BASE}/work"


def test_layers_escapes_and_new_api():
    line = (
        "90 47 0:50 / /a\\040b rw - overlay overlay rw,lowerdir=/l/top:/l/mid:/l/base,"
        "upperdir=/u\\040x,workdir=/w\n"
        "91 47 0:51 / /c rw - overlay overlay rw,lowerdir+=/l1,lowerdir+=/l2,"
        "upperdir=/u2,workdir=/w2\n"
        "92 47 0:52 / /proc rw - proc proc rw\n"
    )
    a, b = parse_mountinfo(line)
    assert a.target == "/a b" and a.lowerdirs == ("/l/top", "/l/mid", "/l/base")
    assert a.upperdir == "/u x"
    assert b.lowerdirs == ("/l1", "/l2") and b.upperdir == "/u2"
    assert unescape("x\\134y") == "x\\y"


def test_upper_entries(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hostname").write_text("box\n")
    os.symlink("hostname", tmp_path / "etc" / "link")
    entries = {e.path: e for e in upper_entries(str(tmp_path))}
    assert entries["etc"].kind == "dir"
    assert entries["etc/hostname"].kind == "file" and entries["etc/hostname"].size == 4
    assert entries["etc/link"].kind == "symlink"
    assert upper_entries(str(tmp_path / "missing")) == ()


def test_upper_entries_cap(tmp_path):
    for i in range(30):
        (tmp_path / f"f{i:02}").write_text("")
    assert len(upper_entries(str(tmp_path), cap=10)) == 10


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a whiteout needs root")
def test_whiteout_and_opaque(tmp_path):
    os.mknod(tmp_path / "gone", 0o600 | 0o020000, os.makedev(0, 0))
    (tmp_path / "d").mkdir()
    try:
        os.setxattr(tmp_path / "d", "trusted.overlay.opaque", b"y")
    except OSError:
        pytest.skip("no trusted xattrs on this file system")
    entries = {e.path: e.kind for e in upper_entries(str(tmp_path))}
    assert entries == {"gone": "whiteout", "d": "opaque"}


def test_docker_layer_owners_from_the_layer_store(tmp_path):
    """overlay2/<mount id>/diff -> the container whose layerdb mount-id names it."""
    from dockerscope.kernel.mounts import docker_layer_owners

    cid, mount_id = "c" * 64, "0c1e1fc4be59" + "0" * 52
    store = tmp_path / "image" / "overlay2" / "layerdb" / "mounts"
    (store / cid).mkdir(parents=True)
    (store / cid / "mount-id").write_text(mount_id)
    (store / ("d" * 64)).mkdir()  # a container whose mount-id is missing: skipped
    upper = f"{tmp_path}/overlay2/{mount_id}/diff"
    others = [f"{tmp_path}/overlay2/{'e' * 64}/diff", "/run/dockerscope/lab/c/upper"]
    assert docker_layer_owners([upper, *others]) == {upper: cid}
    assert docker_layer_owners([f"{tmp_path / 'absent'}/overlay2/x/diff"]) == {}
