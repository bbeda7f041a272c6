"""Copying and diffing a container's upper dir never follows its symlinks onto the host."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from dockerscope.engine.images.diff import copy_upper, diff_changes
from dockerscope.engine.images.errors import BadImage


def test_symlinks_are_copied_as_links(tmp_path: Path) -> None:
    upper, dest = tmp_path / "upper", tmp_path / "dest"
    upper.mkdir()
    dest.mkdir()
    (upper / "etc").symlink_to("/etc")
    (upper / "a.txt").write_text("a")
    os.link(upper / "a.txt", upper / "b.txt")
    copy_upper(upper, dest)
    assert os.readlink(dest / "etc") == "/etc"
    assert (dest / "a.txt").read_text() == "a"
    assert (dest / "a.txt").stat().st_ino == (dest / "b.txt").stat().st_ino
    assert diff_changes([], upper) == [("A", "/a.txt"), ("A", "/b.txt"), ("A", "/etc")]


def test_a_directory_swapped_for_a_symlink_is_refused(tmp_path: Path, monkeypatch) -> None:
    """Simulate the race: the entry looked like a directory, then became a link to /etc."""
    upper, dest = tmp_path / "upper", tmp_path / "dest"
    upper.mkdir()
    dest.mkdir()
    (upper / "swapped").symlink_to("/etc")
    real_stat = os.stat

    def stale_stat(path, *args, **kwargs):
        st = real_stat(path, *args, **kwargs)
        if path == "swapped":
            fields = list(st)
            fields[0] = stat.S_IFDIR | 0o755
            return os.stat_result(fields)
        return st

    monkeypatch.setattr(os, "stat", stale_stat)
    with pytest.raises(BadImage, match="changed while it was being read"):
        copy_upper(upper, dest)
    with pytest.raises(BadImage, match="changed while it was being read"):
        diff_changes([], upper)
    assert not (dest / "swapped" / "passwd").exists()


def test_fifos_are_refused_sockets_skipped(tmp_path: Path) -> None:
    upper, dest = tmp_path / "u", tmp_path / "dest"
    upper.mkdir()
    dest.mkdir()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(upper / "sock"))
        (upper / "file").write_text("f")
        copy_upper(upper, dest)
    assert sorted(os.listdir(dest)) == ["file"]
    dest = tmp_path / "dest2"
    dest.mkdir()
    os.mkfifo(upper / "pipe")
    with pytest.raises(BadImage, match="cannot commit /pipe: fifos"):
        copy_upper(upper, dest)
