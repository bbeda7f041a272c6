"""A full re-read of every namespace, rules included, with one hop through the namespaces.

First a thread hops through the namespaces: it reads their legacy tables and conntrack count,
and starts ``iptables-save`` in each one whose nf_tables holds an ip nat/filter table (those
first), which then runs on the other core while this thread reads links and routes. A
namespace whose conntrack count is 0 needs no conntrack dump (a dump walks the whole,
machine-wide, connection table). Decoding is skipped only for messages and rule lines equal to
ones decoded before (links.py, iptables.py).
"""

from __future__ import annotations

import contextlib
import functools
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from dockerscope.kernel import iptables, nftables
from dockerscope.kernel.failures import Failures
from dockerscope.kernel.nsreads import holds_ip_tables, read_collection
from dockerscope.kernel.nsstate import NamespaceState
from dockerscope.kernel.setns import in_each_netns
from dockerscope.kernel.sockets import tcp_in_use_here


@dataclass(frozen=True)
class NamespaceLook:
    """What a full re-read learns inside one namespace (see ``look_inside``)."""

    legacy_tables: list[str]
    conntrack_count: int | None  # None: not read (no tables here) or not readable
    nft_save: subprocess.Popen[str] | None
    tcp_counts: tuple[int, int] | None = None  # TCP sockets in use, TIME-WAIT (sockets.py)


def look_inside(start_nft_save: bool) -> NamespaceLook:
    """In the calling thread's netns: its legacy tables and, where it has tables, how many
    connections it tracks and a started ``iptables-save`` (when asked)."""
    legacy = iptables.legacy_tables_here()
    count: int | None = None
    if start_nft_save or legacy:  # conntrack is only hooked in where a table uses it
        # /proc/sys/net follows the opening thread's netns; the count is per namespace.
        with (
            contextlib.suppress(OSError, ValueError),
            open("/proc/sys/net/netfilter/nf_conntrack_count") as f,
        ):
            count = int(f.read())
    save = iptables.start_save() if start_nft_save else None
    return NamespaceLook(legacy, count, save, tcp_in_use_here())


def reread_namespaces(
    states: list[NamespaceState],
    failures: Failures,
    meanwhile: Callable[[], None] = lambda: None,
) -> None:
    """Every namespace read again from the kernel: links, addresses, routes, sockets, rules,
    flows.

    All of it is asked of the kernel again, rules included (no generation id shortcut).
    ``meanwhile`` (reads that need no rules) runs before the first ``iptables-save`` output
    is waited for.
    """
    looks = _look_inside_each(states, failures)
    for state, look in zip(states, looks, strict=True):
        state.tcp_counts = look.tcp_counts if isinstance(look, NamespaceLook) else None
    try:
        for state in states:
            read_collection(state, "links", failures)
            read_collection(state, "routes", failures)
            read_collection(state, "sockets", failures)
        meanwhile()
        for state, look in zip(states, looks, strict=True):
            _rules_and_flows(state, look, failures)
    finally:
        for look in looks:
            proc = look.nft_save if isinstance(look, NamespaceLook) else None
            if proc is not None and proc.returncode is None:
                proc.kill()  # not collected: an error cut the read short
                proc.communicate()


def _look_inside_each(
    states: list[NamespaceState], failures: Failures
) -> list[NamespaceLook | BaseException]:
    """One hop through the namespaces, those with ip tables (iptables-save to start) first."""
    wants = [
        failures.attempt(f"iptables {s.label}", functools.partial(nft_in_use, s), True)
        for s in states
    ]
    # The hop is waited for: run beside the link reads it gained nothing measurable (both
    # threads need the GIL, and the iptables-save child already wants the other core).
    order = sorted(range(len(states)), key=lambda i: not wants[i])
    found = in_each_netns(
        [(states[i].path, functools.partial(look_inside, wants[i])) for i in order]
    )
    looks: list[NamespaceLook | BaseException] = [RuntimeError("not visited")] * len(states)
    for i, look in zip(order, found, strict=True):
        looks[i] = look
    return looks


def _rules_and_flows(
    state: NamespaceState, look: NamespaceLook | BaseException, failures: Failures
) -> None:
    label = state.label
    if not isinstance(look, NamespaceLook):
        failures.note(f"iptables {label}", look)
        read_collection(state, "flows", failures)
        return
    state.has_legacy = any(t in iptables.TABLES for t in look.legacy_tables)
    state.ruleset = failures.attempt(
        f"iptables {label}",
        functools.partial(rules_from_save, state, look.nft_save),
        state.ruleset,
    )
    if look.conntrack_count == 0:
        state.flows = []  # the kernel tracks nothing here: no table to walk
        failures.clear(f"conntrack {label}")
    else:
        read_collection(state, "flows", failures)


def nft_in_use(state: NamespaceState) -> bool:
    """Whether nf_tables holds an ip nat or filter table in ``state`` (True: can't tell).

    The generation id is noted before ``iptables-save`` runs: a change made meanwhile then
    shows as a newer generation at the next poll.
    """
    if state.nf_conn is None:
        return True
    state.genid = None
    if not holds_ip_tables(nftables.nft_tables(state.nf_conn)):
        return False  # (no generation noted: the next rules read looks at the tables again)
    state.genid = nftables.nft_genid(state.nf_conn)
    return True


def rules_from_save(state: NamespaceState, proc: subprocess.Popen[str] | None) -> iptables.Ruleset:
    """The rules from a started ``iptables-save`` (nf_tables) plus the legacy tables'."""
    nft = iptables.Ruleset()
    if proc is not None:
        text = iptables.finish_save(proc)
        nft = iptables.parse_save(text, state.label, "nf_tables", reuse=state.parsed)
    legacy = iptables.Ruleset()
    if state.has_legacy:
        legacy = iptables.read_legacy(state.path, state.label)
    return iptables.Ruleset(nft.chains + legacy.chains, nft.rules + legacy.rules)
