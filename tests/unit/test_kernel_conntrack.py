"""The conntrack parser on captured ``conntrack -L`` output with a DNAT and a MASQUERADE."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockerscope.kernel.conntrack import ConntrackFormatError, parse, parse_line

DATA = Path(__file__).parent.parent / "data" / "kernel"


@pytest.mark.parametrize("name", ["conntrack-L-extended.txt", "conntrack-L.txt"])
def test_both_output_formats(name):
    flows = parse((DATA / name).read_text(), "lab")
    protos = sorted(f.proto for f in flows)
    assert "icmp" in protos or "tcp" in protos
    assert all(f.netns == "lab" for f in flows)


def test_dnat_published_port():
    flows = parse((DATA / "conntrack-L-extended.txt").read_text(), "lab")
    tcp = next(f for f in flows if f.proto == "tcp")
    assert tcp.state == "TIME_WAIT"
    assert (tcp.orig_dst, tcp.orig_dport) == ("198.51.100.1", 8080)
    assert (tcp.reply_src, tcp.reply_sport) == ("172.17.0.2", 8080)
    assert tcp.dnat and not tcp.snat


def test_masquerade_going_out():
    flows = parse((DATA / "conntrack-L-extended.txt").read_text(), "lab")
    icmp = next(f for f in flows if f.proto == "icmp")
    assert icmp.orig_src == "172.17.0.2" and icmp.reply_dst == "198.51.100.1"
    assert icmp.snat and not icmp.dnat
    assert icmp.orig_sport == icmp.reply_sport  # the echo id stands in for a port


def test_counters_when_accounting_is_on():
    line = (
        "tcp 6 431999 ESTABLISHED src=10.0.0.2 dst=10.0.0.1 sport=5 dport=80 packets=3 bytes=180 "
        "src=10.0.0.1 dst=10.0.0.2 sport=80 dport=5 packets=2 bytes=120 [ASSURED] mark=0 use=1"
    )
    f = parse_line(line, "x")
    assert (f.packets, f.bytes, f.state) == (5, 300, "ESTABLISHED")


def test_summary_lines_skipped_and_garbage_refused():
    assert parse("conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n", "x") == []
    with pytest.raises(ConntrackFormatError):
        parse_line("tcp 6 10 src=1.2.3.4 dst=4.3.2.1", "x")
    with pytest.raises(ConntrackFormatError):
        parse_line("hello", "x")
