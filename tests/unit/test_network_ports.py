"""-p / -P / PortBindings parsing, Docker's Ports JSON, and the host-port allocator."""

from __future__ import annotations

import pytest

from dockerscope.engine.network.errors import InvalidNetworkConfig, PortAllocated
from dockerscope.engine.network.ports import (
    PortAllocator,
    PortBinding,
    PortMapping,
    bindings_from_json,
    bindings_to_json,
    parse_publish,
    ports_json,
    publish_all,
)

B = PortBinding


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("8080:8080", [B(8080, "tcp", "", 8080)]),
        ("80", [B(80, "tcp", "", 0)]),
        ("8080:80/udp", [B(80, "udp", "", 8080)]),
        ("127.0.0.1:8080:80", [B(80, "tcp", "127.0.0.1", 8080)]),
        ("127.0.0.1::80/tcp", [B(80, "tcp", "127.0.0.1", 0)]),
        ("[127.0.0.1]:81:80", [B(80, "tcp", "127.0.0.1", 81)]),
        ("8000-8001:80-81", [B(80, "tcp", "", 8000), B(81, "tcp", "", 8001)]),
        ("53/UDP", [B(53, "udp", "", 0)]),
    ],
)
def test_parse_publish(spec: str, want: list[PortBinding]) -> None:
    assert parse_publish(spec) == want


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "abc",
        "8080:abc",
        "0",
        "70000",
        "1:2:3:4",
        "8080:80/sctpx",
        "999.1.1.1:80:80",
        "8000-8002:80-81",
        "::1:80:80",
        "8080:",
        "81-80",
    ],
)
def test_parse_publish_rejects(spec: str) -> None:
    with pytest.raises(InvalidNetworkConfig):
        parse_publish(spec)


def test_port_bindings_json_round_trip() -> None:
    data = {
        "8080/tcp": [{"HostIp": "", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "", "HostPort": ""}],
    }
    bindings = bindings_from_json(data)
    assert bindings == [B(8080, "tcp", "", 8080), B(53, "udp", "", 0)]
    assert bindings_to_json(bindings) == data
    assert bindings_from_json(None) == []
    with pytest.raises(InvalidNetworkConfig):
        bindings_from_json({"x/tcp": []})


def test_publish_all_adds_exposed_ports_not_bound() -> None:
    explicit = [B(80, "tcp", "", 8080)]
    out = publish_all(["80/tcp", "443/tcp", "53/udp"], explicit)
    assert out == [B(80, "tcp", "", 8080), B(443, "tcp", "", 0), B(53, "udp", "", 0)]


def test_ports_json_shape() -> None:
    maps = [PortMapping(8080, "tcp", "0.0.0.0", 8080), PortMapping(8080, "tcp", "::", 8080)]
    assert ports_json(maps, ["8080/tcp", "22/tcp"]) == {
        "8080/tcp": [
            {"HostIp": "0.0.0.0", "HostPort": "8080"},
            {"HostIp": "::", "HostPort": "8080"},
        ],
        "22/tcp": None,
    }


def test_allocator_conflicts_and_docker_text() -> None:
    alloc = PortAllocator()
    assert alloc.take("tcp", "0.0.0.0", 8080) == 8080
    with pytest.raises(PortAllocated) as err:
        alloc.take("tcp", "0.0.0.0", 8080)
    assert str(err.value) == "Bind for 0.0.0.0:8080 failed: port is already allocated"
    with pytest.raises(PortAllocated):
        alloc.take("tcp", "127.0.0.1", 8080)  # 0.0.0.0 covers every address
    assert alloc.take("udp", "0.0.0.0", 8080) == 8080  # other protocol
    alloc.release("tcp", "0.0.0.0", 8080)
    assert alloc.take("tcp", "127.0.0.1", 8080) == 8080
    assert alloc.take("tcp", "127.0.0.2", 8080) == 8080  # two specific addresses coexist


def test_allocator_ephemeral_sequence_and_exhaustion() -> None:
    alloc = PortAllocator(first=49153, last=49155)
    assert [alloc.take("tcp", "0.0.0.0", 0) for _ in range(3)] == [49153, 49154, 49155]
    with pytest.raises(PortAllocated):
        alloc.take("tcp", "0.0.0.0", 0)
    alloc.release("tcp", "0.0.0.0", 49154)
    assert alloc.take("tcp", "0.0.0.0", 0) == 49154
