"""Reconcile after a restart: what belongs to no container record is found and removed."""

from __future__ import annotations

from pathlib import Path

from dockerscope.engine.containers.reconcile import Orphans, find_orphans, remove_orphans
from dockerscope.engine.containers.store import CONFIG_FILE
from dockerscope.engine.paths import Lab
from dockerscope.engine.runtime.cgroups import CgroupLayout


def _lab(tmp_path: Path) -> tuple[Lab, CgroupLayout]:
    lab = Lab.named("recon", tmp_path / "data", tmp_path / "run")
    layout = CgroupLayout.legacy(
        {"memory": str(tmp_path / "cg/memory"), "pids": str(tmp_path / "cg/pids")}, simulated=True
    )
    return lab, layout


def test_groups_and_dirs_without_a_record_are_orphans(tmp_path: Path) -> None:
    lab, layout = _lab(tmp_path)
    for root in layout.roots():
        for name in ("kept", "lost"):
            d = Path(root, lab.cgroup_parent, name)
            d.mkdir(parents=True)
            (d / "cgroup.procs").write_text("")
    for name in ("kept", "half", "unreadable"):
        (lab.containers_dir / name).mkdir(parents=True)
    (lab.containers_dir / "kept" / CONFIG_FILE).write_text("{}")
    (lab.containers_dir / "unreadable" / CONFIG_FILE).write_text("not json")

    orphans = find_orphans(lab, {"kept"}, layout)

    assert orphans.cgroups == ("lost",)
    assert orphans.mounts == ()
    # A record that cannot be read is left for a human; a directory with none is debris.
    assert orphans.dirs == (str(lab.containers_dir / "half"),)
    notes = remove_orphans(lab, orphans, layout)
    assert len(notes) == 2 and all("no container record" in n for n in notes)
    for root in layout.roots():
        assert sorted(p.name for p in Path(root, lab.cgroup_parent).iterdir()) == ["kept"]
    assert sorted(p.name for p in lab.containers_dir.iterdir()) == ["kept", "unreadable"]
    assert find_orphans(lab, {"kept", "unreadable"}, layout) == Orphans((), (), ())


def test_a_lab_never_started_has_no_orphans(tmp_path: Path) -> None:
    lab, layout = _lab(tmp_path)
    assert find_orphans(lab, set(), layout) == Orphans((), (), ())
