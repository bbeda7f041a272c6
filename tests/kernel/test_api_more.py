"""More of the API against a real daemon: images, diff/commit, tty exec, networks, traffic."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import tarfile
import time

import docker
import pytest

from tests.kernel.test_engine_daemon import RunningDaemon, daemon  # noqa: F401 (fixture)

pytestmark = pytest.mark.kernel


def test_images_diff_commit_save_load(daemon: RunningDaemon) -> None:  # noqa: F811
    client = docker.DockerClient(base_url=daemon.url, timeout=60)
    try:
        assert [t for i in client.images.list() for t in i.tags] == ["busybox:latest"]
        c = client.containers.run(
            "busybox", ["sh", "-c", "echo x > /tmp/new; rm /bin/vi"], detach=True
        )
        assert c.wait()["StatusCode"] == 0
        changes = {(d["Kind"], d["Path"]) for d in c.diff()}
        assert changes == {(0, "/bin"), (2, "/bin/vi"), (0, "/tmp"), (1, "/tmp/new")}
        img = c.commit("mybox", "v1")
        assert "mybox:v1" in img.tags
        assert client.containers.run("mybox:v1", ["cat", "/tmp/new"], remove=True) == b"x\n"
        with pytest.raises(docker.errors.ContainerError) as info:
            client.containers.run("mybox:v1", ["ls", "/bin/vi"], remove=True)
        assert info.value.exit_status == 1  # deleted in the committed layer
        data = b"".join(client.images.get("mybox:v1").save(named=True))
        # The committed layer holds the container's changes only: mount points, /etc files
        # and /.dockerenv stay in the init layer, as with Docker.
        with tarfile.open(fileobj=io.BytesIO(data)) as saved:
            manifest = json.load(saved.extractfile("manifest.json"))  # type: ignore[arg-type]
            top = saved.extractfile(manifest[0]["Layers"][-1])
            with tarfile.open(fileobj=top) as layer:
                names = {m.name.rstrip("/") for m in layer.getmembers()}
        assert names == {"bin", "bin/.wh.vi", "tmp", "tmp/new"}
        with pytest.raises(docker.errors.APIError) as conflict:
            client.images.remove("busybox")  # the stopped container still uses it
        assert conflict.value.status_code == 409
        c.remove()
        client.images.remove("mybox:v1")
        assert "mybox:v1" not in [t for i in client.images.list() for t in i.tags]
        [loaded] = client.images.load(io.BytesIO(data))
        assert "mybox:v1" in loaded.tags
        client.images.remove("mybox:v1")
    finally:
        client.close()


def test_tty_exec_and_logs_follow(daemon: RunningDaemon) -> None:  # noqa: F811
    client = docker.DockerClient(base_url=daemon.url, timeout=60)
    try:
        c = client.containers.run(
            "busybox",
            ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done; sleep 1000"],
            detach=True,
            name="ticker",
        )
        stream = c.logs(stream=True, follow=True)
        assert [next(stream) for _ in range(3)] == [b"1\n", b"2\n", b"3\n"]
        exec_id = client.api.exec_create(c.id, ["tty"], tty=True)["Id"]
        assert client.api.exec_start(exec_id, tty=True) == b"/dev/pts/0\r\n"
        assert client.api.exec_inspect(exec_id)["ExitCode"] == 0
        c.rename("tocker")
        assert client.containers.get("tocker").id == c.id
        c.restart(timeout=0)
        c.reload()
        assert c.status == "running"
        c.remove(force=True)
        tty = client.containers.run("busybox", ["echo", "hi"], tty=True, detach=True)
        assert tty.wait()["StatusCode"] == 0
        assert tty.logs() == b"hi\r\n"
        tty.remove()
    finally:
        client.close()


def test_network_connect_disconnect(daemon: RunningDaemon) -> None:  # noqa: F811
    client = docker.DockerClient(base_url=daemon.url, timeout=60)
    try:
        net = client.networks.create("course-net")
        c = client.containers.run("busybox", ["sleep", "1000"], detach=True, name="joiner")
        net.connect(c)
        c.reload()
        assert set(c.attrs["NetworkSettings"]["Networks"]) == {"bridge", "course-net"}
        out = c.exec_run(["ip", "-o", "-4", "addr", "show", "eth1"]).output
        assert b"172." in out
        net.reload()
        assert c.id in net.attrs["Containers"]
        net.disconnect(c)
        c.reload()
        assert set(c.attrs["NetworkSettings"]["Networks"]) == {"bridge"}
        assert c.exec_run(["ip", "link", "show", "eth1"]).exit_code != 0
        with pytest.raises(docker.errors.APIError):
            net.disconnect(c)
        c.remove(force=True)
        net.remove()
        with pytest.raises(docker.errors.NotFound):
            client.networks.get("course-net")
    finally:
        client.close()


def test_traffic_names_the_client_container(daemon: RunningDaemon) -> None:  # noqa: F811
    cid = daemon.run("sleep", "1000")
    _, info = daemon.call("GET", f"/containers/{cid}/json")
    pid = info["State"]["Pid"]
    name = info["Name"].lstrip("/")
    # A client process in the container's pid namespace (the host's files: python3 is there).
    request = "GET /v1.41/_ping HTTP/1.1\\r\\nHost: x\\r\\nUser-Agent: inside\\r\\n\\r\\n"
    client = (
        "import socket; s = socket.socket(socket.AF_UNIX); "
        f"s.connect({str(daemon.lab.socket)!r}); s.sendall(b'{request}'); "
        "print(s.recv(100)[:15])"
    )
    out = subprocess.run(
        ["nsenter", "-t", str(pid), "--pid", "--", sys.executable, "-c", client],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "200 OK" in out.stdout, out.stderr
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(daemon.lab.socket))
    s.sendall(b"GET /dockerscope/traffic HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    deadline = time.monotonic() + 10
    while b"inside" not in data and time.monotonic() < deadline:
        data += s.recv(65536)
    s.close()
    calls = [json.loads(line) for line in data.split(b"\r\n") if line.startswith(b"{")]
    inside = [c for c in calls if c["user_agent"] == "inside"]
    assert inside and inside[0]["client_container"] == name
    assert inside[0]["path"] == "/v1.41/_ping" and inside[0]["status"] == 200
    assert all(c["client_container"] is None for c in calls if c["user_agent"] != "inside")
    assert daemon.call("DELETE", f"/containers/{cid}?force=1")[0] == 204


def test_exec_with_wrong_types_is_400_and_the_daemon_goes_on(daemon: RunningDaemon) -> None:  # noqa: F811
    cid = daemon.run("sleep", "1000")
    try:
        for body in (
            {"Cmd": ["true"], "Env": [1]},
            {"Cmd": ["true"], "User": 0},
            {"Cmd": ["true"], "WorkingDir": ["/"]},
            {"Cmd": ["true"], "ConsoleSize": [70000, 80]},
        ):
            status, out = daemon.call("POST", f"/containers/{cid}/exec", body)
            assert status == 400, (body, out)
            assert "Error" not in out["message"] and "object" not in out["message"]
        status, made = daemon.call("POST", f"/containers/{cid}/exec", {"Cmd": ["true"]})
        assert status == 201
        for body in ({"Detach": {"x": 1}}, {"Tty": "yes"}, {"ConsoleSize": [-1, 5]}):
            status, out = daemon.call("POST", f"/exec/{made['Id']}/start", body)
            assert status == 400, (body, out)
        status, _ = daemon.call("GET", "/_ping")
        assert status == 200
        # State (configs with their environment, logs) is root's alone, as /var/lib/docker.
        assert daemon.lab.data_root.stat().st_mode & 0o777 == 0o700
    finally:
        daemon.call("DELETE", f"/containers/{cid}?force=1")
