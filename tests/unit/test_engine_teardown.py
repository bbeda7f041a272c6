"""Teardown finds a lab's mount points in mountinfo, whatever characters their paths hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockerscope.engine.runtime import mounts


def test_mount_points_under_decodes_octal_escapes_and_keeps_unicode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(
        "30 1 0:5 / /tmp/labé\\040x/run/netns/web rw shared:1 - nsfs nsfs rw\n"
        "31 1 0:6 / /tmp/labé\\040x/data/c1/rootfs rw - overlay overlay rw\n"
        "32 1 0:7 / /tmp/other rw - tmpfs tmpfs rw\n",
        encoding="utf-8",
    )
    real = Path.read_text
    monkeypatch.setattr(
        Path,
        "read_text",
        lambda self, *a, **k: (
            real(info, *a, **k) if str(self) == "/proc/self/mountinfo" else real(self, *a, **k)
        ),
    )
    found = mounts.mount_points_under([Path("/tmp/labé x")])
    assert sorted(found) == ["/tmp/labé x/data/c1/rootfs", "/tmp/labé x/run/netns/web"]
