"""Kinds about packet filtering and translation: ``rule`` (iptables) and ``flow`` (conntrack)."""

from __future__ import annotations

import re
from typing import Any

from dockerscope.scenario.expectations.compare import compare
from dockerscope.scenario.expectations.matching import (
    count_verdict,
    count_words,
    glob,
    netns_pattern,
    select,
)
from dockerscope.scenario.expectations.observed import Observed, Verdict
from dockerscope.scenario.expectations.registry import Kind, register
from dockerscope.scenario.expectations.schema import (
    Schema,
    action,
    boolean,
    comparison,
    integer,
    one_of,
    regex,
    string,
)

# ------------------------------------------------------------------ rule


def _rule_check(o: Observed, p: dict[str, Any]) -> Verdict:
    netns = netns_pattern(p.get("netns"), o)
    rx = re.compile(p["match"]) if "match" in p else None
    table = p.get("table", "nat")

    def pred(rule: Any) -> bool:
        return (
            rule.table == table
            and glob(rule.chain, p.get("chain"))
            and glob(rule.netns, netns)
            and (rx is None or rx.search(f"-A {rule.chain} {rule.spec}") is not None)
        )

    action = p.get("action", "added")
    found = select(o, "rules", action, pred)
    if "packets" in p and action not in ("removed", "absent"):
        found = [r for r in found if compare(r.packets, p["packets"])]
    if p.get("moved"):
        old = {r.key: r.packets for r in o.before.rules}
        found = [r for r in found if r.packets > old.get(r.key, 0)]
    what = f"rule {table}/{p.get('chain', '*')}" + (f" ~ {p['match']}" if "match" in p else "")
    return count_verdict(
        found, action, p.get("count"), what, lambda r: f"-A {r.chain} {r.spec} [{r.packets} pkts]"
    )


def _phrase_rule(p: dict[str, Any]) -> str:
    where = f"{p.get('table', 'nat')}/{p.get('chain', '*')}"
    what = f"rule /{p['match']}/" if "match" in p else "rule"
    extra = ", its counter moving" if p.get("moved") else ""
    if "packets" in p:
        extra += f", packets {p['packets']}"
    return f"{where}: {what} {count_words(p, 'added')}{extra}"


register(
    "rule",
    Kind(
        Schema(
            table=one_of("nat", "filter", "mangle", "raw"),
            chain=string,
            match=regex,
            netns=string,
            action=action,
            packets=comparison,
            moved=boolean,
            count=comparison,
        ),
        _rule_check,
        "an iptables rule (regex on '-A CHAIN spec'), optionally with counters that moved",
        _phrase_rule,
    ),
)

# ------------------------------------------------------------------ flow


def _flow_check(o: Observed, p: dict[str, Any]) -> Verdict:
    netns = netns_pattern(p.get("netns"), o)

    def pred(f: Any) -> bool:
        return (
            glob(f.proto, p.get("proto"))
            and glob(f.netns, netns)
            and ("dnat" not in p or f.dnat == p["dnat"])
            and ("snat" not in p or f.snat == p["snat"])
            and ("dport" not in p or f.orig_dport == p["dport"])
            and ("to" not in p or glob(f.reply_src, p["to"]))
        )

    action = p.get("action", "present")
    found = select(o, "flows", action, pred)
    bits = [f"{k}={p[k]}" for k in ("proto", "dnat", "snat", "dport", "to") if k in p]
    return count_verdict(
        found,
        action,
        p.get("count"),
        "flow " + " ".join(bits),
        lambda f: (
            f"{f.proto} {f.orig_src}:{f.orig_sport}>{f.orig_dst}:{f.orig_dport}"
            f" reply {f.reply_src}:{f.reply_sport}>{f.reply_dst}:{f.reply_dport}"
        ),
    )


def _phrase_flow(p: dict[str, Any]) -> str:
    bits = [p.get("proto", "")]
    if p.get("dnat"):
        bits.append("destination-rewritten (DNAT)")
    if p.get("dnat") is False:
        bits.append("untranslated")
    if p.get("snat"):
        bits.append("source-rewritten (SNAT)")
    text = " ".join(b for b in bits if b) + " flow"
    if "dport" in p:
        text += f" to port {p['dport']}"
    if "to" in p:
        text += f", really going to {p['to']}"
    return f"{text} {count_words(p, 'present')}"


register(
    "flow",
    Kind(
        Schema(
            proto=one_of("tcp", "udp", "icmp"),
            dnat=boolean,
            snat=boolean,
            dport=integer,
            to=string,
            netns=string,
            action=action,
            count=comparison,
        ),
        _flow_check,
        "a conntrack flow, with its translation (dnat/snat) and ports",
        _phrase_flow,
    ),
)
