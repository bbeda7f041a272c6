"""Container records survive a JSON round trip; inspect and ps render Docker's shapes."""

from __future__ import annotations

import json

from dockerscope.engine.api.render import filter_containers, inspect, summary
from dockerscope.engine.containers.model import (
    Container,
    ContainerConfig,
    Endpoint,
    HostSettings,
    State,
)
from dockerscope.engine.network.ports import PortMapping


def sample() -> Container:
    return Container(
        id="c" * 64,
        name="web",
        created=1000.0,
        image_id="sha256:" + "a" * 64,
        config=ContainerConfig(
            image="busybox",
            cmd=("sh", "-c", "nc -l -p 8080"),
            env=("PATH=/bin",),
            hostname="cccccccccccc",
            labels=(("tier", "front"),),
            exposed_ports=("8080/tcp",),
        ),
        host=HostSettings(
            port_bindings=(("8080/tcp", (("", "8080"),)),),
            memory=64 << 20,
            console_size=(24, 80),
        ),
        state=State(status="running", pid=42, pid_start=7, started_at=1001.0),
        sandbox_key="/run/dockerscope/lab/netns/web",
        endpoints=(
            Endpoint(
                container_id="c" * 64,
                container_name="web",
                network_id="n1",
                network_name="bridge",
                endpoint_id="e1",
                ip_address="172.17.0.2",
                prefix_len=16,
                gateway="172.17.0.1",
                mac_address="02:42:ac:11:00:02",
            ),
        ),
        ports=(PortMapping(8080, "tcp", "0.0.0.0", 8080), PortMapping(8080, "tcp", "::", 8080)),
    )


def test_round_trip() -> None:
    c = sample()
    assert Container.from_json(json.loads(json.dumps(c.to_json()))) == c


def test_inspect_shape() -> None:
    out = inspect(sample(), "/var/lib/dockerscope/lab/containers/" + "c" * 64, ["/l1"], [])
    assert out["Name"] == "/web"
    assert out["Path"] == "sh" and out["Args"] == ["-c", "nc -l -p 8080"]
    assert out["State"]["Running"] is True and out["State"]["Pid"] == 42
    assert out["State"]["FinishedAt"] == "0001-01-01T00:00:00Z"
    assert out["HostConfig"]["Memory"] == 64 << 20
    assert out["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    ns = out["NetworkSettings"]
    assert ns["IPAddress"] == "172.17.0.2" and ns["Gateway"] == "172.17.0.1"
    assert ns["Ports"] == {
        "8080/tcp": [
            {"HostIp": "0.0.0.0", "HostPort": "8080"},
            {"HostIp": "::", "HostPort": "8080"},
        ]
    }
    assert ns["Networks"]["bridge"]["MacAddress"] == "02:42:ac:11:00:02"
    assert out["Config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert out["LogPath"].endswith("c" * 64 + "-json.log")


def test_summary_shape() -> None:
    row = summary(sample(), now=1004.0)
    assert row["Names"] == ["/web"] and row["State"] == "running"
    assert row["Status"] == "Up 3 seconds"
    assert row["Ports"][0] == {
        "IP": "0.0.0.0",
        "PrivatePort": 8080,
        "PublicPort": 8080,
        "Type": "tcp",
    }
    assert row["Labels"] == {"tier": "front"}


def test_filters() -> None:
    c = sample()
    assert filter_containers([c], {"name": ["we"]}, False) == [c]
    assert filter_containers([c], {"name": ["^api"]}, True) == []
    assert filter_containers([c], {"label": ["tier=front"]}, False) == [c]
    assert filter_containers([c], {"label": ["tier=back"]}, False) == []
    assert filter_containers([c], {"status": ["exited"]}, False) == []
    assert filter_containers([c], {"id": ["ccc"]}, False) == [c]
