"""Docker's iptables rules: what they look like, in which order, and writing them in the lab.

Rules are rendered in the canonical form ``iptables-save`` prints, so the same text is used to
add them, to find them again and to delete them. They are written with the host's own
``iptables-restore`` (nf_tables or legacy, whichever the host's ``iptables`` is) run inside the
lab netns, one batch per operation, so ``iptables -n -L -t nat`` in the lab shows them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from dockerscope.engine.network.errors import KernelCommandFailed
from dockerscope.kernel.iptables import Ruleset, parse_save

NAT = "nat"
FILTER = "filter"
TABLES = (NAT, FILTER)
ISO1 = "DOCKER-ISOLATION-STAGE-1"
ISO2 = "DOCKER-ISOLATION-STAGE-2"
USER = "DOCKER-USER"

# Chain declarations of a fresh daemon, in iptables-save order.
FRESH_CHAINS: dict[str, tuple[str, ...]] = {
    NAT: ("DOCKER",),
    FILTER: ("DOCKER", ISO1, ISO2, USER),
}
FORWARD_POLICY = "DROP"
# Rules of one network in FORWARD go after the DOCKER-USER and ISOLATION-STAGE-1 jumps.
FORWARD_NETWORK_POSITION = 3


@dataclass(frozen=True)
class Rule:
    """One rule: table, chain and the rest of its iptables-save line."""

    table: str
    chain: str
    spec: str

    @property
    def line(self) -> str:
        """The rule as iptables-save prints it (``-A CHAIN spec``)."""
        return f"-A {self.chain} {self.spec}"


@dataclass(frozen=True)
class Step:
    """Add ``rule`` at 1-based ``position`` in its chain, or append when position is None."""

    rule: Rule
    position: int | None = None

    @property
    def command(self) -> str:
        if self.position is None:
            return self.rule.line
        return f"-I {self.rule.chain} {self.position} {self.rule.spec}"


def base_steps() -> list[Step]:
    """The daemon's own jumps and RETURNs, before any network's rules."""
    return [
        Step(Rule(NAT, "PREROUTING", "-m addrtype --dst-type LOCAL -j DOCKER")),
        Step(Rule(NAT, "OUTPUT", "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER")),
        Step(Rule(FILTER, "FORWARD", f"-j {USER}")),
        Step(Rule(FILTER, "FORWARD", f"-j {ISO1}")),
        Step(Rule(FILTER, ISO1, "-j RETURN")),
        Step(Rule(FILTER, ISO2, "-j RETURN")),
        Step(Rule(FILTER, USER, "-j RETURN")),
    ]


def bridge_steps(bridge: str, subnet: IPv4Network, internal: bool = False) -> list[Step]:
    """A bridge network's rules, inserted at the top of their chains as Docker does.

    A normal network gets outbound MASQUERADE, the ``DOCKER -i br -j RETURN`` in nat, four
    FORWARD rules and the two isolation rules; an internal network gets no NAT, only
    traffic inside its subnet, and the isolation rules.
    """
    if internal:
        forward = [Rule(FILTER, "FORWARD", f"-i {bridge} -o {bridge} -j ACCEPT")]
        isolation = [
            Rule(FILTER, ISO1, f"! -s {subnet} -o {bridge} -j DROP"),
            Rule(FILTER, ISO1, f"! -d {subnet} -i {bridge} -j DROP"),
            Rule(FILTER, ISO1, f"-i {bridge} ! -o {bridge} -j {ISO2}"),
        ]
        nat: list[Rule] = []
    else:
        forward = [
            Rule(
                FILTER,
                "FORWARD",
                f"-o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            ),
            Rule(FILTER, "FORWARD", f"-o {bridge} -j DOCKER"),
            Rule(FILTER, "FORWARD", f"-i {bridge} ! -o {bridge} -j ACCEPT"),
            Rule(FILTER, "FORWARD", f"-i {bridge} -o {bridge} -j ACCEPT"),
        ]
        isolation = [Rule(FILTER, ISO1, f"-i {bridge} ! -o {bridge} -j {ISO2}")]
        nat = [
            Rule(NAT, "POSTROUTING", f"-s {subnet} ! -o {bridge} -j MASQUERADE"),
            Rule(NAT, "DOCKER", f"-i {bridge} -j RETURN"),
        ]
    steps = [Step(r, 1) for r in nat]
    steps += [Step(r, FORWARD_NETWORK_POSITION + i) for i, r in enumerate(forward)]
    steps += [Step(r, 1 + i) for i, r in enumerate(isolation)]
    steps.append(Step(Rule(FILTER, ISO2, f"-o {bridge} -j DROP"), 1))
    return steps


def bridge_rules(bridge: str, subnet: IPv4Network, internal: bool = False) -> list[Rule]:
    """The rules :func:`bridge_steps` adds, for finding or deleting them."""
    return [s.rule for s in bridge_steps(bridge, subnet, internal)]


def publish_rules(
    bridge: str,
    container_ip: IPv4Address | str,
    host_ip: str,
    host_port: int,
    container_port: int,
    proto: str,
) -> list[Rule]:
    """One published port: DNAT in nat DOCKER, hairpin MASQUERADE, filter DOCKER ACCEPT."""
    match = f"-p {proto} -m {proto}"
    dest = "" if host_ip in ("", "0.0.0.0") else f"-d {host_ip}/32 "
    return [
        Rule(
            NAT,
            "POSTROUTING",
            f"-s {container_ip}/32 -d {container_ip}/32 {match} --dport {container_port} "
            "-j MASQUERADE",
        ),
        Rule(
            NAT,
            "DOCKER",
            f"{dest}! -i {bridge} {match} --dport {host_port} -j DNAT --to-destination "
            f"{container_ip}:{container_port}",
        ),
        Rule(
            FILTER,
            "DOCKER",
            f"-d {container_ip}/32 ! -i {bridge} -o {bridge} {match} --dport {container_port} "
            "-j ACCEPT",
        ),
    ]


def fresh_batch() -> str:
    """The whole rule set of a fresh daemon (chains, policy, base rules, docker0's rules)."""
    from dockerscope.engine.network.ipam import DEFAULT_BRIDGE_SUBNET

    steps = base_steps() + bridge_steps("docker0", DEFAULT_BRIDGE_SUBNET)
    return render(steps, declare=True)


def render(steps: Sequence[Step], declare: bool = False) -> str:
    """An ``iptables-restore --noflush`` batch for ``steps`` (nat first, then filter)."""
    out: list[str] = []
    for table in TABLES:
        commands = [s.command for s in steps if s.rule.table == table]
        if not commands and not declare:
            continue
        out.append(f"*{table}")
        if declare:
            if table == FILTER:
                out.append(f":FORWARD {FORWARD_POLICY} [0:0]")
            out += [f":{c} - [0:0]" for c in FRESH_CHAINS[table]]
        out += commands
        out.append("COMMIT")
    return "\n".join(out) + "\n" if out else ""


def render_delete(rules: Iterable[Rule]) -> str:
    """An ``iptables-restore --noflush`` batch deleting ``rules``."""
    out: list[str] = []
    rules = list(rules)
    for table in TABLES:
        lines = [f"-D {r.chain} {r.spec}" for r in rules if r.table == table]
        if lines:
            out += [f"*{table}", *lines, "COMMIT"]
    return "\n".join(out) + "\n" if out else ""


def _saved(text: str, table: str) -> Ruleset:
    """One table of ``iptables-save`` text, read by the observer's parser (one parser for
    both halves: what the engine finds is what the panels show)."""
    return parse_save(text, netns="", backend="", tables=(table,))


def rule_lines(text: str, table: str) -> list[str]:
    """The ``-A`` lines of one table in ``iptables-save`` text (as ``Rule.line`` renders)."""
    return [f"-A {r.chain} {r.spec}".rstrip() for r in _saved(text, table).rules]


def chains(text: str, table: str) -> list[str]:
    """Chain names declared in one table of ``iptables-save`` text."""
    return [c.name for c in _saved(text, table).chains]


class LabIptables:
    """Runs the host's iptables tools inside one named netns (``ip netns exec``)."""

    def __init__(self, netns: str) -> None:
        self.netns = netns

    def _run(self, args: list[str], stdin: str | None = None) -> str:
        cmd = ["ip", "netns", "exec", self.netns, *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise KernelCommandFailed(
                f"{' '.join(args)} in {self.netns} failed: {proc.stderr.strip() or proc.stdout}"
            )
        return proc.stdout

    def restore(self, batch: str) -> None:
        """Apply an ``iptables-restore --noflush`` batch in one transaction."""
        if batch:
            self._run(["iptables-restore", "--noflush"], batch)

    def flush(self) -> None:
        """Empty nat and filter (rules and Docker's chains), FORWARD policy back to ACCEPT."""
        self._run(["iptables-restore"], "*nat\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n")

    def save(self, table: str | None = None) -> str:
        """``iptables-save`` output for one table (or all)."""
        return self._run(["iptables-save", *(["-t", table] if table else [])])

    def present(self, rules: Iterable[Rule]) -> list[Rule]:
        """Those of ``rules`` that exist now (compared as iptables-save lines)."""
        rules = list(rules)
        have = {t: set(rule_lines(self.save(t), t)) for t in {r.table for r in rules}}
        return [r for r in rules if r.line in have[r.table]]

    def add_missing(self, steps: Sequence[Step]) -> list[Step]:
        """Apply only the steps whose rule is absent; returns the steps applied."""
        present = set(self.present([s.rule for s in steps]))
        todo = [s for s in steps if s.rule not in present]
        self.restore(render(todo))
        return todo

    def delete(self, rules: Iterable[Rule]) -> None:
        """Delete those of ``rules`` that exist (one batch); absent ones are skipped."""
        self.restore(render_delete(self.present(rules)))
