"""The debian builtin: debootstrap --variant=minbase of the host's release, stored as a layer.

Slow (about 45 s here) and needs the host's Debian mirror: run with ``-m slow`` deselected to skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockerscope.engine.images import ImageStore
from dockerscope.engine.images.builtin import TOTAL, host_release
from dockerscope.engine.images.fsutil import mounts_under

pytestmark = [pytest.mark.kernel, pytest.mark.slow]


@pytest.mark.timeout(600)
def test_debian_builds_from_debootstrap(tmp_path: Path) -> None:
    seen: list[tuple[int, int, str]] = []
    store = ImageStore(tmp_path / "images")
    img = store.ensure_builtin("debian", progress=lambda d, t, s: seen.append((d, t, s)))

    release = host_release()
    assert f"debian:{release.codename}" in img.repo_tags and "debian:latest" in img.repo_tags
    assert img.config.cmd == ("bash",)
    root = Path(store.layer_dirs(img)[0])
    # /bin is usr/bin on a merged-/usr Debian: resolve inside the layer, never on the host.
    assert (root / "usr" / "bin" / "bash").is_file()
    assert os.path.realpath(root / "bin" / "bash") == str(root / "usr" / "bin" / "bash")
    assert (root / "etc" / "debian_version").read_text().strip()
    assert os.listdir(root / "dev") == []  # no device nodes in a layer
    assert (root / "etc" / "resolv.conf").read_bytes() == b""  # not the host's resolver
    # Progress: monotonic, on one scale, finishing full.
    done = [d for d, _, _ in seen]
    assert done == sorted(done) and len(seen) > 50
    assert {t for _, t, _ in seen} == {TOTAL} and done[-1] == TOTAL
    # Nothing left mounted or staged; a second ask reuses the image.
    assert mounts_under(tmp_path) == []
    assert os.listdir(store.layers.tmp_dir) == []
    assert store.ensure_builtin(f"debian:{release.codename}").id == img.id
