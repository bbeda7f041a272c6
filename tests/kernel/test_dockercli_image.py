"""The built-in image ``docker``: a client inside a container drives the lab's own daemon
through the bind-mounted socket, and the traffic tap says which container asked."""

from __future__ import annotations

import json
import socket
import time

import pytest

from dockerscope.engine.images.builtin import DEFAULT_PATH
from tests.kernel.test_dockercli_run import CLI_28, make_cli, needs_cli
from tests.kernel.test_engine_daemon import RunningDaemon, daemon  # noqa: F401 (fixture)

pytestmark = pytest.mark.kernel


def traffic(d: RunningDaemon, wait: float = 2.0) -> list[dict]:
    """The tap's backlog: JSON lines of a chunked stream that stays open, read for a while."""
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(d.lab.socket))
    sock.sendall(b"GET /dockerscope/traffic HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.settimeout(0.2)
    data = b""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            break
        data += chunk
    sock.close()
    return [json.loads(line) for line in data.split(b"\r\n") if line.startswith(b"{")]


@needs_cli
def test_docker_image_runs_a_sibling(daemon: RunningDaemon) -> None:  # noqa: F811
    cli = make_cli(CLI_28, daemon)
    pulled = cli.ok("pull", "docker", timeout=120)
    assert "Downloaded newer image for docker.io/library/docker:latest" in pulled
    assert "Image is up to date" in cli.ok("pull", "docker")
    comment = cli.ok("history", "--format", "{{.Comment}}", "docker").strip()
    assert comment.startswith("dockerscope: busybox and docker CLI 28.2.2 from /usr/local/bin/")
    out = cli.ok(
        "run",
        "--rm",
        "--name",
        "outer",
        "-v",
        f"{daemon.lab.socket}:/var/run/docker.sock",
        "docker",
        "docker",
        "run",
        "--rm",
        "busybox",
        "echo",
        "sibling",
        timeout=60,
    )
    assert out == "sibling\n"
    calls = traffic(daemon)
    creates = [c for c in calls if c["method"] == "POST" and "/containers/create" in c["path"]]
    assert [c["client_container"] for c in creates] == [None, "outer"]
    assert "sibling" in creates[1]["request_preview"]
    # the sibling ran beside the outer one, not inside it: both went, nothing is left
    assert cli.ok("ps", "-a", "-q") == ""
    p = cli.run("pull", "docker:dind")
    assert p.returncode != 0 and "builds docker:latest" in p.stderr


@needs_cli
def test_stdlib_client_fallback_runs_a_sibling(daemon: RunningDaemon) -> None:  # noqa: F811
    """Without a host CLI the image holds dockerscope's own client on a python3 copy: the
    same layer, imported by hand here, runs a sibling through the socket."""
    from dockerscope.engine.images import dockerimage

    cli = make_cli(CLI_28, daemon)
    layer = daemon.log.parent / "layer.tar"
    with open(layer, "wb") as f:
        dockerimage.write_layer(f, dockerimage.stdlib_client())
    cli.ok("import", "-c", 'CMD ["sh"]', "-c", f"ENV {DEFAULT_PATH}", str(layer), "pyclient")
    sock = f"{daemon.lab.socket}:/var/run/docker.sock"
    out = cli.ok(
        "run",
        "--rm",
        "--name",
        "pyouter",
        "-v",
        sock,
        "pyclient",
        "docker",
        "run",
        "--rm",
        "busybox",
        "echo",
        "sibling",
        timeout=60,
    )
    assert out == "sibling\n"
    creates = [c for c in traffic(daemon) if c["path"].endswith("/containers/create")]
    assert creates[-1]["client_container"] == "pyouter"


@needs_cli
def test_course_nested_ti_session(daemon: RunningDaemon) -> None:  # noqa: F811
    """The course's demo under a pty: a shell in the docker image starts an interactive
    sibling with the client inside it."""
    from tests.kernel.test_dockercli_tty import PtyClient

    cli = make_cli(CLI_28, daemon)
    cli.ok("pull", "docker", timeout=120)
    sock = f"{daemon.lab.socket}:/var/run/docker.sock"
    s = PtyClient.spawn(cli, "run", "-ti", "--rm", "--name", "client", "-v", sock, "docker", "sh")
    try:
        s.expect(b"\x1b[6n")
        s.type(b"docker run -ti --rm --name inner busybox sh\r")
        s.expect(b"\x1b[6n")
        s.type(b"echo inner $((20+3)); hostname\r")
        s.expect(b"inner 23\r\n")
        inner = json.loads(cli.ok("inspect", "inner"))[0]
        s.expect(inner["Id"][:12].encode())
        assert inner["State"]["Running"]
        assert sorted(cli.ok("ps", "--format", "{{.Names}}").split()) == ["client", "inner"]
        s.type(b"exit 4\r")
        s.expect(b"\x1b[6n")
        s.type(b"echo inner said $?\r")
        s.expect(b"inner said 4\r\n")
        s.type(b"exit\r")
        assert s.wait(20) == 0
    finally:
        s.close()
    assert cli.ok("ps", "-a", "-q") == ""
