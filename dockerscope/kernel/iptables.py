"""iptables rules of one network namespace, both backends, with packet and byte counters.

nf_tables (what Debian's ``iptables`` is today) is read with ``iptables-nft-save -c`` run in the
namespace; the legacy x_tables are read through python-iptables (libiptc) when the namespace's
``/proc/net/ip_tables_names`` lists any table, with ``iptables-legacy-save -c`` as a fallback.
Every Rule and Chain says which backend it came from, so a machine where both hold rules (a
Docker that picked legacy beside an nft firewall) shows both.
"""

from __future__ import annotations

import functools
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, replace

from dockerscope.kernel.model import Chain, Rule
from dockerscope.kernel.setns import in_netns

#: The tables the course talks about.
TABLES = ("nat", "filter")

_COUNTERS = re.compile(r"^\[(\d+):(\d+)\]\s+")
_CHAIN = re.compile(r"^:(\S+)\s+(\S+)(?:\s+\[(\d+):(\d+)\])?\s*$")
_INLINE_COUNTERS = re.compile(r"(?:^|\s)-c (\d+) (\d+)(?=\s|$)")


class SaveFormatError(ValueError):
    """A line of ``iptables-save`` output that is not in the save format."""


@dataclass(frozen=True)
class Ruleset:
    """Chains and rules of one backend in one netns."""

    chains: tuple[Chain, ...] = ()
    rules: tuple[Rule, ...] = ()


#: Rules parsed before, by (table, line): see ``parse_save``'s ``reuse``.
ParseMemo = dict[tuple[str, str], Rule]


def parse_save(
    text: str,
    netns: str,
    backend: str,
    tables: Iterable[str] | None = TABLES,
    reuse: ParseMemo | None = None,
) -> Ruleset:
    """Parse ``iptables-save [-c]`` output into Chains and Rules (in file order).

    ``tables`` limits the tables kept (None keeps all). Raises SaveFormatError on a line that
    is neither a comment, a table header, a chain header, a rule nor COMMIT.

    A full refresh parses a thousand rules, so a rule line is cut with ``str`` methods; the
    regular expressions only look at lines that need them (chain headers, "-c P B" specs).
    ``reuse``, kept by the caller for one namespace and backend, maps each rule line (its
    counters included) of a table to the Rule parsed from it last time; it is refilled with
    this text's rules, so an unchanged line costs a lookup (and a new position if rules were
    inserted above it).
    """
    keep = None if tables is None else set(tables)
    previous: ParseMemo = {}
    if reuse is not None:
        previous = reuse.copy()
        reuse.clear()
    chains: list[Chain] = []
    rules: list[Rule] = []
    table: str | None = None
    skipping = False
    positions: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        first = line[0]
        if first == "#":
            continue
        if first == "*":
            table = line[1:].strip()
            skipping = keep is not None and table not in keep
            positions = {}
            continue
        if line == "COMMIT":
            table = None
            continue
        if table is None:
            raise SaveFormatError(f"line {lineno}: outside a table: {raw!r}")
        if skipping:
            continue
        if first == ":":
            chains.append(_chain_header(line, raw, lineno, netns, backend, table))
            continue
        if previous:
            known = previous.get((table, line))
            if known is not None and known.netns == netns and known.backend == backend:
                position = positions[known.chain] = positions.get(known.chain, 0) + 1
                if known.position != position:
                    known = replace(known, position=position)
                rules.append(known)
                previous[(table, line)] = known  # a repeated line: the next one comes after
                if reuse is not None:
                    reuse[(table, line)] = known
                continue
        chain, spec, packets, nbytes = _rule_line(line, raw, lineno)
        position = positions[chain] = positions.get(chain, 0) + 1
        rule = Rule(netns, backend, table, chain, position, spec, packets, nbytes)
        rules.append(rule)
        if reuse is not None:
            reuse[(table, line)] = rule
    return Ruleset(tuple(chains), tuple(rules))


def _chain_header(line: str, raw: str, lineno: int, netns: str, backend: str, table: str) -> Chain:
    """``:NAME POLICY [packets:bytes]`` as a Chain."""
    m = _CHAIN.match(line)
    if not m:
        raise SaveFormatError(f"line {lineno}: bad chain header: {raw!r}")
    name, policy, packets, nbytes = m.groups()
    return Chain(
        netns=netns,
        backend=backend,
        table=table,
        name=name,
        policy=None if policy == "-" else policy,
        packets=int(packets or 0),
        bytes=int(nbytes or 0),
    )


def _rule_line(line: str, raw: str, lineno: int) -> tuple[str, str, int, int]:
    """``[packets:bytes] -A CHAIN spec`` as (chain, spec without counters, packets, bytes)."""
    packets = nbytes = 0
    if line[0] == "[":
        m = _COUNTERS.match(line)
        if m:
            packets, nbytes = int(m.group(1)), int(m.group(2))
            line = line[m.end() :]
    parts = line.split(None, 2)
    if len(parts) < 2 or parts[0] != "-A":
        raise SaveFormatError(f"line {lineno}: not a rule: {raw!r}")
    chain = parts[1]
    spec = parts[2] if len(parts) > 2 else ""
    # iptables-save -c on nft puts counters first; some versions use "-c P B" in the spec.
    if "-c " in spec:
        inline = _INLINE_COUNTERS.search(spec)
        if inline:
            packets, nbytes = int(inline.group(1)), int(inline.group(2))
            spec = (spec[: inline.start()] + spec[inline.end() :]).strip()
    return chain, spec, packets, nbytes


@functools.cache
def _save_command(backend: str) -> tuple[str, ...]:
    if backend == "legacy":
        name = "iptables-legacy-save"
    else:
        name = "iptables-nft-save" if shutil.which("iptables-nft-save") else "iptables-save"
    return (name, "-c")


def start_save(backend: str = "nf_tables") -> subprocess.Popen[str]:
    """Start the backend's ``iptables-save -c`` in the calling thread's network namespace.

    A child inherits the namespaces of the thread that forks it, so a thread that has joined
    a netns (setns.py) starts it there without an ``nsenter`` in between. Read its output
    with ``finish_save``; it runs meanwhile (a full refresh reads links and routes then).
    """
    return subprocess.Popen(
        _save_command(backend),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_save(proc: subprocess.Popen[str], timeout: float = 10) -> str:
    """The output of a ``start_save`` process; OSError when it failed or took too long."""
    args = proc.args
    what = shlex.join(map(str, args)) if isinstance(args, (list, tuple)) else str(args)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise OSError(f"{what} took over {timeout} s") from None
    if proc.returncode != 0:
        raise OSError(f"{what} failed: {(err or '').strip()}")
    return out


def save_text(ns_path: str | None, backend: str = "nf_tables", timeout: float = 10) -> str:
    """Run the backend's ``iptables-save -c`` inside the netns at ``ns_path`` and return stdout."""
    if ns_path is None:
        return finish_save(start_save(backend), timeout)
    proc = in_netns(ns_path, lambda: start_save(backend))
    return finish_save(proc, timeout)


def legacy_tables_here() -> list[str]:
    """Tables the legacy backend holds in the calling thread's netns."""
    try:
        with open("/proc/thread-self/net/ip_tables_names") as f:
            return f.read().split()
    except OSError:
        return []


def legacy_tables(ns_path: str | None) -> list[str]:
    """Tables the legacy x_tables backend holds in that netns (empty: legacy unused)."""
    return legacy_tables_here() if ns_path is None else in_netns(ns_path, legacy_tables_here)


def legacy_has_rules(ns_path: str | None) -> bool:
    """True when a legacy table of interest exists in that netns.

    The tables appear in ip_tables_names as soon as something touched them (even a listing),
    so this is a cheap first check; the rules themselves are read afterwards.
    """
    return any(t in TABLES for t in legacy_tables(ns_path))


def read_nft(ns_path: str | None, label: str, reuse: ParseMemo | None = None) -> Ruleset:
    """nat and filter of the nf_tables backend in one netns (``reuse``: see parse_save)."""
    return parse_save(save_text(ns_path, "nf_tables"), label, "nf_tables", reuse=reuse)


def read_legacy(ns_path: str | None, label: str) -> Ruleset:
    """nat and filter of the legacy backend, through python-iptables (libiptc).

    Falls back to ``iptables-legacy-save -c`` when python-iptables cannot be used.
    """
    tables = [t for t in legacy_tables(ns_path) if t in TABLES]
    if not tables:
        return Ruleset()
    try:
        if ns_path is None:
            return _read_iptc(tables, label)
        return in_netns(ns_path, lambda: _read_iptc(tables, label))
    except Exception:  # noqa: BLE001 - libiptc errors come in many shapes; the CLI still works
        return parse_save(save_text(ns_path, "legacy"), label, "legacy")


def read_all(ns_path: str | None, label: str) -> Ruleset:
    """Both backends: nf_tables always, legacy when it holds tables."""
    nft = read_nft(ns_path, label)
    legacy = read_legacy(ns_path, label) if legacy_has_rules(ns_path) else Ruleset()
    return Ruleset(nft.chains + legacy.chains, nft.rules + legacy.rules)


def _read_iptc(tables: list[str], label: str) -> Ruleset:
    """Read legacy tables with libiptc in the calling thread's netns."""
    import iptc  # python-iptables; imported late: loading libiptc is not free

    # python-iptables caches Table objects by name across namespaces; start from a clean slate
    # so a handle opened in another netns is never reused here.
    iptc.Table._cache.clear()
    chains: list[Chain] = []
    rules: list[Rule] = []
    try:
        for tname in tables:
            table = iptc.Table(tname, autocommit=False)
            table.refresh()
            for ch in table.chains:
                policy = None
                pk = by = 0
                if table.builtin_chain(ch.name):
                    pol, counters = ch.get_policy(), ch.get_counters()
                    policy = pol.name if pol is not None else None
                    pk, by = counters
                chains.append(Chain(label, "legacy", tname, ch.name, policy, pk, by))
                for pos, r in enumerate(ch.rules, 1):
                    p, b = r.get_counters()
                    rules.append(
                        Rule(label, "legacy", tname, ch.name, pos, iptc_spec(r), int(p), int(b))
                    )
            table.close()
    finally:
        iptc.Table._cache.clear()
    return Ruleset(tuple(chains), tuple(rules))


def _neg(value: str) -> tuple[str, str]:
    value = value.strip()
    if value.startswith("!"):
        return "! ", value[1:].strip()
    return "", value


def iptc_spec(rule: object) -> str:
    """An ``iptables-save``-style spec for a python-iptables Rule (close, not byte-identical)."""
    r = rule  # typed loosely: python-iptables has no stubs
    parts: list[str] = []
    src, dst = getattr(r, "src", "0.0.0.0/0.0.0.0"), getattr(r, "dst", "0.0.0.0/0.0.0.0")
    for opt, val in (("-s", src), ("-d", dst)):
        neg, v = _neg(val)
        if v not in ("0.0.0.0/0.0.0.0", "0.0.0.0/0"):
            parts.append(f"{neg}{opt} {_cidr(v)}")
    for opt, val in (("-i", r.in_interface), ("-o", r.out_interface)):  # type: ignore[attr-defined]
        if val:
            neg, v = _neg(val)
            parts.append(f"{neg}{opt} {v}")
    if r.protocol and r.protocol != "ip":  # type: ignore[attr-defined]
        neg, v = _neg(r.protocol)  # type: ignore[attr-defined]
        parts.append(f"{neg}-p {v}")
    for m in r.matches:  # type: ignore[attr-defined]
        parts.append(f"-m {m.name}" + _params(m.get_all_parameters()))
    target = r.target  # type: ignore[attr-defined]
    if target is not None and target.name:
        parts.append(f"-j {target.name}" + _params(target.get_all_parameters()))
    return " ".join(parts)


def _params(params: dict[str, list[str]]) -> str:
    out = ""
    for key, values in params.items():
        neg = ""
        vals = list(values)
        if vals and vals[0] == "!":
            neg, vals = "! ", vals[1:]
        out += f" {neg}--{key}" + "".join(f" {v}" for v in vals)
    return out


def _cidr(value: str) -> str:
    """ "172.17.0.0/255.255.0.0" -> "172.17.0.0/16" (what iptables-save prints)."""
    if "/" not in value:
        return value + "/32"
    addr, mask = value.split("/", 1)
    if "." in mask:
        bits = sum(bin(int(o)).count("1") for o in mask.split("."))
        return f"{addr}/{bits}"
    return value


def apply_counters(
    ruleset: Ruleset,
    counters: dict[tuple[str, str], list[tuple[int, int]]],
    backend: str = "nf_tables",
) -> Ruleset | None:
    """The ruleset with fresh (packets, bytes) per rule, matched by table, chain and position.

    ``counters`` lists each chain's rules in order (from an nf_tables rule dump). Returns None
    when the chains no longer have the rules ``ruleset`` has: the caller re-reads them instead.
    """
    mine: dict[tuple[str, str], int] = {}
    for r in ruleset.rules:
        if r.backend == backend:
            mine[(r.table, r.chain)] = mine.get((r.table, r.chain), 0) + 1
    theirs = {k: len(v) for k, v in counters.items() if k[0] in TABLES and v}
    if mine != theirs:
        return None
    rules = []
    moved = False
    for r in ruleset.rules:
        if r.backend == backend:
            packets, nbytes = counters[(r.table, r.chain)][r.position - 1]
            if (packets, nbytes) != (r.packets, r.bytes):
                moved = True
                r = Rule(
                    r.netns,
                    r.backend,
                    r.table,
                    r.chain,
                    r.position,
                    r.spec,
                    packets,
                    nbytes,
                    r.owner,
                )
        rules.append(r)
    return Ruleset(ruleset.chains, tuple(rules)) if moved else ruleset
