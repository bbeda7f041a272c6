"""pcapng bytes, BPF compile errors and kernel-side filtering, linking across places, the CLI."""

from __future__ import annotations

import argparse
import io
import shutil
import socket
import struct
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from dockerscope.cli import build_parser, capture, dispatch
from dockerscope.cli.common import CliError
from dockerscope.kernel.packets import bpf
from dockerscope.kernel.packets import build as b
from dockerscope.kernel.packets.decode import decode
from dockerscope.kernel.packets.linking import Linker, fingerprint, link_all
from dockerscope.kernel.packets.pcapng import PcapngWriter

A, B = "02:42:ac:11:00:02", "02:42:ac:11:00:03"
C_IP, S_IP, NAT_IP = "172.17.0.2", "100.64.0.1", "100.64.0.2"


def syn(src: str, sport: int, ident: int = 500, seq: int = 1000, flags: int = 0x02) -> bytes:
    seg = b.tcp(src, S_IP, sport, 8080, seq, 0, flags)
    return b.ethernet(A, B, 0x0800, b.ipv4(src, S_IP, 6, seg, ident=ident))


# --- pcapng -----------------------------------------------------------------------------------


def blocks(data: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        kind, total = struct.unpack_from("=II", data, pos)
        assert total % 4 == 0 and struct.unpack_from("=I", data, pos + total - 4)[0] == total
        out.append((kind, data[pos + 8 : pos + total - 4]))
        pos += total
    return out


def test_pcapng_blocks() -> None:
    buf = io.BytesIO()
    w = PcapngWriter(buf)
    out = decode(
        syn(C_IP, 43512), time=1700000000.123456, netns="lab", interface="docker0", pkttype=4
    )
    w.write(out)
    w.write(replace(out, interface="eth0", pkttype=0, time=1700000000.5))
    w.write(replace(out, pkttype=1, time=1700000001.0))
    got = blocks(buf.getvalue())
    assert [k for k, _ in got] == [0x0A0D0D0A, 1, 6, 1, 6, 6]
    shb = got[0][1]
    assert struct.unpack_from("=IHHq", shb) == (0x1A2B3C4D, 1, 0, -1)
    idb = got[1][1]
    assert struct.unpack_from("=HHI", idb) == (1, 0, 262144)
    assert b"docker0" in idb and b"netns lab" in idb
    assert b"eth0" in got[3][1]
    iface, hi, lo, caplen, length = struct.unpack_from("=IIIII", got[2][1])
    assert (
        iface == 0 and ((hi << 32) | lo) == 1700000000123456 and caplen == length == len(out.data)
    )
    assert got[2][1][20 : 20 + caplen] == out.data

    def flags(body: bytes) -> int:
        opts = body[20 + caplen + (-caplen % 4) :]
        code, size, value = struct.unpack_from("=HHI", opts)
        assert (code, size) == (2, 4)
        return value

    assert flags(got[2][1]) == 2  # outbound
    assert struct.unpack_from("=I", got[4][1])[0] == 1 and flags(got[4][1]) == 1 | (1 << 2)
    assert flags(got[5][1]) == 1 | (3 << 2)  # inbound broadcast
    assert w.count == 3


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="no tcpdump")
def test_tcpdump_reads_our_pcapng(tmp_path: Path) -> None:
    path = tmp_path / "x.pcapng"
    with path.open("wb") as f:
        w = PcapngWriter(f)
        for i in range(5):
            w.write(decode(syn(C_IP, 40000 + i), time=1.0 + i, interface="eth0", pkttype=4))
    r = subprocess.run(["tcpdump", "-ttnr", str(path)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith(
        "1.000000 IP 172.17.0.2.40000 > 100.64.0.1.8080: Flags [S], seq 1000"
    )
    assert lines[4].startswith("5.000000 IP 172.17.0.2.40004 > 100.64.0.1.8080")


@pytest.mark.skipif(shutil.which("tshark") is None, reason="no tshark")
def test_tshark_reads_interfaces_and_directions(tmp_path: Path) -> None:
    path = tmp_path / "x.pcapng"
    arp = b.ethernet(A, b.BROADCAST, 0x0806, b.arp(1, A, C_IP, "00:00:00:00:00:00", S_IP))
    with path.open("wb") as f:
        w = PcapngWriter(f)
        w.write(decode(syn(C_IP, 1), time=1.5, netns="lab", interface="docker0", pkttype=4))
        w.write(decode(arp, time=2.0, netns="c1", interface="eth0", pkttype=1))
    fields = ["frame.interface_name", "frame.interface_description"]
    fields += ["frame.packet_flags_direction", "frame.time_epoch", "_ws.col.Protocol"]
    r = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", *(a for f in fields for a in ("-e", f))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert rows == [
        ["docker0", "netns lab", "0x00000002", "1.500000000", "TCP"],
        ["eth0", "netns c1", "0x00000001", "2.000000000", "ARP"],
    ]


# --- BPF --------------------------------------------------------------------------------------


def test_bad_filter_names_the_problem() -> None:
    with pytest.raises(bpf.BpfError, match=r"bad filter 'tcp prot 80': .*syntax error"):
        bpf.compile_filter("tcp prot 80")
    with pytest.raises(bpf.BpfError, match=r"port 99999"):
        bpf.compile_filter("port 99999")


def test_filter_runs_in_the_kernel() -> None:
    """SO_ATTACH_FILTER works on any socket: a unix datagram pair shows what it keeps."""
    send, recv = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with send, recv:
        bpf.attach(recv, bpf.compile_filter("tcp dst port 8080 and src host 172.17.0.2"))
        recv.setblocking(False)
        keep = syn(C_IP, 1)
        arp = b.ethernet(A, b.BROADCAST, 0x0806, b.arp(1, A, C_IP, "00:00:00:00:00:00", S_IP))
        for frame in (arp, syn(NAT_IP, 2), keep):
            send.send(frame)
        assert recv.recv(4096) == keep
        with pytest.raises(BlockingIOError):
            recv.recv(4096)


# --- linking ----------------------------------------------------------------------------------


def test_masquerade_rewrite_is_linked_with_both_addresses() -> None:
    before = decode(syn(C_IP, 43512), time=1.0, netns="lab", interface="docker0", pkttype=0)
    after = decode(syn(NAT_IP, 43512), time=1.0001, netns="lab", interface="eth0", pkttype=4)
    other = decode(syn(NAT_IP, 43512, ident=501), time=1.0002, netns="lab", interface="eth0")
    links = link_all([after, other, before])
    assert len(links) == 1
    link = links[0]
    assert link.earlier is before and link.later is after and link.rewritten
    assert [str(r) for r in link.rewrites] == [f"source {C_IP}.43512 -> {NAT_IP}.43512"]
    assert "same packet as on lab/docker0 (In); source" in link.describe()


def test_veth_ends_link_unchanged_and_same_place_does_not() -> None:
    linker = Linker(window=1.0)
    a = decode(syn(C_IP, 1), time=5.0, netns="c1", interface="eth0", pkttype=4)
    assert linker.add(a) is None
    assert linker.add(replace(a, time=5.01)) is None  # same place again: not a link
    link = linker.add(replace(a, netns="lab", interface="veth12", pkttype=0, time=5.02))
    assert link is not None and not link.rewritten and link.earlier is a


def test_links_are_forgotten_after_the_window() -> None:
    linker = Linker(window=0.5)
    a = decode(syn(C_IP, 1), time=1.0, netns="c1", interface="eth0")
    linker.add(a)
    assert linker.add(replace(a, interface="veth1", time=2.0)) is None


def test_fingerprint_ignores_addresses_and_ports_only() -> None:
    assert fingerprint(decode(syn(C_IP, 1))) == fingerprint(decode(syn(NAT_IP, 2)))
    assert fingerprint(decode(syn(C_IP, 1))) != fingerprint(decode(syn(C_IP, 1, seq=2)))
    assert fingerprint(decode(b"\0" * 10)) is None


# --- the command line -------------------------------------------------------------------------


def test_capture_parses() -> None:
    args = build_parser().parse_args(
        ["capture", "--netns", "x", "-i", "eth0", "-i", "ds1@host", "-c", "3", "tcp", "port", "80"]
    )
    assert args.subcommand == "capture" and args.interfaces == ["eth0", "ds1@host"]
    assert args.count == 3 and args.filter == ["tcp", "port", "80"]


def test_capture_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture, "is_root", lambda: False)
    args = build_parser().parse_args(["capture", "--host", "-i", "lo"])
    with pytest.raises(CliError, match="needs root"):
        dispatch(args)


def test_unknown_netns_is_named(tmp_path: Path) -> None:
    ns = argparse.Namespace(lab=None, run_root=tmp_path, data_root=None)
    with pytest.raises(CliError, match="no netns nothere"):
        capture.resolve_netns("nothere", ns)
    assert capture.resolve_netns("host", ns) is None
