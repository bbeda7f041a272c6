"""The ``docker`` image's ingredients: which client, which files, and the layer's shape."""

from __future__ import annotations

import io
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

from dockerscope.engine.images import dockerimage
from dockerscope.engine.images.dockerimage import ClientChoice

STATIC_CLI = Path("/usr/local/bin/docker")
DYNAMIC_CLI = Path("/usr/bin/docker")


def test_names() -> None:
    assert dockerimage.is_docker_image("docker")
    assert dockerimage.is_docker_image("docker.io/library/docker:latest")
    assert not dockerimage.is_docker_image("busybox")
    assert not dockerimage.is_docker_image("Not A Name")


@pytest.mark.skipif(not STATIC_CLI.exists(), reason="no static docker CLI")
def test_static_cli_goes_in_alone() -> None:
    assert dockerimage.is_static(STATIC_CLI)
    choice = dockerimage.host_cli((STATIC_CLI,))
    assert choice is not None and choice.kind == "docker-cli"
    assert choice.files == {"usr/local/bin/docker": STATIC_CLI}


@pytest.mark.skipif(not DYNAMIC_CLI.exists(), reason="no dynamic docker CLI")
def test_dynamic_cli_brings_its_libraries() -> None:
    assert not dockerimage.is_static(DYNAMIC_CLI)
    choice = dockerimage.host_cli((DYNAMIC_CLI,))
    assert choice is not None
    libs = [p for p in choice.files if p != "usr/local/bin/docker"]
    assert any("libc.so" in p for p in libs) and any("ld-linux" in p for p in libs)


def test_no_cli_falls_back_to_the_stdlib_client(tmp_path: Path) -> None:
    assert dockerimage.host_cli((tmp_path / "nosuch",)) is None
    choice = dockerimage.stdlib_client()
    assert choice.kind == "stdlib-client"
    assert "usr/local/bin/docker" in choice.files
    assert "usr/local/lib/dockerscope/dockerscope/client/commands/__init__.py" in choice.files
    assert any(p.endswith("/json/__init__.py") for p in choice.files)
    assert not any("/site-packages/" in p or "/test/" in p for p in choice.files)
    assert "usr/local/bin/python3" in choice.links


def test_no_python_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(sys, "executable", "")
    with pytest.raises(dockerimage.ImageError, match="no docker CLI .* and no python3"):
        dockerimage.stdlib_client()


def test_layer_is_busybox_plus_the_client() -> None:
    choice = ClientChoice(
        "docker-cli",
        "test",
        {"usr/local/bin/docker": (b"#!/bin/sh\necho fake\n", 0o755)},
        {"usr/bin/docker": "/usr/local/bin/docker"},
    )
    buf = io.BytesIO()
    dockerimage.write_layer(buf, choice)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["bin/busybox"].isfile() and members["bin/sh"].issym()
        for d in ("usr", "usr/local", "usr/local/bin"):
            assert members[d].isdir()
        cli = members["usr/local/bin/docker"]
        assert cli.mode == 0o755
        f = tar.extractfile(cli)
        assert f is not None and f.read() == b"#!/bin/sh\necho fake\n"
        assert members["usr/bin/docker"].linkname == "/usr/local/bin/docker"
    names = [m for m in members]
    assert len(names) == len(set(names))
