"""NAT panel: iptables chains laid out like ``iptables -n -v -L -t nat`` (``t`` flips to filter).

New rules are highlighted, removed ones fade out in place, counters that moved since the last
frame light up, and each rule says which container, network or port caused it.
"""

from __future__ import annotations

from dockerscope.screens import styles
from dockerscope.screens.iptables_listing import HEADER, chain_title, columns, format_row
from dockerscope.screens.panel import Panel
from dockerscope.screens.shell import CommandLine, ShellCommand, netns_of_scope
from dockerscope.screens.state import DashState
from rich.console import RenderableType
from rich.text import Text

from dockerscope.kernel.model import Chain, Rule

TABLES = ("nat", "filter")


class NatPanel(Panel):
    """Docker's NAT (and filter) rules, with counters and owners."""

    PANEL_ID = "nat"
    TITLE = "NAT"
    HINT = "iptables -n -v -L -t nat; new rules green, removed ones fade; t: filter table"

    def __init__(self) -> None:
        super().__init__()
        self.table = "nat"  #: which table is shown: "nat" or "filter"

    def toggle_table(self) -> None:
        """Flip between the nat and filter tables."""
        self.table = TABLES[(TABLES.index(self.table) + 1) % len(TABLES)]
        self.border_title = f"{self.TITLE} (-t {self.table})"

    def render_body(self, state: DashState) -> RenderableType:
        snap = state.snapshot
        assert snap is not None
        rules = [r for r in snap.rules if r.table == self.table]
        gone = [r for r in state.removed("rules") if r.table == self.table]
        groups = sorted({(r.netns, r.backend) for r in rules + gone}
                        | {(c.netns, c.backend) for c in snap.chains if c.table == self.table})
        out = Text(no_wrap=True, overflow="ellipsis")
        for netns, backend in groups:
            if len(groups) > 1:
                out.append(f"── netns {netns} ({backend}) ──\n", style=styles.DIM)
            here = [r for r in rules if (r.netns, r.backend) == (netns, backend)]
            here_gone = [r for r in gone if (r.netns, r.backend) == (netns, backend)]
            chains = [c for c in snap.chains
                      if c.table == self.table and (c.netns, c.backend) == (netns, backend)]
            known = {c.name for c in chains}
            for name in dict.fromkeys(r.chain for r in here + here_gone):
                if name not in known:
                    chains.append(Chain(netns, backend, self.table, name, None))
            for chain in chains:
                self._chain(out, state, chain, here, here_gone)
        if not out:
            out.append(f"no {self.table} rules seen", style=styles.DIM)
        return out

    def _chain(self, out: Text, state: DashState, chain: Chain, rules: list[Rule],
               gone: list[Rule]) -> None:
        mine = [r for r in rules if r.chain == chain.name]
        mine_gone = [r for r in gone if r.chain == chain.name]
        title = chain_title(chain, rules)
        shown = [r for r in mine + mine_gone
                 if self.matches(title, r.spec, styles.owner_tag(r), columns(r.spec).target)]
        if self.query_text and not shown and not self.matches(title):
            return
        if out:
            out.append("\n")
        out.append(title + "\n", style=styles.HEADING)
        out.append(HEADER.rstrip() + "\n", style=styles.DIM)
        # A removed rule keeps its old position so it fades out where it was.
        for rule in sorted(shown, key=lambda r: (r.position, r in mine_gone)):
            mark = state.mark("rules", rule.key)
            if rule in mine_gone and (mark is None or mark.action != "removed"):
                continue
            style = styles.mark_style(state, mark)
            counters, rest = format_row(rule)
            ticked = ("rules", rule.key) in state.ticked and mark is None
            out.append(counters, style=style or (styles.TICKED if ticked else ""))
            out.append(rest, style=style)
            out.append(styles.owner_tag(rule), style=styles.OWNER)
            out.append("\n")

    def shell_command(self, state: DashState) -> ShellCommand | None:
        scope = state.snapshot.scope if state.snapshot else ""
        argv = ("iptables", "-n", "-v", "-L", "-t", self.table)
        return ShellCommand(
            f"iptables ({self.table})", (CommandLine(" ".join(argv), argv),),
            netns=netns_of_scope(scope),
            explain="The course types `sudo iptables -n -L -t nat`; -v adds the counters.",
        )
