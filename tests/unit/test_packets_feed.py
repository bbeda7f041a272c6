"""The packet feed's hand-over (bounded, counted), the Packets view's folded rows, the
neighbour parser, and the demo feed's trickle."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest
from dockerscope.screens.packetrows import PacketRows, rewrite_text
from dockerscope.screens.packets import parse_interfaces, tcpdump_command

from dockerscope.kernel import neighbours
from dockerscope.kernel.packets import bpf, fakepackets
from dockerscope.kernel.packets.feed import FakePacketFeed, check_filter


def test_the_queue_drops_the_oldest_and_counts_them() -> None:
    story = fakepackets.story()
    feed = FakePacketFeed(story, limit=5)
    feed.release()
    taken = feed.take()
    assert [s.packet for s in taken] == story[-5:]
    assert feed.state.not_shown == len(story) - 5
    assert feed.take() == []


def test_rows_fold_sightings_and_show_the_rewrite() -> None:
    feed = FakePacketFeed(fakepackets.story())
    feed.release()
    rows = PacketRows()
    new = rows.add(feed.take())
    # 2 ARP, 4 ICMP and 1 SYN: 7 packets from 14 sightings
    assert new == 7 and len(rows.rows) == 7
    syn = rows.rows[-1]
    assert syn.first.interface == "veth1a2b3c4"
    assert [p.interface for p, _ in syn.also] == ["docker0", "ds-uplink"]
    (rewrite,) = syn.also[1][1]
    assert rewrite_text(rewrite, syn.also[1][0]) == "source 172.17.0.2:43512 -> 100.64.0.2:43512"
    lines = rows.lines()
    assert lines[-1] == (
        "    also on ds-uplink (Out), source 172.17.0.2:43512 -> 100.64.0.2:43512",
        True,
    )
    assert len(rows.packets()) == 14


def test_rows_let_the_oldest_go_and_count_them() -> None:
    feed = FakePacketFeed(fakepackets.story())
    feed.release()
    rows = PacketRows(limit=3)
    rows.add(feed.take())
    assert len(rows.rows) == 3 and rows.let_go == 4
    assert rows.rows[-1].also  # the newest keep their folded sightings


def test_check_filter_words_and_a_fake_feed_refuses_a_bad_one() -> None:
    assert check_filter("") is None and check_filter("icmp or arp") is None
    problem = check_filter("tcp prot 80")
    assert problem is not None and "syntax error" in problem
    with pytest.raises(bpf.BpfError):
        FakePacketFeed([], "tcp prot 80")


def test_the_demo_feed_trickles_on_its_own() -> None:
    feed = FakePacketFeed(fakepackets.story()[:3], every=0.01)
    woken = threading.Event()
    feed.start(woken.set)
    try:
        deadline = time.monotonic() + 5
        while feed.released < 3 and time.monotonic() < deadline:
            woken.wait(0.05)
            woken.clear()
    finally:
        feed.stop()
    assert feed.released == 3 and len(feed.take()) == 3


def _neigh_message(family: int, ifindex: int, state: int, dst: bytes, mac: bytes) -> bytes:
    attrs = b""
    for kind, value in ((neighbours.NDA_DST, dst), (neighbours.NDA_LLADDR, mac)):
        attr = struct.pack("=HH", 4 + len(value), kind) + value
        attrs += attr + b"\0" * (-len(attr) % 4)
    body = struct.pack("=BxxxiHBB", family, ifindex, state, 0, 1) + attrs
    return struct.pack("=IHHII", 16 + len(body), neighbours.RTM_NEWNEIGH, 2, 1, 0) + body


def test_neighbours_parse_an_rtnetlink_reply() -> None:
    msg = _neigh_message(
        socket.AF_INET, 3, 0x02, socket.inet_aton("172.17.0.3"), bytes.fromhex("0242ac110003")
    )
    (entry,) = neighbours.parse([(neighbours.RTM_NEWNEIGH, 2, msg, 0)], {3: "docker0"})
    assert entry == neighbours.Neighbour("172.17.0.3", "02:42:ac:11:00:03", "docker0", "REACHABLE")


def test_tcpdump_line_and_interface_words() -> None:
    assert parse_interfaces("docker0, br-1  docker0 any") == ["docker0", "br-1", "any"]
    command = tcpdump_command("demo", ["docker0"], "tcp port 80")
    assert command.netns == "demo"
    assert command.lines[0].display == "tcpdump -n -e -i docker0 'tcp port 80'"
    assert command.lines[0].argv is not None and command.lines[0].argv[-1] == "tcp port 80"
