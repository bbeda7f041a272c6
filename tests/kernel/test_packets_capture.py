"""Packet capture on a real lab: ARP on docker0, a TCP handshake on both ends of a veth, the
MASQUERADE rewrite between docker0 and the uplink, a pcapng file tcpdump reads, and an
interface removed mid-capture.

Each test builds its own lab (a lab host and stand-in containers: sandbox netns attached to the
default bridge) and takes it down; traffic only flows between namespaces the test made and a
listener on the uplink's host-side address.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockerscope.engine.network import NetworkManager, Uplink
from dockerscope.engine.paths import Lab
from dockerscope.kernel.packets.capture import Capture
from dockerscope.kernel.packets.linking import link_all
from dockerscope.kernel.packets.records import Packet
from dockerscope.kernel.packets.several import Captures
from tests.kernel.standin_lab import container

pytestmark = pytest.mark.kernel


def in_ns(path: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nsenter", f"--net={path}", *cmd], capture_output=True, text=True, timeout=30, check=check
    )


def collect(
    group: Captures, enough: Callable[[list[Packet]], bool], timeout: float = 8.0
) -> list[Packet]:
    """Packets from ``group`` until ``enough`` says so (or ``timeout``)."""
    stop = threading.Event()
    timer = threading.Timer(timeout, stop.set)
    timer.start()
    got: list[Packet] = []
    try:
        for p in group.packets(stop):
            got.append(p)
            if enough(got):
                break
    finally:
        timer.cancel()
    return got


def test_arp_between_two_containers_on_docker0(
    lab_up: tuple[Lab, Uplink], nm: NetworkManager
) -> None:
    lab, _ = lab_up
    _, ns1, ep1 = container(nm, "c1")
    _, _, ep2 = container(nm, "c2")
    group = Captures([Capture("docker0", str(lab.netns_path), "arp")])
    try:
        in_ns(ns1, "busybox", "ping", "-c", "1", "-W", "2", ep2.ip_address)
        got = collect(group, lambda ps: sum(p.arp is not None for p in ps) >= 2)
    finally:
        group.close()
    arps = [p.arp for p in got if p.arp is not None]
    assert any(
        a.kind == "who-has" and a.sender_ip == ep1.ip_address and a.target_ip == ep2.ip_address
        for a in arps
    ), arps
    assert any(
        a.kind == "is-at" and a.sender_ip == ep2.ip_address and a.sender_mac == ep2.mac_address
        for a in arps
    )
    assert all(p.interface == "docker0" and p.netns == lab.name for p in got)
    assert group.stats().dropped == 0


def _listening(netns: str, port: int) -> bool:
    text = in_ns(netns, "cat", "/proc/net/tcp").stdout
    return f":{port:04X} 00000000:0000 0A" in text


def test_tcp_handshake_on_both_ends_of_a_veth_is_linked(
    lab_up: tuple[Lab, Uplink], nm: NetworkManager, tmp_path: Path
) -> None:
    lab, _ = lab_up
    _, ns1, ep1 = container(nm, "c1")
    _, ns2, ep2 = container(nm, "c2")
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello\n")
    httpd = subprocess.Popen(
        ["nsenter", f"--net={ns2}", "busybox", "httpd", "-f", "-p", "80", "-h", str(www)]
    )
    try:
        deadline = time.monotonic() + 5
        while not _listening(ns2, 80) and time.monotonic() < deadline:
            time.sleep(0.05)
        group = Captures(
            [
                Capture("eth0", ns1, "tcp port 80"),
                Capture(ep1.veth, str(lab.netns_path), "tcp port 80"),
            ]
        )
        try:
            got = in_ns(
                ns1, "timeout", "5", "busybox", "wget", "-q", "-O", "-", f"http://{ep2.ip_address}/"
            )
            assert got.stdout == "hello\n"
            packets = collect(
                group, lambda ps: sum(p.tcp is not None and p.tcp.flags & 1 for p in ps) >= 4
            )
        finally:
            group.close()
    finally:
        httpd.kill()
        httpd.wait()
    places = {(p.netns, p.interface, p.direction) for p in packets}
    assert ("c1", "eth0", "Out") in places and (lab.name, ep1.veth, "In") in places
    links = link_all(packets)
    by_flags = {link.later.tcp.flags: link for link in links if link.later.tcp is not None}
    for flags in (0x02, 0x12, 0x10):  # SYN, SYN-ACK, ACK
        link = by_flags.get(flags)
        assert link is not None, (flags, [(p.interface, p.tcp) for p in packets])
        assert not link.rewritten
        assert {link.earlier.interface, link.later.interface} == {"eth0", ep1.veth}
    syn = by_flags[0x02]
    assert syn.earlier.interface == "eth0" and syn.earlier.outgoing  # the container sent it first
    assert (
        syn.later.ip is not None
        and syn.later.ip.src == ep1.ip_address
        and syn.later.tcp is not None
    )
    assert syn.later.tcp.dport == 80


def test_masquerade_rewrite_between_docker0_and_the_uplink(
    lab_up: tuple[Lab, Uplink], nm: NetworkManager
) -> None:
    lab, uplink = lab_up
    _, ns1, ep1 = container(nm, "c1")
    listener = socket.socket()
    listener.bind((uplink.host_ip, 0))
    listener.listen(4)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"hi\n")

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    expr = f"tcp port {port}"
    group = Captures(
        [Capture("docker0", str(lab.netns_path), expr), Capture(uplink.host_ifname, None, expr)]
    )
    try:
        out = in_ns(ns1, "timeout", "5", "busybox", "nc", uplink.host_ip, str(port))
        assert out.stdout == "hi\n"
        packets = collect(group, lambda ps: len(link_all(ps)) >= 3)
    finally:
        group.close()
        listener.close()
        server.join(timeout=5)
    links = [link for link in link_all(packets) if link.rewritten]
    syn = next(
        link for link in links if link.later.tcp is not None and link.later.tcp.flags == 0x02
    )
    assert (syn.earlier.netns, syn.earlier.interface) == (lab.name, "docker0")
    assert (syn.later.netns, syn.later.interface) == ("host", uplink.host_ifname)
    [rewrite] = syn.rewrites
    assert rewrite.side == "source"
    assert rewrite.before.startswith(ep1.ip_address + ".") and rewrite.after.startswith(
        uplink.lab_ip + "."
    )
    # The reply comes back through the uplink first and is rewritten back to the container.
    back = [link for link in links if link.later.interface == "docker0"]
    assert back and back[0].rewrites[0].side == "destination"
    assert back[0].rewrites[0].after.startswith(ep1.ip_address + ".")


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="no tcpdump")
def test_cli_writes_pcapng_that_tcpdump_reads(
    lab_up: tuple[Lab, Uplink], nm: NetworkManager, tmp_path: Path
) -> None:
    lab, _ = lab_up
    _, ns1, _ = container(nm, "c1")
    _, _, ep2 = container(nm, "c2")
    out = tmp_path / "ping.pcapng"
    cli = subprocess.Popen(
        [sys.executable, "-m", "dockerscope", "capture", "--netns", str(lab.netns_path)]
        + ["-i", "docker0", "-c", "4", "-w", str(out), "icmp"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert cli.stderr is not None
        assert cli.stderr.readline().startswith("capturing on docker0 in netns")
        in_ns(ns1, "busybox", "ping", "-c", "2", "-W", "2", ep2.ip_address)
        assert cli.wait(timeout=10) == 0
        summary = cli.stderr.read()
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert f"4 packets written to {out}" in summary
    read = subprocess.run(["tcpdump", "-nr", str(out)], capture_output=True, text=True, timeout=10)
    assert read.returncode == 0, read.stderr
    lines = read.stdout.splitlines()
    assert len(lines) == 4 and sum("ICMP echo request" in line for line in lines) == 2


def test_an_interface_removed_mid_capture_ends_it_with_a_note(
    lab_up: tuple[Lab, Uplink], nm: NetworkManager
) -> None:
    lab, _ = lab_up
    cid, ns1, ep1 = container(nm, "c1")
    group = Captures(
        [Capture(ep1.veth, str(lab.netns_path)), Capture("eth0", ns1), Capture("lo", ns1)]
    )
    remover = threading.Timer(0.5, nm.release, args=(cid,))
    remover.start()
    started = time.monotonic()
    try:
        collect(group, lambda ps: False, timeout=10)
    finally:
        remover.join()
        group.close()
    assert time.monotonic() - started < 5  # ended by the removal, not by the timeout
    assert all(c.ended for c in group.captures)
    assert len(group.notes) == 3
    # lo is never removed: its capture ends because the netns pin went (an open packet socket
    # would otherwise keep the netns alive).
    assert "c1/lo: netns c1 was removed" in group.notes, group.notes
    assert any(f"{ep1.veth}" in n and "removed" in n for n in group.notes), group.notes
    assert any(n.startswith("c1/eth0") for n in group.notes), group.notes


def test_cli_links_a_packet_seen_in_a_container_and_on_docker0(
    lab_up: tuple[Lab, Uplink], nm: NetworkManager
) -> None:
    lab, _ = lab_up
    _, ns1, ep1 = container(nm, "c1")
    _, _, ep2 = container(nm, "c2")
    cli = subprocess.Popen(
        [sys.executable, "-m", "dockerscope", "--lab", lab.name, "capture"]
        + ["--run-root", str(lab.run_root), "-i", "docker0", "-i", "eth0@c1", "-c", "4", "icmp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert cli.stderr is not None and cli.stdout is not None
        assert "docker0" in cli.stderr.readline() and "eth0 in netns c1" in cli.stderr.readline()
        in_ns(ns1, "busybox", "ping", "-c", "1", "-W", "2", ep2.ip_address)
        assert cli.wait(timeout=10) == 0
        lines = cli.stdout.read().splitlines()
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert len(lines) == 4, lines
    assert f"c1/eth0 Out IP {ep1.ip_address} > {ep2.ip_address}: ICMP echo request" in lines[0]
    assert (
        f"{lab.name}/docker0 In IP {ep1.ip_address} > {ep2.ip_address}: ICMP echo request"
        in lines[1]
    )
    assert lines[1].endswith("[same packet as on c1/eth0 (Out)]")
    assert sum("same packet as on" in line for line in lines) == 2


async def test_asyncio_stream_in_the_lab_netns(lab_up: tuple[Lab, Uplink]) -> None:
    import asyncio

    lab, _ = lab_up
    cap = Capture("lo", str(lab.netns_path), "icmp")
    try:
        ping = await asyncio.create_subprocess_exec(
            "nsenter",
            f"--net={lab.netns_path}",
            "busybox",
            "ping",
            "-c",
            "1",
            "127.0.0.1",
            stdout=subprocess.DEVNULL,
        )
        got: list[Packet] = []

        async def read() -> None:
            async for p in cap.stream():
                got.append(p)
                if len(got) == 4:
                    return

        await asyncio.wait_for(read(), 5)
        assert await ping.wait() == 0
    finally:
        cap.close()
    assert [(p.direction, p.icmp.type if p.icmp else None) for p in got] == [
        ("Out", 8),
        ("In", 8),
        ("Out", 0),
        ("In", 0),
    ]
    assert all(p.netns == lab.name and p.interface == "lo" for p in got)
