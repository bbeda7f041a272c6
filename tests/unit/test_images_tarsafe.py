"""Tar safety rules: hostile layer tars are refused, with nothing written."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from dockerscope.engine.images.errors import BadImage, UnsafeTar
from dockerscope.engine.images.tarsafe import extract, symlink_escapes


def make_tar(*members: tuple[str, bytes, dict]) -> io.BytesIO:
    """A tar in memory: (name, type, attributes) per member; data via attributes["data"]."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, attrs in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            data = attrs.pop("data", b"")
            for key, value in attrs.items():
                setattr(info, key, value)
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    buf.seek(0)
    return buf


def reg(name: str, data: bytes = b"x", **attrs) -> tuple[str, bytes, dict]:
    return (name, tarfile.REGTYPE, {"data": data, "mode": 0o644, **attrs})


def sym(name: str, target: str) -> tuple[str, bytes, dict]:
    return (name, tarfile.SYMTYPE, {"linkname": target, "mode": 0o777})


def hard(name: str, target: str) -> tuple[str, bytes, dict]:
    return (name, tarfile.LNKTYPE, {"linkname": target})


def dirm(name: str, mode: int = 0o755) -> tuple[str, bytes, dict]:
    return (name, tarfile.DIRTYPE, {"mode": mode})


@pytest.fixture
def area(tmp_path: Path) -> Path:
    """A parent dir holding one unrelated file, to prove extraction leaves it as it was."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keep").write_text("untouched")
    return tmp_path


def listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


HOSTILE = {
    "dotdot": [reg("ok"), reg("../x")],
    "dotdot-deep": [dirm("a"), reg("a/../../x")],
    "absolute": [reg("/etc/x")],
    "symlink-absolute": [sym("etc", "/etc")],
    "symlink-escaping": [dirm("d"), sym("d/a", "../../x")],
    "hardlink-outside": [hard("h", "../../outside/keep")],
    "hardlink-absolute": [hard("h", "/etc/passwd")],
    "hardlink-missing": [hard("h", "nothere")],
    "char-device": [("dev/null", tarfile.CHRTYPE, {"devmajor": 1, "devminor": 3})],
    "block-device": [("dev/sda", tarfile.BLKTYPE, {"devmajor": 8, "devminor": 0})],
    "fifo": [("pipe", tarfile.FIFOTYPE, {})],
    "through-symlink": [dirm("sub"), sym("link", "sub"), reg("link/x")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_tar_is_refused_and_nothing_written(area: Path, case: str) -> None:
    dest = area / "layer"
    before = listing(area)
    with pytest.raises(UnsafeTar) as err:
        extract(make_tar(*HOSTILE[case]), dest)
    # The error names the offending member.
    assert err.value.member in {m[0] for m in HOSTILE[case]}
    assert err.value.member in str(err.value)
    assert listing(area) == before
    assert (area / "outside" / "keep").read_text() == "untouched"
    assert not dest.exists()


def test_refusal_message_says_why(area: Path) -> None:
    with pytest.raises(UnsafeTar, match=r"refusing tar member 'etc': absolute symlink target"):
        extract(make_tar(sym("etc", "/etc")), area / "layer")
    with pytest.raises(UnsafeTar, match=r"'\.\./x'.*'\.\.' in path"):
        extract(make_tar(reg("../x")), area / "layer2")


def test_absolute_symlinks_kept_when_allowed(area: Path) -> None:
    dest = area / "layer"
    extract(make_tar(sym("lib64", "/usr/lib64"), reg("a")), dest, allow_absolute_symlinks=True)
    assert os.readlink(dest / "lib64") == "/usr/lib64"
    # Still refused when relative and escaping, even with absolute targets allowed.
    with pytest.raises(UnsafeTar):
        extract(make_tar(sym("x", "../y")), area / "l2", allow_absolute_symlinks=True)


def test_good_tar_keeps_modes_links_and_mtimes(area: Path) -> None:
    dest = area / "layer"
    tar = make_tar(
        dirm("bin"),
        reg("bin/tool", b"#!/bin/sh\n", mode=0o4755, mtime=1_600_000_000),
        sym("bin/alias", "tool"),
        hard("bin/tool2", "bin/tool"),
        dirm("tmp", 0o1777),
        reg("deep/implicit/file", b"data"),
        sym("deep/up", "../bin/tool"),
    )
    result = extract(tar, dest)
    tool = dest / "bin" / "tool"
    assert tool.read_bytes() == b"#!/bin/sh\n"
    assert stat.S_IMODE(tool.stat().st_mode) == 0o4755
    assert int(tool.stat().st_mtime) == 1_600_000_000
    assert os.readlink(dest / "bin" / "alias") == "tool"
    assert os.readlink(dest / "deep" / "up") == "../bin/tool"
    assert (dest / "bin" / "tool2").stat().st_ino == tool.stat().st_ino
    assert stat.S_IMODE((dest / "tmp").stat().st_mode) == 0o1777
    assert (dest / "deep" / "implicit" / "file").read_bytes() == b"data"
    # Content size: two regular files (hard link once) plus two symlink targets.
    assert result.size == len(b"#!/bin/sh\n") + 4 + len("tool") + len("../bin/tool")
    assert {f.relpath for f in result.files} == {"bin/tool", "deep/implicit/file"}
    # No temp dir left beside the destination.
    assert sorted(p.name for p in area.iterdir()) == ["layer", "outside"]


def test_later_member_replaces_earlier(area: Path) -> None:
    dest = area / "layer"
    result = extract(make_tar(reg("f", b"old"), reg("f", b"new!")), dest)
    assert (dest / "f").read_bytes() == b"new!"
    assert [f.relpath for f in result.files] == ["f"]
    assert result.files[0].size == 4


def test_not_a_tar_is_bad_image(area: Path) -> None:
    with pytest.raises(BadImage, match="not a tar archive"):
        extract(io.BytesIO(b"this is not a tar archive" * 40), area / "layer")
    assert not (area / "layer").exists()
    assert sorted(p.name for p in area.iterdir()) == ["outside"]


def test_truncated_tar_is_refused(area: Path) -> None:
    data = make_tar(reg("big", b"y" * 5000)).getvalue()[:1500]
    with pytest.raises(BadImage, match="truncated"):
        extract(io.BytesIO(data), area / "layer")
    assert sorted(p.name for p in area.iterdir()) == ["outside"]


def test_dest_must_not_exist(area: Path) -> None:
    with pytest.raises(FileExistsError):
        extract(make_tar(reg("a")), area / "outside")
    assert (area / "outside" / "keep").read_text() == "untouched"


@pytest.mark.parametrize(
    ("link", "target", "escapes"),
    [
        ("a", "b", False),
        ("a", "../b", True),
        ("d/a", "../b", False),
        ("d/a", "../../b", True),
        ("d/a", "x/../../b", False),
        ("d/a", "./../.././b", True),
    ],
)
def test_symlink_escape_rule(link: str, target: str, escapes: bool) -> None:
    assert symlink_escapes(link.split("/"), target) is escapes


def test_dot_slash_names_and_root_entry(area: Path) -> None:
    """What ``tar -C rootfs -c .`` makes: a ``./`` root entry and ``./``-prefixed names."""
    dest = area / "layer"
    extract(make_tar(dirm("./", 0o750), dirm("./bin"), reg("./bin/sh", b"s")), dest)
    assert (dest / "bin" / "sh").read_bytes() == b"s"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o750


def test_device_refusal_says_what_to_do(area: Path) -> None:
    with pytest.raises(UnsafeTar, match=r"exclude='\./dev/\*'"):
        extract(make_tar(("dev/null", tarfile.CHRTYPE, {"devmajor": 1, "devminor": 3})), area / "l")
