"""Side by side with the real docker CLI (when installed): the same fake daemon answers both, and
the tables they print and the requests they send must match."""

from __future__ import annotations

import io
import os
import shutil
import subprocess

import pytest

from dockerscope.client.commands import Console, main
from tests.unit import test_client_fakeserver as fakemod
from tests.unit.test_client_fakeserver import NOW, FakeDocker, serving


def _docker_clis() -> list[str]:
    """Every docker CLI on this machine (e.g. Debian's 20.10 and a newer one), once each."""
    found: dict[str, str] = {}
    for candidate in (shutil.which("docker"), "/usr/bin/docker", "/usr/local/bin/docker"):
        if candidate and os.access(candidate, os.X_OK):
            found.setdefault(os.path.realpath(candidate), candidate)
    return list(found.values())


DOCKERS = _docker_clis()
pytestmark = pytest.mark.skipif(not DOCKERS, reason="the docker CLI is not installed")

fake_docker = pytest.fixture(serving)

# Hour-old containers (the CREATED column cannot tick between the two runs) and IPv4 ports
# only (docker 20.10 and newer CLIs print IPv6 addresses differently).
CONTAINERS = [
    {
        **fakemod.CONTAINERS[0],
        "Created": NOW - 5 * 3600,
        "Status": "Up 5 hours",
        "Ports": [
            {"IP": "0.0.0.0", "PrivatePort": 8080, "PublicPort": 8080, "Type": "tcp"},
            {"PrivatePort": 53, "Type": "udp"},
            {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 32768, "Type": "tcp"},
        ],
    },
    {**fakemod.CONTAINERS[1], "Names": ["/quizzical_hopper", "/web/hopper"]},
]


@pytest.fixture(params=DOCKERS or ["docker"])
def docker_cli(request) -> str:
    return request.param


# One tag per image: newer CLIs sort rows by creation time with an unstable sort, so two tags
# of one image may come out in either order.
IMAGES = [
    {**fakemod.IMAGES[0], "RepoTags": ["busybox:latest"], "Created": NOW - 3600},
    {
        **fakemod.IMAGES[0],
        "Id": "sha256:" + "7" * 64,
        "RepoTags": ["debian:latest"],
        "Created": NOW - 7200,
        "Size": 124_000_000,
    },
]


def real_docker(fake: FakeDocker, tmp_path, docker: str, *args: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DOCKER_HOST": "unix://" + fake.socket_path,
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),
        "HOME": str(tmp_path),
    }
    out = subprocess.run([docker, *args], capture_output=True, text=True, env=env, timeout=60)
    return out.stdout


def ours(fake: FakeDocker, *args: str) -> str:
    out = io.BytesIO()
    main(["-H", "unix://" + fake.socket_path, *args], Console(out, io.BytesIO(), 0))
    return out.getvalue().decode()


@pytest.mark.parametrize(
    "args",
    [
        ("ps", "-a"),
        ("ps", "-a", "--no-trunc"),
        ("ps", "-a", "-q"),
        ("ps", "--format", "table {{.Names}}\\t{{.Ports}}\\t{{.Command}}"),
        ("images",),
        ("images", "-q"),
        ("network", "ls"),
        ("network", "ls", "--format", "{{.ID}} {{.Name}}"),
        ("port", "web"),
        ("top", "web"),
        ("diff", "web"),
    ],
)
def test_same_output_as_docker(
    fake_docker: FakeDocker, tmp_path, monkeypatch, docker_cli: str, args
) -> None:
    monkeypatch.setattr(fakemod, "CONTAINERS", CONTAINERS)
    monkeypatch.setattr(fakemod, "IMAGES", IMAGES)
    theirs = real_docker(fake_docker, tmp_path, docker_cli, *args)
    assert theirs, "the docker CLI printed nothing"
    # we print IPv6 host addresses as Docker 20.10 does (":::8080"); CLIs from 23 on bracket
    # them ("[::]:8080"), which also narrows the PORTS column by two
    if "[::]" in theirs:
        pytest.skip("this docker CLI brackets IPv6 addresses (newer than 20.10)")
    assert ours(fake_docker, *args) == theirs


def _sequence(fake: FakeDocker) -> list[str]:
    return [line for line in fake.lines if line != "HEAD /_ping"]


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--rm", "busybox", "echo", "hi"),
        ("run", "--rm", "-i", "busybox", "cat"),
        ("run", "-d", "--name", "web", "-p", "8080:8080", "busybox"),
        ("rm", "-f", "web"),
        ("network", "create", "course-net"),
        ("network", "rm", "course-net"),
        ("stop", "web"),
    ],
)
def test_same_requests_as_docker(fake_docker: FakeDocker, tmp_path, docker_cli: str, args) -> None:
    fake_docker.exited.set()
    real_docker(fake_docker, tmp_path, docker_cli, *args)
    theirs = _sequence(fake_docker)
    bodies = [c.body for c in fake_docker.calls if c.line != "HEAD /_ping"]
    fake_docker.calls.clear()
    ours(fake_docker, *args)
    assert _sequence(fake_docker) == theirs
    mine = [c.body for c in fake_docker.calls if c.line != "HEAD /_ping"]
    for a, b in zip(mine, bodies, strict=True):
        if isinstance(a, dict) and isinstance(b, dict):
            # every field we send, docker sends with the same value (it sends more defaults)
            for key in (
                "Cmd",
                "Image",
                "AttachStdin",
                "AttachStdout",
                "OpenStdin",
                "StdinOnce",
                "Tty",
                "ExposedPorts",
                "Name",
                "Driver",
                "CheckDuplicate",
            ):
                if key in b or key in a:
                    assert a.get(key) == b.get(key), key
            if "HostConfig" in b:
                for key in ("AutoRemove", "PortBindings", "NetworkMode", "Binds"):
                    assert a["HostConfig"].get(key) == b["HostConfig"].get(key), key
