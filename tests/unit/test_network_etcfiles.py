"""/etc/hosts, /etc/hostname, /etc/resolv.conf contents like Docker's (04-inside.txt)."""

from __future__ import annotations

from pathlib import Path

from dockerscope.engine.network.etcfiles import (
    hostname_content,
    hosts_file_content,
    resolv_conf_content,
    write_in_place,
)
from dockerscope.engine.network.model import Endpoint, Network, docker_time
from tests.reference import REFERENCE_DIR, needs_reference

REF = REFERENCE_DIR
needs_ref = needs_reference


@needs_ref
def test_hosts_matches_reference_container() -> None:
    inside = (REF / "04-inside.txt").read_text()
    start = inside.index("127.0.0.1\tlocalhost")
    end = inside.index("nameserver")
    assert hosts_file_content("669aecfd3d6d", "172.17.0.2") == inside[start:end]


def test_hosts_lists_peers_sorted_once() -> None:
    text = hosts_file_content(
        "abc", "172.18.0.2", [("172.18.0.10", "db"), ("172.18.0.3", "web"), ("172.18.0.3", "web")]
    )
    assert text.endswith("172.18.0.2\tabc\n172.18.0.3\tweb\n172.18.0.10\tdb\n")
    assert "\tabc" not in hosts_file_content("abc")


def test_hostname_and_resolv_conf() -> None:
    assert hostname_content("669aecfd3d6d") == "669aecfd3d6d\n"
    host = "search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nnameserver ::1\noptions x\n"
    assert resolv_conf_content(host) == "search lan\nnameserver 10.0.0.1\noptions x\n"
    assert resolv_conf_content("nameserver 127.0.0.1\n") == (
        "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    )


def test_write_in_place_keeps_inode(tmp_path: Path) -> None:
    f = tmp_path / "hosts"
    write_in_place(f, "a long first content\n")
    inode = f.stat().st_ino
    write_in_place(f, "short\n")
    assert f.read_text() == "short\n" and f.stat().st_ino == inode


@needs_ref
def test_network_inspect_shape_matches_reference() -> None:
    import json

    ref = json.loads((REF / "07-inspect-networks.json").read_text())[1]
    net = Network(
        id=ref["Id"],
        name="my-new-network",
        driver="bridge",
        created=ref["Created"],
        subnet="172.18.0.0/16",
        gateway="172.18.0.1",
        bridge="br-12eeb8c4266b",
        ipam_options={},
    )
    assert net.inspect([]) == ref
    bridge_ref = json.loads((REF / "07-inspect-networks.json").read_text())[0]
    ((cid, c),) = bridge_ref["Containers"].items()
    ep = Endpoint(
        cid,
        c["Name"],
        bridge_ref["Id"],
        "bridge",
        c["EndpointID"],
        "eth0",
        "veth1",
        "172.17.0.2",
        16,
        "172.17.0.1",
        c["MacAddress"],
    )
    got = Network(
        id=bridge_ref["Id"],
        name="bridge",
        driver="bridge",
        created=bridge_ref["Created"],
        subnet="172.17.0.0/16",
        gateway="172.17.0.1",
        bridge="docker0",
        options=bridge_ref["Options"],
        ipam_options=None,
    ).inspect([ep])
    assert got == bridge_ref
    assert Network.from_json(net.to_json()) == net


def test_docker_time_format() -> None:
    assert docker_time(1795811005.5) == "2026-11-27T20:23:25.5Z"
    assert docker_time(1795811005.0) == "2026-11-27T20:23:25Z"
