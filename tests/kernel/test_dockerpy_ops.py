"""docker-py (7.1) drives a lab: containers, logs streams, exec, networks, images, events."""

from __future__ import annotations

import io
import threading
import time

import docker
import pytest

from tests.kernel.test_engine_daemon import RunningDaemon, daemon  # noqa: F401 (fixture)

pytestmark = pytest.mark.kernel


def lab_sh(d: RunningDaemon, cmd: str) -> str:
    import subprocess

    return subprocess.run(
        ["ip", "netns", "exec", d.lab.netns, "sh", "-c", cmd],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_containers(daemon: RunningDaemon) -> None:  # noqa: F811
    client = docker.DockerClient(base_url=daemon.url, timeout=60)
    try:
        assert client.api.version()["ApiVersion"] == "1.41"
        out = client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"], remove=True)
        assert out == b"out\n"
        with pytest.raises(docker.errors.ContainerError) as exc:
            client.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 2"], remove=True)
        assert exc.value.exit_status == 2 and b"bad" in exc.value.stderr
        c = client.containers.run(
            "busybox",
            ["sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.2; done; sleep 1000"],
            detach=True,
            name="counter",
            environment={"K": "v"},
            ports={"80/tcp": 8088},
            mem_limit="32m",
        )
        # the stream yields lines as they come
        stream = c.logs(stream=True, follow=True)
        got = b""
        while got.count(b"\n") < 3:
            got += next(stream)
        assert got == b"n1\nn2\nn3\n"
        stream.close()
        assert client.containers.get("counter").id == c.id
        assert [x.name for x in client.containers.list(filters={"name": "count"})] == ["counter"]
        ip = (
            c.attrs["NetworkSettings"]["IPAddress"]
            or client.containers.get(c.id).attrs["NetworkSettings"]["Networks"]["bridge"][
                "IPAddress"
            ]
        )
        assert f"--dport 8088 -j DNAT --to-destination {ip}:80" in lab_sh(
            daemon, "iptables -t nat -S DOCKER"
        )
        r = c.exec_run(["sh", "-c", "echo $K; cat /sys/fs/cgroup/memory/memory.limit_in_bytes"])
        assert r.exit_code == 0
        # the limit is visible from inside (cgroup v1: the container sees its own cgroup)
        assert r.output.split(b"\n")[0] == b"v"
        r = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
        assert r.output == (b"o\n", b"e\n")
        c.kill(signal="SIGKILL")
        assert c.wait()["StatusCode"] == 137
        c.reload()
        assert c.status == "exited"
        c.start()
        c.stop(timeout=0)
        c.remove()
        assert client.containers.list(all=True) == []
        assert "DNAT" not in lab_sh(daemon, "iptables -t nat -S DOCKER")
        out_lines = client.containers.run(
            "busybox", ["sh", "-c", "echo a; echo b"], stream=True, remove=True
        )
        assert b"".join(out_lines) == b"a\nb\n"
        gone = client.containers.run(
            "busybox", ["sh", "-c", "sleep 0.3; exit 3"], detach=True, auto_remove=True
        )
        assert gone.wait(condition="removed")["StatusCode"] == 3
        t = client.containers.run(
            "busybox", ["sh", "-c", "for i in 1 2; do echo t$i; sleep 0.2; done"], detach=True
        )
        assert b"".join(t.attach(stream=True, logs=True)) == b"t1\nt2\n"
        t.remove()
        d2 = client.containers.create("busybox", ["true"], name="made")
        assert d2.diff() is None
        d2.rename("made2")
        assert client.containers.get("made2").id == d2.id
        d2.remove()
        with pytest.raises(docker.errors.NotFound):
            client.containers.get("made2")
        with pytest.raises(docker.errors.APIError, match="not supported by dockerscope"):
            client.containers.run("busybox", ["true"], privileged=True)
        assert client.containers.list(all=True) == []
    finally:
        client.close()


def test_networks_images_events(daemon: RunningDaemon) -> None:  # noqa: F811
    client = docker.DockerClient(base_url=daemon.url, timeout=60)
    seen: list[dict] = []
    since = time.time() - 1
    events = client.events(decode=True, filters={"type": "network"})

    def collect() -> None:
        for e in events:
            seen.append(e)

    t = threading.Thread(target=collect, daemon=True)
    t.start()
    try:
        net = client.networks.create("pynet", labels={"course": "1"})
        assert f"br-{net.id[:12]}" in lab_sh(daemon, "ip -o link")
        assert client.networks.get("pynet").attrs["Labels"] == {"course": "1"}
        assert "pynet" in [n.name for n in client.networks.list(names=["pynet"])]
        c = client.containers.run("busybox", ["sleep", "1000"], detach=True, name="member")
        net.connect(c, aliases=["m1"])
        c.reload()
        assert set(c.attrs["NetworkSettings"]["Networks"]) == {"bridge", "pynet"}
        assert b"eth1" in c.exec_run(["ls", "/sys/class/net"]).output
        net.disconnect(c)
        c.reload()
        assert set(c.attrs["NetworkSettings"]["Networks"]) == {"bridge"}
        c.remove(force=True)
        net.remove()
        assert f"br-{net.id[:12]}" not in lab_sh(daemon, "ip -o link")
        with pytest.raises(docker.errors.NotFound):
            client.networks.get("pynet")
        # images: list, get, save/load round trip, remove
        bb = client.images.get("busybox")
        assert "busybox:latest" in bb.tags
        assert [i.id for i in client.images.list()] == [bb.id]
        bb.tag("saved", "v1")
        data = b"".join(client.images.get("saved:v1").save(named="saved:v1"))
        client.images.remove("saved:v1")
        assert all("saved:v1" not in i.tags for i in client.images.list())
        [loaded] = client.images.load(io.BytesIO(data))
        assert loaded.id == bb.id and "saved:v1" in client.images.get(bb.id).tags
        client.images.remove("saved:v1")
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get("saved:v1")
        with pytest.raises(docker.errors.APIError):
            client.images.pull("nosuch", tag="latest")
        deadline = time.monotonic() + 5
        while len([e for e in seen if e["Action"] == "destroy"]) < 1:
            assert time.monotonic() < deadline, seen
            time.sleep(0.05)
        actions = [e["Action"] for e in seen if e["Actor"]["Attributes"]["name"] == "pynet"]
        assert actions == ["create", "connect", "disconnect", "destroy"], actions
        past = client.events(since=since, until=time.time() + 0.01, decode=True)
        kinds = {(e["Type"], e["Action"]) for e in past}
        assert {("image", "tag"), ("image", "untag"), ("image", "load")} <= kinds
    finally:
        events.close()
        client.close()
