"""One packet's trace events made into a Trace: hops at their hooks, rewrites, route, delivery.

Pure functions of the events and what was read from the namespace (rule book, link names,
routes, conntrack entries), so a recording or a test can assemble the same Trace again.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence

from dockerscope.kernel.model import Flow, Route
from dockerscope.kernel.trace.model import (
    Delivery,
    Header,
    Hop,
    Rewrite,
    RouteTaken,
    Trace,
    TraceEvent,
)
from dockerscope.kernel.trace.nftbuild import PREFIX
from dockerscope.kernel.trace.rules import RuleBook, owner

_NAT_TARGETS = ("-j DNAT", "-j SNAT", "-j MASQUERADE", "-j REDIRECT")


def packets(events: Iterable[TraceEvent], table: str) -> list[tuple[int, list[TraceEvent]]]:
    """A recorded event stream cut into packets: by trace id, and a new packet wherever our
    own rule (``table``) fires again for an id that already had it (the kernel reuses ids)."""
    out: list[tuple[int, list[TraceEvent]]] = []
    open_: dict[int, list[TraceEvent]] = {}
    for e in events:
        starts = e.table == table and e.kind == "rule" and e.handle is not None
        current = open_.get(e.id)
        if current is None or (
            starts
            and any(x.table == table and x.kind == "rule" and x.handle is not None for x in current)
        ):
            current = open_[e.id] = []
            out.append((e.id, current))
        current.append(e)
    return out


def _verdict(e: TraceEvent) -> str:
    if e.kind == "policy":
        return f"policy {e.policy}"
    if e.kind == "return":
        return "return"
    return f"{e.verdict} {e.target}".strip()


def hops(
    events: Iterable[TraceEvent],
    book: RuleBook,
    names: dict[int, str],
    our_rule: str = "",
    containers: dict[str, str] | None = None,
) -> list[Hop]:
    """The events as hops: each placed at the hook of the base chain it ran under.

    Events a chain ends with that say nothing (a rule event with no rule, verdict continue)
    are left out; headers are carried forward, since the kernel sends them once per base
    chain.
    """
    out: list[Hop] = []
    hook = ""
    current: Header | None = None
    iif = oif = 0
    for e in events:
        base = book.hooks.get((e.family, e.table, e.chain))
        ours = e.table.startswith(PREFIX)
        if ours:
            base = {"pre": "prerouting", "out": "output"}.get(e.chain, base)
        if base is not None:
            hook = base
        if e.header is not None:
            # a packet dump (once per base chain) carries the interfaces too
            current, iif, oif = e.header, e.iif, e.oif
        if e.kind == "rule" and e.handle is None and e.verdict in ("continue", ""):
            continue
        if ours and e.kind != "rule":
            continue  # our chains' policy and return: always accept, nothing to show
        rule = our_rule if ours else book.rule(e.family, e.table, e.handle)
        if not rule and e.handle is not None:
            rule = f"(nft rule handle {e.handle})"
        out.append(
            Hop(
                hook=hook,
                family=e.family,
                table=e.table,
                chain=e.chain,
                handle=e.handle,
                rule=rule,
                verdict=_verdict(e),
                owner="" if ours else owner(rule, containers),
                iif=names.get(iif, str(iif)) if iif else "",
                oif=names.get(oif, str(oif)) if oif else "",
                header=current,
                ours=ours,
            )
        )
    return out


def _endpoint(h: Header, side: str) -> str:
    addr = h.src if side == "src" else h.dst
    port = h.sport if side == "src" else h.dport
    return f"{addr}:{port}" if h.proto in ("tcp", "udp") else addr


def rewrites(path: Sequence[Hop], flow: Flow | None = None) -> list[Rewrite]:
    """Address rewrites: from the headers before and after a NAT rule, else the conntrack entry.

    A DNAT in prerouting or output shows in the next base chain's header; a MASQUERADE in
    postrouting happens after the last chain, so only conntrack's reply tuple shows it.
    """
    out: list[Rewrite] = []
    nat_hops = [h for h in path if any(t in h.rule for t in _NAT_TARGETS) and h.verdict == "accept"]
    first = next((h.header for h in path if h.header is not None), None)
    last = next((h.header for h in reversed(path) if h.header is not None), None)
    dnat_by = next((h.rule for h in nat_hops if "DNAT" in h.rule or "REDIRECT" in h.rule), "")
    snat_by = next((h.rule for h in nat_hops if "SNAT" in h.rule or "MASQUERADE" in h.rule), "")
    if first is not None and last is not None:
        if (first.dst, first.dport) != (last.dst, last.dport):
            out.append(Rewrite("dnat", _endpoint(first, "dst"), _endpoint(last, "dst"), dnat_by))
        if (first.src, first.sport) != (last.src, last.sport):
            out.append(Rewrite("snat", _endpoint(first, "src"), _endpoint(last, "src"), snat_by))
    if flow is not None and first is not None:
        kinds = {r.kind for r in out}
        ports = first.proto in ("tcp", "udp")
        new_dst = f"{flow.reply_src}:{flow.reply_sport}" if ports else flow.reply_src
        new_src = f"{flow.reply_dst}:{flow.reply_dport}" if ports else flow.reply_dst
        if "dnat" not in kinds and new_dst != _endpoint(first, "dst"):
            out.append(Rewrite("dnat", _endpoint(first, "dst"), new_dst, dnat_by))
        if "snat" not in kinds and new_src != _endpoint(first, "src"):
            out.append(Rewrite("snat", _endpoint(first, "src"), new_src, snat_by))
    return out


def flow_of(flows: Iterable[Flow], h: Header) -> Flow | None:
    """The conntrack entry whose original tuple is this packet (as it first looked)."""
    for f in flows:
        if f.proto != h.proto or f.orig_src != h.src or f.orig_dst != h.dst:
            continue
        if h.proto in ("tcp", "udp") and (f.orig_sport, f.orig_dport) != (h.sport, h.dport):
            continue
        return f
    return None


def route_for(routes: Iterable[Route], dst: str) -> Route | None:
    """The main-table route the kernel would pick for ``dst`` (longest prefix wins)."""
    addr = ipaddress.ip_address(dst)
    best: tuple[int, Route] | None = None
    for r in routes:
        net = ipaddress.ip_network("0.0.0.0/0" if r.dst == "default" else r.dst, strict=False)
        if addr in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, r)
    return best[1] if best else None


def assemble(
    trace_id: int,
    netns: str,
    events: Sequence[TraceEvent],
    book: RuleBook,
    names: dict[int, str],
    our_rule: str = "",
    routes: Sequence[Route] = (),
    flow: Flow | None = None,
    containers: dict[str, str] | None = None,
    bridge_port: Callable[[str, str], str] | None = None,
    started: float = 0.0,
    local: set[str] | frozenset[str] = frozenset(),
) -> Trace:
    """A Trace from one trace id's events, in the order the kernel sent them."""
    path = hops(events, book, names, our_rule, containers)
    first = next((h.header for h in path if h.header is not None), None)
    last = next((h.header for h in reversed(path) if h.header is not None), None)
    final = path[-1] if path else None
    delivered = None
    route = None
    outcome = ""
    dropped = next((h for h in path if h.verdict in ("drop", "policy drop")), None)
    if dropped is not None:
        outcome = f"dropped in {dropped.table} {dropped.chain} ({dropped.hook})"
    elif (
        final is not None
        and last is not None
        and (final.hook == "input" or (final.hook == "prerouting" and last.dst in local))
    ):
        # an empty filter INPUT chain does not exist in iptables-nft: a packet for one of
        # our addresses that left prerouting is delivered here all the same
        delivered = Delivery(last.proto, last.dst, last.dport)
        outcome = f"delivered locally to {_endpoint(last, 'dst')}"
    elif last is not None:
        found = rewrites(path, flow)
        dst = next((r.after.split(":")[0] for r in found if r.kind == "dnat"), last.dst)
        r = route_for(routes, dst) if routes else None
        oif = next((h.oif for h in reversed(path) if h.oif), "")
        if r is not None and r.dev and oif in ("", "lo") and dst not in local:
            oif = r.dev  # rerouted after a DNAT in output: the route names the new way out
        text = (
            f"{r.dst} dev {r.dev}" + (f" via {r.gateway}" if r and r.gateway else "") if r else ""
        )
        port = bridge_port(oif, dst) if bridge_port is not None and oif not in ("", "lo") else ""
        note = ""
        if not port and oif.startswith(("docker", "br-")):
            note = "bridge port not known (no FDB entry for the destination's MAC)"
        route = RouteTaken(
            dst=dst,
            oif=oif,
            gateway=r.gateway if r else None,
            route=text,
            bridge_port=port,
            note=note,
        )
        if final is not None and final.hook in ("postrouting", "forward", "output"):
            outcome = f"left by {oif}" if oif else "left"
    return Trace(
        id=trace_id,
        netns=netns,
        first=first,
        hops=tuple(path),
        rewrites=tuple(rewrites(path, flow)),
        route=route,
        delivered_to=delivered,
        outcome=outcome,
        started=started,
    )
