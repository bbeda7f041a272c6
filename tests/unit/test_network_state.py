"""NetworkManager's bookkeeping without a kernel: predefined networks, lookups, persistence,
errors that must come before any kernel work; plus the records' JSON and the host state file."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from dockerscope.engine.api.errors import as_api_error
from dockerscope.engine.containers.model import Container, ContainerConfig, HostSettings
from dockerscope.engine.containers.networking import _bindings
from dockerscope.engine.network.errors import (
    EndpointNotFound,
    InvalidNetworkConfig,
    NetworkExists,
    NetworkNotFound,
    PredefinedNetwork,
)
from dockerscope.engine.network.hostside import HostState
from dockerscope.engine.network.manager import NetworkManager
from dockerscope.engine.network.model import Endpoint, Network, Sandbox
from dockerscope.engine.network.ports import PortBinding, PortMapping
from dockerscope.engine.paths import Lab


@pytest.fixture
def nm(tmp_path: Path) -> NetworkManager:
    # A lab whose netns does not exist: the manager only reads and writes its state files.
    return NetworkManager(Lab.named("unitlab-x", data_root=tmp_path / "d", run_root=tmp_path / "r"))


def test_predefined_networks_exist_and_persist(nm: NetworkManager, tmp_path: Path) -> None:
    names = [n.name for n in nm.list()]
    assert names == ["bridge", "host", "none"]
    bridge = nm.get("bridge")
    assert (bridge.subnet, bridge.gateway, bridge.bridge) == (
        "172.17.0.0/16",
        "172.17.0.1",
        "docker0",
    )
    assert nm.get("default") == bridge
    none = nm.inspect("none")
    assert none["Driver"] == "null" and none["IPAM"] == {
        "Driver": "default",
        "Options": None,
        "Config": [],
    }
    again = NetworkManager(nm.lab)
    assert {n.id for n in again.list()} == {n.id for n in nm.list()}


def test_lookup_by_id_prefix_and_not_found(nm: NetworkManager) -> None:
    host = nm.get("host")
    assert nm.get(host.id) == host == nm.get(host.id[:6])
    with pytest.raises(NetworkNotFound) as err:
        nm.get("nope")
    assert as_api_error(err.value).status == 404 and str(err.value) == "network nope not found"


def test_refusals_before_any_kernel_work(nm: NetworkManager) -> None:
    with pytest.raises(PredefinedNetwork) as err:
        nm.remove("bridge")
    assert str(err.value) == "bridge is a pre-defined network and cannot be removed"
    with pytest.raises(NetworkExists) as exists:
        nm.create("host")
    assert as_api_error(exists.value).status == 409
    for bad in ("", "-x", "a b", "x/y"):
        with pytest.raises(InvalidNetworkConfig):
            nm.create(bad)
    with pytest.raises(InvalidNetworkConfig):
        nm.create("gw-only", gateway="10.0.0.1")
    with pytest.raises(EndpointNotFound):
        nm.attach("f" * 64, "bridge")
    assert nm.ports("f" * 64) == [] and nm.sandboxes() == []


def test_engine_bindings_are_port_bindings() -> None:
    """The container side hands the manager PortBindings: HostConfig's, plus -P's."""
    host = HostSettings(
        port_bindings=(("80/tcp", (("", "8080"),)), ("53/udp", (("127.0.0.1", ""),))),
        publish_all_ports=True,
    )
    c = Container(
        "c" * 64,
        "web",
        0.0,
        "sha256:" + "a" * 64,
        ContainerConfig(image="busybox", exposed_ports=("80/tcp", "443/tcp")),
        host,
    )
    assert _bindings(c) == [
        PortBinding(80, "tcp", "", 8080),
        PortBinding(53, "udp", "127.0.0.1", 0),
        PortBinding(443, "tcp"),
    ]
    assert _bindings(replace(c, host=replace(host, publish_all_ports=False)))[-1].key == "53/udp"


def test_records_round_trip() -> None:
    ep = Endpoint(
        "c" * 64,
        "web",
        "n" * 64,
        "bridge",
        "e" * 64,
        "eth0",
        "veth1234567",
        "172.17.0.2",
        16,
        "172.17.0.1",
        "02:42:ac:11:00:02",
        ("w",),
    )
    sb = Sandbox(
        "c" * 64,
        "web",
        "bridge",
        "/run/x/web",
        True,
        "s" * 64,
        "host",
        "/etc-dir",
        "/h",
        "base\n",
        (ep,),
        (PortMapping(80, "tcp", "0.0.0.0", 8080, "172.17.0.2"),),
    )
    assert Sandbox.from_json(json.loads(json.dumps(sb.to_json()))) == sb
    net = Network(
        "n" * 64,
        "x",
        "bridge",
        "2026-01-01T00:00:00Z",
        "172.18.0.0/16",
        "172.18.0.1",
        "br-nnnnnnnnnnnn",
        "02:42:00:00:00:01",
        labels={"a": "b"},
    )
    assert Network.from_json(json.loads(json.dumps(net.to_json()))) == net
    assert ep.settings()["Aliases"] == ["w"] and ep.settings()["IPPrefixLen"] == 16


def test_host_state_file_lifecycle(tmp_path: Path) -> None:
    state = HostState(tmp_path / "host")
    with state.locked() as data:
        assert data == {"labs": []}
        data["labs"].append("a")
        data["ip_forward_was"] = "0"
    with state.locked() as data:
        assert data == {"labs": ["a"], "ip_forward_was": "0"}
        data["labs"].clear()
        del data["ip_forward_was"]
    assert not state.file.exists()  # nothing to remember: no file left behind


def test_records_saved_before_one_endpoint_type_still_load() -> None:
    """Sandbox files said ip/prefixlen/mac; container files said network (the name) and kept
    ports as ["80/tcp", host ip, "8080"]: both read into today's Endpoint and PortMapping."""
    old_sandbox = {
        "container_id": "c" * 64,
        "container_name": "web",
        "mode": "bridge",
        "netns": "/run/x/web",
        "owns_netns": True,
        "endpoints": [
            {
                "container_id": "c" * 64,
                "container_name": "web",
                "network_id": "n" * 64,
                "network_name": "bridge",
                "endpoint_id": "e" * 64,
                "ifname": "eth0",
                "veth": "veth1234567",
                "ip": "172.17.0.2",
                "prefixlen": 16,
                "gateway": "172.17.0.1",
                "mac": "02:42:ac:11:00:02",
                "aliases": ["w"],
            }
        ],
        "ports": [{"container_port": 80, "proto": "tcp", "host_ip": "0.0.0.0", "host_port": 8080}],
    }
    (ep,) = Sandbox.from_json(old_sandbox).endpoints
    assert (ep.ip_address, ep.prefix_len, ep.mac_address, ep.aliases) == (
        "172.17.0.2",
        16,
        "02:42:ac:11:00:02",
        ("w",),
    )
    old_container = {
        "id": "c" * 64,
        "name": "web",
        "created": 1.0,
        "image_id": "sha256:" + "a" * 64,
        "config": {"image": "busybox"},
        "host": {},
        "endpoints": [
            {
                "network": "front",
                "network_id": "n" * 64,
                "endpoint_id": "e" * 64,
                "ip_address": "172.18.0.2",
                "prefix_len": 16,
                "gateway": "172.18.0.1",
                "mac_address": "02:42:ac:12:00:02",
                "aliases": [],
            }
        ],
        "ports": [["80/tcp", "0.0.0.0", "8080"], ["53/udp", "::", "5353"]],
    }
    c = Container.from_json(old_container)
    assert c.endpoints[0].network_name == "front" and c.endpoints[0].ip_address == "172.18.0.2"
    assert c.endpoints[0].container_id == "" and c.endpoints[0].veth == ""
    assert c.ports == (
        PortMapping(80, "tcp", "0.0.0.0", 8080),
        PortMapping(53, "udp", "::", 5353),
    )
    assert Container.from_json(json.loads(json.dumps(c.to_json()))) == c
