"""Packet tracing without root: the trace event decoder on bytes recorded from a real lab
(tests/data/trace, made with capture.py there), handle-to-rule matching on the recorded rule
dump and iptables-save text, the filter's translation and refusals, the table's messages."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from dockerscope.cli.trace import render
from dockerscope.kernel.netlink import Replay
from dockerscope.kernel.trace import nftbuild, rules
from dockerscope.kernel.trace.assemble import assemble, packets
from dockerscope.kernel.trace.decode import decode_datagram
from dockerscope.kernel.trace.filters import FilterError, Match, parse
from dockerscope.kernel.trace.session import stale_tables

DATA = Path(__file__).parent.parent / "data" / "trace"
OURS = "dockerscope_trace_1"  # the capture ran with pid=1 in the name
DNAT = "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"
#: ifindex -> name in the recorded lab
NAMES = {1: "lo", 2: "eth0", 3: "docker0"}


def _events(name: str) -> list:
    return list(decode_datagram((DATA / f"{name}.events").read_bytes()))


def _book(name: str) -> rules.RuleBook:
    conn = Replay((DATA / f"{name}.rules").read_bytes())
    return rules.book(conn, (DATA / f"{name}.save").read_text())


# -- the decoder --------------------------------------------------------------------------------


def test_decoder_reads_the_recorded_dnat_trace() -> None:
    events = _events("dnat")
    first = events[0]
    assert (first.kind, first.family, first.table, first.chain) == ("rule", "inet", OURS, "out")
    assert first.verdict == "continue" and first.handle is not None
    assert first.header is not None and first.header.proto == "tcp"
    assert first.header.dport == 8080 and first.header.src == first.header.dst
    assert NAMES[first.oif] == "lo"
    jump = next(e for e in events if e.table == "nat" and e.chain == "OUTPUT")
    assert (jump.family, jump.verdict, jump.target) == ("ip", "jump", "DOCKER")
    dnat = next(e for e in events if e.chain == "DOCKER")
    assert dnat.verdict == "accept" and dnat.handle is not None
    post = [e for e in events if e.chain == "POSTROUTING" and e.header is not None]
    assert post and (post[0].header.dst, post[0].header.dport) == ("172.17.0.2", 80)
    assert NAMES[post[0].oif] == "docker0"
    policy = next(e for e in events if e.kind == "policy" and e.chain == "POSTROUTING")
    assert policy.policy == "accept"


def test_decoder_reads_icmp_and_skips_other_messages() -> None:
    events = _events("ping")
    req = events[0]
    assert req.header is not None and req.header.proto == "icmp" and req.header.icmp_type == 8
    assert NAMES[req.iif] == "docker0" and req.chain == "pre"
    # a non-trace message (an ACK) in the stream is skipped, not misread
    ack = struct.pack("=IHHII", 36, 2, 0, 1, 0) + b"\0" * 20
    assert list(decode_datagram(ack)) == []


# -- handles named as iptables -S spells the rules ----------------------------------------------


def test_rule_handles_match_iptables_save_lines_by_chain_and_position() -> None:
    book = _book("dnat")
    dnat = next(e for e in _events("dnat") if e.chain == "DOCKER")
    assert book.rule("ip", "nat", dnat.handle) == DNAT
    jump = next(e for e in _events("dnat") if e.chain == "OUTPUT")
    assert book.rule("ip", "nat", jump.handle) == (
        "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER"
    )
    assert book.hooks[("ip", "nat", "POSTROUTING")] == "postrouting"
    assert book.hooks[("ip", "filter", "FORWARD")] == "forward"
    assert ("ip", "nat", "DOCKER") not in book.hooks  # a regular chain has no hook
    # every nf_tables rule of ip nat/filter has its iptables-save line
    ip_rules = [(t, *v) for (f, t, _h), v in book.positions.items() if f == "ip"]
    assert ip_rules and all(key in book.lines for key in ip_rules)
    assert book.rule("ip", "nat", 999999) == "" and book.rule("inet", OURS, 4) == ""


def test_owner_from_the_rule_text() -> None:
    assert rules.owner(DNAT) == "published port 8080/tcp -> 172.17.0.2:80"
    assert rules.owner(DNAT, {"172.17.0.2": "web"}).endswith("(web)")
    assert rules.owner("-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE") == (
        "outbound NAT of 172.17.0.0/16"
    )
    assert rules.owner('-A INPUT -p tcp -m comment --comment "my web" -j ACCEPT') == "my web"
    assert rules.owner("-A DOCKER -i docker0 -j RETURN") == ""


# -- a whole packet -----------------------------------------------------------------------------


def test_assembled_dnat_trace_names_the_rule_its_owner_and_the_rewrite() -> None:
    grouped = packets(_events("dnat"), OURS)
    assert len(grouped) >= 2  # the SYN, then later packets of the connection
    tid, events = grouped[0]
    t = assemble(tid, "lab:sample", events, _book("dnat"), NAMES, our_rule="ours")
    assert [h.hook for h in t.hops] == ["output", "output", "output", "postrouting"]
    hop = t.hops[2]
    assert (hop.table, hop.chain, hop.rule, hop.verdict) == ("nat", "DOCKER", DNAT, "accept")
    assert hop.owner == "published port 8080/tcp -> 172.17.0.2:80"
    assert t.hops[0].ours and t.hops[0].rule == "ours"
    assert t.hops[3].oif == "docker0" and t.hops[3].verdict == "policy accept"
    (rw,) = t.rewrites
    assert (rw.kind, rw.after, rw.by) == ("dnat", "172.17.0.2:80", DNAT)
    assert rw.before.endswith(":8080")
    assert t.route is not None and t.route.oif == "docker0" and t.delivered_to is None
    text = render(t)
    assert DNAT in text and "rewrite: destination" in text and "-> 172.17.0.2:80" in text


def test_assembled_ping_to_the_gateway_is_delivered_locally() -> None:
    grouped = packets(_events("ping"), OURS)
    tid, events = grouped[0]
    t = assemble(tid, "lab:sample", events, _book("ping"), NAMES, local={"172.17.0.1"})
    assert t.first is not None and t.first.label().endswith("-> 172.17.0.1 echo-request")
    assert [h.chain for h in t.hops] == ["pre", "PREROUTING", "DOCKER", "PREROUTING"]
    assert t.hops[2].rule == "-A DOCKER -i docker0 -j RETURN" and t.hops[2].verdict == "return"
    assert t.hops[1].iif == "docker0"
    assert t.delivered_to is not None and t.delivered_to.address == "172.17.0.1"
    assert t.outcome.startswith("delivered locally")
    # not one of our addresses: nothing says it was delivered
    t2 = assemble(tid, "lab:sample", events, _book("ping"), NAMES)
    assert t2.delivered_to is None


# -- the filter ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rules_"),
    [
        (
            "tcp dport 8080",
            ["meta nfproto ipv4 meta l4proto tcp tcp dport 8080 meta nftrace set 1"],
        ),
        ("icmp", ["meta nfproto ipv4 meta l4proto icmp meta nftrace set 1"]),
        (
            "udp port 53",
            [
                "meta nfproto ipv4 meta l4proto udp udp sport 53 meta nftrace set 1",
                "meta nfproto ipv4 meta l4proto udp udp dport 53 meta nftrace set 1",
            ],
        ),
        (
            "host 172.17.0.2",
            [
                "meta nfproto ipv4 ip saddr 172.17.0.2 meta nftrace set 1",
                "meta nfproto ipv4 ip daddr 172.17.0.2 meta nftrace set 1",
            ],
        ),
        (
            "tcp and dst 172.17.0.0/16 and src port 80",
            [
                "meta nfproto ipv4 meta l4proto tcp ip daddr 172.17.0.0/16 tcp sport 80 "
                "meta nftrace set 1"
            ],
        ),
    ],
)
def test_filter_to_nft(text: str, rules_: list[str]) -> None:
    assert parse(text).nft_rules() == rules_


def test_port_without_protocol_means_tcp_or_udp() -> None:
    f = parse(["port", "53"])
    assert len(f.alternatives) == 4
    assert {m.value for alt in f.alternatives for m in alt if m.field == "l4proto"} == {6, 17}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "give a filter"),
        ("tcp or udp", "'or' is not supported"),
        ("not icmp", "'not' is not supported"),
        ("tcp dport http", "port number"),
        ("tcp dport 70000", "port number"),
        ("host 300.1.1.1", "IPv4 address"),
        ("icmp port 1", "icmp has no ports"),
        ("tcp and udp", "one protocol"),
        ("tcp flags syn", "unknown word 'flags'"),
    ],
)
def test_bad_filters_are_refused_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(FilterError, match=says):
        parse(text)


# -- our table ----------------------------------------------------------------------------------


def test_table_messages_hold_two_base_chains_and_a_rule_per_alternative() -> None:
    f = parse("udp port 53")
    msgs = nftbuild.add_table_messages("dockerscope_trace_42", f)
    kinds = [m[0] for m in msgs]
    assert (
        kinds.count(0) == 1 and kinds.count(3) == 2 and kinds.count(6) == 4
    )  # table, chains, rules
    table = msgs[0][2]
    assert b"dockerscope_trace_42\0" in table
    assert struct.pack(">I", 2) in table  # NFT_TABLE_F_OWNER: gone with our socket
    chain = msgs[1][2]
    assert struct.pack(">i", -350) in chain and b"filter\0" in chain
    rule = msgs[2][2]
    assert b"payload\0" in rule and struct.pack(">H", 53) in rule and b"immediate\0" in rule
    data, acked = nftbuild.batch(msgs, 100)
    assert acked == list(range(101, 101 + len(msgs)))
    assert struct.unpack_from("=H", data, 4)[0] == 0x10  # NFNL_MSG_BATCH_BEGIN first


def test_match_expressions_mask_a_network() -> None:
    from ipaddress import IPv4Network

    raw = nftbuild.match_expressions(Match("daddr", IPv4Network("172.17.0.0/16")))
    assert b"bitwise\0" in raw and bytes([255, 255, 0, 0]) in raw and bytes([172, 17, 0, 0]) in raw
    assert b"bitwise\0" not in nftbuild.match_expressions(
        Match("daddr", IPv4Network("10.0.0.1/32"))
    )


def test_stale_tables_are_those_of_dead_tracers() -> None:
    tables = [(1, "dockerscope_trace_10"), (1, "dockerscope_trace_11"), (2, "nat"), (1, "x_1")]
    assert stale_tables(tables, alive=lambda pid: pid == 11) == ["dockerscope_trace_10"]


# -- the command --------------------------------------------------------------------------------


def test_trace_command_parses_where_and_the_filter() -> None:
    from dockerscope import cli
    from dockerscope.cli.trace import _where

    args = cli.build_parser().parse_args(["trace", "--lab", "l1", "tcp", "dport", "8080"])
    assert args.subcommand == "trace" and args.filter == ["tcp", "dport", "8080"]
    assert _where(args) == ("/run/netns/l1", "lab:l1")
    args = cli.build_parser().parse_args(["trace", "--netns", "n1", "icmp", "--count", "2"])
    assert _where(args) == ("/run/netns/n1", "netns:n1") and args.count == 2
    args = cli.build_parser().parse_args(["trace", "--host", "icmp", "--timeout", "1.5"])
    assert _where(args) == (None, "host") and args.timeout == 1.5
    args = cli.build_parser().parse_args(["--lab", "l2", "trace", "icmp"])
    assert _where(args) == ("/run/netns/l2", "lab:l2")


def test_trace_command_needs_root_and_a_good_filter(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dockerscope import cli

    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert cli.main(["trace", "--host", "icmp"]) == 1
    assert "trace needs root" in capsys.readouterr().err
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert cli.main(["trace", "--host", "tcp", "or", "udp"]) == 1
    assert "bad filter: 'or' is not supported" in capsys.readouterr().err
