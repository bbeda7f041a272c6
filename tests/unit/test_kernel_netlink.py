"""The netlink decoder on raw dumps captured from a lab-shaped netns (capture_netlink.py)."""

from __future__ import annotations

import struct
from pathlib import Path

from dockerscope.kernel import conntrack, netlink, netlink_constants, nftables, rtnetlink
from dockerscope.kernel.iproutes import routes_from_messages
from dockerscope.kernel.links import links_from_messages

DATA = Path(__file__).parent.parent / "data" / "kernel"


def replay(name: str) -> netlink.Replay:
    return netlink.Replay((DATA / name).read_bytes())


def test_links_and_addresses():
    raw = links_from_messages(
        "lab",
        rtnetlink.dump_links(replay("rtnl-links.nl")),
        rtnetlink.dump_addrs(replay("rtnl-addrs.nl")),
    )
    links = {r.link.name: r for r in raw}
    assert set(links) == {"lo", "docker0", "vethd98d5a6"}
    br = links["docker0"].link
    assert br.kind == "bridge" and br.mac == "02:42:97:f1:7b:4f"
    assert br.bridge_id == "8000.024297f17b4f" and br.stp is False and br.state == "UP"
    assert [a.cidr for a in br.addresses if a.family == 4] == ["172.17.0.1/16"]
    veth = links["vethd98d5a6"]
    assert veth.link.kind == "veth" and veth.link.master == "docker0"
    assert veth.peer_nsid is not None and veth.link.peer_index
    assert links["lo"].link.kind == "loopback" and links["lo"].link.mtu == 65536
    assert [a.cidr for a in links["lo"].link.addresses if a.family == 4] == [
        "127.0.0.1/8",
        "198.51.100.1/32",
    ]


def test_routes_of_the_container():
    msgs = rtnetlink.dump_routes(replay("rtnl-routes-web.nl"))
    routes = routes_from_messages("web", msgs, {2: "eth0"})  # local table entries are left out
    assert {(r.dst, r.gateway) for r in routes} == {
        ("default", "172.17.0.1"),
        ("172.17.0.0/16", None),
    }


def test_nf_tables_and_counters():
    assert nftables.nft_tables(replay("nft-tables.nl")) == [(netlink_constants.NFPROTO_IPV4, "nat")]
    counters = nftables.nft_rule_counters(replay("nft-rules.nl"))
    assert counters[("nat", "DOCKER")][1][0] == 1  # the DNAT rule saw the connection
    assert len(counters[("nat", "DOCKER")]) == 2 and len(counters[("nat", "POSTROUTING")]) == 1


def test_link_stats_and_conntrack():
    assert rtnetlink.link_packets(replay("rtnl-stats.nl")) > 0
    (flow,) = conntrack.read_netlink(replay("ct-dump.nl"), "lab")
    assert flow.proto == "tcp" and flow.orig_dport == 8080 and flow.reply_src == "172.17.0.2"
    assert flow.dnat and not flow.snat


def test_message_splitting_and_errors():
    done = struct.pack("=IHHII", 20, netlink_constants.NLMSG_DONE, 0, 0, 0) + b"\0" * 4
    assert netlink.Replay(done).replies() == []
    assert netlink.Replay(b"\x01\x02").replies() == []
    assert list(netlink.attributes(b"\x00\x00\x00\x00", 0, 4)) == []
