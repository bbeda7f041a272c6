"""Docker's init layer: mount points and /etc files, unless the image has its own."""

from __future__ import annotations

import os
from pathlib import Path

from dockerscope.engine.runtime.initlayer import make_init_layer


def test_init_layer_has_dockers_paths(tmp_path: Path) -> None:
    layer = Path(make_init_layer(tmp_path / "init"))
    for d in ("dev", "dev/pts", "dev/shm", "proc", "sys", "etc"):
        assert (layer / d).is_dir()
    for f in ("etc/hosts", "etc/hostname", "etc/resolv.conf", "dev/console", ".dockerenv"):
        assert (layer / f).is_file() and (layer / f).stat().st_size == 0
    assert os.readlink(layer / "etc/mtab") == "/proc/mounts"
    assert (layer / ".dockerenv").stat().st_mode & 0o777 == 0o755


def test_image_entries_win_and_it_is_idempotent(tmp_path: Path) -> None:
    image = tmp_path / "image"
    (image / "etc").mkdir(parents=True)
    (image / "etc/mtab").write_text("rootfs / rootfs rw 0 0\n")
    (image / "proc").mkdir()
    layer = Path(make_init_layer(tmp_path / "init", (str(image),)))
    assert not os.path.lexists(layer / "etc/mtab")
    assert not (layer / "proc").exists()
    assert (layer / "etc/hosts").is_file()
    before = sorted(str(p) for p in layer.rglob("*"))
    make_init_layer(layer, (str(image),))
    assert sorted(str(p) for p in layer.rglob("*")) == before
