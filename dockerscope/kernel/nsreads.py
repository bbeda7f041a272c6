"""Re-reading one collection of one namespace: links, routes, rules (and their counters), flows,
sockets.

Each read keeps the namespace's last value when it fails, with an error line in ``Failures``.
Rules are read as cheaply as the kernel allows: the nf_tables generation id says whether the
ruleset changed, and link packet totals whether any counter can have moved.
"""

from __future__ import annotations

from dockerscope.kernel import conntrack, iptables, nftables, rtnetlink
from dockerscope.kernel.failures import Failures
from dockerscope.kernel.iproutes import read_routes
from dockerscope.kernel.model import Flow, Socket
from dockerscope.kernel.netlink_constants import NFPROTO_IPV4
from dockerscope.kernel.nsstate import NamespaceState
from dockerscope.kernel.setns import in_each_netns
from dockerscope.kernel.sockets import tcp_in_use_here


def read_collection(
    state: NamespaceState,
    what: str,
    failures: Failures,
    check_legacy: bool = True,
    walk: bool = False,
) -> None:
    """Re-read ``what`` (one of ``PER_NAMESPACE``) of one namespace into ``state``;
    ``walk``: sockets only, dump the connected TCP sockets whatever the links say."""
    label = state.label
    reader = state.reader
    if what == "links" and reader is not None:
        state.raw_links = failures.attempt(f"links {label}", reader.links, state.raw_links)
    elif what == "routes" and reader is not None:
        names = {r.link.index: r.link.name for r in state.raw_links}
        state.routes = failures.attempt(
            f"routes {label}", lambda: read_routes(reader, names), state.routes
        )
    elif what == "rules":
        state.ruleset = failures.attempt(
            f"iptables {label}", lambda: read_rules(state, check_legacy), state.ruleset
        )
    elif what == "flows":
        if state.ruleset.rules or state.ruleset.chains:
            state.flows = failures.attempt(
                f"conntrack {label}", lambda: read_flows(state), state.flows
            )
        else:
            state.flows = []  # no NAT/filter tables: conntrack is not hooked in here
    elif what == "sockets" and state.diag is not None:
        state.sockets = failures.attempt(
            f"sockets {label}", lambda: read_sockets(state, walk), state.sockets
        )


def read_sockets(state: NamespaceState, walk: bool = False) -> list[Socket]:
    """The namespace's sockets; its connections are dumped only when it has some and they
    may have changed (``walk`` forces it when it has some).

    That dump walks the kernel's whole connection table (the listeners' and UDP's are small),
    about a millisecond per family even for an empty namespace. So: where the namespace's
    TCP count (``state.tcp_counts``, noted by ``note_tcp_counts``) is its listeners and no
    TIME-WAIT, there is nothing to dump. Elsewhere the dump is made when the count or the
    link packet totals moved: a connection cannot open, close or move data without a packet
    on some link of its namespace (loopback included). A TIME-WAIT socket expiring changes
    the count too; a reset received is the one silent change, caught by the observer's
    round-robin ``walk``.
    """
    assert state.diag is not None
    counts, state.tcp_counts = state.tcp_counts, None
    packets = rtnetlink.link_packets(state.reader.conn) if state.reader is not None else None
    moved = packets is None or packets != state.socket_packets or counts != state.socket_counts

    def connected(tcp_listeners: int) -> bool | None:
        if counts is not None and counts[1] == 0 and counts[0] <= tcp_listeners:
            return None  # every TCP socket here is a listener: no connection to look for
        return walk or moved

    found = state.diag.read(connected)
    state.socket_packets = packets
    if counts is not None:
        state.socket_counts = counts
    return found


def note_tcp_counts(states: list[NamespaceState]) -> None:
    """Count each namespace's TCP sockets (one hop of a thread through them all), for the
    next ``read_sockets`` of each."""
    todo = [s for s in states if s.diag is not None]
    found = in_each_netns([(s.path, tcp_in_use_here) for s in todo])
    for state, counts in zip(todo, found, strict=True):
        state.tcp_counts = None if isinstance(counts, BaseException) else counts


def read_flows(state: NamespaceState) -> list[Flow]:
    """The namespace's conntrack entries: ctnetlink, else ``conntrack -L``."""
    if state.nf_conn is not None:
        try:
            return conntrack.read_netlink(state.nf_conn, state.label)
        except OSError:
            pass  # ctnetlink refused (module missing?): the CLI may still work
    return conntrack.read(state.path, state.label)


def holds_ip_tables(tables: list[tuple[int, str]]) -> bool:
    """Whether an nf_tables table list holds an ip nat or filter table (iptables-nft's)."""
    return any(family == NFPROTO_IPV4 and name in iptables.TABLES for family, name in tables)


def read_rules(state: NamespaceState, check_legacy: bool = True) -> iptables.Ruleset:
    """Both backends, as cheaply as the kernel allows.

    iptables-save is skipped where nf_tables has no ip nat/filter table, and where the
    ruleset generation id is the one the rules were read at (then only counters moved).
    """
    nft = _nft_rules_without_save(state) if state.nf_conn is not None else None
    if nft is None:
        nft = iptables.read_nft(state.path, state.label, reuse=state.parsed)
    if check_legacy:
        state.has_legacy = iptables.legacy_has_rules(state.path)
    legacy = iptables.read_legacy(state.path, state.label) if state.has_legacy else None
    return _joined(nft, legacy)


def _nft_rules_without_save(state: NamespaceState) -> iptables.Ruleset | None:
    """The nf_tables rules when netlink alone can tell them; None: run iptables-save."""
    assert state.nf_conn is not None
    generation = nftables.nft_genid(state.nf_conn)
    if generation is not None and generation == state.genid:
        mine = iptables.Ruleset(
            tuple(c for c in state.ruleset.chains if c.backend == "nf_tables"),
            tuple(r for r in state.ruleset.rules if r.backend == "nf_tables"),
        )
        if not mine.rules:
            return mine
        counted = iptables.apply_counters(mine, nftables.nft_rule_counters(state.nf_conn))
        if counted is not None:
            return counted
    state.genid = generation
    if not holds_ip_tables(nftables.nft_tables(state.nf_conn)):
        return iptables.Ruleset()
    return None


def _joined(nft: iptables.Ruleset, legacy: iptables.Ruleset | None) -> iptables.Ruleset:
    if legacy is None:
        legacy = iptables.Ruleset()
    return iptables.Ruleset(nft.chains + legacy.chains, nft.rules + legacy.rules)


def poll_counters(state: NamespaceState, failures: Failures) -> None:
    """Fresh rule counters without re-reading the rules, unless the ruleset changed."""
    if state.nf_conn is None or state.has_legacy:
        read_collection(state, "rules", failures)  # libiptc gives counters with the rules
        return
    state.ruleset = failures.attempt(
        f"iptables {state.label}", lambda: _counted(state), state.ruleset
    )


def _counted(state: NamespaceState) -> iptables.Ruleset:
    assert state.nf_conn is not None
    if nftables.nft_genid(state.nf_conn) != state.genid:
        return read_rules(state, check_legacy=False)
    # Nothing crossed the links: no counter can have moved (see link_packets), so skip the
    # rule dump, but still count in full now and then.
    packets = rtnetlink.link_packets(state.reader.conn) if state.reader is not None else None
    state.polls += 1
    if packets is not None and packets == state.link_packets and state.polls % 10:
        return state.ruleset
    state.link_packets = packets
    counters = nftables.nft_rule_counters(state.nf_conn)
    fresh = iptables.apply_counters(state.ruleset, counters)
    return fresh if fresh is not None else read_rules(state, check_legacy=False)
