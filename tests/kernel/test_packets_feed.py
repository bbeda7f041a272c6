"""The packet feed on a real lab: a ping between two stand-in containers on docker0 arrives as
linked sightings (the container's veth, then the bridge), through the bounded hand-over."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from dockerscope.engine.network import NetworkManager, Uplink
from dockerscope.engine.paths import Lab
from dockerscope.kernel.neighbours import read_neighbours
from dockerscope.kernel.packets.feed import LivePacketFeed, Sighting
from tests.kernel.standin_lab import container

pytestmark = pytest.mark.kernel


def test_the_feed_sees_a_ping_between_two_netns_on_the_bridge(
    lab_up: tuple[Lab, Uplink], nm: NetworkManager
) -> None:
    lab, _ = lab_up
    _, ns1, ep1 = container(nm, "c1")
    _, _, ep2 = container(nm, "c2")
    feed = LivePacketFeed(str(lab.netns_path), ["docker0", ep1.veth], "icmp")
    woken = threading.Event()
    got: list[Sighting] = []
    feed.start(woken.set)
    try:
        subprocess.run(
            ["nsenter", f"--net={ns1}", "busybox", "ping", "-c", "2", "-W", "2", ep2.ip_address],
            capture_output=True,
            timeout=30,
            check=True,
        )
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and not any(s.link for s in got):
            woken.wait(0.5)
            woken.clear()
            got += feed.take()
        stats = feed.stats()
    finally:
        feed.stop()
    requests = [s for s in got if s.packet.icmp is not None and s.packet.icmp.type == 8]
    assert requests, [s.packet for s in got]
    assert all(s.packet.ip is not None and s.packet.ip.src == ep1.ip_address for s in requests)
    places = {s.packet.interface for s in requests}
    assert places == {"docker0", ep1.veth}, places
    linked = [s for s in requests if s.link is not None]
    assert linked and linked[0].link is not None
    assert {linked[0].link.earlier.interface, linked[0].packet.interface} == places
    assert not linked[0].link.rewrites  # same bridge: nothing rewritten
    assert stats.dropped == 0 and feed.state.not_shown == 0
    # the neighbour table of c1 now knows c2 (after the ping's ARP)
    table = read_neighbours(ns1)
    assert any(n.address == ep2.ip_address and n.mac == ep2.mac_address for n in table), table


def test_an_interface_that_goes_ends_its_capture_with_a_note(
    lab_up: tuple[Lab, Uplink], nm: NetworkManager
) -> None:
    lab, _ = lab_up
    _, _, ep1 = container(nm, "c1")
    feed = LivePacketFeed(str(lab.netns_path), ["docker0", ep1.veth])
    woken = threading.Event()
    feed.start(woken.set)
    try:
        subprocess.run(["ip", "-n", lab.name, "link", "del", ep1.veth], check=True, timeout=30)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not feed.state.notes:
            woken.wait(0.5)
        notes = list(feed.state.notes)
    finally:
        feed.stop()
    assert len(notes) == 1 and notes[0].startswith(f"capture on {ep1.veth} ended: "), notes
