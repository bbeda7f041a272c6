"""Rule handles of a trace named as ``iptables -S`` spells the rules, with their owners.

iptables-nft writes each rule as an nf_tables rule (xt match/target expressions) in a table
of family ip, and ``iptables-save`` prints a chain's rules in the order nf_tables holds them. So
a rule handle from a trace event is found in the netlink rule dump (table, chain, position in
the chain) and the same table/chain/position of ``iptables-save`` is its text. Base chains'
hooks come from the chain dump, so a hop in ``DOCKER`` is placed at the hook of the base chain
that jumped there.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from dockerscope.kernel.iptables import parse_save
from dockerscope.kernel.netlink import NLMSGHDR, Conn, Replay, attr_str, attributes
from dockerscope.kernel.netlink_constants import (
    NFNL_SUBSYS_NFTABLES,
    NFPROTO_UNSPEC,
    NFT_MSG_GETCHAIN,
    NFT_MSG_GETRULE,
    NFT_MSG_NEWCHAIN,
    NFT_MSG_NEWRULE,
    NFTA_CHAIN_HOOK,
    NFTA_CHAIN_NAME,
    NFTA_CHAIN_TABLE,
    NFTA_HOOK_HOOKNUM,
    NFTA_RULE_CHAIN,
    NFTA_RULE_HANDLE,
    NFTA_RULE_TABLE,
)
from dockerscope.kernel.trace.decode import FAMILIES
from dockerscope.kernel.trace.model import HOOKS

#: (family, table, chain)
ChainKey = tuple[str, str, str]


@dataclass
class RuleBook:
    """What the tracer needs to name hops: handles -> rule text, base chains -> hooks."""

    #: (family, table, handle) -> (chain, 1-based position in the chain)
    positions: dict[tuple[str, str, int], tuple[str, int]] = field(default_factory=dict)
    #: base chains -> hook name
    hooks: dict[ChainKey, str] = field(default_factory=dict)
    #: (table, chain, position) -> the rule as iptables -S spells it ("-A DOCKER ...")
    lines: dict[tuple[str, str, int], str] = field(default_factory=dict)

    def rule(self, family: str, table: str, handle: int | None) -> str:
        """The rule with that handle as ``iptables -S`` prints it ("" when not an iptables rule)."""
        if handle is None:
            return ""
        where = self.positions.get((family, table, handle))
        if where is None or family != "ip":
            return ""
        return self.lines.get((table, where[0], where[1]), "")


def _nft(msg: int) -> int:
    return (NFNL_SUBSYS_NFTABLES << 8) | msg


def rule_positions(conn: Conn | Replay) -> dict[tuple[str, str, int], tuple[str, int]]:
    """(family, table, handle) -> (chain, position) of every nf_tables rule (dump order is
    chain order, which is the order ``iptables-save`` prints)."""
    out: dict[tuple[str, str, int], tuple[str, int]] = {}
    counts: dict[ChainKey, int] = {}
    req = struct.pack("=BBH", NFPROTO_UNSPEC, 0, 0)
    for t, _f, d, o in conn.dump(_nft(NFT_MSG_GETRULE), req):
        if t != _nft(NFT_MSG_NEWRULE):
            continue
        end = o + NLMSGHDR.unpack_from(d, o)[0]
        family = FAMILIES.get(d[o + NLMSGHDR.size], str(d[o + NLMSGHDR.size]))
        table = chain = ""
        handle = None
        for kind, payload in attributes(d, o + NLMSGHDR.size + 4, end):
            if kind == NFTA_RULE_TABLE:
                table = attr_str(payload)
            elif kind == NFTA_RULE_CHAIN:
                chain = attr_str(payload)
            elif kind == NFTA_RULE_HANDLE:
                handle = int(struct.unpack_from(">Q", payload)[0])
        if handle is None:
            continue
        key = (family, table, chain)
        counts[key] = counts.get(key, 0) + 1
        out[(family, table, handle)] = (chain, counts[key])
    return out


def chain_hooks(conn: Conn | Replay) -> dict[ChainKey, str]:
    """(family, table, chain) -> hook name of every base chain."""
    out: dict[ChainKey, str] = {}
    req = struct.pack("=BBH", NFPROTO_UNSPEC, 0, 0)
    for t, _f, d, o in conn.dump(_nft(NFT_MSG_GETCHAIN), req):
        if t != _nft(NFT_MSG_NEWCHAIN):
            continue
        end = o + NLMSGHDR.unpack_from(d, o)[0]
        family = FAMILIES.get(d[o + NLMSGHDR.size], str(d[o + NLMSGHDR.size]))
        table = name = ""
        hook: int | None = None
        for kind, payload in attributes(d, o + NLMSGHDR.size + 4, end):
            if kind == NFTA_CHAIN_TABLE:
                table = attr_str(payload)
            elif kind == NFTA_CHAIN_NAME:
                name = attr_str(payload)
            elif kind == NFTA_CHAIN_HOOK:
                for hk, hv in attributes(payload, 0, len(payload)):
                    if hk == NFTA_HOOK_HOOKNUM:
                        hook = int(struct.unpack_from(">I", hv)[0])
        if hook is not None and hook < len(HOOKS):
            out[(family, table, name)] = HOOKS[hook]
    return out


def save_lines(save_text: str) -> dict[tuple[str, str, int], str]:
    """(table, chain, position) -> ``-A CHAIN spec`` from ``iptables-save`` text (every table)."""
    ruleset = parse_save(save_text, netns="", backend="nf_tables", tables=None)
    return {
        (r.table, r.chain, r.position): f"-A {r.chain} {r.spec}".rstrip() for r in ruleset.rules
    }


def book(conn: Conn | Replay, save_text: str) -> RuleBook:
    """A RuleBook from the netlink dumps of one namespace and its ``iptables-save`` text."""
    return RuleBook(rule_positions(conn), chain_hooks(conn), save_lines(save_text))


def _options(spec: str) -> dict[str, str]:
    tokens = spec.split()
    opts: dict[str, str] = {}
    for i, tok in enumerate(tokens[:-1]):
        if tok.startswith("-"):
            opts.setdefault(tok, tokens[i + 1])
    return opts


def owner(line: str, containers: dict[str, str] | None = None) -> str:
    """Who a rule is for, when its comment or target says it.

    A ``-m comment --comment`` names it outright; a DNAT is a published port (``published
    port 8080/tcp -> 172.17.0.2:80``, with the container's name when ``containers`` (ip ->
    name) knows the address); a MASQUERADE of a source subnet is that network's way out.
    """
    if " --comment " in line:
        text = line.split(" --comment ", 1)[1]
        if text.startswith('"'):
            return text[1:].split('"', 1)[0]
        return text.split()[0]
    opts = _options(line)
    target = opts.get("-j", "")
    names = containers or {}
    if target == "DNAT" and "--to-destination" in opts:
        to = opts["--to-destination"]
        proto = opts.get("-p", "tcp")
        who = names.get(to.split(":")[0])
        text = f"published port {opts.get('--dport', '?')}/{proto} -> {to}"
        return f"{text} ({who})" if who else text
    if target == "MASQUERADE" and "-s" in opts:
        src = opts["-s"]
        if src.endswith("/32"):
            who = names.get(src[:-3])
            return f"hairpin NAT of {who or src[:-3]}"
        return f"outbound NAT of {src}"
    return ""
