"""Links from (fake) netlink messages: kinds, bridge id, masters, and veth peers across netns."""

from __future__ import annotations

import socket

from dockerscope.kernel.iproutes import routes_from_messages
from dockerscope.kernel.links import RawLink, links_from_messages, resolve_peers
from dockerscope.kernel.model import Link
from dockerscope.kernel.netns import NsRef


class Msg(dict):
    """Enough of a pyroute2 message: fields by ``get``, attributes by ``get_attr``."""

    def __init__(self, attrs=None, **fields):
        super().__init__(fields)
        self.attrs = attrs or {}

    def get_attr(self, name):
        return self.attrs.get(name)


def _link(index, name, kind=None, mac="02:42:ac:11:00:02", data=None, **attrs):
    a = {"IFLA_IFNAME": name, "IFLA_ADDRESS": mac, "IFLA_OPERSTATE": "UP", "IFLA_MTU": 1500}
    a.update(attrs)
    if kind:
        a["IFLA_LINKINFO"] = Msg({"IFLA_INFO_KIND": kind, "IFLA_INFO_DATA": data})
    return Msg(a, index=index, ifi_type=772 if name == "lo" else 1)


def _addr(index, ip, plen, family=socket.AF_INET, scope=0):
    return Msg(
        {"IFA_LOCAL": ip, "IFA_ADDRESS": ip},
        index=index,
        prefixlen=plen,
        family=family,
        scope=scope,
    )


def test_bridge_veth_loopback():
    br_data = Msg(
        {
            "IFLA_BR_PRIORITY": 32768,
            "IFLA_BR_STP_STATE": 0,
            "IFLA_BR_BRIDGE_ID": {"prio": 128, "addr": "02:42:97:f1:7b:4f"},
        }
    )
    msgs = [
        _link(1, "lo", mac="00:00:00:00:00:00", IFLA_OPERSTATE="UNKNOWN"),
        _link(3, "docker0", "bridge", mac="02:42:97:f1:7b:4f", data=br_data),
        _link(5, "vethd98d5a6", "veth", IFLA_MASTER=3, IFLA_LINK=4, IFLA_LINK_NETNSID=0),
        _link(6, "eth1", None),
    ]
    addrs = [_addr(3, "172.17.0.1", 16), _addr(3, "fe80::1", 64, socket.AF_INET6, 253)]
    raw = {r.link.name: r for r in links_from_messages("lab", msgs, addrs)}
    assert raw["lo"].link.kind == "loopback" and raw["eth1"].link.kind == "device"
    br = raw["docker0"].link
    assert br.bridge_id == "8000.024297f17b4f" and br.stp is False
    assert [a.cidr for a in br.addresses] == ["172.17.0.1/16", "fe80::1/64"]
    assert br.addresses[1].scope == "link" and br.addresses[1].family == 6
    veth = raw["vethd98d5a6"]
    assert veth.link.master == "docker0" and veth.link.peer_index == 4 and veth.peer_nsid == 0
    assert veth.link.peer_netns is None  # resolved later, across namespaces


def test_veth_in_same_netns():
    msgs = [_link(7, "a", "veth", IFLA_LINK=8), _link(8, "b", "veth", IFLA_LINK=7)]
    raw = links_from_messages("ns", msgs, [])
    assert [r.link.peer_netns for r in raw] == ["ns", "ns"]


def _veth(netns, index, name, peer):
    return RawLink(Link(netns, index, name, "veth", "", "UP", 1500, peer_index=peer), 0)


def test_resolve_peers_by_symmetry():
    raw = {
        "lab": [_veth("lab", 10, "veth1", 2), _veth("lab", 11, "veth2", 2)],
        "web": [_veth("web", 2, "eth0", 10)],
        "db": [_veth("db", 2, "eth0", 11)],
    }
    refs = {k: NsRef(k, f"/run/netns/{k}", i) for i, k in enumerate(raw)}
    out = resolve_peers(raw, refs)
    assert {lk.name: lk.peer_netns for lk in out["lab"]} == {"veth1": "web", "veth2": "db"}
    assert out["web"][0].peer_netns == "lab" and out["db"][0].peer_netns == "lab"


def test_ambiguous_peer_stays_unknown_without_kernel():
    raw = {
        "a": [_veth("a", 2, "eth0", 2)],
        "b": [_veth("b", 2, "eth0", 2)],
        "c": [_veth("c", 2, "eth0", 2)],
    }
    refs = {k: NsRef(k, f"/run/netns/{k}", i) for i, k in enumerate(raw)}
    out = resolve_peers(raw, refs)
    assert out["a"][0].peer_netns is None


def test_routes():
    msgs = [
        Msg({"RTA_TABLE": 254, "RTA_GATEWAY": "172.17.0.1", "RTA_OIF": 2}, family=2, dst_len=0),
        Msg(
            {"RTA_TABLE": 254, "RTA_DST": "172.17.0.0", "RTA_OIF": 2, "RTA_PREFSRC": "172.17.0.2"},
            family=2,
            dst_len=16,
            scope=253,
        ),
        Msg({"RTA_TABLE": 255, "RTA_DST": "127.0.0.1", "RTA_OIF": 1}, family=2, dst_len=32),
    ]
    routes = routes_from_messages("web", msgs, {1: "lo", 2: "eth0"})
    assert [(r.dst, r.dev, r.gateway, r.scope) for r in routes] == [
        ("default", "eth0", "172.17.0.1", "universe"),
        ("172.17.0.0/16", "eth0", None, "link"),
    ]
    assert routes[1].src == "172.17.0.2"
