"""NetworkManager's bookkeeping without a kernel: predefined networks, lookups, persistence,
errors that must come before any kernel work; plus the records' JSON and the host state file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockerscope.engine.api.errors import as_api_error
from dockerscope.engine.network.errors import (
    EndpointNotFound,
    InvalidNetworkConfig,
    NetworkExists,
    NetworkNotFound,
    PredefinedNetwork,
)
from dockerscope.engine.network.hostside import HostState
from dockerscope.engine.network.manager import NetworkManager, _binding
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


def test_binding_from_engine_tuple() -> None:
    assert _binding(("80/tcp", "", "8080")) == PortBinding(80, "tcp", "", 8080)
    assert _binding(("53/udp", "127.0.0.1", "")) == PortBinding(53, "udp", "127.0.0.1", 0)
    b = PortBinding(1, "tcp", "", 2)
    assert _binding(b) is b


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
