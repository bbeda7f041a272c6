"""A packet filter as the student types it (``tcp dport 8080``, ``icmp``, ``udp port 53``,
``host 172.17.0.2``), checked and turned into nf_tables matches.

The words are those of nft and tcpdump together: a protocol (``tcp``, ``udp``, ``icmp``), ports
(``port N``, ``sport N``, ``dport N``, ``src port N``, ``dst port N``) and addresses (``host A``,
``src A``, ``dst A``, ``saddr A``, ``daddr A``, ``net A/N``), joined by ``and`` or nothing. Only
IPv4 is traced (Docker's bridges here are IPv4). ``host`` and ``port`` mean either direction, so
a filter becomes a few alternatives, each one nf_tables rule; anything else (``or``, ``not``,
a word we do not know) is refused with a message naming it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from ipaddress import IPv4Network

PROTOS = {"tcp": 6, "udp": 17, "icmp": 1}
_PROTO_NAMES = {v: k for k, v in PROTOS.items()}


class FilterError(ValueError):
    """A filter we cannot (or will not) turn into an nf_tables match; the text says why."""


@dataclass(frozen=True)
class Match:
    """One comparison: ``field`` is "l4proto", "saddr", "daddr", "sport" or "dport"."""

    field: str
    value: int | IPv4Network


@dataclass(frozen=True)
class Filter:
    """The filter as typed, and its alternatives (a packet matching any one is traced)."""

    text: str
    alternatives: tuple[tuple[Match, ...], ...]

    def nft_rules(self) -> list[str]:
        """Each alternative as an nft rule that sets nftrace (what ``nft list`` would show)."""
        return [nft_text(alt) for alt in self.alternatives]


def _port(word: str | None, what: str) -> int:
    if word is None or not word.isdigit() or not 0 < int(word) < 65536:
        raise FilterError(f"{what} needs a port number from 1 to 65535, got {word or 'nothing'}")
    return int(word)


def _net(word: str | None, what: str) -> IPv4Network:
    try:
        if word is None:
            raise ValueError
        return IPv4Network(word, strict=False)
    except ValueError:
        raise FilterError(
            f"{what} needs an IPv4 address or network (e.g. 172.17.0.2 or 172.17.0.0/16), "
            f"got {word or 'nothing'}"
        ) from None


def parse(words: list[str] | str) -> Filter:
    """Check a filter and expand it into alternatives; raises FilterError with the reason."""
    tokens = words.split() if isinstance(words, str) else [w for x in words for w in x.split()]
    text = " ".join(tokens)
    if not tokens:
        raise FilterError("give a filter, e.g. 'tcp dport 8080', 'icmp' or 'host 172.17.0.2'")
    protos: list[int] = []
    # each group is one condition with its alternatives (host: src or dst; port: sport or dport)
    groups: list[list[Match]] = []
    ports: list[list[Match]] = []
    i = 0
    while i < len(tokens):
        word = tokens[i].lower()
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if word in ("and", "&&", "ip"):
            i += 1
            continue
        if word in ("or", "||", "not", "!"):
            raise FilterError(
                f"'{word}' is not supported: a filter is conditions joined by 'and' "
                "(run one trace per alternative)"
            )
        if word in PROTOS:
            protos.append(PROTOS[word])
            i += 1
            continue
        if word in ("src", "dst") and nxt is not None and nxt.lower() in ("port", "host"):
            kind = nxt.lower()
            value = tokens[i + 2] if i + 2 < len(tokens) else None
            field = ("s" if word == "src" else "d") + ("port" if kind == "port" else "addr")
            if kind == "port":
                ports.append([Match(field, _port(value, f"'{word} port'"))])
            else:
                groups.append([Match(field, _net(value, f"'{word} host'"))])
            i += 3
            continue
        if word in ("src", "dst", "saddr", "daddr"):
            field = "saddr" if word in ("src", "saddr") else "daddr"
            groups.append([Match(field, _net(nxt, f"'{word}'"))])
            i += 2
            continue
        if word in ("host", "net"):
            net = _net(nxt, f"'{word}'")
            groups.append([Match("saddr", net), Match("daddr", net)])
            i += 2
            continue
        if word in ("sport", "dport"):
            ports.append([Match(word, _port(nxt, f"'{word}'"))])
            i += 2
            continue
        if word == "port":
            n = _port(nxt, "'port'")
            ports.append([Match("sport", n), Match("dport", n)])
            i += 2
            continue
        raise FilterError(
            f"unknown word '{tokens[i]}' in filter '{text}': use tcp, udp, icmp, port N, "
            "sport N, dport N, host A, src A, dst A, net A/N, joined by 'and'"
        )
    if len(set(protos)) > 1:
        raise FilterError(
            f"one protocol per filter, got {' and '.join(_PROTO_NAMES[p] for p in protos)}"
        )
    if ports and protos and protos[0] == PROTOS["icmp"]:
        raise FilterError("icmp has no ports")
    proto_choices = [[Match("l4proto", protos[0])]] if protos else []
    if ports and not protos:
        # a port without a protocol means either tcp or udp (as tcpdump reads it)
        proto_choices = [[Match("l4proto", PROTOS["tcp"]), Match("l4proto", PROTOS["udp"])]]
    every = proto_choices + groups + ports
    alternatives = tuple(tuple(combo) for combo in itertools.product(*every))
    return Filter(text, alternatives)


def nft_text(alt: tuple[Match, ...]) -> str:
    """One alternative as nft's rule syntax, ending with ``meta nftrace set 1``."""
    parts = ["meta nfproto ipv4"]
    proto = "th"
    for m in alt:
        if m.field == "l4proto":
            proto = _PROTO_NAMES.get(int(m.value), str(m.value))  # type: ignore[arg-type]
            parts.append(f"meta l4proto {proto}")
        elif m.field in ("saddr", "daddr"):
            net = m.value
            shown = (
                str(net.network_address)
                if isinstance(net, IPv4Network) and net.prefixlen == 32
                else str(net)
            )
            parts.append(f"ip {m.field} {shown}")
        else:
            parts.append(f"{proto} {m.field} {m.value}")
    parts.append("meta nftrace set 1")
    return " ".join(parts)
