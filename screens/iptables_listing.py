"""Turn rules in ``iptables-save`` syntax into the columns of ``iptables -n -v -L``.

The dashboard lays chains out the way the course shows them (``sudo iptables -n -L -t nat``),
so a student can hold the panel next to a terminal and read the same thing. Pure functions: no
Textual here.
"""

from __future__ import annotations

import functools
import shlex
from dataclasses import dataclass

from dockerscope.kernel.model import Chain, Rule

HEADER = (
    " pkts bytes target     prot opt in     out     source               destination         "
)


@dataclass(frozen=True)
class Columns:
    """One rule as ``iptables -n -v -L`` prints it."""

    target: str
    prot: str
    opt: str
    in_: str
    out: str
    source: str
    destination: str
    extras: str  # "tcp dpt:8080 to:172.17.0.2:8080"


# Match and target options rendered the way iptables' -L does, keyed by the save-format option.
_EXTRA_FORMATS: dict[str, str] = {
    "--dst-type": "ADDRTYPE match dst-type {}",
    "--src-type": "ADDRTYPE match src-type {}",
    "--ctstate": "ctstate {}",
    "--state": "state {}",
    "--dport": "dpt:{}",
    "--sport": "spt:{}",
    "--dports": "multiport dports {}",
    "--to-destination": "to:{}",
    "--to-source": "to:{}",
    "--to-ports": "masq ports: {}",
    "--comment": "/* {} */",
}


@functools.lru_cache(maxsize=8192)
def columns(spec: str) -> Columns:
    """Split a save-format spec (``-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE``) into columns."""
    try:
        tokens = shlex.split(spec)
    except ValueError:
        tokens = spec.split()
    target = prot = ""
    in_ = out = "*"
    source = destination = "0.0.0.0/0"
    extras: list[str] = []
    proto_match = ""
    negate = False
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "!":
            negate = True
            i += 1
            continue
        value = tokens[i + 1] if i + 1 < len(tokens) else ""
        bang = "!" if negate else ""
        negate = False
        if tok in ("-j", "--jump", "-g", "--goto"):
            target = value
        elif tok in ("-p", "--protocol"):
            prot = bang + value
        elif tok in ("-i", "--in-interface"):
            in_ = bang + value
        elif tok in ("-o", "--out-interface"):
            out = bang + value
        elif tok in ("-s", "--source"):
            source = bang + _plain_host(value)
        elif tok in ("-d", "--destination"):
            destination = bang + _plain_host(value)
        elif tok in ("-m", "--match"):
            # "-m tcp" only announces the protocol's options; iptables prints them as "tcp ...".
            if value in ("tcp", "udp"):
                proto_match = value
            i += 2
            continue
        elif tok in _EXTRA_FORMATS:
            text = _EXTRA_FORMATS[tok].format(value)
            if tok in ("--dport", "--sport") and proto_match:
                text = f"{proto_match} {text}"
                proto_match = ""
            extras.append(("!" if bang else "") + text)
        elif tok.startswith("-"):
            if value and not value.startswith("-"):
                extras.append(f"{bang}{tok.lstrip('-')} {value}")
            else:
                extras.append(bang + tok.lstrip("-"))
                i += 1
                continue
        else:
            extras.append(tok)
            i += 1
            continue
        i += 2
    return Columns(target, prot or "all", "--", in_, out, source, destination, " ".join(extras))


def _plain_host(value: str) -> str:
    """iptables -n prints a /32 host without its prefix."""
    return value[:-3] if value.endswith("/32") else value


def human(number: int) -> str:
    """Counters as iptables prints them without -x: 99999, then 100K, 100M, ..."""
    if number <= 99999:
        return str(number)
    for unit in "KMGT":
        number //= 1000
        if number <= 9999:
            return f"{number}{unit}"
    return f"{number}P"


def references(chain: str, rules: list[Rule]) -> int:
    """How many rules jump to ``chain`` (the ``(N references)`` of a user chain)."""
    return sum(1 for r in rules if columns(r.spec).target == chain)


def chain_title(chain: Chain, rules: list[Rule]) -> str:
    """``Chain DOCKER (2 references)`` or ``Chain FORWARD (policy DROP 0 packets, 0 bytes)``."""
    if chain.policy is None:
        n = references(chain.name, rules)
        return f"Chain {chain.name} ({n} reference{'s' if n != 1 else ''})"
    return (
        f"Chain {chain.name} (policy {chain.policy} {human(chain.packets)} packets, "
        f"{human(chain.bytes)} bytes)"
    )


def format_row(rule: Rule) -> tuple[str, str]:
    """The counters part and the rest of one listing line, split so counters can be styled."""
    return f"{human(rule.packets):>5} {human(rule.bytes):>5} ", _wide_rest(rule.spec)


# What does not change with the counters is laid out once per spec: at 1,000 rules a frame
# then costs the counters and the spans, not the column layout.


@functools.lru_cache(maxsize=1 << 14)
def _wide_rest(spec: str) -> str:
    c = columns(spec)
    rest = (
        f"{c.target:<10} {c.prot:<4} {c.opt:<3} {c.in_:<6} {c.out:<6}  "
        f"{c.source:<20} {c.destination:<20} {c.extras}"
    )
    return rest.rstrip()


#: Header of the narrow layout: no bytes or opt column; match options go on a second line.
COMPACT_HEADER = " pkts target     prot in       out      source             destination"


def format_compact(rule: Rule) -> tuple[str, str, str]:
    """Counters, the main columns and the match options of the narrow (80-column) layout."""
    return (f"{human(rule.packets):>5} ", *_compact_parts(rule.spec))


@functools.lru_cache(maxsize=1 << 14)
def _compact_parts(spec: str) -> tuple[str, str]:
    c = columns(spec)
    main = (f"{c.target:<10} {c.prot:<4} {c.in_:<8} {c.out:<8} {c.source:<18} "
            f"{c.destination}")
    return main.rstrip(), c.extras


def listing(chains: list[Chain], rules: list[Rule]) -> str:
    """The whole ``iptables -n -v -L`` text for one table (used by tests and ``show command``)."""
    out: list[str] = []
    for chain in chains:
        if out:
            out.append("")
        out.append(chain_title(chain, rules))
        out.append(HEADER.rstrip())
        for r in sorted((r for r in rules if r.chain == chain.name), key=lambda r: r.position):
            counters, rest = format_row(r)
            out.append(counters + rest)
    return "\n".join(out)
