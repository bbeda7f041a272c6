"""Clients nobody on this team wrote: docker-py and the docker CLI against a real daemon."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import docker
import pytest

from tests.kernel.test_engine_daemon import RunningDaemon, daemon  # noqa: F401 (fixture)

pytestmark = pytest.mark.kernel

DOCKER_CLI = shutil.which("docker")


def test_docker_py_lifecycle(daemon: RunningDaemon) -> None:  # noqa: F811
    client = docker.DockerClient(base_url=daemon.url, timeout=60)
    try:
        assert client.ping() is True
        assert client.api.version()["ApiVersion"] == "1.41"
        assert client.containers.run("busybox", ["echo", "hi"], remove=True) == b"hi\n"
        c = client.containers.run(
            "busybox", ["sh", "-c", "echo ready; sleep 1000"], detach=True, name="pyweb"
        )
        deadline = time.monotonic() + 10
        while b"ready" not in c.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.logs() == b"ready\n"
        assert [x.name for x in client.containers.list()] == ["pyweb"]
        result = c.exec_run(["sh", "-c", "echo in; hostname"])
        assert result.exit_code == 0
        assert result.output == f"in\n{c.id[:12]}\n".encode()
        assert c.exec_run(["sh", "-c", "exit 5"]).exit_code == 5
        c.reload()
        assert c.status == "running" and c.attrs["State"]["Pid"] > 0
        c.stop(timeout=1)
        assert c.wait()["StatusCode"] == 137
        c.remove()
        assert client.containers.list(all=True) == []
        with pytest.raises(docker.errors.ImageNotFound):
            client.containers.create("nosuch")
        with pytest.raises(docker.errors.NotFound):
            client.containers.get("nosuch")
        actions = [
            e["Action"]
            for e in client.events(since=0, until=time.time() + 0.01, decode=True)
            if e["Type"] == "container"
        ]
        assert actions[:2] == ["create", "start"] and "destroy" in actions
    finally:
        client.close()


def test_docker_py_networks(daemon: RunningDaemon) -> None:  # noqa: F811
    client = docker.DockerClient(base_url=daemon.url, timeout=60)
    try:
        names = {n.name for n in client.networks.list()}
        assert {"bridge", "host", "none"} <= names
        net = client.networks.create("course-net")
        c = client.containers.run("busybox", ["sleep", "1000"], detach=True, network="course-net")
        c.reload()
        assert c.attrs["NetworkSettings"]["Networks"]["course-net"]["IPAddress"].startswith("172.")
        c.remove(force=True)
        net.remove()
        assert "course-net" not in {n.name for n in client.networks.list()}
    finally:
        client.close()


@pytest.mark.skipif(DOCKER_CLI is None, reason="no docker CLI")
def test_docker_cli(daemon: RunningDaemon) -> None:  # noqa: F811
    env = {**os.environ, "DOCKER_HOST": daemon.url}

    def docker_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        assert DOCKER_CLI is not None
        return subprocess.run(
            [DOCKER_CLI, *args], env=env, capture_output=True, text=True, timeout=60, input=stdin
        )

    out = docker_cli("version", "--format", "{{.Server.APIVersion}}")
    assert (out.returncode, out.stdout.strip()) == (0, "1.41"), out.stderr
    out = docker_cli("run", "--rm", "busybox", "echo", "hi")
    assert (out.returncode, out.stdout) == (0, "hi\n"), out.stderr
    out = docker_cli("run", "--rm", "-i", "busybox", "cat", stdin="piped\n")
    assert (out.returncode, out.stdout) == (0, "piped\n"), out.stderr
    out = docker_cli("run", "--rm", "busybox", "sh", "-c", "exit 3")
    assert out.returncode == 3
    out = docker_cli("run", "-d", "--name", "cliweb", "busybox", "sleep", "1000")
    assert out.returncode == 0, out.stderr
    out = docker_cli("ps", "-a", "--format", "{{.Names}} {{.Status}}")
    assert out.returncode == 0 and out.stdout.startswith("cliweb Up "), out.stdout
    out = docker_cli("rm", "-f", "cliweb")
    assert out.returncode == 0, out.stderr
    out = docker_cli("ps", "-a", "-q")
    assert (out.returncode, out.stdout) == (0, "")
    out = docker_cli("run", "--privileged", "busybox", "true")
    assert out.returncode != 0 and "not supported by dockerscope: --privileged" in out.stderr
