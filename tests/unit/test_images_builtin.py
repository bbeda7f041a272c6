"""Builtin images: the host's Debian release and mirror, debootstrap's progress protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockerscope.engine.images.builtin import (
    DEFAULT_MIRROR,
    TOTAL,
    AptSource,
    _ProgressParser,
    apt_sources,
    busybox_tar,
    debian_mirror,
    host_release,
)
from dockerscope.engine.images.errors import ImageError

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
"""


def test_release_from_os_release(tmp_path: Path) -> None:
    path = tmp_path / "os-release"
    path.write_text('NAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
    release = host_release(path)
    assert (release.codename, release.version_id) == ("bookworm", "12")
    path.write_text('NAME="Something"\n')
    with pytest.raises(ImageError, match="VERSION_CODENAME"):
        host_release(path)


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d" / "other.list.disabled").write_text("deb http://no/ bookworm main")
    sources = apt_sources(tmp_path)
    assert [s.uri for s in sources] == [
        "http://mirror.example/debian",
        "http://mirror.example/debian-security",
    ]
    assert debian_mirror("bookworm", tmp_path) == AptSource(
        "http://mirror.example/debian",
        ("bookworm", "bookworm-updates"),
        "/usr/share/keyrings/debian-archive-keyring.gpg",
    )


def test_mirror_from_sources_list_and_fallback(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb-src http://src/ bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n"
    )
    assert debian_mirror("bookworm", tmp_path) == AptSource(
        "http://one.example/debian", ("bookworm",), "/k.gpg"
    )
    assert debian_mirror("trixie", tmp_path).uri == DEFAULT_MIRROR


def test_progress_parser_is_monotonic_and_reads_messages() -> None:
    seen: list[tuple[int, int, str]] = []
    parser = _ProgressParser(lambda d, t, s: seen.append((d, t, s)))
    lines = [
        "P: 0 100 DOWNREL",
        "PF: Downloading Release file",
        "I: RETRIEVING",
        "IA: bash",
        "IA: 5.2",
        "IF: Retrieving %s %s",
        "P: 50 100 DOWNDEBS",
        "P: 100 100 DOWNDEBS",
        "P: 3 88 UNPACKREQ",
        "P: 10 88",
        "P: 89 88 CONFREQ",
        "P: 0 0 CONFBASE",
    ]
    for line in lines:
        parser.line(line)
    parser.packing(0.5)
    parser.packing(1.0)
    done = [d for d, _, _ in seen]
    assert done == sorted(done)
    assert all(t == TOTAL for _, t, _ in seen)
    assert ("Retrieving bash 5.2") in [s for _, _, s in seen]
    assert seen[-1][0] == TOTAL
    assert seen[-1][2] == "Storing the layer"


def test_busybox_tar_is_deterministic() -> None:
    first, second = busybox_tar(), busybox_tar()
    assert first.data == second.data
    assert first.version.count(".") >= 1


def test_progress_reports_only_changes() -> None:
    seen: list[tuple[int, int, str]] = []
    parser = _ProgressParser(lambda d, t, s: seen.append((d, t, s)))
    for line in ["P: 0 100 DOWNPKGS", "P: 0 100", "P: 0 100", "P: 1 100000 DOWNPKGS"]:
        parser.line(line)
    for _ in range(1000):
        parser.packing(0.0001)
    assert len(seen) == len(set(seen))
    assert len(seen) <= 3


def test_store_knows_every_builtin_name() -> None:
    """busybox, debian and docker are all made by ensure_builtin; other names are not."""
    from dockerscope.engine.images.store import ImageStore

    for name in ("busybox", "debian:latest", "docker", "docker.io/library/docker:latest"):
        assert ImageStore.is_builtin(name), name
    assert not ImageStore.is_builtin("nginx")
