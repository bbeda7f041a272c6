"""The network manager's parts without a kernel: the store, the create checks, endpoint
choices and the hosts files kept for peers."""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from dockerscope.engine.network.endpoints import (
    check_attachable,
    choose_address,
    existing_endpoint,
    next_ifname,
)
from dockerscope.engine.network.errors import AlreadyAttached, InvalidNetworkConfig
from dockerscope.engine.network.hostsync import HostsSync
from dockerscope.engine.network.model import Endpoint, Network, Sandbox
from dockerscope.engine.network.networks import bridge_name, check_create_request
from dockerscope.engine.network.store import NetworkStore

USER_NET = Network(
    "1" * 64, "app", "bridge", "2026-01-01T00:00:00Z", "172.18.0.0/16", "172.18.0.1", "br-uuu"
)
DOCKER0_NET = Network(
    "2" * 64, "bridge", "bridge", "2026-01-01T00:00:00Z", "172.17.0.0/16", "172.17.0.1", "docker0"
)


def endpoint(cid: str, net: Network, ip: str, ifname: str = "eth0") -> Endpoint:
    return Endpoint(cid, cid[:3], net.id, net.name, "e" + cid, ifname, "v" + cid[:6], ip, 16)


def sandbox(cid: str, *eps: Endpoint, etc_dir: str = "") -> Sandbox:
    return Sandbox(
        cid, cid[:3], "bridge", f"/run/x/{cid[:3]}", True, etc_dir=etc_dir, endpoints=eps
    )


def test_store_round_trip_and_unreadable_records(tmp_path: Path) -> None:
    store = NetworkStore(tmp_path)
    store.load()
    store.save_network(USER_NET)
    store.save_sandbox(sandbox("c" * 64, endpoint("c" * 64, USER_NET, "172.18.0.2")))
    (tmp_path / ("f" * 64 + ".json")).write_text("{not json")
    (tmp_path / "sandboxes" / "broken.json").write_text(json.dumps({"mode": "bridge"}))
    again = NetworkStore(tmp_path)
    again.load()
    assert again.networks == {USER_NET.id: USER_NET}
    assert list(again.sandboxes) == ["c" * 64]
    assert again.user_networks() == [USER_NET]
    again.forget_sandbox("c" * 64)
    again.forget_network(USER_NET.id)
    assert not (tmp_path / "sandboxes" / ("c" * 64 + ".json")).exists()
    assert not (tmp_path / f"{USER_NET.id}.json").exists()
    assert again.lab_state() == {}


def test_create_checks_and_bridge_names() -> None:
    check_create_request("ok-name_1.x", "bridge", None, None)
    with pytest.raises(InvalidNetworkConfig, match="only bridge"):
        check_create_request("x", "overlay", None, None)
    with pytest.raises(InvalidNetworkConfig, match="needs a subnet"):
        check_create_request("x", "bridge", None, "10.0.0.1")
    assert bridge_name("0123456789abcdef", {}) == "br-0123456789ab"
    assert bridge_name("0" * 64, {"com.docker.network.bridge.name": "lab0"}) == "lab0"
    with pytest.raises(InvalidNetworkConfig, match="longer than 15"):
        bridge_name("0" * 64, {"com.docker.network.bridge.name": "x" * 16})


def test_endpoint_choices() -> None:
    a = "a" * 64
    first = endpoint(a, USER_NET, "172.18.0.2")
    sb = sandbox(a, first)
    assert next_ifname(sb) == "eth1"
    assert choose_address(USER_NET, [first], None) == IPv4Address("172.18.0.3")
    assert choose_address(USER_NET, [first], "172.18.0.9") == IPv4Address("172.18.0.9")
    with pytest.raises(InvalidNetworkConfig, match="user defined networks only"):
        choose_address(DOCKER0_NET, [], "172.17.0.9")
    with pytest.raises(AlreadyAttached, match="already exists in network app"):
        existing_endpoint(sb, USER_NET, "app")
    assert existing_endpoint(sb, DOCKER0_NET, "default") is None
    with pytest.raises(AlreadyAttached):
        check_attachable(Sandbox(a, "a", "host", "/run/netns/lab", False), USER_NET)


def test_hosts_files_list_peers_on_user_networks_only(tmp_path: Path) -> None:
    store = NetworkStore(tmp_path / "state")
    store.load()
    store.save_network(USER_NET)
    store.save_network(DOCKER0_NET)
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    store.save_sandbox(sandbox(a, endpoint(a, USER_NET, "172.18.0.2"), etc_dir=str(tmp_path / a)))
    store.save_sandbox(sandbox(b, endpoint(b, USER_NET, "172.18.0.3")))
    store.save_sandbox(sandbox(c, endpoint(c, DOCKER0_NET, "172.17.0.2")))
    store.save_sandbox(sandbox("d" * 64, endpoint("d" * 64, DOCKER0_NET, "172.17.0.3")))
    hosts = HostsSync(store)
    assert hosts.peers(store.sandboxes[a]) == [("172.18.0.3", "bbb")]
    assert hosts.peers(store.sandboxes[c]) == []  # no names on the default bridge
    hosts.refresh([USER_NET.id])
    text = (tmp_path / a / "hosts").read_text()
    assert "172.18.0.3\tbbb\n" in text and "172.17.0.2" not in text
